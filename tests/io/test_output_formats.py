"""What an output format cannot hold is refused before any work, or written with a note."""

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

import nlmeans_cli.denoising
from nlmeans_cli.cli import app
from nlmeans_cli.io.stills import read_picture
from nlmeans_cli.jobs.file import denoise_file

runner = CliRunner()


def _never_denoise(*args, **kwargs):
    raise AssertionError("the image was denoised before its output was refused")


@pytest.mark.parametrize(("channels", "extension", "problem"), [
    (4, ".jpg", "JPEG cannot hold an alpha channel"),
    (2, ".jpg", "JPEG cannot hold an alpha channel"),
    (4, ".bmp", "BMP cannot hold an alpha channel"),
    (None, ".png", ".png cannot store float32 pixels"),
])
def test_an_output_that_cannot_hold_the_image_is_refused_first(tmp_path, rng, monkeypatch,
                                                              channels, extension, problem):
    if channels is None:
        source = tmp_path / "in.tif"
        tifffile.imwrite(source, rng.random((24, 28)).astype(np.float32))
    else:
        source = tmp_path / "in.png"
        iio.imwrite(source, rng.integers(0, 256, (24, 28, channels), dtype=np.uint8))
    monkeypatch.setattr(nlmeans_cli.denoising, "denoise_request", _never_denoise)
    target = tmp_path / f"out{extension}"
    outcome = denoise_file(source, target)
    assert outcome.status == "failed"
    assert outcome.error.startswith(f"{target}: ") and problem in outcome.error
    assert not target.exists()


@pytest.mark.parametrize("channels", [4, 2])
def test_alpha_survives_the_formats_that_hold_it(tmp_path, rng, channels):
    pixels = rng.integers(0, 256, (24, 28, channels), dtype=np.uint8)
    source = tmp_path / "in.png"
    iio.imwrite(source, pixels)
    for extension in (".png", ".tif", ".npy"):
        target = tmp_path / f"out{extension}"
        result = runner.invoke(app, ["denoise", str(source), str(target), "-q"])
        assert result.exit_code == 0, result.output
        written = np.load(target) if extension == ".npy" else iio.imread(target)
        np.testing.assert_array_equal(written[..., -1], pixels[..., -1])


def test_grey_to_webp_says_it_is_written_as_colour(tmp_path, rng):
    source = tmp_path / "in.png"
    iio.imwrite(source, rng.integers(0, 256, (24, 28), dtype=np.uint8))
    target = tmp_path / "out.webp"
    result = runner.invoke(app, ["denoise", str(source), str(target)])
    assert result.exit_code == 0, result.output
    assert "WebP holds no grey: written as colour with three equal channels" in result.output
    written = iio.imread(target)
    assert written.shape == (24, 28, 3)
    np.testing.assert_array_equal(written[..., 0], written[..., 2])


@pytest.mark.parametrize(("quality", "subsampling"), [(70, 2), (100, 0)])
def test_a_jpeg_keeps_its_input_jpeg_s_tables_and_subsampling(tmp_path, rng, quality,
                                                              subsampling):
    # A fixed quality 95 re-quantised a file saved at 70 finer (larger than its input) and one
    # saved at 100 (4:4:4) coarser, at 4:2:0.
    from PIL import Image, JpegImagePlugin

    pixels = (rng.random((48, 64, 3)) * 64 + 96).astype(np.uint8)
    source = tmp_path / "in.jpg"
    Image.fromarray(pixels).save(source, quality=quality, subsampling=subsampling)
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.jpg"),
                                 "--sigma", "5"])
    assert result.exit_code == 0, result.output
    with Image.open(source) as before, Image.open(tmp_path / "out.jpg") as after:
        assert after.quantization == before.quantization
        assert JpegImagePlugin.get_sampling(after) == subsampling
    # Another format's input is written at quality 95.
    iio.imwrite(tmp_path / "in.png", pixels)
    result = runner.invoke(app, ["denoise", str(tmp_path / "in.png"),
                                 str(tmp_path / "png.jpg"), "--sigma", "5"])
    assert result.exit_code == 0, result.output
    reference = tmp_path / "reference.jpg"
    Image.fromarray(pixels).save(reference, quality=95)
    with Image.open(reference) as expected, Image.open(tmp_path / "png.jpg") as written:
        assert written.quantization == expected.quantization


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_premultiplied_alpha_stays_premultiplied_in_a_tiff_and_straight_in_a_png(tmp_path, rng,
                                                                                dtype):
    # A TIFF's associated (premultiplied) alpha was written back labelled straight: its
    # colours, multiplied by alpha already, would be multiplied again where shown.
    top = np.iinfo(dtype).max
    straight = (rng.random((24, 28, 3)) * 0.5 + 0.25) * top
    alpha = np.linspace(0.5, 1.0, 28)[np.newaxis, :, np.newaxis].repeat(24, 0) * top
    premultiplied = np.concatenate([np.rint(straight * alpha / top), np.rint(alpha)], -1)
    source = tmp_path / "in.tif"
    tifffile.imwrite(source, premultiplied.astype(dtype), photometric="rgb",
                     extrasamples=["assocalpha"])
    for extension in (".tif", ".png"):
        result = runner.invoke(app, ["denoise", str(source), str(tmp_path / f"out{extension}"),
                                     "--sigma", "0.01"])
        assert result.exit_code == 0, result.output
    with tifffile.TiffFile(tmp_path / "out.tif") as tiff:
        assert [int(kind) for kind in tiff.pages.first.extrasamples] == [1]  # associated
        np.testing.assert_allclose(tiff.asarray(), premultiplied, atol=0.01 * top)
    assert "premultiplied alpha written as straight alpha, as PNG holds it" in result.stderr
    png = read_picture(tmp_path / "out.png").stacked().astype(np.float64)  # 16 bits exactly
    np.testing.assert_allclose(png[..., :3], straight, atol=0.02 * top)
    np.testing.assert_array_equal(png[..., 3], np.rint(alpha[..., 0]))


def _denoised_bands(tmp_path, noisy):
    """Write *noisy* (0-1) as a 16-bit TIFF of bands, denoise it; its path and the result."""
    source = tmp_path / "bands.tif"
    tifffile.imwrite(source, np.rint(noisy * 65535).astype(np.uint16),
                     photometric="minisblack", planarconfig="contig")
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.tif")])
    assert result.exit_code == 0, result.output
    return source, result


@pytest.mark.parametrize("count", [3, 4, 6])
def test_a_multispectral_tiff_s_bands_are_denoised_and_written_back_as_bands(tmp_path, rng,
                                                                            count):
    # Grey samples none of which is alpha: four were read as colour and alpha (the fourth
    # band left noisy and relabelled transparency), six refused as an unknown layout.
    clean = np.linspace(0.3, 0.7, 40)[np.newaxis, :, np.newaxis] * np.ones((32, 40, count))
    noisy = np.clip(clean + rng.normal(0, 0.05, clean.shape), 0, 1)
    source, result = _denoised_bands(tmp_path, noisy)
    assert f"40x32 {count} bands uint16" in result.stderr
    with tifffile.TiffFile(tmp_path / "out.tif") as tiff:
        page = tiff.pages.first
        assert page.photometric.name == "MINISBLACK" and page.samplesperpixel == count
        assert all(int(kind) == 0 for kind in page.extrasamples)  # unspecified, as they were
        out = tiff.asarray() / 65535
    for band in range(count):  # every band denoised
        assert (np.abs(out[..., band] - clean[..., band]).mean()
                < 0.5 * np.abs(noisy[..., band] - clean[..., band]).mean())
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.png")])
    assert result.exit_code == 1
    assert f"PNG cannot hold {count} bands of a multispectral image" in result.stderr


def test_an_rgb_tiff_s_extra_sample_of_no_stated_meaning_keeps_its_label(tmp_path, rng):
    pixels = rng.integers(0, 65536, (24, 28, 4), dtype=np.uint16)
    source = tmp_path / "rgbn.tif"
    tifffile.imwrite(source, pixels, photometric="rgb", extrasamples=["unspecified"])
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.tif"), "-q"])
    assert result.exit_code == 0, result.output
    with tifffile.TiffFile(tmp_path / "out.tif") as tiff:
        assert [int(kind) for kind in tiff.pages.first.extrasamples] == [0]
        np.testing.assert_array_equal(tiff.asarray()[..., 3], pixels[..., 3])  # untouched
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.png")])
    assert result.exit_code == 0, result.output
    assert "extra sample of no stated meaning written as alpha" in result.stderr


def test_a_jpeg_s_tables_beyond_baseline_are_not_kept(tmp_path, rng, capfd):
    # 16-bit tables: kept, libjpeg would print a caution on the terminal; written at 95.
    from PIL import Image

    pixels = (rng.random((32, 40)) * 255).astype(np.uint8)
    source = tmp_path / "coarse.jpg"
    Image.fromarray(pixels).save(source, qtables=[[300] * 64])
    capfd.readouterr()
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.jpg"), "-q"])
    assert result.exit_code == 0, result.output
    assert "Caution" not in capfd.readouterr().err
    reference = tmp_path / "reference.jpg"
    Image.fromarray(pixels).save(reference, quality=95)
    with Image.open(reference) as expected, Image.open(tmp_path / "out.jpg") as written:
        assert written.quantization == expected.quantization


@pytest.mark.parametrize("count", [2, 3, 4])
def test_a_tiff_s_unrelated_bands_are_each_denoised_as_a_grey_image(tmp_path, rng, count):
    # Weights shared by bands that show different scenes blurred each with the others'
    # structure; SURE now finds each band alone better, and a note says so.
    y, x = np.mgrid[0:64, 0:72]
    scenes = [0.5 + 0.3 * np.sign(np.sin(x / 5.0)),
              0.5 + 0.3 * np.cos(np.hypot(y - 30, x - 40) / 3),
              0.5 + 0.3 * np.sign(np.cos(y / 4.0)), 0.5 + 0.3 * np.sin((x + y) / 6.0)]
    clean = np.stack(scenes[:count], axis=-1)
    noisy = np.clip(clean + rng.normal(0, 0.08, clean.shape), 0, 1)
    source, result = _denoised_bands(tmp_path, noisy)
    assert "each was denoised as a grey image" in result.stderr
    out = tifffile.imread(tmp_path / "out.tif")
    image = np.rint(noisy * 65535).astype(np.uint16)
    np.testing.assert_array_equal(out, nlmeans_cli.denoise(image, channel_axis=-1,
                                                           colour=False))
    for band in range(count):
        assert (np.abs(out[..., band] / 65535 - clean[..., band]).mean()
                < 0.4 * np.abs(noisy[..., band] - clean[..., band]).mean())


def test_bands_takes_an_rgb_file_s_three_channels_for_stains(tmp_path, rng):
    # A fluorescence composite saved as RGB: --bands denoises its channels as stains, not in
    # opponent colours; on a grey image it is noted as unused.
    y, x = np.mgrid[0:64, 0:72]
    clean = np.stack([0.5 + 0.3 * np.sign(np.sin(x / 5.0)),
                      0.5 + 0.3 * np.cos(np.hypot(y - 30, x - 40) / 3),
                      0.5 + 0.3 * np.sign(np.cos(y / 4.0))], axis=-1)
    image = np.rint(np.clip(clean + rng.normal(0, 0.08, clean.shape), 0, 1) * 255)
    source = tmp_path / "composite.png"
    iio.imwrite(source, image.astype(np.uint8))
    for flags, colour in (([], True), (["--bands"], False)):
        target = tmp_path / f"out{len(flags)}.png"
        result = runner.invoke(app, ["denoise", str(source), str(target), *flags])
        assert result.exit_code == 0, result.output
        expected = nlmeans_cli.denoise(image.astype(np.uint8), channel_axis=-1, colour=colour)
        np.testing.assert_array_equal(iio.imread(target), expected)
    assert "each was denoised as a grey image" in result.stderr
    grey = tmp_path / "grey.png"
    iio.imwrite(grey, image[..., 0].astype(np.uint8))
    result = runner.invoke(app, ["denoise", str(grey), str(tmp_path / "g.png"), "--bands"])
    assert result.exit_code == 0, result.output
    assert "--bands applies to three channels" in result.stderr
