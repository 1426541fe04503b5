"""A camera's black level (offset): fitted, taken into the transform, and never invented."""

import numpy as np
import pytest
from skimage import data

from images import fluorescence_cells
from nlmeans_cli import denoise
from nlmeans_cli.anscombe import anscombe, inverse_anscombe
from nlmeans_cli.noise import PoissonGaussian, fit_poisson_gaussian
from nlmeans_cli.photon_counts import search_photon_lattice

FULL = 65535.0


def _cells(rng, frames=6, side=128, cells=20, scale=1.0):
    """Clean 16-bit levels: Gaussian cells on a background of 1 % of the range, scaled."""
    return fluorescence_cells(rng, frames, side, cells) * FULL * scale


def _camera(rng, clean, gain, read, offset):
    """The counts a camera with that offset records, as 16 bits."""
    counts = gain * rng.poisson(clean / gain) + rng.normal(0, read, clean.shape) + offset
    return np.clip(np.rint(counts), 0, FULL).astype(np.uint16)


def _psnr(clean, estimate, peak):
    return 10 * np.log10(peak**2 / np.mean((clean - estimate) ** 2))


def test_the_transform_of_offset_data_is_that_of_the_data_without_it():
    rng = np.random.default_rng(0)
    values = rng.uniform(0, 0.5, (40, 50))
    gain, read, black = 0.01, 0.004, 0.03
    plain = PoissonGaussian(gain, read)
    offset = PoissonGaussian(gain, read, black_level=black)
    assert offset.variance_at_zero == pytest.approx(read**2 - gain * black)
    assert offset.std(0.2 + black) == pytest.approx(plain.std(0.2))
    np.testing.assert_allclose(anscombe(values + black, offset), anscombe(values, plain),
                               rtol=1e-5, atol=1e-5)
    transformed = anscombe(values, plain)
    np.testing.assert_allclose(inverse_anscombe(transformed, offset),
                               inverse_anscombe(transformed, plain) + black, rtol=1e-5,
                               atol=1e-6)
    # Nothing comes back below the black level, as nothing came back below 0.
    assert inverse_anscombe(np.zeros(5, np.float32), offset).min() == pytest.approx(black)


@pytest.mark.parametrize(("gain", "read", "offset"), [(2.0, 3.0, 500.0), (5.0, 10.0, 100.0)])
def test_the_fit_takes_a_cameras_offset_into_the_model(gain, read, offset):
    # The variance is gain * (x - offset) + read^2: its line's intercept is below 0. Bound at
    # 0, the fit had taken the gain at a third to a half of the truth.
    rng = np.random.default_rng(1)
    clean = _cells(rng, scale=0.1)
    without = fit_poisson_gaussian(_camera(rng, clean, gain, read, 0.0) / FULL)
    assert without.black_level is None
    model = fit_poisson_gaussian(_camera(rng, clean, gain, read, offset) / FULL)
    assert model.black_level is not None
    assert model.gain * FULL == pytest.approx(gain, rel=0.06)
    # Variances tell read^2 - gain * black only: the read noise is taken as the least, and
    # the black level as the least that goes with it (under the offset by read^2 / gain).
    truth = read**2 - gain * offset
    assert model.variance_at_zero * FULL**2 == pytest.approx(truth, rel=0.15)
    assert model.black_level * FULL <= offset + 0.15 * abs(truth) / gain


def test_a_lattice_off_0_is_found_only_where_any_phase_is_allowed_and_gives_its_start():
    rng = np.random.default_rng(5)
    gain, read = 0.01, 0.002
    black = 0.37 * gain + 3 * gain
    values = gain * rng.poisson(rng.uniform(2, 60, 200_000)) + rng.normal(0, read, 200_000)
    assert search_photon_lattice(values + black, gain / 1.3, gain * 1.3).found is None
    search = search_photon_lattice(values + black, gain / 1.3, gain * 1.3, any_phase=True)
    assert search.found is not None
    assert search.found[0] == pytest.approx(gain, rel=1e-3)
    assert search.found[1] == pytest.approx(read, rel=0.05)
    assert search.start == pytest.approx(0.37 * gain, abs=0.02 * gain)
    # At 0, as the model's counts start without a black level.
    assert search_photon_lattice(values, gain / 1.3, gain * 1.3).start == 0.0


@pytest.mark.parametrize("offset", [1000.0, 1050.0])
def test_a_lattice_with_an_offset_keeps_its_gain_and_read_noise_and_takes_the_offset(offset):
    # A photon-counting camera (read noise a third of a photon) with an offset of a whole
    # number of photons or not: the lattice's points lie a whole number of photons above
    # black, so its phase places the black level, the levels' line the photons between.
    rng = np.random.default_rng(2)
    clean = _cells(rng, scale=0.2)
    gain, read = 9.35, 3.0
    model = fit_poisson_gaussian(_camera(rng, clean, gain, read, offset) / FULL)
    assert model.gain * FULL == pytest.approx(gain, rel=0.01)
    assert model.read_noise * FULL == pytest.approx(read, rel=0.1)
    assert model.black_level * FULL == pytest.approx(offset, abs=gain / 4)


@pytest.mark.parametrize(("gain", "read", "offset", "scale"),
                         [(2.0, 3.0, 500.0, 0.1), (10.0, 4.0, 1000.0, 0.3)])
def test_an_offset_stack_denoises_as_well_as_the_same_stack_without_it(gain, read, offset,
                                                                        scale):
    rng = np.random.default_rng(3)
    clean = _cells(rng, scale=scale)
    draw = rng.bit_generator.state
    noisy = _camera(rng, clean, gain, read, offset)
    rng.bit_generator.state = draw
    plain = _camera(rng, clean, gain, read, 0.0)
    peak = float(clean.max())
    with_offset = _psnr(clean + offset, denoise(noisy, noise="auto").astype(float), peak)
    without = _psnr(clean, denoise(plain, noise="auto").astype(float), peak)
    gaussian = _psnr(clean + offset, denoise(noisy, noise="gaussian").astype(float), peak)
    assert with_offset > without - 0.3
    assert with_offset > gaussian + 2.0


@pytest.mark.parametrize("noise", ["photons", "gaussian", "none"])
def test_no_black_level_is_found_in_a_photograph(noise):
    # Texture whose contrast grows with the level bends a photograph's levels up, and a line
    # through them can reach 0 above black too; they scatter more than noise alone does.
    rng = np.random.default_rng(4)
    clean = data.camera() / 255.0
    if noise == "photons":
        gain = 4 / 255
        noisy = gain * rng.poisson(clean / gain) + rng.normal(0, 2 / 255, clean.shape)
    elif noise == "gaussian":
        noisy = clean + rng.normal(0, 2 / 255, clean.shape)
    else:
        noisy = clean
    assert fit_poisson_gaussian(noisy.astype(np.float32)).black_level is None


def test_a_given_black_level_is_the_transform_of_the_data_less_it():
    rng = np.random.default_rng(6)
    clean = rng.uniform(0.05, 0.6, (64, 64))
    gain, read, black = 0.004, 0.002, 0.01
    noisy = gain * rng.poisson(clean / gain) + rng.normal(0, read, clean.shape)
    given = denoise(noisy + black, noise="poisson-gaussian", gain=gain, read_noise=read,
                    black_level=black)
    less = denoise(noisy, noise="poisson-gaussian", gain=gain, read_noise=read)
    np.testing.assert_allclose(given - black, less, atol=1e-4)
    with pytest.raises(ValueError, match="black level"):
        denoise(noisy, noise="poisson-gaussian", black_level=-0.1)


def test_a_given_black_level_lets_the_fit_read_the_read_noise():
    # Variances alone tell read noise^2 - gain * black: with the black level known, the read
    # noise is fitted (the levels' line through the offset-free values).
    rng = np.random.default_rng(7)
    clean = _cells(rng, scale=0.1)
    gain, read, offset = 5.0, 10.0, 500.0
    noisy = _camera(rng, clean, gain, read, offset) / FULL
    fitted = fit_poisson_gaussian(noisy)
    assert fitted.read_noise * FULL < 0.5 * read
    model = fit_poisson_gaussian(noisy, black_level=offset / FULL)
    assert model.black_level == offset / FULL
    assert model.read_noise * FULL == pytest.approx(read, rel=0.3)
    assert model.gain * FULL == pytest.approx(gain, rel=0.06)
    assert model.measured_levels[0] > offset / FULL  # the values' own levels, not less it


def test_the_command_line_gives_and_reports_the_black_level(tmp_path):
    import csv

    import tifffile
    from typer.testing import CliRunner

    from nlmeans_cli.cli import app

    rng = np.random.default_rng(8)
    stack = _camera(rng, _cells(rng, frames=6, side=96, scale=0.1), 2.0, 3.0, 500.0)
    source = tmp_path / "offset.tif"
    tifffile.imwrite(source, stack, photometric="minisblack")
    runner = CliRunner()
    given = runner.invoke(app, ["denoise", str(source), str(tmp_path / "given.tif"),
                                "--black-level", str(500 / 257)])
    assert given.exit_code == 0, given.output
    assert "black level 1.95 (given)" in given.stderr
    assert "carries a black level" not in given.stderr  # the note is for a fitted one
    (tmp_path / "in").mkdir()
    tifffile.imwrite(tmp_path / "in" / "offset.tif", stack, photometric="minisblack")
    report = tmp_path / "report.csv"
    batch = runner.invoke(app, ["batch", str(tmp_path / "in"), str(tmp_path / "out"),
                                "--report", str(report)])
    assert batch.exit_code == 0, batch.output
    with open(report, newline="") as handle:
        row = next(csv.DictReader(handle))
    # Fitted: the least black level that goes with the least read noise (the offset less
    # read noise^2 / gain, 495.5 of 65535), as well as the levels place it.
    assert float(row["black_level"]) == pytest.approx(495.5 / 257, rel=0.05)
    refused = runner.invoke(app, ["denoise", str(source), str(tmp_path / "bad.tif"),
                                  "--black-level", "-1"])
    assert refused.exit_code == 2


def test_the_free_line_keeps_a_negative_intercept_that_the_bounded_one_lifts():
    from nlmeans_cli.noise_levels import fit_levels, free_line, line_scatter

    xs = np.linspace(0.05, 0.8, 40)  # every level above black
    weights = np.full(xs.size, 5000.0)
    gain, intercept = 0.01, -0.0004  # a black level of 0.04
    ys = gain * xs + intercept
    free = free_line(xs, ys, weights)
    assert free == pytest.approx((gain, intercept), rel=1e-6)
    assert line_scatter(xs, ys, weights, *free) == pytest.approx(0.0, abs=1e-12)
    bounded_gain, bounded_intercept = fit_levels(xs, ys, weights)
    assert bounded_intercept == 0.0 and bounded_gain < gain
    # Scatter of the levels' own sampling (variance * sqrt(2 / n)) reads about 1.
    rng = np.random.default_rng(9)
    noisy = ys * (1 + rng.normal(0, 1, xs.size) * np.sqrt(2 / weights))
    assert 0.5 < line_scatter(xs, noisy, weights, gain, intercept) < 1.6
