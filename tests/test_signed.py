"""Signed 16-bit images (CT numbers, background-subtracted counts): the API, files and the CLI."""

import numpy as np
import pytest
import tifffile
from numpy.testing import assert_array_equal
from skimage import data
from skimage.metrics import peak_signal_noise_ratio
from typer.testing import CliRunner

from nlmeans_cli import denoise, denoise_clip, estimate_noise
from nlmeans_cli.cli import app
from nlmeans_cli.pixels import counts_zero
from nlmeans_cli.scales import from_unit, to_unit, unit_zero

runner = CliRunner()
OFFSET = 32768  # int16's least value, -32768, is uint16's 0


def _ct_slice(rng, sigma=40.0, shape=(128, 128)):
    """A camera crop in CT numbers (air -1000 to bone 2000) with Gaussian noise of *sigma*."""
    clean = data.camera()[160:160 + shape[0], 200:200 + shape[1]].astype(np.float64) * 12 - 1000
    noisy = np.rint(clean + rng.normal(0, sigma, clean.shape)).astype(np.int16)
    return clean, noisy


def _photon_counts(rng, gain=30.0, read_noise=40.0):
    """Photon counts starting at 0 of a signed image (a background-subtracted camera)."""
    clean = data.camera()[96:288, 96:288].astype(np.float64) * 40
    counts = gain * rng.poisson(clean / gain) + rng.normal(0, read_noise, clean.shape)
    return clean, np.rint(counts).astype(np.int16)


def _psnr(clean, image):
    return peak_signal_noise_ratio(clean, image.astype(np.float64), data_range=65535)


def test_every_int16_value_goes_to_the_unit_scale_and_back_unchanged():
    values = np.arange(-32768, 32768, dtype=np.int16)
    unit = to_unit(values)
    assert unit.min() == 0 and unit.max() == 1
    assert_array_equal(from_unit(unit, np.int16), values)
    assert to_unit(np.int16(0)) == pytest.approx(unit_zero(np.int16))
    assert unit_zero(np.uint16) is None and unit_zero(np.float32) is None


def test_int16_is_denoised_as_uint16_offset_by_32768():
    rng = np.random.default_rng(0)
    _, noisy = _ct_slice(rng)
    shifted = (noisy.astype(np.int32) + OFFSET).astype(np.uint16)
    for kwargs in ({}, {"sigma": 40.0}, {"noise": "gaussian", "h": 30.0, "patch_size": 3}):
        signed = denoise(noisy, **kwargs)
        assert signed.dtype == np.int16
        assert_array_equal(signed.astype(np.int32) + OFFSET, denoise(shifted, **kwargs))
    # A black level given in each type's own values is the same level.
    signed = denoise(noisy, noise="poisson-gaussian", gain=30.0, read_noise=40.0,
                     black_level=-1200.0)
    unsigned = denoise(shifted, noise="poisson-gaussian", gain=30.0, read_noise=40.0,
                       black_level=-1200.0 + OFFSET)
    assert_array_equal(signed.astype(np.int32) + OFFSET, unsigned)


def test_ct_numbers_keep_the_gaussian_path_and_gain_psnr():
    rng = np.random.default_rng(1)
    clean, noisy = _ct_slice(rng)
    gaussian = denoise(noisy, noise="gaussian")
    assert_array_equal(denoise(noisy), gaussian)  # auto: no photon noise below or above 0
    assert _psnr(clean, gaussian) > _psnr(clean, noisy) + 2.0
    assert estimate_noise(noisy) == pytest.approx(40.0, rel=0.1)


def test_photon_counts_of_a_signed_image_start_at_its_0():
    rng = np.random.default_rng(2)
    clean, noisy = _photon_counts(rng)
    gain, read_noise = estimate_noise(noisy, model="poisson-gaussian")
    assert gain == pytest.approx(30.0, rel=0.2)
    assert read_noise == pytest.approx(40.0, rel=0.3)
    auto = _psnr(clean, denoise(noisy))
    assert auto > _psnr(clean, denoise(noisy, noise="gaussian")) + 1.5
    assert auto == pytest.approx(_psnr(clean, denoise(noisy, noise="poisson-gaussian")),
                                 abs=0.05)


def test_a_black_level_below_the_least_int16_is_refused():
    image = np.zeros((16, 16), np.int16)
    with pytest.raises(ValueError, match="black level must be at least -32768 for int16"):
        denoise(image, noise="poisson-gaussian", black_level=-40000.0)


def test_a_signed_clip_is_denoised_as_its_unsigned_twin():
    rng = np.random.default_rng(3)
    frames = np.stack([_ct_slice(rng, shape=(48, 56))[1] for _ in range(4)])
    signed = denoise_clip(frames)
    assert signed.dtype == np.int16
    shifted = (frames.astype(np.int32) + OFFSET).astype(np.uint16)
    assert_array_equal(signed.astype(np.int32) + OFFSET, denoise_clip(shifted))


def test_signed_tiffs_are_denoised_and_written_signed(tmp_path):
    rng = np.random.default_rng(4)
    clean, noisy = _ct_slice(rng)
    source, out = tmp_path / "slice.tif", tmp_path / "out.tif"
    tifffile.imwrite(source, noisy, compression="zlib")
    result = runner.invoke(app, ["denoise", str(source), str(out)])
    assert result.exit_code == 0, result.output
    assert "grey int16" in result.stderr
    with tifffile.TiffFile(out) as written:
        assert written.pages[0].compression.name == "ADOBE_DEFLATE"
        denoised = written.asarray()
    assert denoised.dtype == np.int16
    assert _psnr(clean, denoised) > _psnr(clean, noisy) + 2.0
    assert tifffile.imread(source).dtype == np.int16  # the input is left as it was

    volume, stack_out = tmp_path / "volume.tif", tmp_path / "volume_out.tif"
    tifffile.imwrite(volume, np.stack([_ct_slice(rng, shape=(40, 48))[1] for _ in range(5)]),
                     imagej=True, metadata={"axes": "ZYX", "spacing": 2.0, "unit": "mm"})
    result = runner.invoke(app, ["denoise", str(volume), str(stack_out), "--volume"])
    assert result.exit_code == 0, result.output
    with tifffile.TiffFile(stack_out) as written:
        assert written.series[0].dtype == np.int16 and written.series[0].shape == (5, 40, 48)
        assert written.imagej_metadata["spacing"] == 2.0


def test_signed_photon_counts_report_their_black_level_as_the_files_0(tmp_path):
    rng = np.random.default_rng(5)
    _, noisy = _photon_counts(rng)
    source = tmp_path / "counts.tif"
    tifffile.imwrite(source, noisy)
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.tif")])
    assert result.exit_code == 0, result.output
    assert "poisson-gaussian noise" in result.stderr
    assert "black level 127.50 (the file's 0)" in result.stderr


def test_formats_that_cannot_hold_int16_and_wider_integers_are_refused(tmp_path):
    source = tmp_path / "slice.tif"
    tifffile.imwrite(source, np.zeros((16, 16), np.int16))
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.png")])
    assert result.exit_code == 1
    assert "out.png: .png cannot store int16 pixels" in result.stderr
    wide = tmp_path / "wide.tif"
    tifffile.imwrite(wide, np.zeros((16, 16), np.int32))
    result = runner.invoke(app, ["denoise", str(wide), str(tmp_path / "out.tif")])
    assert result.exit_code == 1
    assert "wide.tif: unsupported pixel type int32" in result.stderr
    assert "16-bit signed" in result.stderr
    assert "Traceback" not in result.output


def test_counts_start_at_0_only_where_the_values_stay_near_it():
    rng = np.random.default_rng(6)
    _, ct = _ct_slice(rng, sigma=100.0)
    _, counts = _photon_counts(rng)
    assert counts_zero(to_unit(ct)[..., np.newaxis], ct.dtype) is None  # air at -1000
    zero = counts_zero(to_unit(counts)[..., np.newaxis], counts.dtype)
    assert zero == unit_zero(np.int16)
    unsigned = (counts.astype(np.int32) + OFFSET).astype(np.uint16)
    assert counts_zero(to_unit(unsigned)[..., np.newaxis], unsigned.dtype) is None
    # Dark counts whose read noise alone takes them below 0 are counts still.
    dark = np.rint(rng.normal(0, 40, (64, 64))).astype(np.int16)
    assert counts_zero(to_unit(dark)[..., np.newaxis], dark.dtype) == zero


def test_a_fitted_black_level_of_a_signed_file_is_noted_in_its_values():
    from nlmeans_cli.jobs.noise_notes import black_level_notes
    from nlmeans_cli.noise import PoissonGaussian

    level = to_unit(np.array([-1200], np.int16))[0]
    model = PoissonGaussian(30 / 65535, 40 / 65535, black_level=float(level))
    (note,) = black_level_notes([model], [1], "int16")
    assert "(-1200 in the file's values)" in note
    (unsigned,) = black_level_notes([model], [1], "uint16")
    assert f"({65535 * level:.0f} of 65535)" in unsigned
