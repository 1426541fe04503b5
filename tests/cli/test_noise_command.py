"""``nlm noise``: a file's noise as ``nlm denoise`` reads it, without denoising."""

import json
import re

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from nlmeans_cli import estimate_noise
from nlmeans_cli.cli import app

runner = CliRunner()


def _values(line, name):
    """The 0-255 values and the file's values (where given) of *name* in a reading's line."""
    found = re.search(rf"{name} ([\d.e+-]+(?:, [\d.e+-]+)*)(?: \(([\d., e+-]+) in the file's "
                      r"values\))?", line)
    assert found, line
    scale = [float(value) for value in found.group(1).split(", ")]
    own = None if found.group(2) is None else [float(v) for v in found.group(2).split(", ")]
    return scale, own


def test_the_sigma_read_is_the_one_denoise_estimates(tmp_path, samples):
    source = samples / "camera_noisy.png"
    read = runner.invoke(app, ["noise", str(source)])
    assert read.exit_code == 0, read.output
    denoised = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.png")])
    sigma = re.search(r"sigma ([\d.]+) \(estimated\)", denoised.stderr).group(1)
    assert read.stdout.strip() == f"{source}: 256x256 grey uint8, sigma {sigma}"


@pytest.mark.parametrize("dtype", [np.uint16, np.int16])
def test_a_dark_frame_gives_the_read_noise_in_the_files_values(tmp_path, dtype):
    rng = np.random.default_rng(3)
    level = 100 if dtype == np.uint16 else 0
    dark = np.rint(level + rng.normal(0, 40, (128, 160))).astype(dtype)
    source = tmp_path / "dark.tif"
    tifffile.imwrite(source, dark)
    result = runner.invoke(app, ["noise", str(source)])
    assert result.exit_code == 0, result.output
    scale, own = _values(result.stdout, "sigma")
    assert own[0] == pytest.approx(40, rel=0.1)
    assert scale[0] == pytest.approx(own[0] / 257, rel=0.01)


def test_photon_noise_gives_the_gain_and_read_noise(tmp_path):
    rng = np.random.default_rng(4)
    y, x = np.mgrid[0:160, 0:192]
    clean = 2000 + 30000 * (0.5 + 0.5 * np.sin(x / 11.0) * np.cos(y / 17.0))
    counts = 20 * rng.poisson(clean / 20) + rng.normal(0, 30, clean.shape)
    source = tmp_path / "counts.tif"
    tifffile.imwrite(source, np.clip(np.rint(counts), 0, 65535).astype(np.uint16))
    result = runner.invoke(app, ["noise", str(source), "--noise", "poisson-gaussian"])
    assert result.exit_code == 0, result.output
    _, gain = _values(result.stdout, "gain")
    assert gain[0] == pytest.approx(20, rel=0.2)
    assert "read noise" in result.stdout


def test_clips_and_channels_kept_apart_are_read_over_their_frames(tmp_path):
    rng = np.random.default_rng(5)
    clip = np.clip(np.rint(128 + rng.normal(0, 10, (6, 48, 64))), 0, 255).astype(np.uint8)
    np.save(tmp_path / "clip.npy", clip)
    stack = np.stack([20000 + rng.normal(0, sd, (4, 40, 44)) for sd in (500, 2000)], axis=1)
    tifffile.imwrite(tmp_path / "stack.tif", np.rint(stack).astype(np.uint16), imagej=True,
                     metadata={"axes": "ZCYX"})
    result = runner.invoke(app, ["noise", str(tmp_path / "clip.npy"),
                                 str(tmp_path / "stack.tif"), "--json"])
    assert result.exit_code == 0, result.output
    clip_reading, stack_reading = json.loads(result.stdout)
    assert clip_reading["description"] == "6 frames 64x48 grey uint8"
    assert clip_reading["parts"][0]["sigma"] == pytest.approx(10, rel=0.1)
    sigmas = [part["sigma"] * stack_reading["file_scale"] for part in stack_reading["parts"]]
    assert sigmas == pytest.approx([500, 2000], rel=0.1)


def test_a_bad_file_is_reported_in_one_line_and_the_rest_are_read(tmp_path, samples):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    missing = tmp_path / "missing.png"
    nan = tmp_path / "nan.tif"
    tifffile.imwrite(nan, np.full((16, 16), np.nan, np.float32))
    result = runner.invoke(app, ["noise", str(broken), str(missing), str(nan),
                                 str(samples / "camera_noisy.png")])
    assert result.exit_code == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("nlm: error: ") for line in errors)
    for path in (broken, missing, nan):
        assert sum(str(path) in line for line in errors) == 1
    assert "Traceback" not in result.output
    assert "camera_noisy.png: 256x256 grey uint8, sigma" in result.stdout


def test_an_unknown_noise_model_is_a_usage_error(samples):
    result = runner.invoke(app, ["noise", str(samples / "camera_noisy.png"), "--noise", "auto"])
    assert result.exit_code == 2 and "gaussian or poisson-gaussian" in result.stderr


def test_help_paragraphs_are_wrapped_by_the_terminal_not_the_source():
    result = runner.invoke(app, ["compare", "--help"], env={"COLUMNS": "300"})
    assert "runs twice: with our patch, window and h ('skimage') and with" in result.output


def test_a_folder_is_read_file_by_file_and_an_empty_one_is_an_error(tmp_path, samples):
    folder = tmp_path / "shots"
    folder.mkdir()
    for name in ("b.png", "a.png"):
        (folder / name).write_bytes((samples / "camera_noisy.png").read_bytes())
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["noise", str(folder)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [str(folder / "a.png"), str(folder / "b.png")]
    result = runner.invoke(app, ["noise", str(folder), str(empty)])
    assert result.exit_code == 1
    assert f"{empty}: no images in this folder" in result.stderr
    assert len(result.stdout.strip().splitlines()) == 2


def test_a_strip_too_thin_to_read_says_its_zero_is_unknown(tmp_path, rng):
    source = tmp_path / "line.tif"
    tifffile.imwrite(source, rng.integers(0, 256, (2, 300)).astype(np.uint8))
    result = runner.invoke(app, ["noise", str(source)])
    assert result.exit_code == 0, result.output
    assert "sigma 0.00" in result.stdout
    assert "sigma cannot be read from an image under 4 pixels across" in result.stderr
    as_json = runner.invoke(app, ["noise", str(source), "--json"])
    assert "0 stands for unknown" in json.loads(as_json.stdout)[0]["notes"][0]


def test_bands_reads_three_channels_sigma_on_the_channels_not_a_luminance(tmp_path):
    # Noise that red, green and blue share (one draw in all three) reads higher on their
    # luminance, which a colour file's sigma takes; three stains read their own.
    rng = np.random.default_rng(3)
    shared = rng.normal(0, 0.05, (64, 72, 1))
    image = np.rint(np.clip(np.array([0.3, 0.5, 0.7]) + shared, 0, 1) * 255).astype(np.uint8)
    source = tmp_path / "composite.png"
    iio.imwrite(source, image)
    sigmas = []
    for flags in ([], ["--bands"]):
        result = runner.invoke(app, ["noise", str(source), "--json", *flags])
        assert result.exit_code == 0, result.output
        sigmas.append(json.loads(result.stdout)[0]["parts"][0]["sigma"])
    channels = estimate_noise(image, channel_axis=-1, colour=False)
    assert sigmas[1] == pytest.approx(channels)
    assert sigmas[0] > 1.2 * sigmas[1]
