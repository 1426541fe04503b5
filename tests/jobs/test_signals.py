"""Signals and full disks, as schedulers and users bring them: no partial file, no orphan.

These run the installed ``nlm`` in a subprocess (signals and resource limits are per process).
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(shutil.which("nlm") is None or not Path("/proc").is_dir(),
                                reason="needs the installed nlm command and Linux's /proc")


def _folder_of_images(root, rng, count, side=192):
    root.mkdir()
    for k in range(count):
        noisy = np.clip(128 + rng.normal(0, 30, (side, side)), 0, 255).astype(np.uint8)
        iio.imwrite(root / f"{k:02d}.png", noisy)
    return root


def _children(pid):
    """Process ids whose parent is *pid*, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid):
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_until(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _no_hidden_files(folder):
    return [path.name for path in Path(folder).rglob(".*")]


def _start_batch(tmp_path, rng, extra=()):
    source = _folder_of_images(tmp_path / "in", rng, 40)
    out = tmp_path / "out"
    args = [shutil.which("nlm"), "batch", str(source), str(out), "-j", "2", "-q",
            "--sigma", "20", "--search-window", "21", *extra]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert _wait_until(lambda: len(list(out.glob("*.png"))) >= 3, 180)
    workers = _children(process.pid)
    return process, out, workers


def test_sigterm_to_a_batch_stops_it_as_ctrl_c_does(tmp_path, rng):
    report = tmp_path / "report.csv"
    process, out, workers = _start_batch(tmp_path, rng, ["--report", str(report)])
    assert workers, "the batch should run worker processes"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert b"Traceback" not in stderr
    assert b"not started (interrupted)" in stderr
    assert report.is_file() and len(report.read_text().splitlines()) > 1
    assert _no_hidden_files(out) == []
    assert _wait_until(lambda: not any(_alive(pid) for pid in workers), 10)


def test_workers_of_a_killed_batch_stop_and_clean_up(tmp_path, rng):
    process, out, workers = _start_batch(tmp_path, rng)
    assert workers
    process.kill()  # SIGKILL: the parent cannot clean up; its workers must
    process.communicate(timeout=60)
    assert _wait_until(lambda: not any(_alive(pid) for pid in workers), 15)
    assert _no_hidden_files(out) == []


@pytest.mark.parametrize("extension", [".mp4", ".npy"])
def test_sigterm_during_a_clip_leaves_no_partial_file(tmp_path, rng, extension):
    clip = tmp_path / "clip.npy"
    np.save(clip, np.clip(128 + rng.normal(0, 30, (300, 160, 160)), 0, 255).astype(np.uint8))
    out = tmp_path / "out"
    out.mkdir()
    target = out / f"denoised{extension}"
    process = subprocess.Popen([shutil.which("nlm"), "denoise", str(clip), str(target),
                                "--sigma", "20", "--temporal-window", "3"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert _wait_until(lambda: any(out.iterdir()), 120)  # the hidden partial file exists
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert b"Traceback" not in stderr
    assert list(out.iterdir()) == []


#: Run as ``python -c _LAUNCHER LIMIT COMMAND...``: sets the limit on the files the command may
#: write (0: none) and the terminal's Ctrl-C, then becomes the command (same process id).
_LAUNCHER = """
import os, resource, signal, sys
limit = int(sys.argv[1])
if limit:
    # Writes past the limit fail with EFBIG, as on a full disk, instead of killing the command.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
# A shell's background job starts with Ctrl-C ignored, and Python keeps it so: the command gets
# the terminal's default, as when a user runs nlm.
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.pthread_sigmask(signal.SIG_SETMASK, [])
os.execv(sys.argv[2], sys.argv[2:])
"""


def _launched(command, file_size=0):
    """Return *command* as started by :data:`_LAUNCHER`, with at most *file_size* bytes a file.

    Not a ``preexec_fn``: that forks this process, and a test that imported JAX before makes
    JAX warn of the fork, which the warnings filter turns into an error in the child.
    """
    return [sys.executable, "-c", _LAUNCHER, str(file_size), *command]


@pytest.mark.parametrize("extension", [".npy", ".tif", ".mkv"])
def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, rng, extension):
    clip = tmp_path / "clip.npy"
    np.save(clip, np.clip(128 + rng.normal(0, 30, (30, 64, 64)), 0, 255).astype(np.uint8))
    out = tmp_path / "out"
    out.mkdir()
    target = out / f"denoised{extension}"
    result = subprocess.run(_launched([shutil.which("nlm"), "denoise", str(clip), str(target),
                                       "--sigma", "20", "-q"], file_size=40_000),
                            capture_output=True, timeout=300)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and str(target) in lines[0], lines
    assert list(out.iterdir()) == []


def test_a_full_disk_in_a_batch_is_reported_without_tracebacks(tmp_path, rng):
    source = _folder_of_images(tmp_path / "in", rng, 3, side=256)
    out = tmp_path / "out"
    report = out / "report.csv"
    result = subprocess.run(_launched([shutil.which("nlm"), "batch", str(source), str(out),
                                       "-j", "2", "-q", "--sigma", "20", "--report",
                                       str(report)], file_size=30_000),
                            capture_output=True, timeout=300)
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert stderr.count("nlm: error:") >= 3
    assert _no_hidden_files(out) == []
    assert os.environ.get("NLM_NEVER_SET") is None  # the limit stayed in the child


@pytest.fixture
def small_disk(tmp_path):
    """A 160 KiB file system (tmpfs), where this machine lets the tests mount one."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs",
                              str(mount_point)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small file system here (needs root)")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], capture_output=True)


def test_a_really_full_disk_in_a_batch_is_reported_without_tracebacks(tmp_path, rng,
                                                                      small_disk):
    source = _folder_of_images(tmp_path / "in", rng, 3, side=300)
    (small_disk / "filler").write_bytes(b"\0" * 150_000)
    out = small_disk / "out"
    result = subprocess.run([shutil.which("nlm"), "batch", str(source), str(out), "-j", "2",
                             "-q", "--sigma", "20", "--report", str(small_disk / "r.csv")],
                            capture_output=True, timeout=300)
    stderr = result.stderr.decode()
    assert result.returncode == 1
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert "No space left on device" in stderr
    assert _no_hidden_files(small_disk) == []


def test_ctrl_c_stops_a_long_still_within_a_second(tmp_path, rng):
    source = tmp_path / "in.png"
    iio.imwrite(source, np.clip(128 + rng.normal(0, 30, (256, 256)), 0, 255).astype(np.uint8))
    target = tmp_path / "out.png"
    # Minutes of work: patch and window as large as the image.
    command = [shutil.which("nlm"), "denoise", str(source), str(target), "--patch-size", "301",
               "--search-window", "301", "--sigma", "20", "--h", "20"]
    with subprocess.Popen(_launched(command), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as process:
        time.sleep(6)
        assert process.poll() is None
        asked = time.monotonic()
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            pytest.fail("nlm went on for 30 s after Ctrl-C")
        stopped = time.monotonic() - asked
    assert stopped < 1.5
    assert process.returncode == 130
    assert b"Traceback" not in stderr and b"nlm: interrupted" in stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.png"]
    assert b"denoising, pass 1" in stderr  # the bar of a still that takes over a second
