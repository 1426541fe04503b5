"""The bad-input matrix of still images: every case through the CLI, and the API where it applies.

Each CLI failure must be exactly one line on stderr naming the file, a non-zero exit code
(1 for a failed file, 2 for bad usage) and no traceback; nothing may be written over an input
or an existing output.
"""

import os
import struct
import zlib

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from nlmeans_cli.cli import app, options
from nlmeans_cli.io.atomic import ImageFileError
from nlmeans_cli.io.stills import DEFAULT_MAX_PIXELS, read_picture
from nlmeans_cli.jobs.file import denoise_file

runner = CliRunner()


def _noisy(rng, shape):
    return np.clip(128 + rng.normal(0, 30, shape), 0, 255).astype(np.uint8)


def _fails_cleanly(result, path, code=1):
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("nlm: error:")
    assert str(path) in lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def _png_claiming(width, height):
    """A small, valid-looking PNG whose header claims width x height grey pixels."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\x00" * 1024)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data)
            + chunk(b"IEND", b""))


# --- files that cannot be read --------------------------------------------------------------

def _truncated(tmp_path, rng, extension):
    good = tmp_path / f"good{extension}"
    iio.imwrite(good, _noisy(rng, (64, 64, 3)))
    bad = tmp_path / f"truncated{extension}"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return bad


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing", "no such file"),
        ("folder", "not a file"),
        ("empty", "empty"),
        ("truncated png", "corrupt or truncated PNG"),
        ("truncated jpeg", "corrupt or truncated JPEG"),
        # tifffile reads the pages before the cut alone, and logged the rest as bare lines.
        ("truncated tif stack", "corrupt or truncated TIFF"),
        ("truncated tif pages", "the chain of pages breaks after"),
        ("random bytes png", "not an image"),
        ("text tif", "not an image"),
        ("animated gif", "cannot hold several frames"),
        ("multi-page tif", "cannot hold several frames"),
        ("bomb png", "more than the limit"),
    ],
)
def test_unreadable_inputs(tmp_path, rng, case, expected):
    path = tmp_path / "input.png"
    if case == "folder":
        path = tmp_path / "folder.png"
        path.mkdir()
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "truncated png":
        path = _truncated(tmp_path, rng, ".png")
    elif case == "truncated jpeg":
        path = _truncated(tmp_path, rng, ".jpg")
    elif case in ("truncated tif stack", "truncated tif pages"):
        import tifffile

        good = tmp_path / "good.tif"
        # One series of 10 pages (their data after the first page's header), or 10 pages
        # of their own (each page's header before its data).
        if case == "truncated tif stack":
            tifffile.imwrite(good, _noisy(rng, (10, 32, 32)), photometric="minisblack")
        else:
            with tifffile.TiffWriter(good) as tiff:
                for _ in range(10):
                    tiff.write(_noisy(rng, (32, 32)), photometric="minisblack")
        path = tmp_path / "cut.tif"
        path.write_bytes(good.read_bytes()[: good.stat().st_size * 35 // 100])
    elif case == "random bytes png":
        path.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif case == "text tif":
        path = tmp_path / "notes.tif"
        path.write_text("this is not a TIFF\n" * 10)
    elif case == "animated gif":
        path = tmp_path / "clip.gif"
        iio.imwrite(path, _noisy(rng, (3, 16, 16)), extension=".gif")
    elif case == "multi-page tif":
        path = tmp_path / "stack.tif"
        iio.imwrite(path, _noisy(rng, (3, 16, 16)), extension=".tif", is_batch=True)
    elif case == "bomb png":
        path.write_bytes(_png_claiming(100_000, 100_000))
    out = tmp_path / "out.png"
    line = _fails_cleanly(runner.invoke(app, ["denoise", str(path), str(out)]), path)
    assert expected in line
    assert not out.exists()
    outcome = denoise_file(path, out)
    assert outcome.status == "failed" and expected in outcome.error and str(path) in outcome.error


def test_no_read_permission(tmp_path, rng, monkeypatch):
    path = tmp_path / "secret.png"
    iio.imwrite(path, _noisy(rng, (16, 16)))
    if os.geteuid() != 0:  # root reads anything: simulate the refusal there
        path.chmod(0)
    else:
        def refuse(self):
            raise PermissionError(13, "Permission denied", str(self))
        monkeypatch.setattr(type(path), "read_bytes", refuse)
    try:
        line = _fails_cleanly(runner.invoke(app, ["denoise", str(path),
                                                  str(tmp_path / "o.png")]), path)
        assert "permission denied" in line
    finally:
        path.chmod(0o644)


def test_bomb_is_refused_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming(100_000, 100_000))

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded")
    monkeypatch.setattr("imageio.v3.imread", no_decoding)
    with pytest.raises(ImageFileError, match="10000000000 pixels"):
        read_picture(path)


def test_max_pixels_option_moves_the_limit(tmp_path, rng):
    path = tmp_path / "small.png"
    iio.imwrite(path, _noisy(rng, (20, 30)))
    out = tmp_path / "o.png"
    line = _fails_cleanly(runner.invoke(app, ["denoise", str(path), str(out),
                                              "--max-pixels", "599"]), path)
    assert "30x20 is 600 pixels" in line and "--max-pixels" in line
    assert runner.invoke(app, ["denoise", str(path), str(out), "--max-pixels", "600",
                               "-q"]).exit_code == 0


def test_cli_default_limit_matches_the_library():
    assert options.DEFAULT_MAX_PIXELS == DEFAULT_MAX_PIXELS


# --- outputs ----------------------------------------------------------------------------------

def test_unsupported_output_extension(tmp_path, rng):
    source = tmp_path / "in.png"
    iio.imwrite(source, _noisy(rng, (16, 16)))
    out = tmp_path / "out.xyz"
    line = _fails_cleanly(runner.invoke(app, ["denoise", str(source), str(out)]), out)
    assert "unsupported output type .xyz" in line
    assert not out.exists()


def test_missing_output_folder_is_created(tmp_path, rng):
    source = tmp_path / "in.png"
    iio.imwrite(source, _noisy(rng, (16, 16)))
    out = tmp_path / "new" / "deeper" / "out.png"
    assert runner.invoke(app, ["denoise", str(source), str(out), "-q"]).exit_code == 0
    assert iio.imread(out).shape == (16, 16)


def test_output_equal_to_input_is_refused_and_input_kept(tmp_path, rng):
    source = tmp_path / "in.png"
    iio.imwrite(source, _noisy(rng, (16, 16)))
    before = source.read_bytes()
    for target in (source, tmp_path / "." / "in.png"):
        _fails_cleanly(runner.invoke(app, ["denoise", str(source), str(target),
                                           "--overwrite"]), target)
    assert source.read_bytes() == before


def test_existing_output_without_overwrite_is_kept(tmp_path, rng):
    source = tmp_path / "in.png"
    iio.imwrite(source, _noisy(rng, (16, 16)))
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    line = _fails_cleanly(runner.invoke(app, ["denoise", str(source), str(out)]), out)
    assert "already exists" in line
    assert out.read_bytes() == b"precious"


# --- odd but valid images -------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(3, 3), (1, 1), (1, 17), (17, 1), (2, 2, 3)])
def test_images_smaller_than_the_patch(tmp_path, rng, shape):
    source = tmp_path / "tiny.png"
    iio.imwrite(source, _noisy(rng, shape))
    out = tmp_path / "out.png"
    result = runner.invoke(app, ["denoise", str(source), str(out), "--patch-size", "7"])
    assert result.exit_code == 0, result.output
    assert iio.imread(out).shape == shape


def _save(tmp_path, name, image, **kwargs):
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


def test_palette_one_bit_sixteen_bit_and_rgba(tmp_path, rng):
    grey = _noisy(rng, (24, 24))
    rgba = np.dstack([_noisy(rng, (24, 24, 3)), np.arange(24 * 24).reshape(24, 24) % 256])
    cases = {
        "palette.png": (Image.fromarray(grey).convert("P"), (24, 24, 3), "palette"),
        "bits.png": (Image.fromarray(grey).convert("1"), (24, 24), "1-bit"),
        "grey16.png": (None, (24, 24), None),
        "rgba.png": (Image.fromarray(rgba.astype(np.uint8), "RGBA"), (24, 24, 4), None),
    }
    for name, (image, shape, note) in cases.items():
        if image is None:
            iio.imwrite(tmp_path / name, grey.astype(np.uint16) * 257)
        else:
            image.save(tmp_path / name)
        out = tmp_path / f"out_{name}"
        result = runner.invoke(app, ["denoise", str(tmp_path / name), str(out)])
        assert result.exit_code == 0, result.output
        written = iio.imread(out)
        assert written.shape == shape
        if note:
            assert note in result.stderr
    assert iio.imread(tmp_path / "out_grey16.png").dtype == np.uint16
    assert np.array_equal(iio.imread(tmp_path / "out_rgba.png")[..., 3], rgba[..., 3])


def test_cmyk_jpeg_becomes_rgb(tmp_path, rng):
    cmyk = Image.fromarray(_noisy(rng, (32, 40, 3))).convert("CMYK")
    path = _save(tmp_path, "cmyk.jpg", cmyk, quality=95)
    out = tmp_path / "out.png"
    result = runner.invoke(app, ["denoise", str(path), str(out)])
    assert result.exit_code == 0, result.output
    assert "CMYK" in result.stderr
    assert iio.imread(out).shape == (32, 40, 3)


def test_exif_rotated_jpeg_is_written_upright(tmp_path):
    ramp = np.tile(np.linspace(0, 255, 40).astype(np.uint8), (24, 1))  # 24 x 40, bright right
    image = Image.fromarray(ramp)
    exif = image.getexif()
    exif[0x0112] = 6  # stored sideways; viewers turn it 90 degrees clockwise
    path = _save(tmp_path, "rotated.jpg", image, exif=exif, quality=95)
    out = tmp_path / "out.png"
    result = runner.invoke(app, ["denoise", str(path), str(out), "--sigma", "2"])
    assert result.exit_code == 0, result.output
    assert "orientation" in result.stderr
    upright = iio.imread(out).astype(float)
    assert upright.shape == (40, 24)
    assert upright[-5:].mean() > upright[:5].mean() + 100  # the bright end is now at the bottom


def test_mislabelled_file_is_read_by_its_contents(tmp_path, rng):
    path = tmp_path / "actually_jpeg.png"
    path.write_bytes(iio.imwrite("<bytes>", _noisy(rng, (16, 16)), extension=".jpg"))
    picture = read_picture(path)
    assert picture.pixels.shape == (16, 16)
    assert any("JPEG data despite its .png name" in note for note in picture.notes)


def test_random_jpeg_like_bytes_never_give_a_traceback(tmp_path, rng):
    path = tmp_path / "x.jpg"
    path.write_bytes(b"\xff\xd8\xff" + rng.integers(0, 256, 2000, dtype=np.uint8).tobytes())
    _fails_cleanly(runner.invoke(app, ["denoise", str(path), str(tmp_path / "o.png")]), path)


@pytest.mark.parametrize("name", ["row.png", "row.tif", "row.bmp"])
def test_a_colour_image_one_pixel_high_keeps_its_shape(tmp_path, rng, name):
    source = tmp_path / name
    pixels = rng.integers(0, 256, (1, 17, 3), dtype=np.uint8)
    iio.imwrite(source, pixels)
    assert read_picture(source).pixels.shape == (1, 17, 3)
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.png"), "-q"])
    assert result.exit_code == 0, result.output
    assert iio.imread(tmp_path / "out.png").shape == (1, 17, 3)


def test_a_single_page_grey_tiff_with_a_page_axis_is_read_as_a_still(tmp_path, rng):
    import tifffile

    source = tmp_path / "page.tif"
    tifffile.imwrite(source, rng.integers(0, 256, (1, 20, 30), dtype=np.uint8))
    assert read_picture(source).pixels.shape == (20, 30)


@pytest.mark.parametrize("extension", [".png", ".webp"])
def test_an_animated_png_or_webp_is_refused_with_what_to_do(tmp_path, rng, extension):
    frames = [Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8))
              for _ in range(3)]
    path = tmp_path / f"animated{extension}"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100,
                   **({"lossless": True} if extension == ".webp" else {}))
    with pytest.raises(ImageFileError) as error:
        read_picture(path)
    message = str(error.value)
    assert "holds 3 frames (an animated" in message
    assert "GIFs, multi-page TIFFs" in message and "\n" not in message
