"""Fields of cells or spots on a background: the bulk's and the bright parts' noise, and auto."""

import numpy as np
import pytest
from skimage import data
from skimage.metrics import peak_signal_noise_ratio

from nlmeans_cli import denoise, estimate_noise, resolve_parameters
from nlmeans_cli.field_noise import bright_noise, bulk_noise
from nlmeans_cli.noise_details import second_differences


def _field(rng, side, count, radius, background, peak, shape):
    """Spots (Gaussian) or discs at random places on a flat background, 0-255 levels."""
    rows, columns = np.mgrid[0:side, 0:side]
    clean = np.full((side, side), float(background))
    for _ in range(count):
        row, column = rng.uniform(0.15 * side, 0.85 * side, 2)
        squared = (rows - row) ** 2 + (columns - column) ** 2
        profile = (np.exp(-squared / (2 * radius**2)) if shape == "spot"
                   else (squared < radius**2).astype(float))
        clean += rng.uniform(0.4, 1.0) * peak * profile
    return clean


def _eight_bit(values):
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _photons(rng, clean, gain=4.0, read=2.0):
    return _eight_bit(gain * rng.poisson(clean / gain) + rng.normal(0, read, clean.shape))


@pytest.mark.parametrize(("level", "sigma"), [(10, 6), (3, 6), (40, 3)])
def test_the_bulk_noise_of_a_flat_field_clipped_at_black(level, sigma):
    rng = np.random.default_rng(level)
    values = _eight_bit(rng.normal(level, sigma, (256, 256))).astype(np.float64) / 255
    clip = 0.0 if np.any(values == 0) else None
    measured = bulk_noise(values, clip)
    assert measured is not None
    centre, variance = measured
    truth = (sigma**2 + 1 / 12) / 255**2  # the rounding's variance stays, as in details
    assert variance == pytest.approx(truth, rel=0.1)
    assert centre * 255 == pytest.approx(level, abs=0.5)
    if level == 3:  # a third of the pixels clip: the plain variance misses much of the noise
        assert np.mean(values == 0) > 0.25
        assert np.var(values) < 0.7 * truth


def test_the_bulk_of_a_photograph_is_not_flat():
    camera = data.camera().astype(np.float64) / 255
    noisy = camera + np.random.default_rng(0).normal(0, 5 / 255, camera.shape)
    assert bulk_noise(noisy, None) is None


def test_the_bulk_of_a_field_mostly_clipped_is_not_measured():
    values = _eight_bit(np.random.default_rng(1).normal(-6, 5, (128, 128))) / 255
    assert np.mean(values == 0) > 0.7
    assert bulk_noise(values, 0.0) is None


def test_bright_noise_reads_inside_the_discs_not_their_edges():
    rng = np.random.default_rng(2)
    clean = _field(rng, 256, 6, 12, 20, 150, "disc") / 255
    sigma = 9 / 255
    noisy = clean + rng.normal(0, sigma, clean.shape)
    cut = 0.5 * (20 / 255 + np.quantile(noisy, 0.999))  # as auto cuts: bulk to top, halfway
    level, variance, coarse, count = bright_noise(noisy[np.newaxis], cut, (None, None))
    assert count > 300
    assert level > cut
    assert variance == pytest.approx(sigma**2, rel=0.15)
    assert sigma**2 < coarse < 2 * sigma**2  # every other pixel's reach the edges a little
    # Every position with a bright 3x3 mean, edges included: the edges' detail is not noise.
    details = second_differences(noisy)
    edges_too = clean[1:-1, 1:-1] > 40 / 255
    assert np.mean(details[edges_too] ** 2) > 2 * sigma**2
    none = bright_noise(noisy[np.newaxis], 2.0, (None, None))
    assert none[3] == 0 and np.isnan(none[1])


@pytest.mark.parametrize(("seed", "count", "radius", "shape"), [
    (1, 1, 8, "spot"), (0, 1, 8, "disc"), (2, 3, 8, "spot"), (1, 3, 16, "disc"),
])
def test_auto_stabilises_photon_noise_in_a_few_cells_on_a_clipped_8_bit_field(
        seed, count, radius, shape):
    # A background of 10 levels at gain 4, a few percent of it clipped at black, and one to
    # three cells: the fit's levels were the background's alone (clipping may have bent
    # them, and auto took the Gaussian path) or the cells' flanks alone (the background's
    # noise overestimated, and the confirmation failed). The cells' noise, four times the
    # background's variance and more, now decides.
    rng = np.random.default_rng(seed)
    clean = _field(rng, 128, count, radius, 10, 200, shape)
    counts = _photons(rng, clean)
    assert resolve_parameters(counts).stabiliser is not None

    def psnr(noise):
        return peak_signal_noise_ratio(clean / 255, denoise(counts, noise=noise) / 255,
                                       data_range=1)

    assert psnr("auto") > psnr("gaussian") + 2


@pytest.mark.parametrize(("background", "sigma"), [(0, 15), (3, 5), (10, 25)])
def test_auto_keeps_gaussian_noise_on_a_clipped_field_on_the_gaussian_path(background, sigma):
    # Gaussian noise on a background clipped at black, and one bright disc: the fit's levels
    # were the disc's (or bent by the clipping) and read a slope; the disc's noise, measured
    # against the background's, shows none.
    rng = np.random.default_rng(background + sigma)
    clean = _field(rng, 128, 1, 16, background, 200, "disc")
    noisy = _eight_bit(clean + rng.normal(0, sigma, clean.shape))
    assert resolve_parameters(noisy).stabiliser is None


def test_nlm_denoise_takes_the_transform_for_a_clipped_field_of_photon_noise(tmp_path):
    import imageio.v3 as iio
    from typer.testing import CliRunner

    from nlmeans_cli.cli import app

    rng = np.random.default_rng(1)
    source = tmp_path / "field.png"
    iio.imwrite(source, _photons(rng, _field(rng, 128, 1, 8, 10, 200, "spot")))
    result = CliRunner().invoke(app, ["denoise", str(source), str(tmp_path / "out.png")])
    assert result.exit_code == 0, result.output
    assert "poisson-gaussian noise, gain" in result.stderr
    # The fit's levels were bent by the clipping; the note says what auto made of that.
    assert "only where its bright parts' own noise grows" in result.stderr


@pytest.mark.parametrize("seed", [1, 3])
def test_auto_keeps_the_transform_where_a_16_bit_fields_discs_show_their_noise_growing(seed):
    # Three discs on a background of 2000 (gain 30, read noise 40): the levels reach the
    # discs and the background, but the line's gain came out several times the truth, and
    # the checks on the transformed image refused it: the Gaussian path, 7 to 9 dB below.
    rng = np.random.default_rng(seed)
    clean = _field(rng, 128, 3, 8, 2000, 30000, "disc")
    counts = np.clip(np.rint(30 * rng.poisson(clean / 30) + rng.normal(0, 40, clean.shape)),
                     0, 65535).astype(np.uint16)
    assert resolve_parameters(counts).stabiliser is not None

    def psnr(noise):
        return peak_signal_noise_ratio(clean / 65535, denoise(counts, noise=noise) / 65535,
                                       data_range=1)

    assert psnr("auto") > psnr("gaussian") + 3


@pytest.mark.parametrize("seed", [0, 4])
def test_auto_keeps_gaussian_noise_on_a_few_small_discs_on_the_gaussian_path(seed):
    # Three discs of radius 4 on a grey background: the levels between the two are the
    # discs' edges, whose details the line reads as noise growing with the level (a gain of
    # 4 to 5, 0-255 scale), and every detail of every other pixel inside the discs reaches
    # an edge. Their bright parts' noise is still under the background's: no growth.
    rng = np.random.default_rng(seed)
    clean = _field(rng, 256, 3, 4, 40, 200, "disc")
    noisy = _eight_bit(clean + np.random.default_rng(seed + 7).normal(0, 15, clean.shape))
    assert estimate_noise(noisy, model="poisson-gaussian")[0] > 2
    assert resolve_parameters(noisy).stabiliser is None


def test_auto_stabilises_photon_noise_on_a_few_small_discs():
    clean = _field(np.random.default_rng(4), 256, 3, 4, 40, 200, "disc")
    noisy = _photons(np.random.default_rng(11), clean)
    assert resolve_parameters(noisy).stabiliser is not None
    auto = denoise(noisy).astype(np.float64)
    gaussian = denoise(noisy, noise="gaussian").astype(np.float64)
    assert (peak_signal_noise_ratio(clean, auto, data_range=255)
            > peak_signal_noise_ratio(clean, gaussian, data_range=255) + 0.3)
