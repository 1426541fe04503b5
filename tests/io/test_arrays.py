"""``.npy`` files holding one image: read as stills, written back as they came."""

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from nlmeans_cli.cli import app
from nlmeans_cli.io.arrays import holds_still
from nlmeans_cli.io.sequences import is_sequence

runner = CliRunner()


def _noisy(rng, shape, dtype):
    rows, columns = np.mgrid[0:shape[0], 0:shape[1]]
    clean = 0.5 + 0.3 * np.sin(rows / 6.0) * np.cos(columns / 9.0)
    if len(shape) == 3:
        clean = np.stack([clean, clean[::-1], 1 - clean], axis=-1)
    noisy = clean + rng.normal(0, 0.08, clean.shape)
    return clean, noisy.astype(dtype)


@pytest.mark.parametrize(("shape", "dtype"), [((48, 56), np.float64), ((40, 44, 3), np.float32),
                                             ((40, 44), np.float16)])
def test_an_array_is_denoised_as_the_same_image_in_a_tiff(tmp_path, shape, dtype):
    clean, noisy = _noisy(np.random.default_rng(3), shape, dtype)
    np.save(tmp_path / "in.npy", noisy)
    tifffile.imwrite(tmp_path / "in.tif", noisy,
                     photometric="rgb" if noisy.ndim == 3 else "minisblack")
    for name in ("in.npy", "in.tif"):
        result = runner.invoke(app, ["denoise", str(tmp_path / name),
                                     str(tmp_path / f"out_{name}"), "--quiet"])
        assert result.exit_code == 0, result.output
    denoised = np.load(tmp_path / "out_in.npy", allow_pickle=False)
    assert denoised.shape == noisy.shape and denoised.dtype == noisy.dtype
    np.testing.assert_array_equal(denoised, tifffile.imread(tmp_path / "out_in.tif"))
    error = np.mean((denoised.astype(np.float64) - clean) ** 2)
    assert error < 0.5 * np.mean((noisy.astype(np.float64) - clean) ** 2)


@pytest.mark.parametrize(("shape", "still"), [((5, 6), True), ((5, 6, 3), True),
                                              ((5, 6, 4), True), ((5, 6, 2), True),
                                              ((4, 5, 6), False), ((5, 6, 5), False),
                                              ((2, 5, 6, 3), False)])
def test_which_shapes_are_images(tmp_path, shape, still):
    path = tmp_path / "a.npy"
    np.save(path, np.zeros(shape, np.uint8))
    assert holds_still(shape) is still
    assert is_sequence(path) is not still


@pytest.mark.parametrize("channels", [2, 4])
def test_an_array_with_alpha_last_keeps_it(tmp_path, rng, channels):
    # Matplotlib's imread of a PNG gives RGBA floats; it was read as frames 4 pixels wide.
    clean, noisy = _noisy(rng, (40, 44), np.float32)
    colours = np.stack([noisy] * (channels - 1), axis=-1)
    alpha = rng.random((40, 44)).astype(np.float32)
    np.save(tmp_path / "in.npy", np.dstack([colours, alpha]))
    result = runner.invoke(app, ["denoise", str(tmp_path / "in.npy"),
                                 str(tmp_path / "out.npy"), "--sigma", "20"])
    assert result.exit_code == 0, result.output
    assert "+ alpha" in result.stderr and "last channel taken for alpha" in result.stderr
    out = np.load(tmp_path / "out.npy")
    assert out.shape == (40, 44, channels) and out.dtype == np.float32
    np.testing.assert_array_equal(out[..., -1], alpha)
    error = np.mean((out[..., 0].astype(np.float64) - clean) ** 2)
    assert error < 0.5 * np.mean((noisy.astype(np.float64) - clean) ** 2)


def test_a_grey_png_can_be_written_as_an_array(tmp_path, rng):
    import imageio.v3 as iio

    noisy = rng.integers(60, 200, (32, 36), dtype=np.uint8)
    iio.imwrite(tmp_path / "in.png", noisy)
    result = runner.invoke(app, ["denoise", str(tmp_path / "in.png"), str(tmp_path / "out.npy"),
                                 "--sigma", "20", "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.output == ""
    written = np.load(tmp_path / "out.npy", allow_pickle=False)
    assert written.shape == noisy.shape and written.dtype == np.uint8
    assert written.std() < noisy.std()


def test_a_pickled_array_is_refused_in_one_line(tmp_path):
    source = tmp_path / "objects.npy"
    np.save(source, np.array([[{"a": 1}, None]], dtype=object), allow_pickle=True)
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.npy")])
    assert result.exit_code == 1
    assert str(source) in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out.npy").exists()


def test_a_truncated_array_is_refused_and_leaves_nothing(tmp_path, rng):
    source = tmp_path / "cut.npy"
    np.save(source, rng.random((64, 64)))
    source.write_bytes(source.read_bytes()[:4000])
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.npy")])
    assert result.exit_code == 1 and str(source) in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == [source]


def test_an_image_over_the_pixel_limit_is_refused_before_reading(tmp_path):
    source = tmp_path / "big.npy"
    np.save(source, np.zeros((100, 100), np.float32))
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.npy"),
                                 "--max-pixels", "9999"])
    assert result.exit_code == 1 and "more than the limit of 9999" in result.output


def test_batch_and_noise_take_arrays_as_images(tmp_path, rng):
    folder = tmp_path / "in"
    folder.mkdir()
    _, noisy = _noisy(rng, (40, 40), np.float32)
    np.save(folder / "image.npy", noisy)
    result = runner.invoke(app, ["batch", str(folder), str(tmp_path / "out"), "-j", "1",
                                 "--quiet"])
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "out" / "image.npy").shape == (40, 40)
    result = runner.invoke(app, ["noise", str(folder / "image.npy")])
    assert result.exit_code == 0, result.output
    assert "image.npy" in result.output and "sigma" in result.output
