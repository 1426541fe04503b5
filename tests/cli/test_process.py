"""The ``nlm`` process keeps its start-up objects out of the cyclic collector's walks, and SciPy's
linear algebra out of Numba's start-up."""

import gc
import shutil
import subprocess
import sys

import numpy as np
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


# Run as `nlm`: at exit, say whether SciPy's linear algebra was imported, then import it (the
# mark that hid it during Numba's start-up is gone).
SCIPY_AT_EXIT = """
import atexit, sys

def report():
    print("scipy.linalg" in sys.modules)
    import scipy.linalg.cython_blas
    print(scipy.linalg.cython_blas is not None)

atexit.register(report)
sys.argv = ["nlm", *sys.argv[1:]]
from nlmeans_cli.cli import main
main()
"""


def test_nlm_starts_numba_without_scipys_linear_algebra(tmp_path, samples):
    import imageio.v3 as iio

    from nlmeans_cli import denoise

    source = samples / "camera_noisy.png"
    out = tmp_path / "out.png"
    done = subprocess.run([sys.executable, "-c", SCIPY_AT_EXIT, "denoise", str(source),
                           str(out), "-q"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
    # This process imported SciPy's BLAS before Numba started: the same result.
    np.testing.assert_array_equal(iio.imread(out), denoise(iio.imread(source)))


# A library's caller that asks for it: the same, and SciPy importable afterwards.
WITHOUT_SCIPY = """
import sys
import numpy as np
from nlmeans_cli.engine import start_numba_without_scipy
from nlmeans_cli import denoise
start_numba_without_scipy()
np.save(sys.argv[1], denoise(np.load(sys.argv[2]), sigma=0.1))
print("scipy.linalg" in sys.modules)
import scipy.linalg
print(scipy.linalg.cython_blas is not None)
"""


def test_numba_started_without_scipy_gives_the_same_results(tmp_path, rng):
    from nlmeans_cli import denoise

    image = rng.random((40, 50, 3), dtype=np.float32)
    np.save(tmp_path / "in.npy", image)
    done = subprocess.run([sys.executable, "-c", WITHOUT_SCIPY, str(tmp_path / "out.npy"),
                           str(tmp_path / "in.npy")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), denoise(image, sigma=0.1))


def test_starting_numba_again_changes_nothing():
    from nlmeans_cli.engine import nonlocal_operation, start_numba_without_scipy

    grid = np.ones((1, 4, 1, 4), np.float32)
    nonlocal_operation(grid, None, grid, affinity="gaussian", normaliser="sum",
                       patch_radius=(1, 0, 1), search_radius=(1, 0, 1), h=1.0)
    modules = dict(sys.modules)
    start_numba_without_scipy()
    assert dict(sys.modules) == modules
