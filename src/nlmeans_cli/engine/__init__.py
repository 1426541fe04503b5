"""The Numba engine that evaluates the non-local operation.

:func:`nonlocal_operation` (in :mod:`.operation`) is the public entry: it validates and pads
feature maps and runs the kernel :func:`~.kernels.nonlocal_strips` on strips of rows, on
:func:`engine_threads` threads. The kernel follows the offset-outer algorithm (Darbon et al.):
the cost is ``O(N * S)`` for ``N`` positions and ``S`` offsets, independent of the patch size.
A patch of one position (the network's block) takes
:func:`~.pointwise.nonlocal_pointwise_strips`, which visits the window tile by tile; classic
NL-means on images and clips (a shared map, the Gaussian kernel, the sum normaliser, a patch in
the image's plane) takes :func:`~.planar.nonlocal_planar_strips`, the same algorithm with each
row's steps written out as sweeps of their own, frame by frame. A linear unary map of the
channels (colour to opponent colours and back) is :func:`~.unary.mix_channels`.
"""

from .ahead import compile_ahead
from .arithmetic import FASTMATH
from .buffers import FrameCarry, Workspace, reflect_borders, reflect_padded
from .cache import announcing_compiles, in_cache, kernels_cached
from .operation import (
    engine_threads,
    nonlocal_operation,
    reporting_progress,
    search_offsets,
    set_engine_threads,
)
from .startup import start_numba_without_scipy
from .threads import even_spans, on_engine_threads
from .unary import mix_channels

__all__ = ["FASTMATH", "FrameCarry", "Workspace", "announcing_compiles", "compile_ahead",
           "engine_threads", "even_spans", "in_cache", "kernels_cached", "mix_channels",
           "nonlocal_operation", "on_engine_threads", "reflect_borders", "reflect_padded",
           "reporting_progress", "search_offsets", "set_engine_threads",
           "start_numba_without_scipy"]
