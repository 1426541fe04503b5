import os
import signal
import time

import imageio.v3 as iio
import numpy as np
import pytest
from typer.testing import CliRunner

from images import noisy_ramp
from nlmeans_cli import denoise
from nlmeans_cli.cli import app

distributed = pytest.importorskip("distributed")
pytest.importorskip("dask.array")

from nlmeans_cli.tiling import denoise_tiled  # noqa: E402

runner = CliRunner()


def test_scheduler_without_tile_is_a_usage_error(tmp_path, rng):
    source = tmp_path / "in.png"
    iio.imwrite(source, noisy_ramp(rng, (20, 20)))
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "o.png"),
                                 "--scheduler", "local"])
    assert result.exit_code == 2 and "--tile" in result.stderr


def test_unreachable_scheduler_is_one_line(tmp_path, rng):
    source = tmp_path / "in"
    source.mkdir()
    iio.imwrite(source / "a.png", noisy_ramp(rng, (20, 20)))
    result = runner.invoke(app, ["batch", str(source), str(tmp_path / "out"),
                                 "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "scheduler" in result.stderr and "Traceback" not in result.output


# --- a real cluster ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=":0") as local:
        yield local


@pytest.fixture
def folder(tmp_path, rng):
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    for k in range(6):
        iio.imwrite(source / ("sub" if k % 2 else ".") / f"{k}.png", noisy_ramp(rng, (64, 80)))
    (source / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    return source


def _tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_batch_on_a_cluster_is_byte_identical_to_local(cluster, folder, tmp_path):
    local = runner.invoke(app, ["batch", str(folder), str(tmp_path / "local"), "-r", "-q",
                                "-j", "1"])
    remote = runner.invoke(app, ["batch", str(folder), str(tmp_path / "remote"), "-r", "-q",
                                 "--scheduler", cluster.scheduler_address,
                                 "--report", str(tmp_path / "r.csv")])
    assert local.exit_code == remote.exit_code == 1  # the broken file, in both
    assert "broken.png" in remote.stderr
    assert len(_tree(tmp_path / "local")) == 6
    assert _tree(tmp_path / "remote") == _tree(tmp_path / "local")
    assert "6 processed, 0 skipped, 1 failed" in remote.stderr


def test_tiles_on_a_cluster_equal_the_whole(cluster, rng):
    image = noisy_ramp(rng, (100, 90))
    with distributed.Client(cluster.scheduler_address) as client:
        assert np.array_equal(denoise_tiled(image, tile=56, client=client), denoise(image))


def test_killed_worker_loses_nothing(tmp_path, rng):
    source = tmp_path / "in"
    source.mkdir()
    for k in range(16):
        iio.imwrite(source / f"{k:02d}.png", noisy_ramp(rng, (160, 160)))
    out = tmp_path / "out"
    args = ["batch", str(source), str(out), "-q", "--search-window", "21"]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=":0") as local, \
            distributed.Client(local) as client:
        pids = list(client.run(os.getpid).values())
        import threading

        def kill_one_when_started():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not list(out.glob("*.png")):
                time.sleep(0.01)
            os.kill(pids[0], signal.SIGKILL)
        killer = threading.Thread(target=kill_one_when_started)
        killer.start()
        result = runner.invoke(app, [*args, "--scheduler", local.scheduler_address])
        killer.join()
    def outputs():
        return sorted(p for p in out.iterdir() if not p.name.startswith("."))
    for path in outputs():  # every output is complete
        assert iio.imread(path).shape == (160, 160)
    # A SIGKILLed worker cannot remove its temporary file; that is all it may leave.
    assert all(".partial." in p.name for p in out.iterdir() if p.name.startswith("."))
    if result.exit_code != 0:  # a file that ran out of retries is reported, then resumed
        resumed = runner.invoke(app, [*args, "-j", "1", "--skip-existing"])
        assert resumed.exit_code == 0
    assert len(outputs()) == 16


def test_without_scheduler_or_tile_nothing_of_dask_is_imported(tmp_path, rng):
    import subprocess
    import sys

    source = tmp_path / "in"
    source.mkdir()
    iio.imwrite(source / "a.png", noisy_ramp(rng, (24, 24)))
    script = (
        "import sys\n"
        "from nlmeans_cli.cli import main\n"
        f"sys.argv = ['nlm', 'batch', {str(source)!r}, {str(tmp_path / 'out')!r}, '-q',"
        " '-j', '1']\n"
        "try:\n    main()\nexcept SystemExit as done:\n    assert not done.code, done.code\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in "
        "('dask', 'distributed')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
