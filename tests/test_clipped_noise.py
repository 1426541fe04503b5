"""Heavy noise clipped at both ends: truncated moments, the growth preference, and auto."""

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from nlmeans_cli import denoise, estimate_noise, resolve_parameters
from nlmeans_cli.clipped_levels import clipped_ends, truncated_moments
from nlmeans_cli.clipped_noise import CLIPPED_IMPROVEMENT, CLIPPED_PREFERENCE, clipped_preference
from nlmeans_cli.noise import PoissonGaussian, fit_poisson_gaussian


def _scene(side=192):
    """A smooth scene whose levels reach from near black to near white (0-255)."""
    rows, columns = np.mgrid[0:side, 0:side] / side
    return 255 * (0.5 + 0.45 * np.sin(2 * np.pi * columns) * np.cos(np.pi * rows))


def _eight_bit(values):
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _photons(rng, clean, gain, read):
    return _eight_bit(gain * rng.poisson(clean / gain) + rng.normal(0, read, clean.shape))


def _reference_moments(level, std, low, high):
    """Mean, variance and share of N(level, std) between the ends, by a fine Riemann sum."""
    grid = np.linspace(max(low, level - 12 * std), min(high, level + 12 * std), 400_001)
    density = np.exp(-0.5 * ((grid - level) / std) ** 2) / (std * np.sqrt(2 * np.pi))
    step = grid[1] - grid[0]
    share = float(np.sum(density) * step)
    mean = float(np.sum(grid * density) * step / share)
    return mean, float(np.sum((grid - mean) ** 2 * density) * step / share), share


@pytest.mark.parametrize(("level", "std", "low", "high"), [
    (0.1, 0.2, 0.0, 1.0), (0.5, 0.3, 0.0, 1.0), (0.95, 0.1, 0.0, 1.0), (-0.2, 0.15, 0.0, 1.0),
    (0.3, 0.2, 0.0, np.inf), (0.8, 0.25, -np.inf, 1.0)])
def test_truncated_moments_match_a_direct_integration(level, std, low, high):
    mean, variance, inside = truncated_moments(np.array([level]), np.array([std]), low, high)
    expected = _reference_moments(level, std, low, high)
    np.testing.assert_allclose([mean[0], variance[0], inside[0]], expected, rtol=1e-4,
                               atol=1e-7)


def test_untruncated_moments_are_the_normals_own():
    levels, stds = np.array([0.2, 0.5, 3.0]), np.array([0.1, 0.4, 2.0])
    mean, variance, inside = truncated_moments(levels, stds, -np.inf, np.inf)
    np.testing.assert_allclose(mean, levels)
    np.testing.assert_allclose(variance, stds**2)
    np.testing.assert_allclose(inside, 1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clipped_photon_noise_is_preferred_as_growing_and_gaussian_noise_is_not(seed):
    rng = np.random.default_rng(seed)
    clean = _scene()
    for noisy, grows in ((_photons(rng, clean, 8.0, 4.0), True),
                         (_eight_bit(clean + rng.normal(0, 50, clean.shape)), False)):
        unit = noisy.astype(np.float64) / 255
        ends = clipped_ends(unit[np.newaxis], 1.0)
        assert ends == (0.0, 1.0)
        fit = clipped_preference(unit, ends)
        assert fit is not None and fit.preference >= 1.0
        assert (fit.preference >= CLIPPED_PREFERENCE) == grows
        assert (fit.improvement >= CLIPPED_IMPROVEMENT) == grows
        if grows:  # near the true gain of 8 (0-255); its noise grows from black to white
            assert 4 < fit.gain * 255 < 10
            explained = PoissonGaussian(fit.gain, fit.read_noise)
            assert explained.std(1.0) >= 2 * explained.std(0.0)


def test_clipped_preference_needs_levels():
    assert clipped_preference(np.zeros((5, 5)), (0.0, None)) is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auto_stabilises_heavy_photon_noise_clipped_in_8_bits(seed):
    # Gain 8 and read noise 4 on 0-255: only a narrow band of levels lies three deviations
    # from both ends, and auto took the Gaussian path, about 0.8 dB below the transform.
    rng = np.random.default_rng(seed)
    clean = _scene()
    noisy = _photons(rng, clean, 8.0, 4.0)
    assert resolve_parameters(noisy).stabiliser is not None
    auto = denoise(noisy).astype(np.float64)
    gaussian = denoise(noisy, noise="gaussian").astype(np.float64)
    assert (peak_signal_noise_ratio(clean, auto, data_range=255)
            > peak_signal_noise_ratio(clean, gaussian, data_range=255) + 0.3)


@pytest.mark.parametrize(("seed", "sigma"), [(0, 35), (1, 50), (2, 50)])
def test_auto_keeps_heavy_gaussian_noise_clipped_in_8_bits_on_the_gaussian_path(seed, sigma):
    rng = np.random.default_rng(seed)
    noisy = _eight_bit(_scene() + rng.normal(0, sigma, (192, 192)))
    assert resolve_parameters(noisy).stabiliser is None


@pytest.mark.parametrize("seed", [1, 4, 5])
def test_auto_keeps_gaussian_noise_clipped_to_a_handful_of_levels_on_the_gaussian_path(seed):
    # Sigma 90 in 8 bits leaves a few levels clear of clipping, where two parameters can
    # fit better than one by chance (seed 5: growing noise explains them 2.7 times as well).
    rng = np.random.default_rng(seed)
    noisy = _eight_bit(_scene() + rng.normal(0, 90, (192, 192)))
    assert resolve_parameters(noisy).stabiliser is None


@pytest.mark.parametrize("seed", [3, 7, 15])
@pytest.mark.parametrize("noise", ["auto", "poisson-gaussian"])
def test_photon_noise_whose_clear_levels_show_no_growth_is_stabilised_by_its_clipped_levels(
        seed, noise):
    # Gain 16 and read noise 8 on 0-255: on these seeds the levels clear of clipping are so
    # few that the line through them has no slope, and both noise models took the Gaussian
    # path (poisson-gaussian with a note), 5 dB below the transform.
    rng = np.random.default_rng(seed)
    clean = _scene()
    noisy = _photons(rng, clean, 16.0, 8.0)
    assert fit_poisson_gaussian(noisy / 255.0).gain == 0
    stabiliser = resolve_parameters(noisy, noise=noise).stabiliser
    assert stabiliser is not None
    assert 8 < stabiliser.models[0].gain * 255 < 24
    # estimate_noise gives the parameters denoise transforms with
    np.testing.assert_allclose(estimate_noise(noisy, model="poisson-gaussian"),
                               (stabiliser.models[0].gain * 255,
                                stabiliser.models[0].read_noise * 255), rtol=1e-6)
    stabilised = denoise(noisy, noise=noise).astype(np.float64)
    gaussian = denoise(noisy, noise="gaussian").astype(np.float64)
    assert (peak_signal_noise_ratio(clean, stabilised, data_range=255)
            > peak_signal_noise_ratio(clean, gaussian, data_range=255) + 1.0)


def test_auto_keeps_gaussian_noise_of_sigma_25_in_8_bits_on_the_gaussian_path():
    # The coins' levels clear of clipping span about 0.4 of theirs, where a line without
    # slope is one sigma's; this seed's texture, brightening with the level, passes the
    # clipped levels' check, which must not be asked.
    from skimage import data

    clean = data.coins().astype(np.float64)
    noisy = _eight_bit(clean + np.random.default_rng(87).normal(0, 25, clean.shape))
    assert resolve_parameters(noisy).stabiliser is None


def test_nlm_denoise_takes_the_transform_for_heavy_photon_noise_in_an_8_bit_file(tmp_path):
    import imageio.v3 as iio
    from typer.testing import CliRunner

    from nlmeans_cli.cli import app

    rng = np.random.default_rng(0)
    source = tmp_path / "dark.png"
    iio.imwrite(source, _photons(rng, _scene(), 8.0, 4.0))
    result = CliRunner().invoke(app, ["denoise", str(source), str(tmp_path / "out.png")])
    assert result.exit_code == 0, result.output
    assert "poisson-gaussian noise, gain" in result.stderr
    assert iio.imread(tmp_path / "out.png").shape == (192, 192)


def _camera_corner(samples):
    """The shipped sample's top-left 96x96: too few pixels for heavy clipped noise's levels."""
    import imageio.v3 as iio

    return iio.imread(samples / "camera_clean.png")[:96, :96].astype(np.float64)


def _assert_auto_is_the_transform(run, noisy, clean, margin):
    """Check that ``auto`` gives poisson-gaussian's output to the bit, *margin* dB over gaussian."""
    auto = run(noisy)
    np.testing.assert_array_equal(auto, run(noisy, noise="poisson-gaussian"))
    gaussian = run(noisy, noise="gaussian").astype(np.float64)
    assert (peak_signal_noise_ratio(clean, auto.astype(np.float64), data_range=255)
            > peak_signal_noise_ratio(clean, gaussian, data_range=255) + margin)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auto_takes_the_transform_where_the_residual_shows_what_clipping_hid(samples, seed):
    # Gain 30 and read noise 15 on 0-255, in 8 bits: the levels clear of clipping cannot
    # show the growth, but the Gaussian path's residual does, and auto takes the transform
    # as poisson-gaussian does (24.2 to 24.6 against 17.9 to 18.9 dB).
    rng = np.random.default_rng(seed)
    clean = _camera_corner(samples)
    noisy = _photons(rng, clean, 30.0, 15.0)
    setting = resolve_parameters(noisy)
    assert setting.stabiliser is not None and setting.growth_hidden
    stabilised = resolve_parameters(noisy, noise="poisson-gaussian")
    assert stabilised.stabiliser is not None and not stabilised.growth_hidden
    _assert_auto_is_the_transform(denoise, noisy, clean, 2.0)


def test_the_learned_method_is_judged_by_the_same_pilot(samples):
    # The pilot is the classic method's whatever the method asked: the learned method takes
    # the transform on the camera corner too (25.0 against 19.7 dB for its Gaussian path).
    rng = np.random.default_rng(0)
    clean = _camera_corner(samples)
    noisy = _photons(rng, clean, 30.0, 15.0)
    setting = resolve_parameters(noisy, method="learned")
    assert setting.stabiliser is not None and setting.growth_hidden
    auto = denoise(noisy, method="learned").astype(np.float64)
    gaussian = denoise(noisy, method="learned", noise="gaussian").astype(np.float64)
    assert (peak_signal_noise_ratio(clean, auto, data_range=255)
            > peak_signal_noise_ratio(clean, gaussian, data_range=255) + 2.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_heavy_gaussian_noise_keeps_the_gaussian_path_where_clipping_hides_growth(samples,
                                                                                seed):
    rng = np.random.default_rng(seed)
    noisy = _eight_bit(_camera_corner(samples) + rng.normal(0, 35, (96, 96)))
    setting = resolve_parameters(noisy)
    assert setting.stabiliser is None and setting.growth_hidden
    np.testing.assert_array_equal(denoise(noisy), denoise(noisy, noise="gaussian"))


@pytest.mark.parametrize("seed", [0, 1])
def test_light_gaussian_noise_hides_nothing(samples, seed):
    rng = np.random.default_rng(seed)
    noisy = _eight_bit(_camera_corner(samples) + rng.normal(0, 10, (96, 96)))
    setting = resolve_parameters(noisy)
    assert setting.stabiliser is None and not setting.growth_hidden


def test_nlm_denoise_notes_where_clipping_hides_the_growth(tmp_path, samples):
    import imageio.v3 as iio
    from typer.testing import CliRunner

    from nlmeans_cli.cli import app

    corner = _camera_corner(samples)
    photons = tmp_path / "photons.png"
    iio.imwrite(photons, _photons(np.random.default_rng(0), corner, 30.0, 15.0))
    heavy = tmp_path / "heavy.png"
    iio.imwrite(heavy, _eight_bit(corner + np.random.default_rng(0).normal(0, 35, (96, 96))))
    light = tmp_path / "light.png"
    iio.imwrite(light, _eight_bit(corner + np.random.default_rng(0).normal(0, 10, (96, 96))))
    hidden = "--noise poisson-gaussian may do better"
    shown = "but the Gaussian path's residual showed it"
    for path, noise, notes in ((photons, "auto", {shown}), (photons, "poisson-gaussian", set()),
                               (heavy, "auto", {hidden}), (heavy, "gaussian", set()),
                               (light, "auto", set())):
        result = CliRunner().invoke(app, ["denoise", str(path), str(tmp_path / f"{noise}.png"),
                                          "--noise", noise, "--overwrite"])
        assert result.exit_code == 0, result.output
        assert {note for note in (hidden, shown) if note in result.stderr} == notes
    result = CliRunner().invoke(app, ["denoise", str(photons), str(tmp_path / "out.png")])
    assert "poisson-gaussian noise, gain" in result.stderr


def test_a_clip_gets_the_same_note(tmp_path, samples):
    # Two frames of the camera corner with Gaussian noise of sigma 35 in 8 bits: clipping
    # hides the growth and the residual does not show it.
    from typer.testing import CliRunner

    from nlmeans_cli.cli import app

    rng = np.random.default_rng(1)
    corner = _camera_corner(samples)
    source = tmp_path / "clip.npy"
    np.save(source, np.stack([_eight_bit(corner + rng.normal(0, 35, corner.shape))
                              for _ in range(2)]))
    for noise, noted in (("auto", True), ("gaussian", False)):
        result = CliRunner().invoke(app, ["denoise", str(source), str(tmp_path / f"{noise}.npy"),
                                          "--noise", noise])
        assert result.exit_code == 0, result.output
        assert ("--noise poisson-gaussian may do better" in result.stderr) is noted
        assert "poisson-gaussian noise, gain" not in result.stderr


def _clip_setting(clip):
    from nlmeans_cli.parameters import request_for
    from nlmeans_cli.spacetime import resolve_clip

    return resolve_clip(lambda: clip, request_for(clip.dtype, noise="auto"), clip.shape[1:],
                        n_frames=len(clip), dtype=clip.dtype)


@pytest.mark.parametrize(("seed", "sigma"), [(0, None), (1, None), (2, None), (0, 35.0),
                                           (1, 35.0)])
def test_a_one_frame_clip_decides_as_the_still_does(samples, seed, sigma):
    # The sampled frames are resolved as stills for the residual, so one frame decides as
    # its still (photon noise at gain 30 and read noise 15 takes the transform, sigma 35
    # keeps the Gaussian path; clipping hides the growth from the levels in both).
    rng = np.random.default_rng(seed)
    corner = _camera_corner(samples)
    noisy = (_photons(rng, corner, 30.0, 15.0) if sigma is None
             else _eight_bit(corner + rng.normal(0, sigma, corner.shape)))
    still, clip = resolve_parameters(noisy), _clip_setting(noisy[np.newaxis])
    assert clip.growth_hidden and still.growth_hidden
    assert (clip.stabiliser is None) == (still.stabiliser is None) == (sigma is not None)


@pytest.mark.parametrize("seed", [1, 3])
def test_auto_takes_the_transform_on_a_clip_where_the_residual_shows_what_clipping_hid(
        samples, seed):
    # Four frames of the camera corner at gain 30 and read noise 15 (0-255) in 8 bits: the
    # sampled frames' residual shows the growth, and auto denoises as poisson-gaussian does
    # (25.6 and 25.7 dB against 19.8 and 19.2 for the Gaussian path).
    from nlmeans_cli import denoise_clip

    rng = np.random.default_rng(seed)
    corner = _camera_corner(samples)
    clip = np.stack([_photons(rng, corner, 30.0, 15.0) for _ in range(4)])
    setting = _clip_setting(clip)
    assert setting.stabiliser is not None and setting.growth_hidden
    _assert_auto_is_the_transform(denoise_clip, clip, np.broadcast_to(corner, clip.shape), 3.0)


def test_heavy_gaussian_noise_keeps_a_clip_on_the_gaussian_path(samples):
    rng = np.random.default_rng(1)
    corner = _camera_corner(samples)
    clip = np.stack([_eight_bit(corner + rng.normal(0, 35, (96, 96))) for _ in range(2)])
    setting = _clip_setting(clip)
    assert setting.stabiliser is None and setting.growth_hidden


def _camera_volume(samples):
    """12 slices of the shipped sample's top rows, 96x96, panned a pixel a slice across."""
    import imageio.v3 as iio

    camera = iio.imread(samples / "camera_clean.png").astype(np.float64)
    return np.stack([camera[:96, shift:shift + 96] for shift in range(12)])


@pytest.mark.parametrize("seed", [0, 1])
def test_auto_takes_the_transform_on_a_volume_where_the_residual_shows_what_clipping_hid(
        samples, seed):
    # Gain 50 and read noise 15 (0-255) in 8 bits: a volume's residual is judged against
    # its own bar, and auto denoises as poisson-gaussian does (22.9 and 23.9 dB against
    # 15.2 and 15.5 for the Gaussian path).
    rng = np.random.default_rng(seed)
    clean = _camera_volume(samples)
    noisy = _photons(rng, clean, 50.0, 15.0)
    setting = resolve_parameters(noisy)
    assert setting.stabiliser is not None and setting.growth_hidden
    _assert_auto_is_the_transform(denoise, noisy, clean, 3.0)


@pytest.mark.parametrize("sigma", [35.0, 50.0])
def test_heavy_gaussian_noise_keeps_a_volume_on_the_gaussian_path(samples, sigma):
    rng = np.random.default_rng(0)
    clean = _camera_volume(samples)
    noisy = _eight_bit(clean + rng.normal(0, sigma, clean.shape))
    setting = resolve_parameters(noisy)
    assert setting.stabiliser is None
    np.testing.assert_array_equal(denoise(noisy), denoise(noisy, noise="gaussian"))
    # The levels near black count with the tail the clipping cut put back, and read the
    # noise as one sigma (they were left out, and the few levels above read it as photon
    # noise of gain 7 and 11, read noise 15 and 27).
    gain, read = estimate_noise(noisy, model="poisson-gaussian")
    assert gain < 0.1 * sigma
    assert read == pytest.approx(sigma, rel=0.15)


def test_nlm_denoise_notes_the_residual_on_a_clip(tmp_path, samples):
    from typer.testing import CliRunner

    from nlmeans_cli.cli import app

    rng = np.random.default_rng(1)
    source = tmp_path / "clip.npy"
    np.save(source, np.stack([_photons(rng, _camera_corner(samples), 30.0, 15.0)
                              for _ in range(4)]))
    result = CliRunner().invoke(app, ["denoise", str(source), str(tmp_path / "out.npy")])
    assert result.exit_code == 0, result.output
    assert "but the Gaussian path's residual showed it" in result.stderr
    assert "poisson-gaussian noise, gain" in result.stderr
