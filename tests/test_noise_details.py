"""White noise's sigma from the calmest positions' details, and how white they are."""

import numpy as np
import pytest
from skimage.restoration import estimate_sigma

from nlmeans_cli import estimate_noise
from nlmeans_cli.noise_details import (
    CALM_SHARE,
    NORMAL_QUARTILE,
    calm_median,
    calm_noise_share,
    calm_sigma,
    calm_statistics,
    calm_statistics_by_mask,
    calm_whiteness,
)


def _slow_calmest(plane):
    """Per position of one small plane, one by one: |detail|, |wide detail|, calmest or not."""
    height, width = plane.shape
    detail = np.full((height, width), np.nan)
    mean = np.full((height, width), np.nan)
    taps = np.outer([1, -2, 1], [1, -2, 1]) / 6
    # A step of 2: the same taps on every other pixel of the 5x5 neighbourhood.
    wide_taps = np.zeros((5, 5))
    wide_taps[::2, ::2] = taps
    for y in range(1, height - 1):
        for x in range(1, width - 1):
            window = plane[y - 1:y + 2, x - 1:x + 2]
            detail[y, x] = np.sum(taps * window)
            mean[y, x] = window.mean()
    step = 3
    magnitudes, wides, gradients, neighbours = [], [], [], []
    for y in range(1 + step, height - 1 - step):
        for x in range(1 + step, width - 1 - step):
            if abs(detail[y, x]) == 0:
                continue
            magnitudes.append(abs(detail[y, x]))
            wides.append(abs(np.sum(wide_taps * plane[y - 2:y + 3, x - 2:x + 3])))
            gradients.append(abs(mean[y + step, x] - mean[y - step, x])
                             + abs(mean[y, x + step] - mean[y, x - step]))
            neighbours.append(abs(detail[y + step, x]) + abs(detail[y - step, x])
                              + abs(detail[y, x + step]) + abs(detail[y, x - step]))
    magnitudes, wides, gradients, neighbours = map(
        np.array, (magnitudes, wides, gradients, neighbours))
    calmness = gradients / np.median(gradients) + neighbours / np.median(neighbours)
    return magnitudes, wides, calmness <= np.quantile(calmness, CALM_SHARE)


def _slow_calm_sigma(plane):
    """calm_sigma of one small plane, position by position, as its docstring defines it."""
    magnitudes, _, calmest = _slow_calmest(plane)
    return np.median(magnitudes[calmest]) / NORMAL_QUARTILE


def test_calm_sigma_matches_a_slow_reference(rng):
    plane = rng.random((23, 29)) * 0.2 + np.linspace(0, 0.5, 29) + rng.normal(0, 0.03, (23, 29))
    assert calm_sigma(plane[np.newaxis], None, None) == pytest.approx(_slow_calm_sigma(plane),
                                                                      rel=1e-12)


@pytest.mark.parametrize("shape, channel_axis, tolerance", [
    ((256, 256), None, 0.06), ((96, 96, 3), -1, 0.08), ((12, 64, 64), None, 0.06)])
def test_sigma_of_white_noise_on_smooth_content(shape, channel_axis, tolerance, rng):
    ramp = np.linspace(0.2, 0.7, shape[1])[:, np.newaxis]  # along the rows of every plane
    clean = np.broadcast_to(ramp if channel_axis is None else ramp[..., np.newaxis], shape)
    noisy = clean + rng.normal(0, 0.04, shape)
    for dtype in (np.float32, np.float64):
        sigma = estimate_noise(noisy.astype(dtype), channel_axis=channel_axis)
        assert sigma == pytest.approx(0.04, rel=tolerance)


def _textured(rng, side=256):
    """A smooth ramp, three fifths of it under fine texture (a random pattern, 2x2 blurred)."""
    clean = np.tile(np.linspace(0.3, 0.6, side), (side, 1))
    columns = 3 * side // 5
    texture = rng.normal(0, 1, (side, columns))
    # A 2x2 box blur keeps the texture fine but correlated, unlike white noise.
    texture = (texture + np.roll(texture, 1, 0) + np.roll(texture, 1, 1)
               + np.roll(texture, (1, 1), (0, 1))) / 4
    clean[:, side - columns:] += 0.06 * texture
    return clean


def test_texture_is_not_taken_for_noise(rng):
    clean = _textured(rng)
    noisy = clean + rng.normal(0, 0.01, clean.shape)
    sigma = estimate_noise(noisy)
    # Donoho's wavelet median over every detail takes the texture for noise
    assert estimate_sigma(noisy) > 1.25 * 0.01
    assert sigma == pytest.approx(0.01, rel=0.1)


def test_clipped_neighbourhoods_are_left_out(rng):
    # An 8-bit image two fifths of which is saturated: the noise there is clipped away, and
    # the neighbourhoods at the saturated region's edge hold less of it.
    clean = np.full((200, 200), 120.0)
    clean[:, 120:] = 250.0
    noisy = np.clip(np.rint(clean + rng.normal(0, 8, clean.shape)), 0, 255).astype(np.uint8)
    assert estimate_noise(noisy) == pytest.approx(8, rel=0.08)


def test_tiny_images_use_every_detail(rng):
    noisy = 0.5 + rng.normal(0, 0.05, (6, 7))
    sigma = estimate_noise(noisy)
    assert 0.02 < sigma < 0.1
    assert estimate_noise(noisy[:3, :3]) == 0.0  # under 4 pixels along an axis


def test_calm_whiteness_matches_a_slow_reference(rng):
    plane = rng.random((23, 29)) * 0.2 + np.linspace(0, 0.5, 29) + rng.normal(0, 0.03, (23, 29))
    magnitudes, wides, calmest = _slow_calmest(plane)
    expected = np.median(wides[calmest]) / np.median(magnitudes[calmest])
    assert calm_whiteness(plane[np.newaxis], None, None) == pytest.approx(expected, rel=1e-12)


def test_white_noise_is_white_and_fine_texture_is_not(rng):
    ramp = np.tile(np.linspace(0.2, 0.7, 256), (256, 1))
    noisy = ramp + rng.normal(0, 0.02, ramp.shape)
    assert calm_whiteness(noisy[np.newaxis], None, None) == pytest.approx(1.0, abs=0.06)
    # Texture fills every position: even the calmest details grow at every other pixel.
    textured = _textured(rng)[:, -150:] + rng.normal(0, 0.005, (256, 150))
    assert calm_whiteness(textured[np.newaxis], None, None) > 1.5
    assert calm_whiteness(textured[np.newaxis, :3, :3], None, None) is None


def test_fine_texture_filling_the_image_is_taken_out_of_the_sigma():
    # Fine texture everywhere (part white, part a little coarser), under noise of 0.01: even
    # the calmest details hold it, and their median reads it as noise.
    for seed in range(3):
        rng = np.random.default_rng(seed)
        side = 192
        fine = rng.normal(0, 1, (side, side))
        coarser = rng.normal(0, 1, (side, side))
        coarser = (coarser + np.roll(coarser, 1, 0) + np.roll(coarser, 1, 1)
                   + np.roll(coarser, (1, 1), (0, 1))) / 2
        texture = (fine + 2 * coarser) / 5**0.5
        clean = np.tile(np.linspace(0.3, 0.6, side), (side, 1)) + 0.02 * texture
        noisy = clean + rng.normal(0, 0.01, clean.shape)
        calmest = calm_median([calm_statistics(noisy, np.ones((side - 2, side - 2), bool),
                                               least=0.0)])
        assert calmest > 1.4 * 0.01
        assert 0.01 <= calm_sigma(noisy[np.newaxis], None, None) < 0.85 * calmest


def test_noise_alone_keeps_its_sigma_whatever_its_level(rng):
    # White noise reads white at every level: nothing is taken out as texture.
    ramp = np.tile(np.linspace(0.2, 0.7, 256), (256, 1))
    for sigma in (0.002, 0.02, 0.1):
        noisy = ramp + rng.normal(0, sigma, ramp.shape)
        calmest = calm_median([calm_statistics(noisy, np.ones((254, 254), bool), least=0.0)])
        assert calm_sigma(noisy[np.newaxis], None, None) == pytest.approx(calmest, rel=1e-12)


def test_the_noise_share_falls_as_the_calmest_details_grow_at_the_wider_step():
    # Not measured, or white (its scatter included): all noise. Beyond, less and less of
    # it, never none.
    assert calm_noise_share(None) == calm_noise_share(1.0) == calm_noise_share(1.05) == 1.0
    shares = [calm_noise_share(whiteness) for whiteness in np.linspace(1.2, 2.0, 9)]
    assert all(later < earlier for earlier, later in zip(shares[:-1], shares[1:], strict=True))
    assert 0 < calm_noise_share(10.0) == calm_noise_share(20.0) < shares[-1]


def test_calm_sigma_keeps_the_noise_share_of_the_calmest_details(rng):
    textured = _textured(rng)[:, -150:] + rng.normal(0, 0.005, (256, 150))
    planes = textured[np.newaxis]
    calmest = calm_median([calm_statistics(textured, np.ones((254, 148), bool), least=0.0)])
    share = calm_noise_share(calm_whiteness(planes, None, None, pixels=1 << 16))
    assert share < 1
    assert calm_sigma(planes, None, None) == pytest.approx(calmest * share**0.5, rel=1e-12)


def test_calm_statistics_by_mask_is_calm_statistics_of_each_mask():
    # One grid for all the masks (their union's): a mask within another gets what it would
    # alone.
    rng = np.random.default_rng(21)
    block = rng.normal(0.5, 0.05, (40, 52))
    everywhere = rng.random((38, 50)) < 0.9
    some = everywhere & (rng.random((38, 50)) < 0.5)
    by_mask = calm_statistics_by_mask(block, (everywhere, some), least=0.0)
    for statistics, mask in zip(by_mask, (everywhere, some), strict=True):
        expected = calm_statistics(block, mask, least=0.0)
        for got, want in zip(statistics, expected, strict=True):
            np.testing.assert_array_equal(got, want)
    assert by_mask[1][0].size < by_mask[0][0].size
