"""Noise a colour image's channels share: read on the luminance the methods denoise."""

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image
from skimage import data
from skimage.metrics import peak_signal_noise_ratio
from typer.testing import CliRunner

from nlmeans_cli import colour_noise, denoise, estimate_noise
from nlmeans_cli.cli import app
from nlmeans_cli.clip_noise import estimate_frames_noise
from nlmeans_cli.colour_noise import (
    SHARED_NOISE_MARGIN,
    colour_sigma,
    luminance_sigma,
    shared_noise_note,
)
from nlmeans_cli.denoising import stabiliser_for
from nlmeans_cli.noise import PoissonGaussian
from nlmeans_cli.parameters import request_for
from nlmeans_cli.pixels import estimate_sigma_unit, read_sigma_unit
from nlmeans_cli.stabiliser import Stabiliser

SIGMA = 10.0


def _clean() -> np.ndarray:
    return data.astronaut()[:256, 128:384].astype(np.float64)


def _eight_bit(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _alike(clean: np.ndarray, seed: int) -> np.ndarray:
    """Noise drawn once per pixel and added to red, green and blue alike."""
    noise = np.random.default_rng(seed).normal(0.0, SIGMA, clean.shape[:2] + (1,))
    return _eight_bit(clean + noise)


def _apart(clean: np.ndarray, seed: int) -> np.ndarray:
    """Noise drawn apart in each channel."""
    return _eight_bit(clean + np.random.default_rng(seed).normal(0.0, SIGMA, clean.shape))


def _channels_sigma(pixels: np.ndarray) -> float:
    """The mean of the channels' own estimates, each read as a grey image."""
    return float(np.mean([estimate_noise(np.ascontiguousarray(pixels[..., c]))
                          for c in range(3)]))


def test_the_luminance_of_white_noise_holds_its_sigma():
    noise = np.random.default_rng(0).normal(0.5, 0.05, (256, 256, 3)).astype(np.float32)
    assert luminance_sigma(noise) == pytest.approx(0.05, rel=0.05)


def test_noise_alike_in_three_channels_reads_root_three_times_on_the_luminance():
    pixels = _alike(_clean(), 1)
    per_channel = _channels_sigma(pixels)
    assert per_channel == pytest.approx(SIGMA, rel=0.15)
    unit = pixels.astype(np.float32) / 255
    assert luminance_sigma(unit) * 255 == pytest.approx(np.sqrt(3) * SIGMA, rel=0.15)
    # The classic method's sigma: the geometric mean of the two; the learned one's: the
    # luminance's.
    assert estimate_noise(pixels, channel_axis=-1) == pytest.approx(
        np.sqrt(per_channel * luminance_sigma(unit) * 255), rel=0.01)
    assert estimate_sigma_unit(unit, luminance_weight=1.0) == pytest.approx(
        luminance_sigma(unit), rel=1e-6)


def test_noise_drawn_apart_keeps_the_channels_sigma():
    pixels = _apart(_clean(), 2)
    assert estimate_noise(pixels, channel_axis=-1) == pytest.approx(_channels_sigma(pixels),
                                                                    rel=1e-6)


def test_the_luminance_is_taken_only_past_the_margin():
    assert colour_sigma(1.0, SHARED_NOISE_MARGIN * 0.99) == 1.0
    assert colour_sigma(1.0, 0.5, weight=1.0) == 1.0
    assert colour_sigma(1.0, 4.0) == pytest.approx(2.0)
    assert colour_sigma(1.0, 4.0, weight=1.0) == pytest.approx(4.0)
    assert colour_sigma(1.0, 4.0, weight=0.0) == pytest.approx(1.0)


@pytest.mark.parametrize("method", ["classic", "learned"])
def test_shared_noise_is_denoised_better_than_at_the_channels_sigma(method):
    clean = _clean()
    pixels = _alike(clean, 3)
    at_channels = denoise(pixels, channel_axis=-1, sigma=_channels_sigma(pixels),
                          method=method)
    default = denoise(pixels, channel_axis=-1, method=method)
    assert (peak_signal_noise_ratio(clean, default, data_range=255)
            > peak_signal_noise_ratio(clean, at_channels, data_range=255) + 0.5)


def test_a_jpeg_with_subsampled_chroma_reads_near_the_noise_before_it():
    # Chroma subsampling averages the chroma's noise away and leaves the luma's: the
    # channels read about three quarters of the noise, the luminance a little more than it,
    # and the classic method's sigma lies between the two.
    buffer = io.BytesIO()
    Image.fromarray(_apart(_clean(), 4)).save(buffer, format="JPEG", quality=95,
                                               subsampling=2)
    with Image.open(io.BytesIO(buffer.getvalue())) as image:
        decoded = np.asarray(image)
    assert _channels_sigma(decoded) < 0.85 * SIGMA
    assert 0.85 * SIGMA <= estimate_noise(decoded, channel_axis=-1) <= 1.2 * SIGMA


def test_a_colour_clip_reads_shared_noise_as_its_frames_do():
    clean = _clean()
    clip = np.stack([_alike(clean, seed) for seed in range(5, 9)])
    still = [estimate_noise(frame, channel_axis=-1) for frame in clip]
    assert estimate_frames_noise(iter(clip), channel_axis=-1) == pytest.approx(
        float(np.median(still)), rel=1e-6)


def test_a_grey_image_has_no_luminance_of_three_channels():
    with pytest.raises(ValueError, match="3 channels"):
        luminance_sigma(np.zeros((8, 8, 1), np.float32))


def _photon_noise(clean: np.ndarray, seed: int, *, alike: bool) -> np.ndarray:
    """Poisson-Gaussian noise (gain 4, read noise 2 on the 0-255 scale), 8 bits."""
    rng = np.random.default_rng(seed)
    draws = rng.normal(0.0, 1.0, clean.shape[:2] + (1,) if alike else clean.shape)
    return _eight_bit(clean + np.sqrt(4.0 * clean + 4.0) * draws)


def test_the_stabiliser_weighs_the_luminance_as_a_still_does():
    stabiliser = Stabiliser(models=(PoissonGaussian(0.01, 0.01),) * 3, scale=2.0,
                            equivalent_sigma=0.1)
    assert stabiliser.sigma_unit == 0.5
    shared = replace(stabiliser, luminance_sigma=2.0, luminance_weight=0.5)
    assert shared.sigma_unit == pytest.approx(colour_sigma(0.5, 2.0, weight=0.5))
    assert shared.table_sigma(1.0) == pytest.approx(0.1 * shared.sigma_unit / 0.5)
    apart = replace(stabiliser, luminance_sigma=0.52, luminance_weight=0.5)
    assert apart.sigma_unit == 0.5


def test_photon_noise_drawn_apart_keeps_the_stabilised_sigma():
    unit = _photon_noise(_clean(), 10, alike=False).astype(np.float32) / 255
    stabiliser = stabiliser_for(request_for(np.dtype(np.uint8), noise="poisson-gaussian"),
                                unit).stabiliser
    assert stabiliser.luminance_sigma is not None
    assert stabiliser.sigma_unit == stabiliser.measured_share / stabiliser.scale


def test_photon_noise_alike_in_three_channels_is_denoised_on_its_luminance(monkeypatch):
    clean = _clean()
    pixels = _photon_noise(clean, 11, alike=True)
    shared = denoise(pixels, channel_axis=-1, noise="poisson-gaussian")
    monkeypatch.setattr(colour_noise, "SHARED_NOISE_MARGIN", np.inf)
    apart = denoise(pixels, channel_axis=-1, noise="poisson-gaussian")
    assert (peak_signal_noise_ratio(clean, shared, data_range=255)
            > peak_signal_noise_ratio(clean, apart, data_range=255) + 0.5)


def test_the_reading_says_when_the_channels_share_their_noise():
    alike = read_sigma_unit(_alike(_clean(), 12).astype(np.float32) / 255)
    assert "share their noise" in alike.note
    assert read_sigma_unit(_apart(_clean(), 13).astype(np.float32) / 255).note == ""
    assert shared_noise_note(1.0, 1.0, 1.0) == ""
    assert shared_noise_note(1.0, 3.0, 2.0).endswith("reads 3.00 times their own, "
                                                      "denoised at 2.00 times")


def test_the_reading_says_when_a_jpeg_hid_the_noise():
    buffer = io.BytesIO()
    Image.fromarray(_apart(_clean(), 14)).save(buffer, format="JPEG", quality=75)
    with Image.open(io.BytesIO(buffer.getvalue())) as image:
        decoded = np.asarray(image).astype(np.float32) / 255
    assert "JPEG quantization" in read_sigma_unit(decoded).note


@pytest.mark.parametrize("noise", ["gaussian", "poisson-gaussian"])
def test_the_command_line_notes_shared_noise(tmp_path, noise):
    clean = _clean()
    pixels = _alike(clean, 15) if noise == "gaussian" else _photon_noise(clean, 15, alike=True)
    source = tmp_path / "in.png"
    Image.fromarray(pixels).save(source)
    result = CliRunner().invoke(app, ["denoise", str(source), str(tmp_path / "out.png"),
                                      "--noise", noise])
    assert result.exit_code == 0, result.output
    assert "note: the channels share their noise" in result.stderr
