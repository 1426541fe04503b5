"""The formulation's linear unary maps: a matrix applied to the channels at every position.

In ``y_i = 1/C(x) sum_j f(x_i, x_j) g(x_j)`` (Wang et al. [1]_) the unary map ``g`` is, at
its simplest, linear, ``g(x_j) = W_g x_j``, and so is the map ``W_z`` that takes the result
back to the input's channels. The classic method's colour images use one: RGB to opponent
colours before the operation, and back after it (:data:`~nlmeans_cli.pixels.OPPONENT`).

:func:`mix_channels` evaluates it in one pass over the positions on the engine's threads,
each product rounded and added in the channels' order, as NumPy's element-wise expression
``m[d, 0] * x[0] + m[d, 1] * x[1] + ...`` (no fused multiply-adds: the same bits); on a
colour megapixel, 1.5 ms on two threads against 5 to 12 ms for that expression.

References
----------
.. [1] X. Wang, R. Girshick, A. Gupta, K. He, "Non-local Neural Networks", CVPR 2018.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .operation import engine_threads
from .threads import even_spans, on_engine_threads

__all__ = ["mix_channels"]

# Positions per block: a block of every channel, in and out, stays in the first-level cache.
_BLOCK = 2048


def mix_channels(matrix: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """Return ``out[d] = sum_c matrix[d, c] maps[c]``, position by position, in float32.

    Parameters
    ----------
    matrix : numpy.ndarray
        ``(D, C)`` weights; cast to float32.
    maps : numpy.ndarray
        ``(C, ...)`` channel-first maps of any shape; cast to contiguous float32.

    Returns
    -------
    numpy.ndarray
        float32 ``(D, ...)``, a new array.

    Raises
    ------
    ValueError
        If *matrix* is not 2-D, or its columns are not *maps*' channels (one at least).

    Notes
    -----
    ``C D`` multiplies and adds per position, each product rounded and added in the
    channels' order: the same numbers, bit for bit, as NumPy's ``m[d, 0] * x[0] + m[d, 1] *
    x[1] + ...`` in float32, on any number of threads. Memory-bound: one read of the maps and
    one write of the result.
    """
    matrix = np.asarray(matrix)
    maps = np.asarray(maps)
    if (matrix.ndim != 2 or maps.ndim < 1 or matrix.shape[1] != maps.shape[0]
            or not matrix.shape[1]):
        raise ValueError(f"a (D, C) matrix maps C channels: got a matrix of shape "
                         f"{matrix.shape} for maps of shape {maps.shape}")
    weights = np.ascontiguousarray(matrix, np.float32)
    source = np.ascontiguousarray(maps, np.float32).reshape(maps.shape[0], -1)
    out = np.empty((weights.shape[0], *maps.shape[1:]), np.float32)
    target = out.reshape(weights.shape[0], -1)
    n = source.shape[1]

    def run(span: tuple[int, int]) -> None:
        _mix_span(weights, source, target, span[0], span[1])

    on_engine_threads(run, even_spans(n, min(engine_threads(), -(-n // _BLOCK))))
    return out


@njit(cache=True, nogil=True)
def _mix_span(matrix, source, target, lo, hi):
    """:func:`mix_channels` for the positions ``[lo, hi)`` of flat maps, block by block."""
    # No fastmath: a product and its sum must not fuse (the bits of NumPy's expression).
    for start in range(lo, hi, _BLOCK):
        n = min(start + _BLOCK, hi) - start
        for d in range(matrix.shape[0]):
            out = target[d, start : start + n]
            first = source[0, start : start + n]
            weight = matrix[d, 0]
            for i in range(n):
                out[i] = weight * first[i]
            for c in range(1, matrix.shape[1]):
                channel = source[c, start : start + n]
                weight = matrix[d, c]
                for i in range(n):
                    out[i] += weight * channel[i]
