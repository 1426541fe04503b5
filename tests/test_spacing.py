"""Spacing-aware volumes: patch and window in physical units, read from ImageJ/OME or given."""

import numpy as np
import pytest
import tifffile
from skimage.metrics import peak_signal_noise_ratio
from typer.testing import CliRunner

from nlmeans_cli import denoise, resolve_parameters
from nlmeans_cli.cli import app
from nlmeans_cli.parameters import spaced_radius, spaced_side

runner = CliRunner()


def _blobs(rng, z_step, shape=(20, 80, 80), count=30):
    """Smooth 3-D structures in physical units, sampled with a z step z_step times xy's."""
    z = np.arange(shape[0])[:, None, None] * z_step
    y = np.arange(shape[1])[None, :, None]
    x = np.arange(shape[2])[None, None, :]
    volume = np.zeros(shape)
    for _ in range(count):
        centre = rng.uniform(0, shape[0] * z_step), rng.uniform(0, shape[1]), rng.uniform(
            0, shape[2])
        radius, height = rng.uniform(3, 9), rng.uniform(0.3, 1.0)
        volume += height * np.exp(-((z - centre[0]) ** 2 + (y - centre[1]) ** 2
                                    + (x - centre[2]) ** 2) / (2 * radius**2))
    return (volume / volume.max()).astype(np.float32)


def test_spaced_radius_keeps_the_physical_reach():
    assert spaced_radius(3, None) == (3, 3, 3)
    assert spaced_radius(3, (4.0, 1.0, 1.0)) == (1, 3, 3)
    assert spaced_radius(4, (1.0, 2.0, 2.0)) == (4, 2, 2)
    assert spaced_radius(1, (4.0, 1.0, 1.0)) == (0, 1, 1)


def test_spaced_side_keeps_as_many_voxels():
    assert spaced_side(7, None) == 7
    assert spaced_side(7, (1.0, 1.0, 1.0)) == 7
    side = spaced_side(7, (4.0, 1.0, 1.0))
    count = np.prod([2 * r + 1 for r in spaced_radius(side // 2, (4.0, 1.0, 1.0))])
    assert count >= 7**3 and side % 2 == 1


def test_isotropic_spacing_changes_nothing(rng):
    volume = rng.random((6, 20, 22)).astype(np.float32)
    np.testing.assert_array_equal(denoise(volume, sigma=0.1),
                                  denoise(volume, sigma=0.1, spacing=(0.3, 0.3, 0.3)))


def test_radii_follow_the_spacing():
    volume = np.zeros((8, 30, 30), np.float32)
    setting = resolve_parameters(volume, sigma=0.1, patch_size=5, search_window=9,
                                 spacing=(2.0, 0.5, 0.5))
    patch, search = setting.radii((1, 1, 1))
    assert patch == (1, 2, 2) and search == (1, 4, 4)
    # The second look reaches one slice either side (two along the finest axis), and its
    # 3x3 patches over 11x11 positions in the plane.
    assert setting.refined and setting.volume_refinement().temporal_radius == 1
    assert setting.reach(volume.shape) == (2 + 1, 6 + 6, 6 + 6)
    far = resolve_parameters(volume, sigma=0.1, spacing=(2.5, 0.5, 0.5))
    assert far.volume_refinement().temporal_radius == 0


@pytest.mark.parametrize("bad", [(0, 1, 1), (1, 1), (1, -2, 1), ("a", 1, 1), (1, 1, np.inf)])
def test_bad_spacing_is_refused(bad):
    with pytest.raises(ValueError, match="spacing"):
        denoise(np.zeros((4, 8, 8), np.float32), sigma=0.1, spacing=bad)


@pytest.mark.slow
def test_spacing_aware_beats_isotropic_on_an_anisotropic_volume():
    gains, same = [], []
    for seed in range(2):
        rng = np.random.default_rng(seed)
        for z_step, gains_here in ((4.0, gains), (1.0, same)):
            clean = _blobs(rng, z_step)
            noisy = clean + rng.normal(0, 0.1, clean.shape).astype(np.float32)
            isotropic = denoise(noisy, sigma=0.1)
            spaced = denoise(noisy, sigma=0.1, spacing=(z_step, 1.0, 1.0))
            gains_here.append(peak_signal_noise_ratio(clean, spaced, data_range=1)
                              - peak_signal_noise_ratio(clean, isotropic, data_range=1))
    assert np.mean(gains) >= 0.3
    assert min(same) >= 0.0


def test_imagej_spacing_is_read_and_reported(tmp_path):
    rng = np.random.default_rng(3)
    clean = _blobs(rng, 4.0, shape=(8, 40, 40), count=8)
    noisy = np.clip((clean + rng.normal(0, 0.1, clean.shape)) * 60000, 0, 65535)
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, noisy.astype(np.uint16), imagej=True, resolution=(2.0, 2.0),
                     metadata={"spacing": 2.0, "unit": "um", "axes": "ZYX"})
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.tif"), "--volume"])
    assert result.exit_code == 0, result.output
    assert "spacing 2x0.5x0.5" in result.stderr and "radii patch 1/3/3" in result.stderr
    given = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out2.tif"), "--volume",
                                "--spacing", "1,1,1"])
    assert given.exit_code == 0 and "spacing 1x1x1" in given.stderr
    bad = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out3.tif"), "--volume",
                              "--spacing", "1,0,1"])
    assert bad.exit_code == 2


@pytest.mark.parametrize("axes", ["ZYX", "TYX", "TZYX"])
def test_slices_denoised_as_frames_point_to_volume(tmp_path, axes):
    # A Z-stack's pages are a volume's slices: without --volume a note says what it would do.
    rng = np.random.default_rng(5)
    shape = {"ZYX": (6, 32, 32), "TYX": (6, 32, 32), "TZYX": (2, 3, 32, 32)}[axes]
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, rng.integers(0, 60000, shape, dtype=np.uint16), imagej=True,
                     metadata={"axes": axes})
    hint = "--volume denoises them as one volume"
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.tif")])
    assert result.exit_code == 0, result.output
    assert (hint in result.stderr) == (axes == "ZYX")
    as_volume = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out2.tif"),
                                    "--volume"])
    assert as_volume.exit_code == 0 and hint not in as_volume.stderr


def test_volume_options_on_a_still_image_are_noted(tmp_path):
    import imageio.v3 as iio

    rng = np.random.default_rng(4)
    source = tmp_path / "still.png"
    iio.imwrite(source, rng.integers(0, 255, (32, 32), np.uint8))
    tifffile.imwrite(tmp_path / "stack.tif", rng.integers(0, 255, (4, 32, 32), np.uint8),
                     photometric="minisblack")
    for extra in (["--volume"], ["--spacing", "2,1,1"], []):
        result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.png"),
                                     "--overwrite", *extra])
        assert result.exit_code == 0, result.output
        assert ("note: --volume and --spacing apply to stacks" in result.stderr) is bool(extra)
    stack = runner.invoke(app, ["denoise", str(tmp_path / "stack.tif"),
                                str(tmp_path / "out.tif"), "--volume"])
    assert stack.exit_code == 0 and "--volume and --spacing apply" not in stack.stderr
    # And the other way round: tiles are for still images.
    for extra in (["--volume"], []):
        tiled = runner.invoke(app, ["denoise", str(tmp_path / "stack.tif"),
                                    str(tmp_path / "tiled.tif"), "--overwrite", "--tile", "16",
                                    *extra])
        assert tiled.exit_code == 0, tiled.output
        assert "note: --tile applies to still images" in tiled.stderr
    still = runner.invoke(app, ["denoise", str(source), str(tmp_path / "tiled.png"),
                                "--tile", "40"])
    assert still.exit_code == 0 and "--tile applies" not in still.stderr
