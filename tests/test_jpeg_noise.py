"""Noise hidden by JPEG's quantization: the steps read off the pixels, and the noise found."""

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data
from skimage.metrics import peak_signal_noise_ratio

from nlmeans_cli import denoise, estimate_noise
from nlmeans_cli.jpeg_noise import jpeg_quantization, on_eight_bit_levels


def _with_noise(clean: np.ndarray, sigma: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the clean pixels as float64, and with Gaussian noise rounded to 8 bits."""
    clean = clean.astype(np.float64)
    noise = np.random.default_rng(seed).normal(0.0, sigma, clean.shape)
    return clean, np.clip(np.rint(clean + noise), 0, 255).astype(np.uint8)


def _noisy(sigma: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return _with_noise(data.camera()[128:384, 128:384], sigma, seed)


def _jpeg(pixels: np.ndarray, quality: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the decoded pixels and the file's luminance table (natural order)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    with Image.open(io.BytesIO(buffer.getvalue())) as image:
        table = np.array(image.quantization[0], np.float64).reshape(8, 8)
        return np.asarray(image), table


@pytest.mark.parametrize("quality", [60, 75, 90])
def test_the_steps_shown_are_the_files(quality):
    _, noisy = _noisy(10.0, 1)
    decoded, table = _jpeg(noisy, quality)
    found = jpeg_quantization(decoded.astype(np.float64))
    assert found is not None
    assert found.measured.sum() >= 20
    agree = found.steps[found.measured] == table[found.measured]
    assert agree.mean() >= 0.9


@pytest.mark.parametrize("sigma", [0.0, 10.0])
def test_pixels_never_compressed_show_no_steps(sigma):
    _, noisy = _noisy(sigma, 2)
    assert jpeg_quantization(noisy.astype(np.float64)) is None


@pytest.mark.parametrize(("sigma", "quality"), [(10.0, 75), (10.0, 60), (6.0, 80)])
def test_noise_hidden_by_quantization_is_found_and_removed(sigma, quality):
    clean, noisy = _noisy(sigma, 3)
    decoded, _ = _jpeg(noisy, quality)
    estimate = estimate_noise(decoded)
    assert 0.7 * sigma <= estimate <= 1.5 * sigma
    before = peak_signal_noise_ratio(clean, decoded, data_range=255)
    after = peak_signal_noise_ratio(clean, denoise(decoded), data_range=255)
    assert after > before + 1.5


def _off_levels(pixels: np.ndarray) -> np.ndarray:
    """Return the pixels on the unit scale, moved off the 8-bit levels (0 and 1 kept)."""
    unit = pixels.astype(np.float64) / 255
    return (unit + 0.002 * unit * (1 - unit)).astype(np.float32)


def test_noise_shown_at_high_quality_is_read_as_before():
    _, noisy = _noisy(8.0, 4)
    decoded, _ = _jpeg(noisy, 95)
    # Off the 8-bit levels the quantization is not looked for: the finest details' reading.
    assert estimate_noise(decoded) == pytest.approx(estimate_noise(_off_levels(decoded)) * 255,
                                                    rel=0.01)
    assert 0.8 * 8.0 <= estimate_noise(decoded) <= 1.25 * 8.0


def test_a_clean_photograph_saved_at_high_quality_stays_nearly_untouched():
    clean, _ = _noisy(0.0, 5)
    decoded, _ = _jpeg(clean.astype(np.uint8), 95)
    assert estimate_noise(decoded) < 1.5
    after = peak_signal_noise_ratio(clean, denoise(decoded), data_range=255)
    assert after > peak_signal_noise_ratio(clean, decoded, data_range=255) - 0.3


def test_never_compressed_estimate_is_unchanged_by_the_check():
    _, noisy = _noisy(5.0, 6)
    assert estimate_noise(noisy) == pytest.approx(estimate_noise(_off_levels(noisy)) * 255,
                                                  rel=0.01)


def test_the_off_level_copy_hides_a_jpeg_from_the_check():
    # The comparison above is a fair one: off the levels, a JPEG's hidden noise is not found.
    _, noisy = _noisy(10.0, 7)
    decoded, _ = _jpeg(noisy, 75)
    assert estimate_noise(_off_levels(decoded)) * 255 < 0.5 * estimate_noise(decoded)


def _colour(sigma: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return _with_noise(data.astronaut()[:256, 128:384], sigma, seed)


def test_colour_noise_hidden_by_quantization_is_found_in_the_luma():
    clean, noisy = _colour(10.0, 8)
    decoded, _ = _jpeg(noisy, 75)
    estimate = estimate_noise(decoded, channel_axis=-1)
    assert 0.7 * 10.0 <= estimate <= 1.5 * 10.0
    before = peak_signal_noise_ratio(clean, decoded, data_range=255)
    after = peak_signal_noise_ratio(clean, denoise(decoded, channel_axis=-1), data_range=255)
    assert after > before + 1.0


def test_colour_never_compressed_estimate_is_unchanged_by_the_check():
    _, noisy = _colour(5.0, 9)
    off = estimate_noise(_off_levels(noisy), channel_axis=-1) * 255
    assert estimate_noise(noisy, channel_axis=-1) == pytest.approx(off, rel=0.01)


def test_eight_bit_levels_are_told_from_other_values():
    levels = np.random.default_rng(10).integers(0, 256, (300, 200, 3)).astype(np.float32) / 255
    assert on_eight_bit_levels(levels)
    assert not on_eight_bit_levels(levels + np.float32(0.3 / 255))


def test_a_jpeg_too_small_to_tell_is_estimated_from_its_details():
    _, noisy = _noisy(10.0, 11)
    decoded, _ = _jpeg(noisy[:24, :24], 75)
    assert jpeg_quantization(decoded.astype(np.float64)) is None
    assert 0.0 <= estimate_noise(decoded) < 10.0


@pytest.mark.parametrize(("row", "col"), [(3, 5), (7, 0), (0, 1)])
def test_a_jpeg_cropped_off_its_grid_is_found_at_its_block_edges(row, col):
    _, noisy = _noisy(10.0, 12)
    decoded, table = _jpeg(noisy, 75)
    cropped = decoded[row:, col:]
    found = jpeg_quantization(cropped.astype(np.float64))
    assert found is not None
    assert (found.steps[found.measured] == table[found.measured]).mean() >= 0.9
    assert estimate_noise(cropped) == pytest.approx(estimate_noise(decoded), rel=0.2)
