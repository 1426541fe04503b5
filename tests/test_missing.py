"""Missing values (NaN, infinities; pixels marked missing): kept, and left out of the denoising."""

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from nlmeans_cli import denoise, estimate_noise, resolve_parameters
from nlmeans_cli.cli import app
from nlmeans_cli.denoising import denoise_request
from nlmeans_cli.missing import (
    fill_missing,
    largest_rectangle,
    measured_sample,
    missing_pixels,
)
from nlmeans_cli.parameters import Request

runner = CliRunner()
SIGMA = 0.08


def _scene(rng, shape=(96, 112)):
    rows, columns = np.mgrid[0:shape[0], 0:shape[1]]
    clean = (0.5 + 0.25 * np.sin(rows / 7.0) * np.cos(columns / 11.0)
             + 0.15 * (columns > shape[1] // 2))
    noisy = (clean + rng.normal(0, SIGMA, clean.shape)).astype(np.float32)
    return clean, noisy


def _masks(shape, rng):
    rows, columns = np.mgrid[0:shape[0], 0:shape[1]]
    border = (rows < 30) | (columns < 20)
    disc = (rows - shape[0] / 2) ** 2 + (columns - shape[1] / 2) ** 2 < 22 ** 2
    scattered = rng.random(shape) < 0.01
    return {"border": border, "disc": disc, "scattered": scattered}


def _psnr(clean, estimate):
    return 10 * np.log10(1 / np.mean((clean - estimate) ** 2))


@pytest.mark.parametrize("where", ["border", "disc", "scattered"])
def test_measured_pixels_are_denoised_as_if_nothing_were_missing(where):
    rng = np.random.default_rng(21)
    clean, noisy = _scene(rng)
    missing = _masks(clean.shape, rng)[where]
    holed = noisy.copy()
    holed[missing] = np.nan
    first = tuple(np.argwhere(missing)[0])
    holed[first] = -np.inf
    measured = ~missing
    result = denoise(holed)
    assert result.shape == holed.shape and result.dtype == np.float32
    np.testing.assert_array_equal(result[missing], holed[missing])  # NaN and -inf kept
    assert np.isfinite(result[measured]).all()
    assert _psnr(clean[measured], result[measured]) > _psnr(clean[measured], noisy[measured]) + 5
    # With the whole image's parameters, the copies filling the holes cost little: only the
    # pixels beside a hole lose some of their neighbours.
    chosen = resolve_parameters(noisy, sigma=SIGMA)
    given = {"sigma": SIGMA, "h": chosen.h_unit, "patch_size": chosen.patch_size,
             "search_window": chosen.search_window}
    whole, result = denoise(noisy, **given), denoise(holed, **given)
    assert _psnr(clean[measured], result[measured]) > _psnr(clean[measured], whole[measured]) - 0.3


@pytest.mark.parametrize("where", ["border", "disc", "scattered"])
def test_the_noise_is_read_on_measured_pixels_only(where):
    rng = np.random.default_rng(22)
    clean, noisy = _scene(rng, (160, 176))
    missing = _masks(clean.shape, rng)[where]
    holed = noisy.copy()
    holed[missing] = np.nan
    assert estimate_noise(holed) == pytest.approx(SIGMA, rel=0.1)
    assert estimate_noise(holed) == pytest.approx(estimate_noise(noisy), rel=0.06)
    assert resolve_parameters(holed).sigma_unit == pytest.approx(estimate_noise(holed))


def test_photon_noise_is_fitted_around_missing_pixels():
    rng = np.random.default_rng(23)
    clean, _ = _scene(rng, (192, 192))
    gain, read = 4 / 255, 3 / 255
    counts = (gain * rng.poisson(clean / gain) + rng.normal(0, read, clean.shape))
    holed = counts.astype(np.float32)
    holed[:, :60] = np.nan
    fitted_gain, _ = estimate_noise(holed, model="poisson-gaussian")
    assert fitted_gain == pytest.approx(gain, rel=0.2)
    result = denoise(holed, noise="poisson-gaussian")
    assert np.isnan(result[:, :60]).all()
    assert _psnr(clean[:, 60:], result[:, 60:]) > _psnr(clean[:, 60:], holed[:, 60:]) + 5


def test_a_colour_pixel_is_missing_when_one_channel_is():
    rng = np.random.default_rng(24)
    clean, noisy = _scene(rng)
    colour = np.stack([noisy, noisy[::-1], 1 - noisy], axis=0)  # channels first
    colour[1, 40:50, 30:60] = np.nan
    result = denoise(colour, sigma=SIGMA, channel_axis=0)
    hole = (slice(None), slice(40, 50), slice(30, 60))
    np.testing.assert_array_equal(result[hole], colour[hole])  # every channel as it came
    assert np.isfinite(result[0]).all()
    assert np.isfinite(np.delete(result[1], range(40, 50), axis=0)).all()


@pytest.mark.parametrize("method", ["classic", "learned"])
def test_float16_and_both_methods_keep_what_is_missing(method):
    rng = np.random.default_rng(25)
    clean, noisy = _scene(rng)
    holed = noisy.astype(np.float16)
    holed[:10] = np.inf
    result = denoise(holed, method=method)
    assert result.dtype == np.float16 and np.isposinf(result[:10]).all()
    assert _psnr(clean[10:], result[10:].astype(np.float64)) > _psnr(clean[10:], noisy[10:]) + 4


def test_what_cannot_be_left_out_is_refused():
    with pytest.raises(ValueError, match="no finite pixel value"):
        denoise(np.full((16, 16), np.nan, np.float32))
    volume = np.full((4, 16, 16), 0.5, np.float32)
    volume[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match="volume has 1 NaN or infinite values"):
        denoise(volume)
    assert missing_pixels(np.zeros((4, 4), np.uint8), None) is None


def test_filled_pixels_take_a_nearest_measured_value(rng):
    image = rng.random((9, 11))
    missing = rng.random((9, 11)) < 0.4
    image[missing] = np.nan
    filled = fill_missing(image, missing, None)
    rows, columns = np.nonzero(~missing)
    for r, c in np.argwhere(missing):
        distances = np.hypot(rows - r, columns - c)
        nearest = distances == distances.min()
        assert filled[r, c] in image[rows[nearest], columns[nearest]]
    np.testing.assert_array_equal(filled[~missing], image[~missing])


def test_largest_rectangle_is_the_largest(rng):
    for _ in range(20):
        grid = rng.random((7, 9)) < 0.75
        top, left, bottom, right = largest_rectangle(grid)
        assert grid[top:bottom, left:right].all()
        best = max(((b - t) * (r - c)) for t in range(7) for b in range(t + 1, 8)
                   for c in range(9) for r in range(c + 1, 10) if grid[t:b, c:r].all())
        assert (bottom - top) * (right - left) == best


def test_the_sample_is_the_measured_rectangle_or_blocks(rng):
    image = rng.random((200, 150)).astype(np.float32)
    missing = np.zeros(image.shape, bool)
    missing[:, :70] = True
    image[missing] = np.nan
    filled = fill_missing(image, missing, None)
    np.testing.assert_array_equal(measured_sample(filled, missing, None), image[:, 70:])
    # A missing disc leaves no rectangle of half the rest: blocks clear of it.
    image = rng.random((200, 150)).astype(np.float32)
    rows, columns = np.mgrid[0:200, 0:150]
    missing = (rows - 100) ** 2 + (columns - 75) ** 2 < 60 ** 2
    image[missing] = np.nan
    sample = measured_sample(fill_missing(image, missing, None), missing, None)
    assert sample.size >= 0.25 * (~missing).sum()
    assert set(np.unique(sample)) <= set(np.unique(image[~missing]))


def test_the_command_line_notes_and_keeps_missing_pixels(tmp_path):
    rng = np.random.default_rng(26)
    _, noisy = _scene(rng)
    noisy[:12] = np.nan
    source = tmp_path / "field.tif"
    tifffile.imwrite(source, noisy)
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.tif")])
    assert result.exit_code == 0, result.output
    assert (f"{12 * noisy.shape[1]} pixels are NaN or infinite: missing values, kept as they "
            "are") in result.output
    written = tifffile.imread(tmp_path / "out.tif")
    assert np.isnan(written[:12]).all() and np.isfinite(written[12:]).all()
    tiled = runner.invoke(app, ["denoise", str(source), str(tmp_path / "tiled.tif"),
                                "--tile", "64"])
    assert tiled.exit_code == 1 and "--tile cannot leave them out" in tiled.output


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_pixels_marked_missing_are_left_out_whatever_they_hold(rng, dtype):
    # A GeoTIFF's no-data pixels hold a value, not NaN, in any pixel type: marked missing,
    # the rest comes out the same whatever they hold, and they come back as they were.
    _, noisy = _scene(rng)
    top = np.iinfo(dtype).max if np.dtype(dtype).kind == "u" else 1.0
    image = np.clip(np.rint(noisy * top) if top > 1 else noisy, 0, top).astype(dtype)
    mask = _masks(image.shape, rng)["border"]
    results = []
    for hold in (0, top):
        marked = image.copy()
        marked[mask] = hold
        estimate, _ = denoise_request(marked, Request(), missing=mask)
        assert (estimate[mask] == dtype(hold)).all()
        results.append(estimate[~mask])
    np.testing.assert_array_equal(results[0], results[1])
    # Not marked, what they hold reaches the rest.
    unmarked = image.copy()
    unmarked[mask] = top
    assert not np.array_equal(denoise_request(unmarked, Request())[0][~mask], results[1])


def test_denoise_takes_a_mask_of_missing_pixels(rng):
    clean, noisy = _scene(rng)
    image = np.rint(np.clip(noisy, 0, 1) * 65535).astype(np.uint16)
    mask = _masks(image.shape, rng)["disc"]
    image[mask] = 0  # no data
    estimate = denoise(image, sigma=SIGMA * 65535, missing=mask)
    assert estimate.dtype == np.uint16 and (estimate[mask] == 0).all()
    unmarked = denoise(image, sigma=SIGMA * 65535)
    # Around the hole its zeros no longer darken the rim.
    rim = ~mask & (np.abs(np.gradient(mask.astype(float))[0]) > 0)
    assert (np.abs(estimate[rim] / 65535 - clean[rim]).mean()
            < np.abs(unmarked[rim] / 65535 - clean[rim]).mean())
    colour = np.stack([image] * 3, axis=-1)
    assert (denoise(colour, channel_axis=-1, sigma=SIGMA * 65535, missing=mask)[mask] == 0).all()
    for bad in (mask[:-1], np.stack([mask] * 2)):
        with pytest.raises(ValueError, match="missing must be bool of the image's rows"):
            denoise(image, missing=bad)
