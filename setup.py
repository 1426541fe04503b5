"""The build that pyproject.toml declares, with one step added: the engine compiled ahead.

Everything about the package is in pyproject.toml; setuptools needs this file only for the
step. After copying the modules, the build compiles the versions of the engine's kernel that
nearly every run needs (:data:`nlmeans_cli.engine.ahead.AHEAD_VERSIONS`) in a process of its
own, from the copied package: Numba writes its cache beside the copied modules and the wheel
carries it, so that the first ``nlm`` run after ``pip install .`` loads the kernels rather
than compiling them (README, Set-up). Editable installs go without, and so does a build
where the step fails (no Numba in the build environment, say): the first run then compiles,
as it would have, and says so.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

# One version after the other: two processes at once would write the entries of one
# kernel's cache index together, which Numba does not guard against.
_COMPILE = ("from nlmeans_cli.engine.ahead import AHEAD_VERSIONS, compile_ahead\n"
            "for name in AHEAD_VERSIONS:\n"
            "    compile_ahead(name)\n")
# The compiles take about 15 s on 2 cores; a step that takes far longer is given up.
_TIMEOUT_S = 600


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _remove(package, pattern):
    for path in package.rglob(pattern):
        path.unlink()


class BuildWithKernels(build_py):
    """Copy the modules, then compile the kernels ahead into the copied package."""

    def run(self):
        """Run setuptools' step, then the compiles (not for an editable install)."""
        super().run()
        if self.dry_run or getattr(self, "editable_mode", False):
            return
        package = Path(self.build_lib) / "nlmeans_cli"
        # A cache left by an earlier build in the same folder would ride along unused.
        _remove(package, "*.nb[ci]")
        _remove(package, "*.nb[ci].tmp.*")
        # Numba writes beside the modules unless told otherwise.
        env = {name: value for name, value in os.environ.items() if name != "NUMBA_CACHE_DIR"}
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(self.build_lib).resolve())]
            + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        # A SIGTERM unwinds as Ctrl-C does, through the kill below.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        process = subprocess.Popen([sys.executable, "-c", _COMPILE], env=env)
        try:
            code = process.wait(timeout=_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            # Interrupted or given up: no compile outlives the build, nor a file it was
            # writing.
            if process.poll() is None:
                process.kill()
                process.wait()
            signal.signal(signal.SIGTERM, previous)
            _remove(package, "*.nb[ci].tmp.*")
        if code != 0:
            # The wheel is complete without them (Numba checks what it loads): a run compiles
            # what is missing.
            self.warn("the engine's kernels were not all compiled ahead; the first run "
                      "compiles what is missing")


setup(cmdclass={"build_py": BuildWithKernels})
