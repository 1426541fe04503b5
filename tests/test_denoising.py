import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from skimage import data
from skimage.metrics import peak_signal_noise_ratio

import naive
from nlmeans_cli import denoise, resolve_parameters
from nlmeans_cli.formulation import AFFINITIES
from nlmeans_cli.methods.classic import SURE_FACTORS, SURE_FINE_FACTORS
from nlmeans_cli.parameters import DEFAULTS_2D, DEFAULTS_3D, default_parameters
from nlmeans_cli.pixels import OPPONENT, estimate_sigma_unit, varying_channels

DTYPES = [np.uint8, np.uint16, np.int16, np.float16, np.float32, np.float64]


def _image(rng, shape, dtype):
    unit = rng.random(shape)
    if np.dtype(dtype).kind in "ui":
        info = np.iinfo(dtype)
        return (info.min + unit * (float(info.max) - info.min)).astype(dtype)
    return unit.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape, channel_axis",
    [((17, 23), None), ((12, 14, 3), -1), ((3, 12, 14), 0), ((6, 7, 8), None), ((1, 9), None)],
)
def test_shape_and_dtype_kept(dtype, shape, channel_axis, rng):
    image = _image(rng, shape, dtype)
    out = denoise(image, sigma=0.1 * (np.iinfo(dtype).max if image.dtype.kind in "ui" else 1),
                  channel_axis=channel_axis)
    assert out.shape == image.shape
    assert out.dtype == image.dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affinity", sorted(AFFINITIES))
def test_constant_image_is_a_fixed_point(dtype, affinity):
    value = {"u": 100, "i": -100}.get(np.dtype(dtype).kind, 0.4)
    image = np.full((15, 16), value, dtype)
    out = denoise(image, affinity=affinity)
    if image.dtype.kind in "ui":
        assert_array_equal(out, image)
    else:  # computed in float32
        assert_allclose(out, image, rtol=1e-6, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affinity", sorted(AFFINITIES))
def test_a_constant_image_of_subnormal_values_is_a_fixed_point(dtype, affinity):
    # Under the concatenation affinity the weights of the smallest subnormal sum to a
    # subnormal normaliser, whose reciprocal is infinite: the output was NaN.
    smallest = np.nextafter(np.float32(0), np.float32(1))
    image = np.full((4, 5), smallest, dtype)
    out = denoise(image, affinity=affinity)
    assert_array_equal(out, image.astype(np.float32).astype(dtype))


@pytest.mark.parametrize("noise", ["gaussian", "poisson-gaussian", "auto"])
@pytest.mark.parametrize("scale", [4095.0, 1e-3, 1e-10])
def test_a_float_image_in_other_units_is_denoised_as_on_the_unit_scale(noise, scale):
    # The default table is read at sigma against a full scale of 1: an image of 1e-10 chose
    # h a million times its sigma, and one in counts the largest patches and windows.
    rng = np.random.default_rng(12)
    clean = data.camera()[96:224, 64:192].astype(np.float32) / 255
    photons = np.float32(4 / 255) * rng.poisson(clean * 255 / 4).astype(np.float32)
    noisy = photons + rng.normal(0, 2 / 255, clean.shape).astype(np.float32)
    expected = peak_signal_noise_ratio(clean, denoise(noisy, noise=noise), data_range=1)
    scaled = denoise(noisy * np.float32(scale), noise=noise)
    psnr = peak_signal_noise_ratio(clean, scaled / np.float32(scale), data_range=1)
    assert abs(psnr - expected) < 0.05


def test_a_float_image_too_small_or_too_large_for_float32_is_refused():
    rng = np.random.default_rng(13)
    for scale in (1e-13, 1e13):
        with pytest.raises(ValueError, match="outside 1e-12 to 1e"):
            denoise(rng.random((16, 16)).astype(np.float32) * np.float32(scale))
    tiny = np.full((16, 16), 1e-20, np.float32)
    assert_array_equal(denoise(tiny), tiny)  # constant: nothing to read its noise against


@pytest.mark.parametrize("dtype", DTYPES)
def test_classic_output_within_input_range(dtype, rng):
    image = _image(rng, (20, 21), dtype)
    out = denoise(image, sigma=0.2 * (255 if dtype == np.uint8 else 1))
    if image.dtype.kind == "f":
        tolerance = 1e-6
    else:
        tolerance = 0
    assert out.min() >= image.min() - tolerance
    assert out.max() <= image.max() + tolerance


def test_transposing_the_input_transposes_the_output(rng):
    image = rng.random((19, 24)).astype(np.float32)
    # h given: SURE's random probe is not transposed with the image.
    out = denoise(image, sigma=0.1, h=0.08)
    out_t = denoise(image.T, sigma=0.1, h=0.08)
    assert_allclose(out_t, out.T, rtol=1e-5, atol=1e-6)


def test_float32_close_to_float64(rng):
    image = rng.random((24, 25))
    out64 = denoise(image, sigma=0.1)
    out32 = denoise(image.astype(np.float32), sigma=0.1)
    assert out64.dtype == np.float64
    assert_allclose(out32, out64, atol=1e-5)


# The chroma's strength picks colour's sweep: its own (two sets of weights), h's (one set,
# one sweep) or twice h's (the luminance's weights the chroma's squared twice).
@pytest.mark.parametrize("h_chroma", [0.2, 0.12, 0.24])
@pytest.mark.parametrize("affinity", sorted(AFFINITIES))
@pytest.mark.parametrize("shape, channel_axis", [((9, 11), None), ((7, 8, 3), -1),
                                                  ((5, 6, 7), None)])
def test_classic_method_is_the_generic_operation(affinity, shape, channel_axis, h_chroma,
                                                 rng):
    """denoise's classic path = the reference definition on the unit-scaled image."""
    image = rng.random(shape).astype(np.float32)
    sigma, h, patch, window = 0.1, 0.12, 3, 5
    out = denoise(image, sigma=sigma, h=h, patch_size=patch, search_window=window,
                  affinity=affinity, channel_axis=channel_axis, patch_kernel="box",
                  h_chroma=h_chroma)
    planar = np.moveaxis(image[..., np.newaxis] if channel_axis is None else image, -1, 0)
    volume = channel_axis is None and image.ndim == 3
    grid = planar if volume else planar[:, :, np.newaxis, :]
    radius = (1, 1, 1) if volume else (1, 0, 1)
    search = (2, 2, 2) if volume else (2, 0, 2)
    n = grid.shape[0] * int(np.prod([2 * r + 1 for r in radius]))

    def operation(features, values, strength):
        scale = {"gaussian": 1 / n, "concatenation": 1 / (n * strength)}.get(
            affinity, 1 / (n * strength * strength))
        return naive.nonlocal_operation(features, None, values, affinity=affinity,
                                        normaliser="sum", patch_radius=radius,
                                        search_radius=search, scale=scale,
                                        bias=2 * sigma**2, h=strength)

    if grid.shape[0] == 3 and affinity == "gaussian":
        # Colour: distances over all channels in opponent colours (the RGB distances), the
        # luminance weighted with h, the chroma with h_chroma (a Gaussian kernel's second
        # strength; the other affinities weigh the RGB channels alike).
        opponent = np.tensordot(OPPONENT, grid, axes=1)
        expected = np.tensordot(OPPONENT.T, np.concatenate(
            [operation(opponent, opponent[:1], h), operation(opponent, opponent[1:], h_chroma)]),
            axes=1)
    else:
        expected = operation(grid, grid, h)
    expected = np.moveaxis(expected.reshape(planar.shape), 0, -1)
    if channel_axis is None:
        expected = expected[..., 0]
    assert_allclose(out, expected, rtol=1e-4, atol=1e-6)


def test_psnr_improves_on_a_noisy_image(rng):
    clean = data.camera()[100:228, 200:328].astype(np.float32) / 255
    noisy = clean + rng.normal(0, 25 / 255, clean.shape).astype(np.float32)
    out = denoise(noisy, sigma=25 / 255)
    gain = peak_signal_noise_ratio(clean, out, data_range=1) - peak_signal_noise_ratio(
        clean, noisy, data_range=1)
    assert gain > 5.0
    assert out.std() < noisy.std()


def test_colour_psnr_improves(rng):
    clean = data.astronaut()[:96, 200:296].astype(np.float32) / 255
    noisy = clean + rng.normal(0, 20 / 255, clean.shape).astype(np.float32)
    out = denoise(noisy, sigma=20 / 255, channel_axis=-1)
    assert peak_signal_noise_ratio(clean, out, data_range=1) > peak_signal_noise_ratio(
        clean, noisy, data_range=1) + 4


def test_sigma_is_estimated_and_reported_in_image_units(rng):
    clean = np.full((64, 64), 30000, np.uint16)
    noisy = np.clip(clean + rng.normal(0, 1000, clean.shape), 0, 65535).astype(np.uint16)
    setting = resolve_parameters(noisy)
    assert setting.sigma_estimated
    assert setting.sigma_unit * 65535 == pytest.approx(1000, rel=0.1)
    row = default_parameters(setting.sigma_unit * 255, 2)
    # h chosen by SURE among multiples of the table's.
    assert setting.h_chosen_by == "sure"
    ratio = setting.h_unit / (row.h_factor * setting.sigma_unit)
    assert min(SURE_FACTORS) * min(SURE_FINE_FACTORS) <= ratio
    assert ratio <= max(SURE_FACTORS) * max(SURE_FINE_FACTORS)
    # Patch and window refined by SURE around the table's.
    assert setting.patch_size - row.patch_size in (-2, 0, 2)
    assert setting.search_window - row.search_window in (-2, 0, 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_constant_image_has_a_sigma_of_exactly_0(dtype):
    # Not the rounding residue of the wavelet's taps (a constant 90 / 255 gave 3e-16).
    for level in range(256):
        assert estimate_sigma_unit(np.full((24, 30, 1), level / 255, dtype)) == 0.0


def test_default_tables_are_ordered_and_valid():
    for table in (DEFAULTS_2D, DEFAULTS_3D):
        limits = [row.sigma_max for row in table]
        assert limits == sorted(limits) and limits[-1] == float("inf")
        for row in table:
            assert row.patch_size % 2 == 1 and row.search_window % 2 == 1 and row.h_factor > 0


def test_zero_sigma_leaves_a_clean_image_nearly_unchanged(rng):
    image = rng.random((20, 20)).astype(np.float32)
    assert_allclose(denoise(image, sigma=0.0), image, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(sigma=-1.0), ValueError, "sigma"),
        (dict(sigma=float("nan")), ValueError, "sigma"),
        (dict(h=0.0), ValueError, "h must be positive"),
        (dict(patch_size=4), ValueError, "patch_size"),
        (dict(patch_size=0), ValueError, "patch_size"),
        (dict(search_window=0), ValueError, "search_window"),
        (dict(affinity="nope"), ValueError, "known: concatenation, dot-product"),
        (dict(method="nope"), ValueError, "known: classic"),
        (dict(channel_axis=5), ValueError, "channel_axis"),
    ],
)
def test_bad_arguments_raise(kwargs, error, match, rng):
    with pytest.raises(error, match=match):
        denoise(rng.random((8, 8, 3)), **kwargs)


def test_bad_images_raise():
    with pytest.raises(TypeError, match="dtype"):
        denoise(np.zeros((8, 8), np.int32))
    with pytest.raises(ValueError, match="2-D image or a 3-D volume"):
        denoise(np.zeros(8))
    with pytest.raises(ValueError, match="no finite pixel value"):
        denoise(np.array([[np.inf, np.nan], [np.nan, -np.inf]]))
    with pytest.raises(ValueError, match="empty"):
        denoise(np.zeros((0, 5)))


def test_tuning_parameters_are_keyword_only():
    with pytest.raises(TypeError):
        denoise(np.zeros((4, 4)), 0.1)


def test_varying_channels_finds_a_channel_that_varies_in_its_last_pixel_only():
    pixels = np.random.default_rng(21).random((300, 400, 4)).astype(np.float32)
    pixels[..., 1] = 0.25
    pixels[..., 3] = 0.0
    assert varying_channels(pixels) == (0, 2)
    pixels[-1, -1, 3] = 1e-7  # beyond the block read in all channels at once
    assert varying_channels(pixels) == (0, 2, 3)
    assert varying_channels(np.full((5, 5, 1), 7, np.uint8)) == ()


def test_a_tall_narrow_still_is_denoised_turned_as_its_wide_twin(rng):
    # The engine sweeps rows in parallel: a strip 15 times as tall as wide runs turned (the
    # same NL-means), and gives its wide twin's result turned back, setting and tiles too.
    from nlmeans_cli.tiling import denoise_tiled

    tall = (0.5 + 0.2 * np.sin(np.arange(600) / 20.0)[:, np.newaxis]
            + rng.normal(0, 0.1, (600, 40))).astype(np.float32)
    wide = np.ascontiguousarray(tall.T)
    result = denoise(tall)
    assert result.flags.c_contiguous
    np.testing.assert_array_equal(result, denoise(wide).T)
    assert resolve_parameters(tall) == resolve_parameters(wide)
    np.testing.assert_array_equal(denoise_tiled(tall, tile=64), result)
    # With channels on either side, and missing pixels marked in the tall image's shape.
    pair = np.stack([tall, tall[::-1]])
    np.testing.assert_array_equal(
        denoise(pair, channel_axis=0),
        np.swapaxes(denoise(np.ascontiguousarray(np.swapaxes(pair, 1, 2)), channel_axis=0),
                    1, 2))
    missing = np.zeros(tall.shape, bool)
    missing[100:103, 10:12] = True
    np.testing.assert_array_equal(denoise(tall, missing=missing),
                                  denoise(wide, missing=missing.T).T)
    assert np.mean((result - tall) ** 2) > 0  # denoised, not passed through
