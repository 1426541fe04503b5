"""The ``nlm`` process keeps its start-up objects out of the cyclic collector's walks."""

import gc
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from nlmeans_cli.cli import app

# Run as `nlm`: at exit, say whether Numba's and Typer's module namespaces (objects that
# start-up made) are tracked by the collector but outside its generations, that is frozen.
FROZEN_AT_EXIT = """
import atexit, gc, sys

def report():
    import numba.core.types, typer
    walked = {id(o) for o in gc.get_objects()}
    for module in (numba.core.types, typer):
        namespace = vars(module)
        print(module.__name__, gc.is_tracked(namespace) and id(namespace) not in walked)

atexit.register(report)
sys.argv = ["nlm", *sys.argv[1:]]
from nlmeans_cli.cli import main
main()
"""


@pytest.mark.parametrize("command", ["denoise", "batch"])
def test_nlm_freezes_what_its_start_up_made(tmp_path, samples, command):
    if command == "denoise":
        arguments = [str(samples / "camera_noisy.png"), str(tmp_path / "out.png")]
    else:
        # One job: the files are denoised in nlm's own process.
        folder = tmp_path / "in"
        folder.mkdir()
        shutil.copy(samples / "camera_noisy.png", folder)
        arguments = [str(folder), str(tmp_path / "out"), "--jobs", "1"]
    done = subprocess.run([sys.executable, "-c", FROZEN_AT_EXIT, command, *arguments, "-q"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["numba.core.types", "True", "typer", "True"]


def test_a_caller_of_the_app_keeps_its_collector_as_it_was(tmp_path, samples):
    frozen = gc.get_freeze_count()
    result = CliRunner().invoke(app, ["denoise", str(samples / "camera_noisy.png"),
                                      str(tmp_path / "out.png"), "-q"])
    assert result.exit_code == 0, result.output
    assert gc.get_freeze_count() == frozen
