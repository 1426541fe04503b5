import os

import imageio.v3 as iio
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from PIL import Image

from nlmeans_cli.io.atomic import ImageFileError
from nlmeans_cli.io.stills import Picture, check_output_path, read_picture, write_picture


@pytest.mark.parametrize(
    "name, dtype, shape",
    [
        ("grey.png", np.uint8, (20, 30)),
        ("grey16.png", np.uint16, (20, 30)),
        ("rgb.png", np.uint8, (20, 30, 3)),
        ("rgb16.png", np.uint16, (20, 30, 3)),
        ("grey.tif", np.uint16, (20, 30)),
        ("float.tif", np.float32, (20, 30)),
        ("rgb.bmp", np.uint8, (20, 30, 3)),
        ("rgb.webp", np.uint8, (20, 30, 3)),
    ],
)
def test_lossless_round_trip(tmp_path, rng, name, dtype, shape):
    top = np.iinfo(dtype).max if np.dtype(dtype).kind == "u" else 1.0
    pixels = (rng.random(shape) * top).astype(dtype)
    path = write_picture(tmp_path / name, Picture(pixels))
    back = read_picture(path)
    assert back.pixels.dtype == dtype
    assert_array_equal(back.pixels, pixels)
    assert back.alpha is None


def test_jpeg_round_trip_keeps_shape_and_dtype(tmp_path, rng):
    pixels = (rng.random((24, 32, 3)) * 255).astype(np.uint8)
    back = read_picture(write_picture(tmp_path / "a.jpg", Picture(pixels)))
    assert back.pixels.shape == pixels.shape and back.pixels.dtype == np.uint8


@pytest.mark.parametrize("channels", [2, 4])
def test_alpha_is_split_and_put_back(tmp_path, rng, channels):
    data = (rng.random((10, 12, channels)) * 255).astype(np.uint8)
    iio.imwrite(tmp_path / "in.png", data)
    picture = read_picture(tmp_path / "in.png")
    assert_array_equal(picture.alpha, data[..., -1])
    assert picture.pixels.shape == ((10, 12) if channels == 2 else (10, 12, 3))
    write_picture(tmp_path / "out.png", picture)
    assert_array_equal(iio.imread(tmp_path / "out.png"), data)



@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_sixteen_bit_pngs_written_read_the_same_elsewhere(tmp_path, rng, channels):
    import png

    shape = (10, 12) if channels == 1 else (10, 12, channels)
    data = rng.integers(0, 65536, shape).astype(np.uint16)
    alpha = data[..., -1] if channels in (2, 4) else None
    pixels = data[..., :-1] if alpha is not None else data
    write_picture(tmp_path / "out.png", Picture(pixels.squeeze(), alpha=alpha))
    width, height, rows, info = png.Reader(
        bytes=(tmp_path / "out.png").read_bytes()).asDirect()
    assert info["bitdepth"] == 16 and info["planes"] == channels
    assert_array_equal(np.vstack([np.asarray(row, np.uint16) for row in rows]),
                       data.reshape(10, -1))
    back = read_picture(tmp_path / "out.png")
    assert_array_equal(back.stacked(), data)


@pytest.mark.parametrize("interlace", [False, True])
def test_sixteen_bit_colour_png_reads_exactly_and_quietly(tmp_path, rng, capfd, interlace):
    import png

    data = rng.integers(0, 65536, (9, 11, 3)).astype(np.uint16)
    with (tmp_path / "in.png").open("wb") as handle:
        png.Writer(11, 9, greyscale=False, bitdepth=16, interlace=interlace).write(
            handle, data.reshape(9, -1))
    assert_array_equal(read_picture(tmp_path / "in.png").pixels, data)
    assert capfd.readouterr().err == ""


def test_sixteen_bit_grey_png_s_transparent_level_becomes_alpha(tmp_path, rng):
    import png

    data = rng.integers(1, 65536, (8, 10)).astype(np.uint16)
    data[2, 3] = 0
    with (tmp_path / "in.png").open("wb") as handle:
        png.Writer(10, 8, greyscale=True, bitdepth=16, transparent=0).write(handle, data)
    picture = read_picture(tmp_path / "in.png")
    assert_array_equal(picture.pixels, data)
    assert_array_equal(picture.alpha == 0, data == 0)


def test_sixteen_bit_png_with_fewer_significant_bits_keeps_its_values(tmp_path, rng):
    import png

    # 12 significant bits: the file holds them scaled to 16 bits, with an sBIT chunk.
    twelve = rng.integers(0, 4096, (8, 10, 3)).astype(np.uint16)
    with (tmp_path / "in.png").open("wb") as handle:
        png.Writer(10, 8, greyscale=False, bitdepth=12).write(handle, twelve.reshape(8, -1))
    pixels = read_picture(tmp_path / "in.png").pixels
    assert pixels.dtype == np.uint16
    assert_array_equal(pixels >> 4, twelve)

def test_palette_image_is_expanded_with_a_note(tmp_path):
    grey = (np.arange(16 * 16).reshape(16, 16) % 256).astype(np.uint8)
    Image.fromarray(grey).convert("P").save(tmp_path / "p.png")
    picture = read_picture(tmp_path / "p.png")
    assert picture.pixels.shape == (16, 16, 3)
    assert any("palette" in note for note in picture.notes)


@pytest.mark.parametrize("mode", ["L", "RGB", "P"])
def test_an_8_bit_png_transparent_colour_becomes_alpha(tmp_path, rng, mode):
    # tRNS: one transparent grey level or colour, or a palette's alpha table. Pillow's array
    # (and imageio's) drop it, so transparent pixels came out opaque.
    grey = rng.integers(20, 200, (24, 32)).astype(np.uint8)
    grey[:6] = 7
    colour = np.dstack([grey, grey // 2, grey // 3])
    path = tmp_path / f"{mode}.png"
    if mode == "L":
        Image.fromarray(grey).save(path, transparency=7)
    elif mode == "RGB":
        Image.fromarray(colour).save(path, transparency=(7, 3, 2))
    else:
        palette = Image.fromarray(colour).quantize(64)
        palette.save(path, transparency=palette.getpixel((0, 0)))
    picture = read_picture(path)
    expected = np.asarray(Image.open(path).convert("LA" if mode == "L" else "RGBA"))
    assert picture.alpha is not None
    assert_array_equal(picture.alpha, expected[..., -1])
    assert (picture.alpha[:6] == 0).all() and (picture.alpha[6:] == 255).mean() > 0.9
    assert_array_equal(picture.pixels, expected[..., :-1].squeeze())
    write_picture(tmp_path / "out.png", picture)
    assert_array_equal(np.asarray(Image.open(tmp_path / "out.png"))[..., -1], picture.alpha)
    assert any("alpha" in note or "RGBA" in note for note in picture.notes)


def test_one_bit_image_becomes_8_bit_grey(tmp_path):
    bits = (np.indices((8, 8)).sum(axis=0) % 2).astype(np.uint8) * 255
    Image.fromarray(bits).convert("1").save(tmp_path / "b.png")
    picture = read_picture(tmp_path / "b.png")
    assert picture.pixels.dtype == np.uint8
    assert set(np.unique(picture.pixels)) == {0, 255}
    assert any("1-bit" in note for note in picture.notes)


def test_existing_output_is_kept_without_overwrite(tmp_path, rng):
    target = tmp_path / "out.png"
    target.write_bytes(b"precious")
    pixels = (rng.random((5, 5)) * 255).astype(np.uint8)
    with pytest.raises(ImageFileError, match="already exists"):
        write_picture(target, Picture(pixels))
    assert target.read_bytes() == b"precious"
    write_picture(target, Picture(pixels), overwrite=True)
    assert_array_equal(iio.imread(target), pixels)
    assert os.listdir(tmp_path) == ["out.png"]  # no temporary left behind


def test_output_equal_to_input_is_refused(tmp_path, rng):
    source = tmp_path / "in.png"
    iio.imwrite(source, (rng.random((5, 5)) * 255).astype(np.uint8))
    before = source.read_bytes()
    with pytest.raises(ImageFileError, match="output is the input"):
        write_picture(tmp_path / "." / "in.png", read_picture(source), source=source,
                      overwrite=True)
    assert source.read_bytes() == before


def test_missing_output_folder_is_created(tmp_path):
    out = write_picture(tmp_path / "a" / "b" / "c.png", Picture(np.zeros((3, 3), np.uint8)))
    assert out.exists()


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    import imagecodecs
    from PIL import Image

    monkeypatch.setattr(iio, "imwrite", broken)
    monkeypatch.setattr(Image.Image, "save", broken)
    monkeypatch.setattr(imagecodecs, "png_encode", broken)
    for name, dtype in (("x.png", np.uint8), ("x.png", np.uint16), ("x.jpg", np.uint8)):
        with pytest.raises(ImageFileError, match="disk full"):
            write_picture(tmp_path / name, Picture(np.zeros((3, 3), dtype)))
        assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "name, dtype, match",
    [("x.gif", np.uint8, "unsupported output type"), ("x", np.uint8, "unsupported output"),
     ("x.jpg", np.uint16, "cannot store uint16"), ("x.png", np.float32, "cannot store float32")],
)
def test_bad_output_is_refused_before_work(tmp_path, name, dtype, match):
    with pytest.raises(ImageFileError, match=match):
        check_output_path(tmp_path / name, dtype=dtype)


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("missing.png", None, "no such file"),
        ("empty.png", b"", "empty"),
        ("random.png", bytes(range(256)) * 4, "not an image"),
        ("text.tif", b"just some text\n" * 20, "not an image"),
        ("notes.txt", b"hello", "unsupported file type"),
    ],
)
def test_unreadable_inputs_name_the_file(tmp_path, name, content, match):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageFileError, match=match) as caught:
        read_picture(path)
    assert str(path) in str(caught.value)


def test_truncated_png_is_reported(tmp_path, rng):
    good = tmp_path / "good.png"
    iio.imwrite(good, (rng.random((64, 64)) * 255).astype(np.uint8))
    bad = tmp_path / "bad.png"
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ImageFileError, match="bad.png"):
        read_picture(bad)


def test_folder_is_not_a_file(tmp_path):
    with pytest.raises(ImageFileError, match="not a file"):
        read_picture(tmp_path)


def test_output_gets_the_usual_file_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        out = write_picture(tmp_path / "m.png", Picture(np.zeros((3, 3), np.uint8)))
    finally:
        os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o644


def test_a_camera_jpeg_with_multi_picture_previews_is_read_as_its_photograph(tmp_path, rng):
    # Cameras add previews to their JPEGs (the Multi-Picture Format): such a file was refused
    # as holding 2 frames.
    photograph = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    preview = Image.fromarray(photograph[::2, ::2].copy())
    path = tmp_path / "camera.jpg"
    Image.fromarray(photograph).save(path, format="MPO", save_all=True, quality=95,
                                     append_images=[preview])
    with Image.open(path) as image:
        assert image.format == "MPO" and image.n_frames == 2
        first = np.asarray(image.convert("RGB"))
    picture = read_picture(path)
    assert_array_equal(picture.pixels, first)
    assert any("1 more image of the JPEG's Multi-Picture Format" in note
               for note in picture.notes)
