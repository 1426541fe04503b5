"""What the ``nlm`` process does for itself, and a caller of the app (a test) does not get.

Start-up makes objects that live as long as the process: the modules, Typer's commands, and
above all Numba's types, templates and dispatchers. Python's cyclic collector walks every
tracked object at each full collection, and a run of ``nlm denoise`` on a 512² PNG spent 0.12
to 0.13 s in collections, against 0.05 to 0.08 s for Numba's own floor (importing it and
loading one cached function). Frozen (:func:`gc.freeze`), they are left out of those walks;
they stay alive, as they would anyway. With the same parameters given, the command's time
above that floor went from +0.19 s to -0.03 s (eleven alternating rounds; docs/speed.md, Start-up).

Numba's start-up also imports SciPy's linear algebra, only to see whether it is installed;
the ``nlm`` process starts Numba without it (:func:`engine_loaded`).
"""

from __future__ import annotations

import gc

__all__ = ["engine_loaded", "own_process"]

#: Whether :func:`own_process` has run: this process is the ``nlm`` command.
_owned = False


def own_process() -> None:
    """Mark this process as the ``nlm`` command's and freeze what its start-up made so far."""
    global _owned
    _owned = True
    gc.freeze()


def engine_loaded() -> None:
    """Import the engine (Numba) and, in ``nlm``'s own process, freeze what it made.

    Notes
    -----
    Importing the engine takes about 0.3 s the first time in a process (Numba); the commands
    that run it would import it anyway. In ``nlm``'s own process Numba's start-up then runs
    without importing SciPy's linear algebra, which it only probes for
    (:func:`~nlmeans_cli.engine.start_numba_without_scipy`, about 0.2 s less). Freezing costs
    a walk of the tracked objects, about 1 ms.
    """
    from .. import engine

    if _owned:
        engine.start_numba_without_scipy()
        gc.freeze()
