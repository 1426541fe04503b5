"""TIFFs as users have them: compressed, palette, MINISWHITE, CMYK, YCbCr; EXIF orientation.

Every kind either comes out with the right pixels (checked against the image it was made from)
or is refused with one line; a TIFF output keeps the input's compression.
"""

import io

import numpy as np
import pytest
import tifffile
from PIL import Image
from typer.testing import CliRunner

from nlmeans_cli.cli import app
from nlmeans_cli.io.atomic import ImageFileError
from nlmeans_cli.io.stills import read_picture, write_picture

runner = CliRunner()


def _smooth(rng, shape, noise=10.0):
    rows, columns = np.mgrid[0:shape[0], 0:shape[1]]
    base = 60 + 120 * np.sin(rows / 7.0) ** 2 + columns
    if len(shape) == 3:
        base = np.stack([base, base[::-1], base[:, ::-1]], axis=-1)
    return np.clip(base + rng.normal(0, noise, shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("compression", ["lzw", "adobe_deflate", "zstd", "packbits"])
@pytest.mark.parametrize("colour", [False, True])
def test_lossless_compressed_tiffs_read_exactly_and_output_keeps_compression(
        tmp_path, compression, colour):
    rng = np.random.default_rng(1)
    image = _smooth(rng, (40, 48, 3) if colour else (40, 48))
    path = tmp_path / "in.tif"
    tifffile.imwrite(path, image, compression=compression,
                     predictor=compression == "adobe_deflate" or None)
    picture = read_picture(path)
    np.testing.assert_array_equal(picture.pixels, image)
    out = tmp_path / "out.tif"
    result = runner.invoke(app, ["denoise", str(path), str(out), "--sigma", "10"])
    assert result.exit_code == 0, result.output
    with tifffile.TiffFile(out) as tiff:
        assert tiff.pages.first.compression.name == compression.upper()
        denoised = tiff.pages.first.asarray()
    assert denoised.shape == image.shape and denoised.dtype == image.dtype


def test_jpeg_compressed_tiff_reads_close_and_stays_jpeg(tmp_path):
    rng = np.random.default_rng(2)
    image = _smooth(rng, (48, 48, 3), noise=0.0)
    path = tmp_path / "in.tif"
    tifffile.imwrite(path, image, compression="jpeg", compressionargs={"level": 95})
    picture = read_picture(path)
    assert picture.pixels.shape == image.shape
    assert np.abs(picture.pixels.astype(int) - image).mean() < 4
    out = tmp_path / "out.tif"
    write_picture(out, picture)
    with tifffile.TiffFile(out) as tiff:
        assert tiff.pages.first.compression.name == "JPEG"


def test_group4_bilevel_tiff_reads_as_grey_and_is_written_with_deflate(tmp_path):
    rng = np.random.default_rng(3)
    bits = rng.random((32, 40)) > 0.5
    path = tmp_path / "fax.tif"
    Image.fromarray(bits).save(path, compression="group4")
    picture = read_picture(path)
    np.testing.assert_array_equal(picture.pixels, bits.astype(np.uint8) * 255)
    out = tmp_path / "out.tif"
    write_picture(out, picture)
    with tifffile.TiffFile(out) as tiff:
        assert tiff.pages.first.compression.name == "ADOBE_DEFLATE"
    assert any("Deflate" in note for note in picture.notes)


def test_miniswhite_is_inverted(tmp_path):
    rng = np.random.default_rng(4)
    image = _smooth(rng, (32, 32))
    path = tmp_path / "white.tif"
    tifffile.imwrite(path, 255 - image, photometric="miniswhite")
    picture = read_picture(path)
    np.testing.assert_array_equal(picture.pixels, image)
    assert any("MINISWHITE" in note for note in picture.notes)


def test_palette_tiff_is_expanded_through_its_colour_map(tmp_path):
    rng = np.random.default_rng(5)
    indices = rng.integers(0, 4, (24, 30)).astype(np.uint8)
    palette = np.array([[0, 0, 0], [255, 0, 0], [0, 128, 255], [200, 200, 40]], np.uint8)
    colormap = np.zeros((3, 256), np.uint16)
    colormap[:, :4] = palette.T.astype(np.uint16) * 257
    path = tmp_path / "palette.tif"
    tifffile.imwrite(path, indices, photometric="palette", colormap=colormap)
    picture = read_picture(path)
    np.testing.assert_array_equal(picture.pixels, palette[indices])
    assert picture.pixels.dtype == np.uint8


def test_cmyk_tiff_becomes_rgb(tmp_path):
    rng = np.random.default_rng(6)
    cmyk = rng.integers(0, 256, (16, 20, 4), dtype=np.uint8)
    path = tmp_path / "cmyk.tif"
    tifffile.imwrite(path, cmyk, photometric="separated")
    picture = read_picture(path)
    inks = cmyk / 255.0
    expected = np.round(255 * (1 - inks[..., :3]) * (1 - inks[..., 3:])).astype(np.uint8)
    np.testing.assert_array_equal(picture.pixels, expected)
    assert picture.pixels.shape == (16, 20, 3)


def test_uncompressed_ycbcr_tiff_becomes_rgb(tmp_path):
    rng = np.random.default_rng(7)
    rgb = _smooth(rng, (16, 20, 3))
    ycbcr = np.asarray(Image.fromarray(rgb).convert("YCbCr"))
    path = tmp_path / "ycc.tif"
    tifffile.imwrite(path, ycbcr, photometric="ycbcr")
    picture = read_picture(path)
    # Pillow's 8-bit conversion round trip is within a few levels.
    assert np.abs(picture.pixels.astype(int) - rgb).max() <= 3


def test_unsupported_colour_space_is_refused_in_one_line(tmp_path):
    path = tmp_path / "lab.tif"
    tifffile.imwrite(path, np.zeros((8, 8, 3), np.uint8), photometric="cielab")
    with pytest.raises(ImageFileError, match="unsupported TIFF colour space CIELAB"):
        read_picture(path)
    result = runner.invoke(app, ["denoise", str(path), str(tmp_path / "out.png")])
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0 and str(path) in result.stderr


def test_tiff_tile_larger_than_the_limit_is_refused_before_decoding(tmp_path):
    path = tmp_path / "tiled.tif"
    tifffile.imwrite(path, np.zeros((16, 16), np.uint8), tile=(64, 64))
    with pytest.raises(ImageFileError, match="tiles of 64x64"):
        read_picture(path, max_pixels=1000)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_png_exif_orientation_is_applied(tmp_path, orientation):
    rng = np.random.default_rng(8)
    stored = _smooth(rng, (20, 30, 3))
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "turned.png"
    Image.fromarray(stored).save(path, exif=exif.tobytes())
    picture = read_picture(path)
    upright = np.asarray(Image.open(io.BytesIO(path.read_bytes())).transpose(
        {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_270,
         8: Image.Transpose.ROTATE_90}[orientation]))
    np.testing.assert_array_equal(picture.pixels, upright)
    assert any("orientation" in note for note in picture.notes)


@pytest.mark.parametrize("thumbnail_first", [False, True])
def test_a_thumbnail_page_is_not_a_frame_of_a_still(tmp_path, rng, thumbnail_first):
    # A reduced-resolution page (NewSubfileType 1) is the same image again, smaller: the
    # file is a still, not a stack of two frames of different shapes (refused before). After
    # the image it reads as a pyramid's level, made again from the denoised image; before
    # it, as a thumbnail of its own, left out with a note.
    image = _smooth(rng, (48, 64, 3))
    pages = [(image, 0), (image[::4, ::4].copy(), 1)]
    source = tmp_path / "photo.tif"
    with tifffile.TiffWriter(source) as tiff:
        for data, subfiletype in pages[::-1] if thumbnail_first else pages:
            tiff.write(data, photometric="rgb", subfiletype=subfiletype)
    picture = read_picture(source)
    np.testing.assert_array_equal(picture.pixels, image)
    target = tmp_path / "out.tif"
    result = runner.invoke(app, ["denoise", str(source), str(target), "--sigma", "10"])
    assert result.exit_code == 0, result.output
    assert ("1 reduced-resolution page (a thumbnail" if thumbnail_first
            else "the pyramid's 1 reduced-resolution level made again") in result.output
    with tifffile.TiffFile(target) as tiff:
        assert tiff.series[0].shape == image.shape
        assert [page.shape for page in tiff.pages] == (
            [image.shape] if thumbnail_first else [image.shape, (12, 16, 3)])


@pytest.mark.parametrize("in_subifds", [False, True])
@pytest.mark.parametrize("colour", [False, True])
def test_a_pyramid_is_made_again_from_the_denoised_image(tmp_path, rng, in_subifds, colour):
    # OME-TIFF's SubIFDs or reduced pages after the image (QuPath, bfconvert): a viewer of a
    # large image opens these levels first. Copied, they would show the noise.
    image = _smooth(rng, (96, 128, 3) if colour else (96, 128), noise=25.0)
    source = tmp_path / "pyramid.tif"
    shapes = [(48, 64), (24, 32)]
    with tifffile.TiffWriter(source) as tiff:
        tiff.write(image, subifds=2 if in_subifds else None, tile=(32, 32))
        for rows, columns in shapes:
            tiff.write(image[::96 // rows, ::128 // columns].copy(), subfiletype=1,
                       tile=(32, 32))
    target = _denoised(tmp_path, source)
    with tifffile.TiffFile(target) as written:
        levels = written.series[0].levels
        assert [level.shape[:2] for level in levels] == [(96, 128), *shapes]
        assert bool(written.pages[0].subifds) == in_subifds
        assert len(written.pages) == (1 if in_subifds else 3)
        assert written.pages[0].is_tiled and levels[1].keyframe.is_tiled
        full, half = levels[0].asarray().astype(float), levels[1].asarray().astype(float)
        noisy_half = image[::2, ::2].astype(float)
    # The level is the denoised image halved, not the noisy level copied.
    block_means = full.reshape(48, 2, 64, 2, *full.shape[2:]).mean(axis=(1, 3))
    assert np.abs(half - block_means).mean() < 2.0
    assert np.abs(noisy_half - block_means).mean() > 8.0


def test_subifd_levels_of_uneven_factors_are_all_made_again(tmp_path, rng):
    # tifffile's series count only the levels of one sampling factor (here 2, then 7).
    image = _smooth(rng, (84, 112), noise=20.0)
    source = tmp_path / "uneven.tif"
    with tifffile.TiffWriter(source) as tiff:
        tiff.write(image, subifds=2)
        tiff.write(image[::2, ::2].copy(), subfiletype=1)
        tiff.write(image[::7, ::7].copy(), subfiletype=1)
    with tifffile.TiffFile(_denoised(tmp_path, source)) as written:
        page = written.pages[0]
        shapes = []
        for number, offset in enumerate(page.subifds):
            written.filehandle.seek(offset)
            shapes.append(tifffile.TiffPage(written, index=(0, number)).shape)
    assert shapes == [(42, 56), (12, 16)]


def test_a_pyramid_is_named_where_the_output_holds_none(tmp_path, rng):
    image = _smooth(rng, (48, 64))
    source = tmp_path / "pyramid.tif"
    with tifffile.TiffWriter(source) as tiff:
        tiff.write(image, subifds=1)
        tiff.write(image[::2, ::2].copy(), subfiletype=1)
    target = tmp_path / "out.png"
    result = runner.invoke(app, ["denoise", str(source), str(target), "--sigma", "10"])
    assert result.exit_code == 0, result.output
    assert "the pyramid's 1 reduced-resolution level left out: PNG holds none" in result.output
    assert np.asarray(Image.open(target)).shape == image.shape


def test_a_turned_image_leaves_its_pyramid_out(tmp_path, rng):
    image = _smooth(rng, (48, 64))
    source = tmp_path / "turned.tif"
    with tifffile.TiffWriter(source) as tiff:
        tiff.write(image, subifds=1, extratags=[(274, "H", 1, 6, True)])
        tiff.write(image[::2, ::2].copy(), subfiletype=1)
    picture = read_picture(source)
    assert picture.pixels.shape == (64, 48)
    assert any("1 reduced-resolution page" in note for note in picture.notes)
    with tifffile.TiffFile(_denoised(tmp_path, source)) as written:
        assert len(written.series[0].levels) == 1


def test_thumbnails_are_left_out_of_a_stack(tmp_path, rng):
    frames = np.stack([_smooth(rng, (40, 48)) for _ in range(3)])
    source = tmp_path / "stack.tif"
    with tifffile.TiffWriter(source) as tiff:
        for frame in frames:
            tiff.write(frame, photometric="minisblack")
            tiff.write(frame[::4, ::4].copy(), photometric="minisblack", subfiletype=1)
    target = tmp_path / "out.tif"
    result = runner.invoke(app, ["denoise", str(source), str(target), "--sigma", "10"])
    assert result.exit_code == 0, result.output
    with tifffile.TiffFile(target) as tiff:
        assert tiff.series[0].shape == frames.shape


def test_a_stack_names_the_pyramid_it_leaves_out(tmp_path, rng):
    frames = np.stack([_smooth(rng, (40, 48)) for _ in range(3)])
    source = tmp_path / "stack.ome.tif"
    with tifffile.TiffWriter(source, ome=True) as tiff:
        tiff.write(frames, subifds=1, metadata={"axes": "ZYX"})
        tiff.write(frames[:, ::2, ::2].copy(), subfiletype=1)
    target = tmp_path / "out.ome.tif"
    result = runner.invoke(app, ["denoise", str(source), str(target), "--sigma", "10"])
    assert result.exit_code == 0, result.output
    assert "the pyramid's 1 reduced-resolution level left out" in result.output
    with tifffile.TiffFile(target) as tiff:
        assert tiff.series[0].shape == frames.shape


def _denoised(tmp_path, source):
    """Denoise *source* at sigma 10 through the command line; return the output's path."""
    out = tmp_path / f"{source.stem}_out.tif"
    result = runner.invoke(app, ["denoise", str(source), str(out), "--sigma", "10", "-q"])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("colour", [False, True])
def test_a_tiled_tiff_comes_out_tiled_as_it_was(tmp_path, colour):
    rng = np.random.default_rng(11)
    image = _smooth(rng, (72, 100, 3) if colour else (72, 100))
    striped, tiled = tmp_path / "striped.tif", tmp_path / "tiled.tif"
    tifffile.imwrite(striped, image, compression="zlib")
    tifffile.imwrite(tiled, image, compression="zlib", tile=(32, 48))
    outputs = []
    for source in (striped, tiled):
        with tifffile.TiffFile(_denoised(tmp_path, source)) as written:
            page = written.pages[0]
            assert page.is_tiled == (source == tiled)
            assert page.compression.name == "ADOBE_DEFLATE"
            outputs.append(written.asarray())
            if source == tiled:
                assert (page.tilelength, page.tilewidth) == (32, 48)
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_colour_stored_plane_by_plane_comes_out_so(tmp_path):
    rng = np.random.default_rng(12)
    image = _smooth(rng, (40, 52, 3))
    interleaved, planes = tmp_path / "interleaved.tif", tmp_path / "planes.tif"
    tifffile.imwrite(interleaved, image, photometric="rgb")
    tifffile.imwrite(planes, np.moveaxis(image, -1, 0), photometric="rgb",
                     planarconfig="separate")
    outputs = []
    for source in (interleaved, planes):
        with tifffile.TiffFile(_denoised(tmp_path, source)) as written:
            page = written.pages[0]
            assert (page.planarconfig.name == "SEPARATE") == (source == planes)
            # An RGB image of the input's size, not 40 samples of 52 rows by 3 columns
            assert (page.imagelength, page.imagewidth, page.samplesperpixel) == (40, 52, 3)
            assert page.photometric.name == "RGB"
            outputs.append(np.asarray(Image.open(written.filehandle.path)))
    assert outputs[0].shape == (40, 52, 3)
    np.testing.assert_array_equal(outputs[0], outputs[1])


@pytest.mark.parametrize("stack", [False, True])
def test_half_precision_floats_come_out_as_they_came_in(tmp_path, stack):
    # float16 (some microscopy and learned pipelines write it): denoised in float32 on the
    # way, written back as float16, as close to the float32 result as float16 holds.
    rng = np.random.default_rng(21)
    clean = _smooth(rng, (40, 52), noise=0.0) / 255.0
    noisy = clean + rng.normal(0, 0.05, (3, 40, 52) if stack else (40, 52))
    half = noisy.astype(np.float16)
    sources = {}
    for dtype in (np.float16, np.float32):
        sources[dtype] = tmp_path / f"{np.dtype(dtype).name}.tif"
        tifffile.imwrite(sources[dtype], half.astype(dtype), photometric="minisblack")
    written = {dtype: tifffile.imread(_denoised(tmp_path, source))
               for dtype, source in sources.items()}
    assert written[np.float16].dtype == np.float16 and written[np.float16].shape == half.shape
    np.testing.assert_allclose(written[np.float16].astype(np.float32), written[np.float32],
                               rtol=2**-10, atol=1e-6)
    assert np.mean((written[np.float16] - clean) ** 2) < 0.5 * np.mean((half - clean) ** 2)
