"""Multi-channel ImageJ hyperstacks: channels stay channels, axes and order are kept."""

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from nlmeans_cli.cli import app
from nlmeans_cli.io.sequences import open_sequence
from nlmeans_cli.jobs.file import JobOptions, denoise_file
from nlmeans_cli.parameters import Request

runner = CliRunner()


def _hyperstack(rng, axes, shape):
    """Channel c is a pattern of its own, so that any mixing of channels shows."""
    rows, columns = np.mgrid[0:shape[-2], 0:shape[-1]]
    patterns = [20000 + 15000 * np.sin(rows / 5.0), 20000 + 15000 * np.cos(columns / 3.0),
                10000 + 30 * rows * columns]
    channel_axis = axes.index("C")
    clean = np.zeros(shape)
    for c in range(shape[channel_axis]):
        index = [slice(None)] * len(shape)
        index[channel_axis] = c
        clean[tuple(index)] = patterns[c]
    noisy = np.clip(clean + rng.normal(0, 2000, shape), 0, 65535).astype(np.uint16)
    return clean, noisy


def _channel(array, axes, c):
    return np.take(array, c, axis=axes.index("C"))


@pytest.mark.parametrize(("axes", "shape"), [("CYX", (2, 40, 44)), ("ZCYX", (4, 3, 32, 36)),
                                             ("TZCYX", (2, 2, 2, 24, 28))])
def test_channels_are_denoised_apart_and_axes_kept(tmp_path, axes, shape):
    rng = np.random.default_rng(11)
    clean, noisy = _hyperstack(rng, axes, shape)
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, noisy, imagej=True, metadata={"axes": axes})
    sequence = open_sequence(source, max_pixels=10**6)
    assert sequence.separate_channels
    assert sequence.frame_shape[-1] == shape[axes.index("C")]
    target = tmp_path / "out.tif"
    result = runner.invoke(app, ["denoise", str(source), str(target)])
    assert result.exit_code == 0, result.output
    with tifffile.TiffFile(target) as tiff:
        assert tiff.series[0].axes == axes
        assert tiff.is_imagej
        denoised = tiff.asarray()
    assert denoised.shape == noisy.shape and denoised.dtype == noisy.dtype
    for c in range(shape[axes.index("C")]):
        error_before = np.mean((_channel(noisy, axes, c) - _channel(clean, axes, c)) ** 2)
        error_after = np.mean((_channel(denoised, axes, c) - _channel(clean, axes, c)) ** 2)
        assert error_after < 0.5 * error_before
    # The summary counts the frames in good English, and a single one takes no temporal
    # window (it said "1 frames ..., temporal window 2").
    frames = int(np.prod([n for n, axis in zip(shape, axes, strict=True) if axis in "TZ"]))
    summary = result.output.strip().splitlines()[-1]
    assert f" {frames} frame{'' if frames == 1 else 's'} " in summary
    assert ("temporal window" in summary) == (frames > 1)


def test_each_channel_equals_its_own_grey_stack(tmp_path):
    rng = np.random.default_rng(12)
    axes, shape = "ZCYX", (3, 2, 32, 32)
    _, noisy = _hyperstack(rng, axes, shape)
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, noisy, imagej=True, metadata={"axes": axes})
    options = JobOptions(Request(sigma_unit=2000 / 65535))
    outcome = denoise_file(source, tmp_path / "out.tif", options)
    assert outcome.ok, outcome.error
    together = tifffile.imread(tmp_path / "out.tif")
    for c in range(2):
        alone = tmp_path / f"channel{c}.tif"
        tifffile.imwrite(alone, noisy[:, c], photometric="minisblack")
        assert denoise_file(alone, tmp_path / f"channel{c}_out.tif", options).ok
        np.testing.assert_array_equal(together[:, c],
                                      tifffile.imread(tmp_path / f"channel{c}_out.tif"))


def test_volume_mode_keeps_channels_apart(tmp_path):
    rng = np.random.default_rng(13)
    axes, shape = "ZCYX", (5, 2, 24, 24)
    clean, noisy = _hyperstack(rng, axes, shape)
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, noisy, imagej=True, metadata={"axes": axes})
    outcome = denoise_file(source, tmp_path / "out.tif", JobOptions(volume=True))
    assert outcome.ok, outcome.error
    denoised = tifffile.imread(tmp_path / "out.tif")
    assert denoised.shape == shape
    for c in range(2):
        assert (np.mean((denoised[:, c] - clean[:, c]) ** 2)
                < 0.5 * np.mean((noisy[:, c] - clean[:, c]) ** 2))


def test_two_channels_to_a_video_is_refused_in_one_line(tmp_path):
    rng = np.random.default_rng(14)
    _, noisy = _hyperstack(rng, "ZCYX", (2, 2, 16, 16))
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, noisy.astype(np.uint8), imagej=True, metadata={"axes": "ZCYX"})
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.mp4")])
    assert result.exit_code == 1
    assert "cannot hold the 2 channels" in result.stderr
    assert not (tmp_path / "out.mp4").exists()


def test_gif_frames_beyond_the_limit_are_refused_before_decoding(tmp_path):
    from PIL import Image

    path = tmp_path / "bomb.gif"
    frames = [Image.new("P", (3000, 3000), colour) for colour in (0, 1, 2)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    result = runner.invoke(app, ["denoise", str(path), str(tmp_path / "out.gif"),
                                 "--max-pixels", "1000000"])
    assert result.exit_code == 1
    assert "frames of 3000x3000" in result.stderr


def test_volume_total_beyond_the_limit_is_refused(tmp_path):
    path = tmp_path / "volume.npy"
    np.save(path, np.zeros((20, 100, 100), np.uint8))
    result = runner.invoke(app, ["denoise", str(path), str(tmp_path / "out.npy"), "--volume",
                                 "--max-pixels", "100000"])
    assert result.exit_code == 1
    assert "a volume of 200000 voxels" in result.stderr


@pytest.mark.parametrize(("kind", "compression"), [("grey", None), ("grey", "zlib"),
                                                   ("rgb", "zlib"), ("channels", None)])
def test_a_tiled_stack_comes_out_tiled_with_the_pixels_of_its_striped_twin(tmp_path, kind,
                                                                           compression):
    rng = np.random.default_rng(17)
    if kind == "channels":
        # Shaped, in an order ImageJ's hyperstacks cannot hold (which are striped).
        axes, (_, stack) = "CZYX", _hyperstack(rng, "CZYX", (2, 3, 40, 52))
        options = {"metadata": {"axes": axes}, "photometric": "minisblack"}
    else:
        shape = (4, 40, 52, 3) if kind == "rgb" else (4, 40, 52)
        stack = np.clip(rng.normal(30000, 3000, shape), 0, 65535).astype(np.uint16)
        options = {"photometric": "rgb" if kind == "rgb" else "minisblack"}
    outputs = []
    for tile in (None, (16, 32)):
        source = tmp_path / f"{'tiled' if tile else 'striped'}.tif"
        tifffile.imwrite(source, stack, tile=tile, compression=compression, **options)
        target = tmp_path / f"{source.stem}_out.tif"
        result = runner.invoke(app, ["denoise", str(source), str(target), "-q"])
        assert result.exit_code == 0, result.output
        with tifffile.TiffFile(target) as tiff:
            assert all(page.is_tiled == (tile is not None) for page in tiff.pages)
            if tile:
                assert (tiff.pages[0].tilelength, tiff.pages[0].tilewidth) == tile
            assert tiff.pages[0].compression.name == ("NONE" if compression is None
                                                      else "ADOBE_DEFLATE")
            outputs.append(tiff.asarray())
    assert outputs[0].shape == stack.shape
    np.testing.assert_array_equal(outputs[0], outputs[1])


@pytest.mark.parametrize(("compression", "tile"), [(None, None), ("zlib", None),
                                                   ("zlib", (16, 32))])
def test_a_colour_stack_stored_plane_by_plane_comes_out_so(tmp_path, compression, tile):
    rng = np.random.default_rng(19)
    stack = np.clip(rng.normal(30000, 3000, (3, 40, 52, 3)), 0, 65535).astype(np.uint16)
    outputs = []
    for planes_apart in (False, True):
        source = tmp_path / f"{'planes' if planes_apart else 'interleaved'}.tif"
        tifffile.imwrite(source, np.moveaxis(stack, -1, 1) if planes_apart else stack,
                         photometric="rgb", planarconfig="separate" if planes_apart else None,
                         compression=compression, tile=tile)
        target = tmp_path / f"{source.stem}_out.tif"
        result = runner.invoke(app, ["denoise", str(source), str(target), "-q"])
        assert result.exit_code == 0, result.output
        with tifffile.TiffFile(target) as tiff:
            assert len(tiff.pages) == 3 and len(tiff.series) == 1
            assert all((page.planarconfig.name == "SEPARATE") == planes_apart
                       and page.is_tiled == (tile is not None) for page in tiff.pages)
            written = tiff.asarray()
        outputs.append(np.moveaxis(written, 1, -1) if planes_apart else written)
    assert outputs[0].shape == stack.shape
    np.testing.assert_array_equal(outputs[0], outputs[1])


def _stack_with_alpha(rng, channels, frames=4, rows=40, columns=52):
    yy, xx = np.mgrid[0:rows, 0:columns]
    base = 0.3 + 0.5 * np.sin(yy / 6.0) ** 2 * xx / columns
    colour = np.stack([base * (1 - 0.2 * c) for c in range(channels - 1)], axis=-1)
    noisy = np.clip(colour[np.newaxis] + rng.normal(0, 0.06, (frames, *colour.shape)), 0, 1)
    alpha = rng.integers(0, 2, (frames, rows, columns, 1)) * 255
    return np.concatenate([np.rint(noisy * 255), alpha], axis=-1).astype(np.uint8)


@pytest.mark.parametrize("channels", [2, 4])
@pytest.mark.parametrize("planes", [False, True])
def test_a_stack_with_alpha_keeps_it_and_its_layout(tmp_path, rng, channels, planes):
    # Refused before ("unsupported frame layout (40, 52, 4)"), as a still's is passed through.
    stack = _stack_with_alpha(rng, channels)
    source = tmp_path / "alpha.tif"
    tifffile.imwrite(source, np.moveaxis(stack, -1, 1) if planes else stack,
                     photometric="rgb" if channels == 4 else "minisblack",
                     planarconfig="separate" if planes else "contig",
                     extrasamples=("unassalpha",), compression="zlib")
    target = tmp_path / "out.tif"
    result = runner.invoke(app, ["denoise", str(source), str(target)])
    assert result.exit_code == 0, result.output
    assert "+ alpha" in result.stderr
    with tifffile.TiffFile(source) as before, tifffile.TiffFile(target) as after:
        for attribute in ("shape", "photometric", "planarconfig", "extrasamples",
                          "compression"):
            assert getattr(after.pages[0], attribute) == getattr(before.pages[0], attribute)
        assert len(after.pages) == len(before.pages)
        written = after.asarray()
    if planes:
        written = np.moveaxis(written, 1, -1)
    np.testing.assert_array_equal(written[..., -1], stack[..., -1])
    noise_before = np.abs(np.diff(stack[..., :-1].astype(float), axis=2)).mean()
    noise_after = np.abs(np.diff(written[..., :-1].astype(float), axis=2)).mean()
    assert noise_after < 0.6 * noise_before


@pytest.mark.parametrize("volume", [False, True])
def test_an_array_stack_with_alpha_keeps_it_and_a_video_says_it_drops_it(tmp_path, rng,
                                                                         volume):
    stack = _stack_with_alpha(rng, 4)
    source = tmp_path / "alpha.npy"
    np.save(source, stack)
    extra = ["--volume"] if volume else []
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.npy"), *extra])
    assert result.exit_code == 0, result.output
    written = np.load(tmp_path / "out.npy")
    assert written.shape == stack.shape and written.dtype == stack.dtype
    np.testing.assert_array_equal(written[..., -1], stack[..., -1])
    # A .npy says nothing of its channels: the reading is named, with what to do otherwise
    assert "last channel taken for alpha" in result.stderr
    video = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.mp4")])
    assert video.exit_code == 0, video.output
    assert "the frames' alpha dropped: .mp4 cannot hold it" in video.stderr


@pytest.mark.parametrize("count", [2, 5])
def test_a_stack_of_bands_is_denoised_as_bands_not_alpha(tmp_path, rng, count):
    # Grey samples none of which is alpha: a multispectral image's bands, every one
    # denoised (two were refused, or would have been taken for grey and alpha).
    yy, xx = np.mgrid[0:30, 0:40]
    clean = np.stack([20000 + 15000 * np.sin(yy / (5.0 + band)) * xx / 40
                      for band in range(count)], axis=-1)
    bands = np.clip(clean[np.newaxis] + rng.normal(0, 3000, (3, *clean.shape)), 0, 65535)
    source = tmp_path / "bands.tif"
    tifffile.imwrite(source, bands.astype(np.uint16), photometric="minisblack",
                     planarconfig="contig", extrasamples=("unspecified",) * (count - 1))
    target = tmp_path / "out.tif"
    result = runner.invoke(app, ["denoise", str(source), str(target)])
    assert result.exit_code == 0, result.output
    assert f"{count} bands" in result.stderr and "alpha" not in result.stderr
    with tifffile.TiffFile(target) as written:
        page = written.pages[0]
        assert page.photometric.name == "MINISBLACK" and page.samplesperpixel == count
        out = written.asarray().astype(float)
    assert out.shape == bands.shape
    for band in range(count):
        before = np.abs(bands[..., band] - clean[..., band]).mean()
        assert np.abs(out[..., band] - clean[..., band]).mean() < 0.6 * before
    video = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.mp4")])
    assert video.exit_code == 1
    assert f"cannot hold the {count} channels" in video.stderr


def test_a_volume_of_three_slices_reads_its_sigma(tmp_path, rng):
    # Its slices are 50x70: their number (under 4) read sigma 0, and nothing was denoised.
    volume = (0.5 + rng.normal(0, 0.1, (3, 50, 70))).astype(np.float32)
    np.save(tmp_path / "v.npy", volume)
    result = runner.invoke(app, ["denoise", str(tmp_path / "v.npy"), str(tmp_path / "o.npy"),
                                 "--volume"])
    assert result.exit_code == 0, result.output
    assert "sigma 0.00" not in result.stderr
    assert np.std(np.load(tmp_path / "o.npy")) < 0.5 * np.std(volume)
