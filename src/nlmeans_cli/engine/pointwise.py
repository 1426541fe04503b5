"""The engine's kernel for a patch of one position (the learned network's non-local block).

With a patch of one position there are no box sums to share between neighbouring targets,
which is what the offset-outer algorithm of :mod:`.kernels` is built around; it would stream
every value map through the cache once per offset. :func:`nonlocal_pointwise_strips` turns the
loops round: each tile of targets along the last axis visits the whole search window while its
data stay in cache. The definitions (statistics, kernels, normalisers, the softmax shift, the
sums of deviations from the target's own value) are those of :mod:`.kernels`, and so are the
strip, cancel and progress conventions; each target's sums run over the offsets in the same
order whatever the strips and tiles, so results do not depend on the number of threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..formulation import (
    EXPONENTIAL_KERNEL,
    PRODUCT,
    SUM,
)
from .arithmetic import CUTOFF, FASTMATH, negative_exp, to_affinity, weights_vanish
from .kernels import add_channel_statistic

__all__ = ["POINTWISE_TILE", "nonlocal_pointwise_strips"]

# Numba's cache checks this module's own source only, not that of the functions it inlines
# from .arithmetic and .kernels: this digest of their sources (tests/test_layout.py checks it)
# changes this module's source whenever one of them changes, so that no kernel compiled from
# older ones is loaded from the cache (an install that replaced them alone would otherwise
# keep it).
_INLINED_DIGEST = "e71150f17cd0756e"


#: Targets per tile of :func:`nonlocal_pointwise_strips`: long enough that a sweep's start-up
#: is paid over many targets, short enough that the tile's affinities for a 9x9 window
#: (81 x 256 floats) and its accumulators stay in the core's L2 cache.
POINTWISE_TILE = 256


@njit(cache=True, fastmath=FASTMATH)
def _pair_statistic(left, right, statistic, row0, row1, column, t0, t1, t2, n, f):
    """``f[:n]``: the pair statistic summed over channels, four channels per sweep."""
    n_maps = left.shape[0]
    grouped = n_maps // 4 * 4 if statistic != SUM else 0
    for c in range(0, grouped, 4):
        a0 = left[c, row0, row1, column : column + n]
        a1 = left[c + 1, row0, row1, column : column + n]
        a2 = left[c + 2, row0, row1, column : column + n]
        a3 = left[c + 3, row0, row1, column : column + n]
        b0 = right[c, row0 + t0, row1 + t1, column + t2 : column + t2 + n]
        b1 = right[c + 1, row0 + t0, row1 + t1, column + t2 : column + t2 + n]
        b2 = right[c + 2, row0 + t0, row1 + t1, column + t2 : column + t2 + n]
        b3 = right[c + 3, row0 + t0, row1 + t1, column + t2 : column + t2 + n]
        if statistic == PRODUCT:
            if c == 0:
                for i in range(n):
                    f[i] = a0[i] * b0[i] + a1[i] * b1[i] + a2[i] * b2[i] + a3[i] * b3[i]
            else:
                for i in range(n):
                    f[i] += a0[i] * b0[i] + a1[i] * b1[i] + a2[i] * b2[i] + a3[i] * b3[i]
        else:
            for i in range(n):
                d0 = a0[i] - b0[i]
                d1 = a1[i] - b1[i]
                d2 = a2[i] - b2[i]
                d3 = a3[i] - b3[i]
                group = d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3
                f[i] = group if c == 0 else f[i] + group
    for c in range(grouped, n_maps):
        a = left[c, row0, row1, column : column + n]
        b = right[c, row0 + t0, row1 + t1, column + t2 : column + t2 + n]
        add_channel_statistic(a, b, statistic, c == 0, n, f)


@njit(cache=True, fastmath=FASTMATH)
def _pointwise_tile(left, right, values, out, search, statistic, kernel, normaliser, factor,
                    bias, inv_h2, n_positions, row0, row1, column, o0, o1, n, affinity, acc,
                    total, top):
    """Evaluate the operation for ``n`` targets along axis 2, the whole window at once.

    The targets start at padded ``(row0, row1, column)``; their results go to
    ``out[:, o0, o1, :n]`` (the caller passes the tile's slice). First every offset's
    affinities (``affinity[o, :n]``), then for the exponential kernel the largest logit per
    target, so that one exponential per weight needs no rescaling (the softmax's shift), then
    the sums, three offsets along axis 2 per sweep (one load and store of the sums for three
    terms).
    """
    s0, s1, s2 = search[0], search[1], search[2]
    w2 = 2 * s2 + 1
    n_values = values.shape[0]
    n_offsets = affinity.shape[0]
    peak = top[:n]
    peak[:] = -np.inf
    o = 0
    for t0 in range(-s0, s0 + 1):
        for t1 in range(-s1, s1 + 1):
            for t2 in range(-s2, s2 + 1):
                f = affinity[o, :n]
                o += 1
                _pair_statistic(left, right, statistic, row0, row1, column, t0, t1, t2, n, f)
                to_affinity(f, kernel, factor, bias, inv_h2, n)
                if kernel == EXPONENTIAL_KERNEL:
                    for i in range(n):
                        peak[i] = max(peak[i], f[i])
    if kernel == EXPONENTIAL_KERNEL:
        for o in range(n_offsets):
            f = affinity[o, :n]
            for i in range(n):
                away = peak[i] - f[i]
                f[i] = negative_exp(away) if away < CUTOFF else np.float32(0.0)
    weight_sum = total[:n]
    weight_sum[:] = 0.0
    acc[:, :n] = 0.0
    row_start = 0
    for t0 in range(-s0, s0 + 1):
        for t1 in range(-s1, s1 + 1):
            for j in range(0, w2, 3):
                k = min(3, w2 - j)
                fa = affinity[row_start + j, :n]
                fb = affinity[row_start + j + min(1, k - 1), :n]
                fc = affinity[row_start + j + min(2, k - 1), :n]
                if k == 3:
                    for i in range(n):
                        weight_sum[i] += fa[i] + fb[i] + fc[i]
                elif k == 2:
                    for i in range(n):
                        weight_sum[i] += fa[i] + fb[i]
                else:
                    for i in range(n):
                        weight_sum[i] += fa[i]
                start = column - s2 + j
                for m in range(n_values):
                    pa = values[m, row0 + t0, row1 + t1, start : start + n]
                    pb = values[m, row0 + t0, row1 + t1, start + 1 : start + 1 + n]
                    pc = values[m, row0 + t0, row1 + t1, start + 2 : start + 2 + n]
                    own = values[m, row0, row1, column : column + n]
                    target = acc[m, :n]
                    if k == 3:
                        for i in range(n):
                            target[i] += (fa[i] * (pa[i] - own[i]) + fb[i] * (pb[i] - own[i])
                                          + fc[i] * (pc[i] - own[i]))
                    elif k == 2:
                        for i in range(n):
                            target[i] += fa[i] * (pa[i] - own[i]) + fb[i] * (pb[i] - own[i])
                    else:
                        for i in range(n):
                            target[i] += fa[i] * (pa[i] - own[i])
            row_start += w2
    for m in range(n_values):
        own = values[m, row0, row1, column : column + n]
        result = out[m, o0, o1]
        for i in range(n):
            c = weight_sum[i]
            if normaliser == 1:
                scaled = np.float32(1.0) / n_positions
                if kernel == EXPONENTIAL_KERNEL:
                    scaled *= np.exp(peak[i])
                result[i] = (own[i] * c + acc[m, i]) * scaled
            elif not weights_vanish(c):
                result[i] = own[i] + acc[m, i] * (np.float32(1.0) / c)
            else:
                result[i] = own[i]


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def nonlocal_pointwise_strips(left, right, values, out, search, statistic, kernel, normaliser,
                              factor, bias, inv_h2, tile, strip, n_positions, lo1, grid1,
                              first_strip, n_run, cancel, done):
    """Evaluate the operation for a patch of one position on ``[first_strip, first_strip + n_run)``.

    Without box sums there is nothing to share between neighbouring targets, so the loops
    turn round: each tile of *tile* targets along axis 2 visits the whole window (radii
    *search*) while its data stay in cache, where the offset-outer algorithm would stream
    every value map through the cache once per offset. Each target's sums run over the
    offsets in the same order whatever the strips and tiles. ``done[s]`` counts finished
    rows in offsets' units, as :func:`nonlocal_strips` does.
    """
    n_values, n0, n1, n2 = out.shape
    pad0 = (left.shape[1] - n0) // 2
    pad1 = (left.shape[2] - grid1) // 2
    pad2 = (left.shape[3] - n2) // 2
    affinity = np.empty((n_positions, tile), np.float32)
    acc = np.empty((n_values, tile), np.float32)
    total = np.empty(tile, np.float32)
    top = np.empty(tile, np.float32)
    for k in range(n_run):
        s = first_strip + k
        lo = s * strip
        hi = min(lo + strip, n0)
        for p0 in range(lo, hi):
            if cancel[0] != 0:
                break
            for i1 in range(n1):
                for c in range(0, n2, tile):
                    n = min(tile, n2 - c)
                    _pointwise_tile(left, right, values, out[:, :, :, c : c + n], search,
                                    statistic, kernel, normaliser, factor, bias, inv_h2,
                                    n_positions, p0 + pad0, lo1 + i1 + pad1, c + pad2, p0, i1,
                                    n, affinity, acc, total, top)
            done[s] = (p0 - lo + 1) * max(n_positions - 1, 1) // (hi - lo)
