import numpy as np
import pytest

from nlmeans_cli import denoise, resolve_parameters
from nlmeans_cli.formulation import PATCH_KERNELS
from nlmeans_cli.parameters import CHROMA_FACTOR


@pytest.mark.parametrize("radius", [0, 1, 2, 4])
@pytest.mark.parametrize("name", sorted(PATCH_KERNELS))
def test_patch_kernels_sum_to_the_box_and_peak_at_the_centre(name, radius):
    weights = np.asarray(PATCH_KERNELS[name].weights(radius))
    assert weights.shape == (2 * radius + 1,)
    assert weights.sum() == pytest.approx(2 * radius + 1)
    assert weights[radius] == weights.max() and np.allclose(weights, weights[::-1])


def test_unknown_patch_kernel_lists_the_known_ones():
    with pytest.raises(ValueError, match="box, gaussian"):
        denoise(np.zeros((8, 8), np.float32), sigma=0.1, patch_kernel="triangle")


def test_gaussian_patch_differs_from_the_box_and_still_denoises(rng):
    y, x = np.mgrid[0:64, 0:64]
    clean = (0.5 + 0.3 * np.sin(x / 5.0) * np.cos(y / 7.0)).astype(np.float32)
    noisy = clean + rng.normal(0, 0.1, clean.shape).astype(np.float32)
    box = denoise(noisy, sigma=0.1, h=0.1, patch_kernel="box")
    gaussian = denoise(noisy, sigma=0.1, h=0.1, patch_kernel="gaussian")
    assert not np.array_equal(box, gaussian)
    for out in (box, gaussian):
        assert np.mean((out - clean) ** 2) < 0.3 * np.mean((noisy - clean) ** 2)


def _colour_scene(rng):
    # Sharp luminance detail, smooth chroma: what photographs are like.
    y, x = np.mgrid[0:80, 0:80]
    luma = 0.5 + 0.3 * np.sign(np.sin(x / 4.0)) * np.cos(y / 9.0)
    tint = 0.08 * np.stack([np.sin(y / 30.0), np.cos(x / 25.0), -np.sin((x + y) / 40.0)], -1)
    return np.clip(luma[..., np.newaxis] + tint, 0, 1).astype(np.float32)


def test_colour_smooths_chroma_more_by_default_and_that_gains(rng):
    clean = _colour_scene(rng)
    noisy = clean + rng.normal(0, 0.1, clean.shape).astype(np.float32)
    setting = resolve_parameters(noisy, sigma=0.1, channel_axis=-1)
    assert setting.h_chroma_unit == pytest.approx(CHROMA_FACTOR * setting.h_unit)
    default = denoise(noisy, sigma=0.1, channel_axis=-1, h=setting.h_unit)
    same = denoise(noisy, sigma=0.1, channel_axis=-1, h=setting.h_unit,
                   h_chroma=setting.h_unit)
    mse = [float(np.mean((x - clean) ** 2)) for x in (default, same)]
    assert mse[0] < 0.9 * mse[1]


def test_grey_images_have_no_chroma_strength(rng):
    noisy = rng.random((32, 32)).astype(np.float32)
    assert resolve_parameters(noisy, sigma=0.1, h_chroma=0.5).h_chroma_unit is None


def test_colour_constant_image_is_a_fixed_point():
    image = np.empty((24, 30, 3), np.float32)
    image[:] = [0.2, 0.5, 0.9]
    out = denoise(image, sigma=0.05, channel_axis=-1)
    assert np.allclose(out, image, atol=1e-6)


@pytest.mark.parametrize("sigma_255", [15, 25, 50])
def test_defaults_beat_scikit_image_fast_mode_recipe_on_the_sample(samples, sigma_255):
    # The shipped clean sample was never calibrated on; scikit-image with its documented
    # fast-mode example (patch 5, distance 6, h = 0.8 sigma), sigma given to both.
    import imageio.v3 as iio
    from skimage.metrics import peak_signal_noise_ratio
    from skimage.restoration import denoise_nl_means

    clean = iio.imread(samples / "camera_clean.png").astype(np.float32) / 255
    sigma = sigma_255 / 255
    noisy = clean + np.random.default_rng(sigma_255).normal(0, sigma, clean.shape).astype(
        np.float32)
    ours = denoise(noisy, sigma=sigma)
    theirs = denoise_nl_means(noisy, patch_size=5, patch_distance=6, h=0.8 * sigma,
                              sigma=sigma, fast_mode=True)
    assert (peak_signal_noise_ratio(clean, ours, data_range=1)
            > peak_signal_noise_ratio(clean, theirs, data_range=1) + 0.15)


@pytest.mark.parametrize(("patch", "window"), [(5, 13), (7, 21)])
@pytest.mark.parametrize("sigma_255", [15, 50])
def test_weights_match_scikit_image_fast_mode_at_the_same_patch_geometry(samples, patch,
                                                                         window, sigma_255):
    # scikit-image's fast mode sums its integral-image distance over a 2r x 2r box, a patch
    # one pixel smaller than ours and off-centre, and scales h its own way; so at identical
    # nominal parameters the two compare different patches. Given that patch geometry (our
    # engine takes any separable patch weights) and each at its best h, our weights must do
    # at least as well as scikit-image's, to the rounding of float32 against float64.
    import imageio.v3 as iio
    from skimage.metrics import peak_signal_noise_ratio
    from skimage.restoration import denoise_nl_means

    from nlmeans_cli.engine import nonlocal_operation

    image = iio.imread(samples / "camera_clean.png").astype(np.float32) / 255
    sigma = sigma_255 / 255
    radius, distance = patch // 2, window // 2
    geometry = np.array([0.0] + [1.0] * (patch - 1), np.float32)
    factors = np.arange(0.3, 1.65, 0.05)
    for clean in (image[:96, :96], image[-96:, -96:]):
        noisy = clean + np.random.default_rng(sigma_255).normal(0, sigma, clean.shape).astype(
            np.float32)

        def ours(h, noisy=noisy):
            grid = noisy[np.newaxis, :, np.newaxis, :]
            out = nonlocal_operation(grid, None, grid, normaliser="sum",
                                     patch_radius=(radius, 0, radius),
                                     search_radius=(distance, 0, distance),
                                     scale=1.0 / (patch - 1) ** 2, bias=2 * sigma**2, h=h,
                                     patch_weights=(geometry, np.ones(1, np.float32), geometry))
            return out[0, :, 0, :]

        def theirs(h, noisy=noisy):
            return denoise_nl_means(noisy, patch_size=patch, patch_distance=distance, h=h,
                                    sigma=sigma, fast_mode=True)

        best = [max(peak_signal_noise_ratio(clean, run(f * sigma), data_range=1)
                    for f in factors) for run in (ours, theirs)]
        assert best[0] >= best[1] - 0.03


def _grey_setting(h_unit, **changes):
    from nlmeans_cli.methods.classic import ClassicSetting

    base = dict(method="classic", affinity="gaussian", sigma_unit=0.1, sigma_estimated=False,
                h_unit=h_unit, patch_size=5, search_window=9, patch_kernel="gaussian",
                h_chosen_by="sure")
    return ClassicSetting(**{**base, **changes})


def test_two_strengths_in_one_engine_call_equal_two_runs_bit_for_bit(rng):
    from nlmeans_cli.methods.classic import CLASSIC
    from nlmeans_cli.pixels import to_grid

    # Several crops side by side on the grid's unused axis, as SURE lays them out.
    crops = [rng.random((24, 30, 1), dtype=np.float32) for _ in range(3)]
    grid = np.concatenate([to_grid(crop)[0] for crop in crops], axis=2)
    first, second = _grey_setting(0.08), _grey_setting(0.1)
    together = CLASSIC.run_strengths(grid, [first, second], axes=(1, 0, 1))
    alone = [CLASSIC.run(grid, one, axes=(1, 0, 1)) for one in (first, second)]
    assert len(together) == 2
    for shared, single in zip(together, alone, strict=True):
        assert shared.shape == single.shape and shared.dtype == single.dtype
        assert np.array_equal(shared, single)
    # And one setting is one plain run.
    assert np.array_equal(CLASSIC.run_strengths(grid, [first], axes=(1, 0, 1))[0], alone[0])
    with pytest.raises(ValueError, match="grey"):
        CLASSIC.run_strengths(np.concatenate([grid] * 3), [first, second], axes=(1, 0, 1))


def test_strength_pairs_pair_only_settings_that_differ_in_h_by_less_than_sqrt_2():
    from nlmeans_cli.methods.classic import strength_pairs

    a, b, c = _grey_setting(0.08), _grey_setting(0.09), _grey_setting(0.1)
    assert strength_pairs([a, b, c]) == [[a, b], [c]]
    # h**2 a power of two apart would take the engine's squaring shortcut: never paired.
    far = _grey_setting(0.08 * 1.5)
    assert strength_pairs([a, far]) == [[a], [far]]
    other_patch = _grey_setting(0.09, patch_size=7)
    assert strength_pairs([a, other_patch, b]) == [[a], [other_patch], [b]]
    # Only the Gaussian kernel takes a second strength.
    product = [_grey_setting(0.08, affinity="dot-product"),
               _grey_setting(0.09, affinity="dot-product")]
    assert strength_pairs(product) == [[one] for one in product]


def test_sure_choice_is_the_same_with_strengths_shared_or_not(samples, monkeypatch):
    import imageio.v3 as iio

    from nlmeans_cli.methods import classic

    noisy = iio.imread(samples / "camera_noisy.png")
    shared = resolve_parameters(noisy)
    # The same search with every candidate in an engine call of its own.
    monkeypatch.setattr(classic, "strength_pairs", lambda settings: [[one] for one in settings])
    alone = resolve_parameters(noisy)
    assert shared.h_chosen_by == "sure"
    assert shared == alone


@pytest.mark.parametrize("channels, width", [(1, 40), (3, 40), (1, 5), (1, 4)])
def test_crops_laid_end_to_end_come_out_as_each_denoised_alone(rng, channels, width):
    from nlmeans_cli.methods.classic import CLASSIC
    from nlmeans_cli.pixels import to_grid

    # Width 5 is narrower than the reach (6), reflected more than once; width 4 is no
    # wider than the window's radius, and the crops then go side by side.
    crops = [to_grid(rng.random((30, width, channels), dtype=np.float32))[0]
             for _ in range(3)]
    chroma = {"h_chroma_unit": 0.16} if channels == 3 else {}
    settings = ([_grey_setting(0.08, **chroma)] if channels == 3
                else [_grey_setting(0.08), _grey_setting(0.09)])
    estimates = CLASSIC.run_crops(crops, settings)
    assert len(estimates) == len(settings)
    for setting, crop_estimates in zip(settings, estimates, strict=True):
        assert len(crop_estimates) == len(crops)
        for crop, estimate in zip(crops, crop_estimates, strict=True):
            alone = CLASSIC.run(crop, setting, axes=(1, 0, 1))
            assert estimate.shape == crop.shape
            assert np.array_equal(estimate, alone)


def _textured(rng, shape=(96, 104)):
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    clean = 0.5 + 0.25 * np.sign(np.sin(x / 6.0)) * np.cos(y / 11.0) + 0.1 * (x > 50)
    return clean, (clean + rng.normal(0, 0.1, clean.shape)).astype(np.float32)


def test_a_still_is_refined_only_where_h_is_not_given(rng):
    _, noisy = _textured(rng)
    assert resolve_parameters(noisy).refined
    assert resolve_parameters(noisy, sigma=0.1).refined
    assert not resolve_parameters(noisy, sigma=0.1, h=0.1).refined
    colour = np.stack([noisy, noisy[::-1], noisy[:, ::-1]], axis=-1)
    assert resolve_parameters(colour, channel_axis=-1).refined
    assert not resolve_parameters(colour, channel_axis=-1, sigma=0.1, h=0.1).refined
    # Two channels that are not colours: each takes its second look alone.
    assert resolve_parameters(colour[..., :2], channel_axis=-1, sigma=0.1).refined
    assert not resolve_parameters(colour[..., :2], channel_axis=-1, sigma=0.1,
                                  h=0.1).refined
    volume = np.stack([noisy] * 4)
    assert resolve_parameters(volume, sigma=0.1).refined  # slice by slice (Volumes)
    assert not resolve_parameters(volume, sigma=0.1, h=0.1).refined
    assert not resolve_parameters(np.stack([colour] * 4), sigma=0.1, channel_axis=-1).refined
    assert not resolve_parameters(noisy, sigma=0.1, affinity="dot-product").refined


def test_a_colour_still_is_refined_in_luminance_then_chroma(rng):
    from nlmeans_cli.methods.refinement import (
        CLASSIC_CHROMA,
        CLASSIC_REFINEMENT,
        guided_chroma,
        refine_estimate,
    )
    from nlmeans_cli.pixels import OPPONENT

    clean = _colour_scene(rng)
    noisy = (clean + rng.normal(0, 0.08, clean.shape)).astype(np.float32)
    setting = resolve_parameters(noisy, sigma=0.08, channel_axis=-1)
    plain = denoise(noisy, sigma=0.08, channel_axis=-1, h=setting.h_unit,
                    h_chroma=setting.h_chroma_unit, patch_size=setting.patch_size,
                    search_window=setting.search_window)

    def opponent(image):
        return np.tensordot(OPPONENT, np.moveaxis(image.astype(np.float64), -1, 0), axes=1)

    expected = opponent(plain)
    expected[0] = refine_estimate(expected[0], opponent(noisy)[0], 0.08,
                                  refinement=CLASSIC_REFINEMENT)
    expected[1:] = guided_chroma(expected, opponent(noisy), 0.08, guide=CLASSIC_CHROMA)
    expected = np.moveaxis(np.tensordot(OPPONENT.T, expected, axes=1), 0, -1)
    result = denoise(noisy, sigma=0.08, channel_axis=-1)
    # The opponent transform there and back rounds in float32 on the engine's side.
    np.testing.assert_allclose(result, expected, rtol=0, atol=2e-5)
    assert np.mean((result - clean) ** 2) < np.mean((plain - clean) ** 2)


def _rings(rng, shape=(96, 104)):
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    clean = 0.5 + 0.3 * np.cos(np.hypot(y - 40.0, x - 60.0) / 4.0)
    return clean, (clean + rng.normal(0, 0.1, clean.shape)).astype(np.float32)


def test_alike_channels_share_their_weights_and_each_takes_its_second_look(rng):
    from nlmeans_cli.methods.refinement import CLASSIC_REFINEMENT, refine_estimate

    clean, _ = _textured(rng)
    # Two stains of one structure: independent noise on the same scene.
    clean = np.stack([clean, 0.3 + 0.5 * clean], axis=-1)
    noisy = (clean + rng.normal(0, 0.1, clean.shape)).astype(np.float32)
    setting = resolve_parameters(noisy, sigma=0.1, channel_axis=-1)
    assert setting.refined and not setting.apart
    plain = denoise(noisy, sigma=0.1, channel_axis=-1, h=setting.h_unit,
                    patch_size=setting.patch_size, search_window=setting.search_window)
    expected = np.stack([refine_estimate(plain[..., c].astype(np.float64),
                                         noisy[..., c].astype(np.float64), 0.1,
                                         refinement=CLASSIC_REFINEMENT) for c in range(2)], -1)
    result = denoise(noisy, sigma=0.1, channel_axis=-1)
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-6)
    assert np.mean((result - clean) ** 2) < np.mean((plain - clean) ** 2)
    # Shared weights beat each channel alone here.
    alone = np.stack([denoise(noisy[..., c], sigma=0.1) for c in range(2)], -1)
    assert np.mean((result - clean) ** 2) < np.mean((alone - clean) ** 2)


def test_unrelated_channels_are_denoised_apart_as_grey_images(rng):
    stripes, noisy_stripes = _textured(rng)
    rings, noisy_rings = _rings(rng)
    clean = np.stack([stripes, rings], axis=-1)
    noisy = np.stack([noisy_stripes, noisy_rings], axis=-1)
    setting = resolve_parameters(noisy, sigma=0.1, channel_axis=-1)
    assert len(setting.apart) == 2 and all(one.refined for one in setting.apart)
    # Its reach covers each channel's.
    assert setting.reach(noisy.shape[:2]) == tuple(
        max(pair) for pair in zip(*(one.reach(noisy.shape[:2]) for one in setting.apart),
                                  strict=True))
    result = denoise(noisy, sigma=0.1, channel_axis=-1)
    alone = np.stack([denoise(noisy[..., c], sigma=0.1) for c in range(2)], axis=-1)
    np.testing.assert_array_equal(result, alone)
    # Where the h is given, SURE does not run: one set of weights.
    given = denoise(noisy, sigma=0.1, channel_axis=-1, h=setting.h_unit,
                    patch_size=setting.patch_size, search_window=setting.search_window)
    assert np.mean((result - clean) ** 2) < np.mean((given - clean) ** 2)


def test_three_channels_that_are_not_colours_are_denoised_as_other_counts_are(rng):
    stripes, noisy_stripes = _textured(rng)
    rings, noisy_rings = _rings(rng)
    clean = np.stack([stripes, rings, stripes[::-1]], axis=-1)
    noisy = np.stack([noisy_stripes, noisy_rings, noisy_stripes[::-1]], axis=-1)
    colour = resolve_parameters(noisy, sigma=0.1, channel_axis=-1)
    assert colour.h_chroma_unit is not None and not colour.apart
    bands = resolve_parameters(noisy, sigma=0.1, channel_axis=-1, colour=False)
    assert bands.h_chroma_unit is None and len(bands.apart) == 3
    result = denoise(noisy, sigma=0.1, channel_axis=-1, colour=False)
    alone = np.stack([denoise(noisy[..., c], sigma=0.1) for c in range(3)], axis=-1)
    np.testing.assert_array_equal(result, alone)
    as_colour = denoise(noisy, sigma=0.1, channel_axis=-1)
    assert np.mean((result - clean) ** 2) < np.mean((as_colour - clean) ** 2)
    # Their sigma is read on the channels (not a luminance), as estimate_noise reads it.
    from nlmeans_cli import estimate_noise
    from nlmeans_cli.pixels import read_sigma_unit

    estimated = resolve_parameters(noisy, channel_axis=-1, colour=False, noise="gaussian")
    assert estimated.sigma_unit == pytest.approx(estimate_noise(noisy, channel_axis=-1,
                                                                colour=False))
    assert estimated.sigma_unit == pytest.approx(
        read_sigma_unit(noisy.astype(np.float32), colour=False).sigma_unit)
    # Three left of four (one constant) are not red, green and blue either.
    four = np.concatenate([noisy, np.full_like(noisy[..., :1], 0.5)], axis=-1)
    setting = resolve_parameters(four, sigma=0.1, channel_axis=-1)
    assert setting.h_chroma_unit is None and len(setting.apart) == 3
    np.testing.assert_array_equal(denoise(four, sigma=0.1, channel_axis=-1)[..., :3], alone)


def test_the_refinement_is_nl_means_then_its_second_look(rng):
    from nlmeans_cli.methods.refinement import CLASSIC_REFINEMENT, refine_estimate

    _, noisy = _textured(rng)
    setting = resolve_parameters(noisy, sigma=0.1)
    plain = denoise(noisy, sigma=0.1, h=setting.h_unit, patch_size=setting.patch_size,
                    search_window=setting.search_window)
    expected = refine_estimate(plain.astype(np.float64), noisy.astype(np.float64), 0.1,
                               refinement=CLASSIC_REFINEMENT)
    np.testing.assert_allclose(denoise(noisy, sigma=0.1), expected, rtol=0, atol=1e-6)
    # Its reach covers the refinement's windows: tiles need that much overlap.
    assert setting.reach(noisy.shape) == tuple(
        setting.patch_size // 2 + setting.search_window // 2 + CLASSIC_REFINEMENT.reach
        for _ in range(2))


@pytest.mark.parametrize("sigma_255", [10, 25, 50])
def test_the_refinement_gains_on_a_photograph(samples, sigma_255):
    import imageio.v3 as iio

    clean = iio.imread(samples / "camera_clean.png").astype(np.float64) / 255
    noisy = (clean + np.random.default_rng(sigma_255).normal(0, sigma_255 / 255, clean.shape)
             ).astype(np.float32)
    sigma = sigma_255 / 255
    setting = resolve_parameters(noisy, sigma=sigma)
    plain = denoise(noisy, sigma=sigma, h=setting.h_unit, patch_size=setting.patch_size,
                    search_window=setting.search_window)

    def psnr(estimate):
        return 10 * np.log10(1 / np.mean((estimate - clean) ** 2))

    assert psnr(denoise(noisy, sigma=sigma)) > psnr(plain) + 0.05


def test_a_constant_image_stays_constant_through_the_refinement():
    image = np.full((40, 48), 0.37, np.float32)
    noisy_setting = resolve_parameters(image, sigma=0.05)
    assert noisy_setting.refined
    np.testing.assert_allclose(denoise(image, sigma=0.05), image, rtol=0, atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (2, 9), (1, 1, 3), (2, 7, 3)])
@pytest.mark.parametrize("method", ["classic", "learned"])
def test_images_narrower_than_a_patch_are_denoised_without_refusal(shape, method):
    # The refinement compares 3x3 patches: where none fits, the estimate stands (a 1x1
    # image with sigma given was refused by the engine's weight sums).
    image = np.random.default_rng(5).random(shape).astype(np.float32)
    axis = -1 if len(shape) == 3 else None
    out = denoise(image, sigma=0.1, channel_axis=axis, method=method)
    assert out.shape == image.shape and out.dtype == image.dtype and np.isfinite(out).all()
