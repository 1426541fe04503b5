"""The Numba engine that evaluates the non-local operation.

:func:`nonlocal_operation` (in :mod:`.operation`) is the public entry: it validates and pads
feature maps and calls the parallel kernel :func:`~.kernels.nonlocal_strips`. The kernel
follows the offset-outer algorithm (Darbon et al.): the cost is ``O(N * S)`` for ``N``
positions and ``S`` offsets, independent of the patch size.
"""

from .kernels import FASTMATH
from .operation import (
    kernels_cached,
    nonlocal_operation,
    reporting_progress,
    search_offsets,
)

__all__ = ["FASTMATH", "kernels_cached", "nonlocal_operation", "reporting_progress",
           "search_offsets"]
