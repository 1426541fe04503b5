"""``-`` as INPUT or OUTPUT: standard input and output, with the files' own results."""

import io
import subprocess
import sys

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from nlmeans_cli.cli import app

runner = CliRunner()


def _files_result(tmp_path, source, name, *extra):
    target = tmp_path / name
    result = runner.invoke(app, ["denoise", str(source), str(target), "-q", *extra])
    assert result.exit_code == 0, result.output
    return target.read_bytes()


@pytest.mark.parametrize("name", ["camera_noisy.png", "astronaut_noisy.png"])
def test_a_pipe_gives_the_files_bytes(tmp_path, samples, name):
    source = samples / name
    expected = _files_result(tmp_path, source, "out.png")
    result = runner.invoke(app, ["denoise", "-", "-", "-q"], input=source.read_bytes())
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == expected


def test_standard_input_to_a_file_keeps_tiff_metadata(tmp_path, rng):
    noisy = np.clip(rng.normal(30000, 3000, (48, 52)), 0, 65535).astype(np.uint16)
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, noisy, description="cells, plate 3", metadata=None,
                     resolution=(20000, 20000), resolutionunit="CENTIMETER")
    result = runner.invoke(app, ["denoise", "-", str(tmp_path / "out.tif")],
                           input=buffer.getvalue())
    assert result.exit_code == 0, result.output
    assert "-: 52x48 grey uint16" in result.output and str(tmp_path) not in result.output.split(
        " -> ")[0]
    with tifffile.TiffFile(tmp_path / "out.tif") as tiff:
        page = tiff.pages[0]
        assert page.dtype == np.uint16 and page.shape == noisy.shape
        assert page.tags.valueof("ImageDescription") == "cells, plate 3"
        assert page.tags["XResolution"].value == (20000, 1)


def test_a_file_to_standard_output_takes_its_format(tmp_path, rng):
    source = tmp_path / "in.npy"
    np.save(source, rng.random((40, 40)).astype(np.float32))
    result = runner.invoke(app, ["denoise", str(source), "-", "-q"])
    assert result.exit_code == 0, result.output
    written = np.load(io.BytesIO(result.stdout_bytes), allow_pickle=False)
    assert written.shape == (40, 40) and written.dtype == np.float32
    assert list(tmp_path.iterdir()) == [source]


@pytest.mark.parametrize(("data", "problem"), [
    (b"", "standard input is empty"),
    (b"hello, world\n", "not an image (standard input holds no"),
    (None, "corrupt or truncated PNG data"),
])
def test_bad_standard_input_is_one_line_naming_it(samples, data, problem):
    if data is None:
        data = (samples / "camera_noisy.png").read_bytes()[:3000]
    result = runner.invoke(app, ["denoise", "-", "-"], input=data)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert result.output.startswith("nlm: error: -: ") and problem in result.output
    assert "/nlm-stream-" not in result.output
    assert result.stdout_bytes == b""


def test_a_closed_pipe_is_an_error_not_a_traceback(tmp_path, rng):
    import imageio.v3 as iio

    # Noise barely smoothed stays incompressible: megabytes, more than a pipe holds.
    source = tmp_path / "noise.png"
    iio.imwrite(source, rng.integers(0, 256, (1024, 1024), dtype=np.uint8))
    command = [sys.executable, "-m", "nlmeans_cli", "denoise", str(source), "-", "-q",
               "--sigma", "2"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout.read(4) == b"\x89PNG"
        process.stdout.close()
        error = process.stderr.read().decode()
        assert process.wait(timeout=120) == 1
    assert error.strip() == ("nlm: error: -: standard output was closed before the whole "
                             "result was written")


def test_noise_reads_standard_input_as_the_file(samples):
    source = samples / "camera_noisy.png"
    from_file = runner.invoke(app, ["noise", str(source)])
    piped = runner.invoke(app, ["noise", "-"], input=source.read_bytes())
    assert from_file.exit_code == 0 and piped.exit_code == 0, piped.output
    assert piped.output == from_file.output.replace(str(source), "-")
    twice = runner.invoke(app, ["noise", "-", "-"], input=source.read_bytes())
    assert twice.exit_code == 2 and "can be read once" in twice.output


@pytest.mark.parametrize("name", ["clip.gif", "stack.tif", "stack.npy"])
def test_clips_and_stacks_go_through_pipes_as_files_do(tmp_path, rng, name):
    import imageio.v3 as iio

    frames = rng.integers(40, 220, (4, 24, 28), dtype=np.uint8)
    source = tmp_path / name
    if name.endswith(".gif"):
        iio.imwrite(source, frames, loop=0, duration=80)
    elif name.endswith(".tif"):
        tifffile.imwrite(source, frames, photometric="minisblack")
    else:
        np.save(source, frames)
    expected = _files_result(tmp_path, source, f"out_{name}")
    result = runner.invoke(app, ["denoise", "-", "-", "-q"], input=source.read_bytes())
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == expected
