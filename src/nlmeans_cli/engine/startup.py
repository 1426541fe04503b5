"""Numba's start-up in the package's own processes, without SciPy's linear algebra.

The first time a process compiles or loads a kernel, Numba installs its implementations of
NumPy's functions. One of their modules, ``numba.np.arraymath``, imports
``scipy.linalg.cython_blas`` only to learn whether a BLAS is at hand (``np.convolve`` and
``np.correlate`` in jitted code then take their inner products from it), and that import
runs all of ``scipy.linalg``'s: 0.1 to 0.3 s of every ``nlm`` run, for functions no kernel
of the package calls. :func:`start_numba_without_scipy` imports that module while SciPy's
BLAS module reads as not installed, then lets it import again: Numba's own check finds no
BLAS and those two functions use their own loops in this process; nothing of Numba is
changed, and SciPy imports as usual for whatever needs it later.
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["start_numba_without_scipy"]

# The module of Numba's start-up that probes, and the module it imports only to see whether
# it is installed.
_PROBING = "numba.np.arraymath"
_PROBED = "scipy.linalg.cython_blas"


def start_numba_without_scipy() -> None:
    """Import Numba's NumPy implementations while the module they only probe for is hidden.

    Meant for a process of the package's own (``nlm``, a batch worker), before its first
    kernel: a library's caller keeps Numba as it would be without the package.

    Notes
    -----
    A module is hidden by ``None`` in :data:`sys.modules`, which is how Python marks a module
    that must not be imported (an import of it raises ``ImportError``); the mark is removed
    afterwards. Where either module is already imported (a kernel ran, or SciPy's linear
    algebra was wanted first), nothing changes. Costs nothing beyond the import that
    the first kernel would make anyway; saves importing ``scipy.linalg`` (about 0.2 s on 2
    cores).
    """
    if _PROBING in sys.modules or _PROBED in sys.modules:
        return
    sys.modules[_PROBED] = None
    try:
        importlib.import_module(_PROBING)
    finally:
        if sys.modules.get(_PROBED, False) is None:
            del sys.modules[_PROBED]
