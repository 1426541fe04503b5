"""The Numba kernels of the non-local operation (see :mod:`nlmeans_cli.engine`).

Each kernel takes contiguous float32 arrays and scalars only; :mod:`.operation` validates, pads
and calls them. :func:`nonlocal_strips` follows the offset-outer algorithm: for each offset
``t`` of the search window it forms the pair statistic between every position and its partner
at ``+t``, box-sums it over the patch with separable sums, turns it into the affinity ``f`` and
accumulates ``f * g`` and ``f``.

For a patch of one position (the learned network's block), :mod:`.pointwise` turns the loops
round instead.

Work is split into strips along the first axis; a thread owns a strip's output rows and its own
scratch planes. The kernel itself is serial and releases the GIL: :mod:`.operation` runs strips
on several Python threads at once (compiling a serial kernel takes half the time of Numba's
``parallel=True`` one, and loading it starts no threading layer).

With a symmetric statistic (``left is right``) half the offsets are visited and
each weight ``w(p, p + t)`` is also used as ``w(p + t, p)``; a strip then also computes the
statistic for the ``t0`` rows above it, whose partners lie inside the strip. A call runs the
strips ``[first_strip, first_strip + n_run)``. Each strip records the offsets it has visited
(the caller's progress) and stops between offsets once ``cancel[0]`` is set (its rows are
then undefined).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..formulation import EXPONENTIAL_KERNEL, GAUSSIAN_KERNEL, PRODUCT, SQUARED_DIFFERENCE
from .arithmetic import (
    CUTOFF,
    FASTMATH,
    negative_exp,
    to_affinity,
    two_strengths,
    weights_vanish,
)

__all__ = ["add_channel_statistic", "nonlocal_strips", "pair_ranges", "strip_sums"]

# Numba's cache checks this module's own source only, not that of the functions it inlines
# from .arithmetic: this digest of arithmetic.py (tests/test_layout.py checks it) changes this
# module's source whenever that one changes (as in .planar).
_INLINED_DIGEST = "f3f61ca338d4adc8"


@njit(cache=True, fastmath=FASTMATH)
def _statistic_plane(left, right, statistic, row_left, row_right, start1, start2, t1, t2, e1,
                     e2, plane):
    """Sum over channels of the pair statistic on one plane (before the box sums)."""
    # Rows are sliced before the pixel loops: an index that starts at zero lets LLVM prove
    # the accesses contiguous (no negative-index wraparound) and vectorise them.
    if statistic == SQUARED_DIFFERENCE and left.shape[0] == 3:
        # Colour: the three channels in one sweep, the plane stored once (the same sums,
        # in the same order, as channel by channel).
        for i1 in range(e1):
            row_a, row_b = start1 + i1, start1 + i1 + t1
            a0 = left[0, row_left, row_a, start2 : start2 + e2]
            a1 = left[1, row_left, row_a, start2 : start2 + e2]
            a2 = left[2, row_left, row_a, start2 : start2 + e2]
            b0 = right[0, row_right, row_b, start2 + t2 : start2 + t2 + e2]
            b1 = right[1, row_right, row_b, start2 + t2 : start2 + t2 + e2]
            b2 = right[2, row_right, row_b, start2 + t2 : start2 + t2 + e2]
            p = plane[i1, :e2]
            for i2 in range(e2):
                d0 = a0[i2] - b0[i2]
                d1 = a1[i2] - b1[i2]
                d2 = a2[i2] - b2[i2]
                p[i2] = d0 * d0 + d1 * d1 + d2 * d2
        return
    for c in range(left.shape[0]):
        for i1 in range(e1):
            a = left[c, row_left, start1 + i1, start2 : start2 + e2]
            b = right[c, row_right, start1 + i1 + t1, start2 + t2 : start2 + t2 + e2]
            add_channel_statistic(a, b, statistic, c == 0, e2, plane[i1, :e2])


@njit(cache=True, fastmath=FASTMATH)
def add_channel_statistic(a, b, statistic, first, n, out):
    """Add one channel's pair statistic of ``a[:n]`` and ``b[:n]`` to ``out[:n]``.

    The *first* channel sets the sums (0 + x is x: no sweep to clear them first).
    """
    if first and statistic == SQUARED_DIFFERENCE:
        for i in range(n):
            diff = a[i] - b[i]
            out[i] = diff * diff
    elif first and statistic == PRODUCT:
        for i in range(n):
            out[i] = a[i] * b[i]
    elif first:
        for i in range(n):
            out[i] = a[i] + b[i]
    elif statistic == SQUARED_DIFFERENCE:
        for i in range(n):
            diff = a[i] - b[i]
            out[i] += diff * diff
    elif statistic == PRODUCT:
        for i in range(n):
            out[i] += a[i] * b[i]
    else:
        for i in range(n):
            out[i] += a[i] + b[i]


@njit(cache=True, fastmath=FASTMATH)
def _box_plane(plane, r1, r2, m1, m2, k1, k2, scratch, out):
    """Sum a plane over ``[-r1, r1] x [-r2, r2]`` with weights ``k1 x k2`` into ``out[:m1, :m2]``.

    The loop over pixels is innermost everywhere, so that it vectorises. With weights of 1
    (a box) the products are exact, so the sums are those of an unweighted box.
    """
    inner = scratch if r1 > 0 else out
    # Without a second pass, axis 1's single weight joins axis 2's.
    along1 = k1[0] if r1 == 0 else np.float32(1.0)
    rows = plane.reshape(1, plane.shape[0], plane.shape[1])
    # Literal steps on purpose: Numba compiles _taps once per combination of literals, and
    # with them constant the sums run 2.6x faster than with the same values as int64.
    for i1 in range(m1 + 2 * r1):
        _taps(rows, 0, 0, 1, i1, 0, 0, 1, k2, along1, 2 * r2 + 1, m2, inner[i1])
    if r1 == 0:
        return
    # (Volumes only: by sweeps, which keeps one inlined copy of _taps fewer to compile.)
    columns = scratch.reshape(1, scratch.shape[0], scratch.shape[1])
    for i1 in range(m1):
        _taps_by_sweeps(columns, 0, 0, 1, i1, 1, 0, 0, k1, np.float32(1.0), 2 * r1 + 1, m2,
                        out[i1])


#: The most terms :func:`_taps` adds in one sweep (patch radius 5); more go by sweeps.
_UNROLLED = 11


@njit(cache=True, fastmath=FASTMATH)
def _taps(src, slot, slot_step, slots, row, row_step, column, column_step, weights, factor,
          n, m, out):
    """Add ``n`` weighted terms per pixel in one sweep: the weighted taps of a patch sum.

    ``out[i] = sum_k factor weights[k] src[j_k, row + k row_step, column + k column_step + i]``
    with ``j_k = (slot + k slot_step) % slots``, for ``k < n``, n odd. Up to
    :data:`_UNROLLED` terms in one sweep, added in order in registers, with one load per
    term and one store per pixel (a sweep per term would load and store the partial sum each
    time); more go to :func:`_taps_by_sweeps`. Indexing one array, not a view per term,
    keeps the loop free of aliasing checks.
    """
    if n > _UNROLLED:
        _taps_by_sweeps(src, slot, slot_step, slots, row, row_step, column, column_step,
                        weights, factor, n, m, out)
        return
    w0 = weights[0] * factor
    j0, r0, c0 = slot % slots, row, column
    w1 = weights[min(1, n - 1)] * factor
    j1, r1, c1 = (slot + slot_step) % slots, row + row_step, column + column_step
    w2 = weights[min(2, n - 1)] * factor
    j2, r2, c2 = (slot + 2 * slot_step) % slots, row + 2 * row_step, column + 2 * column_step
    w3 = weights[min(3, n - 1)] * factor
    j3, r3, c3 = (slot + 3 * slot_step) % slots, row + 3 * row_step, column + 3 * column_step
    w4 = weights[min(4, n - 1)] * factor
    j4, r4, c4 = (slot + 4 * slot_step) % slots, row + 4 * row_step, column + 4 * column_step
    w5 = weights[min(5, n - 1)] * factor
    j5, r5, c5 = (slot + 5 * slot_step) % slots, row + 5 * row_step, column + 5 * column_step
    w6 = weights[min(6, n - 1)] * factor
    j6, r6, c6 = (slot + 6 * slot_step) % slots, row + 6 * row_step, column + 6 * column_step
    w7 = weights[min(7, n - 1)] * factor
    j7, r7, c7 = (slot + 7 * slot_step) % slots, row + 7 * row_step, column + 7 * column_step
    w8 = weights[min(8, n - 1)] * factor
    j8, r8, c8 = (slot + 8 * slot_step) % slots, row + 8 * row_step, column + 8 * column_step
    w9 = weights[min(9, n - 1)] * factor
    j9, r9, c9 = (slot + 9 * slot_step) % slots, row + 9 * row_step, column + 9 * column_step
    w10 = weights[min(10, n - 1)] * factor
    j10, r10, c10 = ((slot + 10 * slot_step) % slots, row + 10 * row_step,
                     column + 10 * column_step)
    if n == 1:
        for i in range(m):
            out[i] = w0 * src[j0, r0, c0 + i]
    elif n == 3:
        for i in range(m):
            out[i] = (w0 * src[j0, r0, c0 + i] + w1 * src[j1, r1, c1 + i] +
                      w2 * src[j2, r2, c2 + i])
    elif n == 5:
        for i in range(m):
            out[i] = (w0 * src[j0, r0, c0 + i] + w1 * src[j1, r1, c1 + i] +
                      w2 * src[j2, r2, c2 + i] + w3 * src[j3, r3, c3 + i] +
                      w4 * src[j4, r4, c4 + i])
    elif n == 7:
        for i in range(m):
            out[i] = (w0 * src[j0, r0, c0 + i] + w1 * src[j1, r1, c1 + i] +
                      w2 * src[j2, r2, c2 + i] + w3 * src[j3, r3, c3 + i] +
                      w4 * src[j4, r4, c4 + i] + w5 * src[j5, r5, c5 + i] +
                      w6 * src[j6, r6, c6 + i])
    elif n == 9:
        for i in range(m):
            out[i] = (w0 * src[j0, r0, c0 + i] + w1 * src[j1, r1, c1 + i] +
                      w2 * src[j2, r2, c2 + i] + w3 * src[j3, r3, c3 + i] +
                      w4 * src[j4, r4, c4 + i] + w5 * src[j5, r5, c5 + i] +
                      w6 * src[j6, r6, c6 + i] + w7 * src[j7, r7, c7 + i] +
                      w8 * src[j8, r8, c8 + i])
    else:
        for i in range(m):
            out[i] = (w0 * src[j0, r0, c0 + i] + w1 * src[j1, r1, c1 + i] +
                      w2 * src[j2, r2, c2 + i] + w3 * src[j3, r3, c3 + i] +
                      w4 * src[j4, r4, c4 + i] + w5 * src[j5, r5, c5 + i] +
                      w6 * src[j6, r6, c6 + i] + w7 * src[j7, r7, c7 + i] +
                      w8 * src[j8, r8, c8 + i] + w9 * src[j9, r9, c9 + i] +
                      w10 * src[j10, r10, c10 + i])


@njit(cache=True, fastmath=FASTMATH)
def _taps_by_sweeps(src, slot, slot_step, slots, row, row_step, column, column_step, weights,
                    factor, n, m, out):
    """Compute what :func:`_taps` does with a sweep per term: any number of terms, less code."""
    weight = weights[0] * factor
    j = slot % slots
    for i in range(m):
        out[i] = weight * src[j, row, column + i]
    for k in range(1, n):
        weight = weights[k] * factor
        j, r, c = (slot + k * slot_step) % slots, row + k * row_step, column + k * column_step
        for i in range(m):
            out[i] += weight * src[j, r, c + i]


@njit(cache=True, fastmath=FASTMATH)
def _kernel_plane(ring, oldest, k0, kernel, m1, m2, scale, bias, inv_h2, inv_h2b, two,
                  squarings, weights):
    """Sum the ring of boxed planes along axis 0 (weights *k0*) and turn the sums into affinities.

    ``weights[0]`` receives the affinities; with *two* (Gaussian kernel), ``weights[1]`` also
    receives them for the second strength ``inv_h2b``, from the same sums. Where
    ``inv_h2 = 2 ** squarings * inv_h2b`` (*squarings* > 0), the first set is the second
    squared *squarings* times, ``exp(-2^n y) = exp(-y)^(2^n)``: one exponential per weight.

    The sum is formed afresh for every row (no running sum), from the oldest row of the ring
    (slot *oldest*) to the newest: rounding must depend neither on where a strip starts nor
    on where the array starts, so that results are the same for any number of threads and
    for an image cut into overlapping tiles. For the exponential kernel the result is the
    logit.
    """
    ring_len = ring.shape[0]
    for i1 in range(m1):
        w = weights[0, i1]
        _taps(ring, oldest, 1, ring_len, i1, 0, 0, 0, k0, np.float32(1.0), ring_len, m2, w)
        if kernel == GAUSSIAN_KERNEL and two:
            two_strengths(w, weights[1, i1], m2, scale, bias, inv_h2, inv_h2b, squarings)
        else:
            to_affinity(w, kernel, scale, bias, inv_h2, m2)


@njit(cache=True, fastmath=FASTMATH)
def _accumulate(weights, values, acc, wsum, peak, exponential, split, w1, w2, v_row, v1, v2,
                a_row, g_row, g1, g2, n1, n2, row_scratch):
    """Add ``f * (g_j - g_i)`` and ``f`` for an ``n1 x n2`` block of targets *i*.

    The block's weights start at ``weights[w1, w2]``, the partners' values ``g_j`` at padded
    ``(v_row, v1, v2)``, the targets' own values ``g_i`` at padded ``(g_row, g1, g2)`` and the
    targets at row *a_row* of the strip's accumulators. Summing deviations from
    ``g_i`` (added back at the end) keeps a constant image exactly constant and the sums
    small. The exponential kernel keeps a running maximum of the logits per target (an
    online softmax), so large logits never overflow; *row_scratch* ``(2, >= n2)`` holds a row's
    factors. Value channels from *split* on take the second set of weights, ``weights[1]``,
    and its sums ``wsum[1]``.
    """
    n_values = values.shape[0]
    if not exponential and n_values == 1:
        # One channel (grey): the weights are read once for both sums.
        for i1 in range(n1):
            w = weights[0, w1 + i1, w2 : w2 + n2]
            total = wsum[0, a_row, i1, :n2]
            partner = values[0, v_row, v1 + i1, v2 : v2 + n2]
            own = values[0, g_row, g1 + i1, g2 : g2 + n2]
            target = acc[0, a_row, i1, :n2]
            for i2 in range(n2):
                total[i2] += w[i2]
                target[i2] += w[i2] * (partner[i2] - own[i2])
        return
    if not exponential and n_values == 3 and split == 1:
        # Colour with a second strength for chroma: both sets of weights read once for the
        # three channels' sums.
        for i1 in range(n1):
            w = weights[0, w1 + i1, w2 : w2 + n2]
            w_chroma = weights[1, w1 + i1, w2 : w2 + n2]
            total = wsum[0, a_row, i1, :n2]
            total_chroma = wsum[1, a_row, i1, :n2]
            partner0 = values[0, v_row, v1 + i1, v2 : v2 + n2]
            partner1 = values[1, v_row, v1 + i1, v2 : v2 + n2]
            partner2 = values[2, v_row, v1 + i1, v2 : v2 + n2]
            own0 = values[0, g_row, g1 + i1, g2 : g2 + n2]
            own1 = values[1, g_row, g1 + i1, g2 : g2 + n2]
            own2 = values[2, g_row, g1 + i1, g2 : g2 + n2]
            target0 = acc[0, a_row, i1, :n2]
            target1 = acc[1, a_row, i1, :n2]
            target2 = acc[2, a_row, i1, :n2]
            for i2 in range(n2):
                total[i2] += w[i2]
                total_chroma[i2] += w_chroma[i2]
                target0[i2] += w[i2] * (partner0[i2] - own0[i2])
                target1[i2] += w_chroma[i2] * (partner1[i2] - own1[i2])
                target2[i2] += w_chroma[i2] * (partner2[i2] - own2[i2])
        return
    if not exponential:
        for i1 in range(n1):
            for set_ in range(2 if split < n_values else 1):
                w = weights[set_, w1 + i1, w2 : w2 + n2]
                total = wsum[set_, a_row, i1, :n2]
                for i2 in range(n2):
                    total[i2] += w[i2]
            for m in range(n_values):
                w = weights[0 if m < split else 1, w1 + i1, w2 : w2 + n2]
                partner = values[m, v_row, v1 + i1, v2 : v2 + n2]
                own = values[m, g_row, g1 + i1, g2 : g2 + n2]
                target = acc[m, a_row, i1, :n2]
                for i2 in range(n2):
                    target[i2] += w[i2] * (partner[i2] - own[i2])
        return
    for i1 in range(n1):
        logits = weights[0, w1 + i1, w2 : w2 + n2]
        top = peak[a_row, i1, :n2]
        total = wsum[0, a_row, i1, :n2]
        rescale = row_scratch[0, :n2]
        e = row_scratch[1, :n2]
        # Branch-free, so that the loops vectorise. One of the two factors is 1: the sums'
        # rescaling exp(top - new) when the logit raises the running maximum, else the
        # logit's own exp(logit - top); one exponential of -|logit - top| gives the other
        # (exp(-inf) = 0 starts the sums).
        for i2 in range(n2):
            rise = logits[i2] - top[i2]
            away = abs(rise)
            factor = negative_exp(away) if away < CUTOFF else np.float32(0.0)
            raised = rise > np.float32(0.0)
            rescale[i2] = factor if raised else np.float32(1.0)
            e[i2] = np.float32(1.0) if raised else factor
            top[i2] = max(top[i2], logits[i2])
            total[i2] = total[i2] * rescale[i2] + e[i2]
        for m in range(n_values):
            partner = values[m, v_row, v1 + i1, v2 : v2 + n2]
            own = values[m, g_row, g1 + i1, g2 : g2 + n2]
            target = acc[m, a_row, i1, :n2]
            for i2 in range(n2):
                target[i2] = target[i2] * rescale[i2] + e[i2] * (partner[i2] - own[i2])


@njit(cache=True)
def pair_ranges(lo, lo1, n1, n2, t0, t1, t2, both):
    """Return where the pairs of offset *t* that reach a target start, along each axis.

    ``(q_lo, b1, b1_hi, b2, b2_hi)``: the first row, and the ranges ``[b1, b1_hi)`` of the
    second axis and ``[b2, b2_hi)`` of the last, for a strip from row *lo* whose targets are
    ``[lo1, lo1 + n1)`` along the second axis. With *both* (a shared map's nonzero offset,
    whose weight also serves the pair ``(p + t, p)``, ``t0 >= 0``) they take in the positions
    above the strip, before or after the targets, or beyond the columns, whose partner at
    ``+t`` is a target; otherwise the targets alone.
    """
    if both:
        return (lo - t0, lo1 + min(0, -t1), lo1 + max(n1, n1 - t1), min(0, -t2),
                max(n2, n2 - t2))
    return lo, lo1, lo1 + n1, 0, n2


@njit(cache=True)
def strip_sums(s, strip, n0, n_values, sets, n1, n2):
    """Return strip *s*'s rows ``[lo, hi)`` of ``n0`` and its zeroed sums.

    The sums are ``acc`` ``(n_values, hi - lo, n1, n2)``, of ``f (g_j - g_i)``, and ``wsum``
    ``(sets, hi - lo, n1, n2)``, of the weights of each set: a strip's accumulators
    (:func:`~.planar.nonlocal_planar_strips` keeps the same sums with the second axis first).
    """
    lo = s * strip
    hi = min(lo + strip, n0)
    return (lo, hi, np.zeros((n_values, hi - lo, n1, n2), np.float32),
            np.zeros((sets, hi - lo, n1, n2), np.float32))


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def nonlocal_strips(left, right, values, out, offsets, patch, k0, k1, k2, statistic, kernel,
                    normaliser, scale, bias, inv_h2, inv_h2b, squarings, split, symmetric, strip,
                    n_positions, lo1, grid1, first_strip, n_run, cancel, done):
    """Evaluate the operation on the strips ``[first_strip, first_strip + n_run)``.

    ``done[s]`` counts the offsets strip ``s`` has visited; a strip stops between offsets
    once ``cancel[0]`` is non-zero.
    """
    # Targets are the positions [lo1, lo1 + n1) of axis 1, of length grid1.
    n_values, n0, n1, n2 = out.shape
    pad0 = (left.shape[1] - n0) // 2
    pad1 = (left.shape[2] - grid1) // 2
    pad2 = (left.shape[3] - n2) // 2
    r0, r1, r2 = patch[0], patch[1], patch[2]
    width1, width2 = left.shape[2], left.shape[3]
    ring_len = 2 * r0 + 1
    exponential = kernel == EXPONENTIAL_KERNEL
    sets = 2 if split < n_values else 1
    for k in range(n_run):
        s = first_strip + k
        lo, hi, acc, wsum = strip_sums(s, strip, n0, n_values, sets, n1, n2)
        rows = hi - lo
        peak = np.full((rows, n1, n2), -np.inf, np.float32)
        plane = np.empty((width1, width2), np.float32)
        scratch = np.empty((width1, width2), np.float32)
        ring = np.empty((ring_len, width1, width2), np.float32)
        weights = np.empty((sets, width1, width2), np.float32)
        row_scratch = np.empty((2, width2), np.float32)
        for o in range(offsets.shape[0]):
            if cancel[0] != 0:
                break
            done[s] = o
            t0, t1, t2 = offsets[o, 0], offsets[o, 1], offsets[o, 2]
            both = symmetric and o > 0
            q_lo, b1, b1_hi, b2, b2_hi = pair_ranges(lo, lo1, n1, n2, t0, t1, t2, both)
            m1 = b1_hi - b1
            m2 = b2_hi - b2
            first = q_lo - r0
            for a0 in range(first, hi + r0):
                _statistic_plane(left, right, statistic, a0 + pad0, a0 + pad0 + t0,
                                 b1 - r1 + pad1, b2 - r2 + pad2, t1, t2, m1 + 2 * r1,
                                 m2 + 2 * r2, plane)
                _box_plane(plane, r1, r2, m1, m2, k1, k2, scratch, ring[a0 % ring_len])
                if a0 - first < 2 * r0:
                    continue
                q = a0 - r0
                _kernel_plane(ring, (a0 + 1) % ring_len, k0, kernel, m1, m2, scale, bias,
                              inv_h2, inv_h2b, split < n_values, squarings, weights)
                if q >= lo:
                    _accumulate(weights, values, acc, wsum, peak, exponential, split,
                                lo1 - b1, -b2, q + t0 + pad0, lo1 + t1 + pad1, t2 + pad2,
                                q - lo, q + pad0, lo1 + pad1, pad2, n1, n2, row_scratch)
                if both and q + t0 < hi:
                    # Every target p + t takes the weight w(p, p + t); the source p itself
                    # may lie outside the targets, or in the reflected border.
                    _accumulate(weights, values, acc, wsum, peak, exponential, split,
                                lo1 - t1 - b1, -t2 - b2, q + pad0, lo1 + pad1 - t1, pad2 - t2,
                                q + t0 - lo, q + t0 + pad0, lo1 + pad1, pad2, n1, n2,
                                row_scratch)
        for r in range(rows):
            for i1 in range(n1):
                for i2 in range(n2):
                    for m in range(n_values):
                        c = wsum[0 if m < split else 1, r, i1, i2]
                        if normaliser == 1:
                            factor = np.float32(1.0) / n_positions
                            if exponential:
                                factor *= np.exp(peak[r, i1, i2])
                        elif not weights_vanish(c):
                            factor = np.float32(1.0) / c
                        else:
                            factor = np.float32(0.0)
                        own = values[m, lo + r + pad0, lo1 + i1 + pad1, i2 + pad2]
                        if normaliser == 1:
                            # sum_j f g_j = g_i sum_j f + sum_j f (g_j - g_i)
                            out[m, lo + r, i1, i2] = (own * c + acc[m, r, i1, i2]) * factor
                        else:
                            out[m, lo + r, i1, i2] = own + acc[m, r, i1, i2] * factor
