import imageio.v3 as iio
import numpy as np
import pytest
from typer.testing import CliRunner

from images import noisy_ramp
from nlmeans_cli import denoise, resolve_parameters
from nlmeans_cli.cli import app
from nlmeans_cli.methods.network import CHROMA_REACH, REFINE_REACH

pytest.importorskip("dask.array")

from nlmeans_cli.tiling import denoise_tiled, tile_chunks  # noqa: E402

runner = CliRunner()


@pytest.mark.parametrize("tile", [56, 64, 77, 200])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_tiled_equals_whole_grey(rng, tile, dtype):
    image = noisy_ramp(rng, (131, 160), dtype)  # 64 divides 160, not 131; 77 divides neither
    whole = denoise(image)
    tiled = denoise_tiled(image, tile=tile)
    assert tiled.dtype == whole.dtype and tiled.shape == whole.shape
    assert np.array_equal(tiled, whole)


def test_tiled_equals_whole_colour_and_volume_and_given_parameters(rng):
    colour = noisy_ramp(rng, (150, 170, 3))  # reach 35 with the refinement's
    assert np.array_equal(denoise_tiled(colour, tile=75, channel_axis=-1),
                          denoise(colour, channel_axis=-1))
    volume = noisy_ramp(rng, (40, 36, 43), np.float32)  # reach 5 + 6 with the refinement's
    assert np.array_equal(denoise_tiled(volume, tile=23), denoise(volume))
    kwargs = dict(sigma=20.0, h=11.0, patch_size=5, search_window=9)
    grey = noisy_ramp(rng, (64, 50))
    assert np.array_equal(denoise_tiled(grey, tile=25, **kwargs), denoise(grey, **kwargs))


def test_an_image_within_one_tile_needs_no_overlap(rng):
    # One tile holds it whole: the tile need not hold twice the overlap (26 here).
    image = noisy_ramp(rng, (32, 40))
    assert np.array_equal(denoise_tiled(image, tile=40), denoise(image))


def test_tile_smaller_than_the_overlap_is_refused(rng):
    with pytest.raises(ValueError, match="tile must be at least"):
        denoise_tiled(noisy_ramp(rng, (80, 80)), tile=8, patch_size=7, search_window=21)


def test_tile_chunks_never_leave_a_short_last_chunk():
    assert tile_chunks(100, 30, 12) == (30, 30, 40)
    assert tile_chunks(100, 30, 5) == (30, 30, 30, 10)
    assert tile_chunks(90, 30, 5) == (30, 30, 30)
    assert tile_chunks(10, 30, 5) == (10,)
    assert sum(tile_chunks(1237, 64, 13)) == 1237


def test_denoise_command_with_tiles(tmp_path, rng):
    source = tmp_path / "in.png"
    iio.imwrite(source, noisy_ramp(rng, (90, 120)))
    args = ["denoise", str(source), "--sigma", "20", "-q"]
    assert runner.invoke(app, [*args[:2], str(tmp_path / "whole.png"), *args[2:]]).exit_code == 0
    result = runner.invoke(app, [*args[:2], str(tmp_path / "tiled.png"), *args[2:],
                                 "--tile", "64"])
    assert result.exit_code == 0, result.output
    assert np.array_equal(iio.imread(tmp_path / "tiled.png"), iio.imread(tmp_path / "whole.png"))


@pytest.mark.parametrize(("colour", "tile"), [(False, 96), (False, 75), (False, 200),
                                             (True, 112), (True, 121), (True, 300)])
def test_learned_tiles_equal_the_whole_image(rng, tile, colour):
    # 96 divides 96 and 112 divides 224, but not 110 and 230; 75 and 121 divide neither;
    # 200 and 300 are one tile. (Colour reaches further, through its chroma path, so its
    # tiles and image are larger.)
    image = noisy_ramp(rng, (230, 224, 3) if colour else (110, 96))
    kwargs = dict(method="learned", sigma=20.0, channel_axis=-1 if colour else None)
    setting = resolve_parameters(image, **kwargs)
    # The receptive field: one pixel per 3x3 layer plus the block's window radius, the
    # refinement's patch and window radii, and for colour the chroma path's window radius.
    network = setting.model
    assert setting.reach(image.shape[:2])[0] == (
        2 + network.count("before") + network.count("after") + network.window // 2
        + REFINE_REACH + (CHROMA_REACH if colour else 0))
    whole = denoise(image, **kwargs)
    _assert_equal_but_for_rounding(denoise_tiled(image, tile=tile, **kwargs), whole)
    # In float, where no rounding to levels hides it, the difference is float32 rounding.
    unit = image.astype(np.float32) / 255
    kwargs["sigma"] = 20.0 / 255
    np.testing.assert_allclose(denoise_tiled(unit, tile=tile, **kwargs),
                               denoise(unit, **kwargs), rtol=0, atol=1e-5)


def _assert_equal_but_for_rounding(tiled, whole):
    # A Winograd tile mixes all its input rows and columns, so the float32 rounding (never
    # the value) of outputs near a tile's edge sees pixels past the receptive field; an
    # output that lands within that rounding of half a level can round the other way.
    difference = np.abs(tiled.astype(np.int64) - whole.astype(np.int64))
    assert difference.max() <= 1
    assert np.count_nonzero(difference) <= max(1, difference.size // 1000)


def test_learned_tiles_through_the_command_line(tmp_path, rng):
    source = tmp_path / "in.png"
    iio.imwrite(source, noisy_ramp(rng, (100, 110)))
    args = ["denoise", str(source), "--method", "learned", "-q"]
    assert runner.invoke(app, [*args[:2], str(tmp_path / "whole.png"), *args[2:]]).exit_code == 0
    result = runner.invoke(app, [*args[:2], str(tmp_path / "tiled.png"), *args[2:],
                                 "--tile", "72"])
    assert result.exit_code == 0, result.output
    _assert_equal_but_for_rounding(iio.imread(tmp_path / "tiled.png"),
                                   iio.imread(tmp_path / "whole.png"))


def test_channels_denoised_apart_tile_as_the_whole_image(rng):
    # Bands of unrelated scenes: each channel alone, with its own h, patch and window; a
    # tile's overlap must cover the farthest reach of them.
    y, x = np.mgrid[0:90, 0:120]
    clean = np.stack([0.5 + 0.3 * np.sign(np.sin(x / 5.0)),
                      0.5 + 0.3 * np.cos(np.hypot(y - 40, x - 60) / 3.0)], axis=-1)
    image = (clean + rng.normal(0, 0.08, clean.shape)).astype(np.float32)
    assert len(resolve_parameters(image, channel_axis=-1, sigma=0.08).apart) == 2
    np.testing.assert_allclose(denoise_tiled(image, tile=48, channel_axis=-1, sigma=0.08),
                               denoise(image, channel_axis=-1, sigma=0.08), rtol=0, atol=1e-6)
    three = np.concatenate([image, image[::-1, :, :1]], axis=-1)  # bands, not colours
    np.testing.assert_allclose(
        denoise_tiled(three, tile=48, channel_axis=-1, sigma=0.08, colour=False),
        denoise(three, channel_axis=-1, sigma=0.08, colour=False), rtol=0, atol=1e-6)
