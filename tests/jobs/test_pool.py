import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import imageio.v3 as iio
import numpy as np
import pytest
from typer.testing import CliRunner

from nlmeans_cli.cli import app
from nlmeans_cli.io.folders import find_images, plan_batch
from nlmeans_cli.jobs.file import JobOptions
from nlmeans_cli.jobs.pool import run_batch, threads_per_worker
from nlmeans_cli.parameters import Request

runner = CliRunner()


def _noisy(rng, shape, dtype=np.uint8):
    top = np.iinfo(dtype).max
    base = np.linspace(0.2, 0.8, shape[1])[np.newaxis, :] * np.ones(shape[:2])
    if len(shape) == 3:
        base = base[..., np.newaxis] * np.ones(shape[2])
    noisy = base + rng.normal(0, 0.08, shape)
    return np.clip(np.rint(noisy * top), 0, top).astype(dtype)


@pytest.fixture
def tree(tmp_path, rng):
    """in/ with nested folders, good images, a corrupt PNG, a text file named .tif."""
    root = tmp_path / "in"
    (root / "sub" / "deeper").mkdir(parents=True)
    iio.imwrite(root / "a.png", _noisy(rng, (40, 48)))
    iio.imwrite(root / "colour.png", _noisy(rng, (32, 36, 3)))
    iio.imwrite(root / "sub" / "b.png", _noisy(rng, (30, 30)))
    iio.imwrite(root / "sub" / "deeper" / "c.tif", _noisy(rng, (24, 40), np.uint16))
    good = (root / "a.png").read_bytes()
    (root / "sub" / "corrupt.png").write_bytes(good[: len(good) // 2])
    (root / "fake.tif").write_text("not an image\n")
    (root / "readme.txt").write_text("left alone: not an image extension\n")
    return root


GOOD = {"a.png", "colour.png", "sub/b.png", "sub/deeper/c.tif"}
BAD = {"sub/corrupt.png", "fake.tif"}


def _files(folder):
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_batch_mirrors_the_tree_and_reports_bad_files(tree, tmp_path):
    out = tmp_path / "out"
    report = tmp_path / "report.json"
    result = runner.invoke(app, ["batch", str(tree), str(out), "--recursive", "--jobs", "1",
                                 "--report", str(report), "--sigma", "20"])
    assert result.exit_code == 1, result.output
    assert _files(out) == GOOD  # nothing for the bad files, no partial or hidden files
    for name in GOOD:
        source, target = iio.imread(tree / name), iio.imread(out / name)
        assert source.shape == target.shape and source.dtype == target.dtype
        assert not np.array_equal(source, target)
    rows = {os.path.relpath(row["input"], tree): row for row in json.loads(report.read_text())}
    assert set(rows) == GOOD | BAD
    for name in BAD:
        assert rows[name]["status"] == "failed"
        assert str(tree / name) in rows[name]["error"]
        assert str(tree / name) in result.stderr
    for name in GOOD:
        assert rows[name]["status"] == "done" and rows[name]["error"] == ""
        assert isinstance(rows[name]["notes"], list)
        assert rows[name]["sigma"] == pytest.approx(20.0)
        assert rows[name]["seconds"] > 0
    assert "4 processed, 0 skipped, 2 failed" in result.stderr


def test_skip_existing_then_does_nothing(tree, tmp_path):
    out = tmp_path / "out"
    args = ["batch", str(tree), str(out), "-r", "-j", "1", "-q", "--sigma", "20"]
    assert runner.invoke(app, args).exit_code == 1
    before = {name: (out / name).stat().st_mtime_ns for name in GOOD}
    report = tmp_path / "again.csv"
    result = runner.invoke(app, [*args, "--skip-existing", "--report", str(report)])
    assert result.exit_code == 1  # the bad files still fail
    assert {name: (out / name).stat().st_mtime_ns for name in GOOD} == before
    with open(report, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["input", "output", "status", "sigma", "noise", "gain",
                             "read_noise", "black_level", "seconds", "error", "notes"]
    assert sorted(row["status"] for row in rows) == ["failed"] * 2 + ["skipped"] * 4
    assert "0 processed, 4 skipped, 2 failed" in result.stderr


def test_existing_outputs_fail_without_overwrite_or_skip(tree, tmp_path):
    out = tmp_path / "out"
    args = ["batch", str(tree), str(out), "-j", "1", "-q", "--pattern", "a.png"]
    assert runner.invoke(app, args).exit_code == 0
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "already exists" in result.stderr
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0


def test_one_and_two_jobs_give_identical_outputs(tree, tmp_path):
    for jobs in ("1", "2"):
        result = runner.invoke(app, ["batch", str(tree), str(tmp_path / jobs), "-r", "-q",
                                     "--jobs", jobs])
        assert result.exit_code == 1, result.output
    for name in GOOD:
        assert np.array_equal(iio.imread(tmp_path / "1" / name), iio.imread(tmp_path / "2" / name))


def test_all_good_exits_zero_and_pattern_and_recursion_filter(tree, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["batch", str(tree), str(out), "-q", "--pattern", "*.PNG"])
    assert result.exit_code == 0, result.output
    assert _files(out) == {"a.png", "colour.png"}


def test_output_folder_inside_input_is_not_searched(tree):
    inside = tree / "denoised"
    args = ["batch", str(tree), str(inside), "-r", "-q", "--pattern", "*.png"]
    runner.invoke(app, args)
    result = runner.invoke(app, [*args, "--skip-existing"])
    assert "denoised" not in result.stderr
    assert not (inside / "denoised").exists()


@pytest.mark.parametrize(
    "extra, message",
    [(["--skip-existing", "--overwrite"], "not both"), (["--report", "r.xml"], ".csv or .json"),
     (["--jobs", "0"], "--jobs")],
)
def test_bad_usage_exits_2(tree, tmp_path, extra, message):
    result = runner.invoke(app, ["batch", str(tree), str(tmp_path / "out"), *extra])
    assert result.exit_code == 2
    assert message in result.stderr


def test_missing_input_folder_exits_2(tmp_path):
    result = runner.invoke(app, ["batch", str(tmp_path / "nowhere"), str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "nowhere" in result.stderr and "Traceback" not in result.output


def test_output_folder_equal_to_input_is_refused(tree):
    with pytest.raises(ValueError, match="is the input folder"):
        plan_batch(tree, tree)


def test_find_images_skips_hidden_and_other_extensions(tree):
    (tree / ".a.png.tmp123.partial.png").write_bytes(b"partial")
    found = {p.relative_to(tree).as_posix() for p in find_images(tree, recursive=True)}
    assert found == GOOD | BAD


def test_run_batch_api_yields_one_outcome_per_file(tree, tmp_path):
    items = plan_batch(tree, tmp_path / "out", recursive=True)
    outcomes = list(run_batch(items, JobOptions(Request(sigma_unit=15.0 / 255)), jobs=1))
    assert len(outcomes) == len(items) == 6
    assert sum(o.status == "done" for o in outcomes) == 4


def test_threads_per_worker_never_oversubscribes():
    assert threads_per_worker(1, cores=8) == 8
    assert threads_per_worker(3, cores=8) == 2
    assert threads_per_worker(16, cores=8) == 1


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_leaves_no_partial_outputs_and_skip_existing_resumes(tmp_path, rng, jobs):
    command = shutil.which("nlm")
    if command is None:
        pytest.skip("the nlm command is not installed in this environment")
    source = tmp_path / "in"
    source.mkdir()
    for k in range(40):
        iio.imwrite(source / f"{k:02d}.png", _noisy(rng, (192, 192)))
    out = tmp_path / "out"
    args = [command, "batch", str(source), str(out), "-j", jobs, "-q", "--sigma", "20",
            "--search-window", "21"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.glob("*.png"))) < 3:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert b"Traceback" not in stderr
    assert b"not started (interrupted)" in stderr
    written = sorted(out.iterdir())
    assert 0 < len(written) < 40
    for path in written:  # only complete images, no temporary files
        assert not path.name.startswith(".")
        assert iio.imread(path).shape == (192, 192)
    resumed = subprocess.run([*args, "--skip-existing"], capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert len(list(out.glob("*.png"))) == 40
    assert f"{len(written)} skipped".encode() in resumed.stderr


def test_two_batches_into_one_folder_both_complete(tree, tmp_path):
    out = tmp_path / "out"
    args = [sys.executable, "-m", "nlmeans_cli", "batch", str(tree), str(out), "-r", "-j", "1",
            "-q", "--skip-existing"]
    first = subprocess.Popen(args, stderr=subprocess.PIPE)
    second = subprocess.Popen(args, stderr=subprocess.PIPE)
    first.communicate(timeout=300)
    second.communicate(timeout=300)
    assert first.returncode == second.returncode == 1  # the bad files
    assert _files(out) == GOOD
    for name in GOOD:
        assert iio.imread(out / name).shape == iio.imread(tree / name).shape


def test_worker_count_is_capped_at_the_files_and_the_cores():
    from nlmeans_cli.jobs.pool import worker_count

    assert worker_count(64, 100, cores=2) == 2
    assert worker_count(8, 3, cores=16) == 3
    assert worker_count(1, 0, cores=4) == 1
    assert worker_count(2, 10, cores=4) == 2


def test_an_empty_batch_is_a_usage_error_that_says_so(tmp_path):
    (tmp_path / "in").mkdir()
    result = runner.invoke(app, ["batch", str(tmp_path / "in"), str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "no images to denoise" in result.stderr and "--recursive" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_report_path_that_is_a_folder_is_refused_before_any_work(tmp_path, rng):
    source = tmp_path / "in"
    source.mkdir()
    iio.imwrite(source / "a.png", np.clip(128 + rng.normal(0, 20, (16, 16)), 0, 255)
                .astype(np.uint8))
    (tmp_path / "reports").mkdir()
    result = runner.invoke(app, ["batch", str(source), str(tmp_path / "out"),
                                 "--report", str(tmp_path / "reports")])
    assert result.exit_code == 2 and "is a folder" in result.stderr
    assert not (tmp_path / "out").exists()


def test_unreadable_subfolder_is_reported_failed(tree, tmp_path, monkeypatch):
    real_scandir = os.scandir
    locked = tree / "sub"

    def scandir(path="."):
        if os.fspath(path) == os.fspath(locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    # Permissions do not stop root, so the refusal is simulated where os.walk lists folders.
    monkeypatch.setattr(os, "scandir", scandir)
    report = tmp_path / "report.json"
    result = runner.invoke(app, ["batch", str(tree), str(tmp_path / "out"), "--recursive",
                                 "--sigma", "15", "-j", "1", "--report", str(report)])
    assert result.exit_code == 1
    assert f"{locked}: cannot read this folder (permission denied)" in result.stderr
    rows = json.loads(report.read_text())
    rows = rows["files"] if isinstance(rows, dict) else rows
    assert any(row["input"] == str(locked) and row["status"] == "failed" for row in rows)
