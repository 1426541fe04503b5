"""The engine's kernel for NL-means on images and clips: the steps of a row in a few sweeps.

:func:`nonlocal_planar_strips` computes what :func:`~.kernels.nonlocal_strips` computes, for
the classic case only: a map shared by both sides (the symmetric squared difference, half the
offsets), the Gaussian kernel, the sum normaliser, and a patch that lies in the plane of the
first and last axes (an image; several side by side along the second axis, each searched on
its own; or a clip's frames, searched across frames too). Its maps lie with the second axis
first, so that a frame's rows are contiguous, and it works frame by frame: for each frame,
every offset of the window, a pair's sums landing in that frame and its partner's (a clip's
time against the general kernel's, which handles all of a row's frames in each sweep: 0.77x
grey, 0.88x colour). Each row of an offset goes through the statistic and its weighted sum
along the row, each a sweep of its own; the weighted sums of the ring of rows come two rows
at a time (one sweep reads the patch's rows and one more); then for each row one sweep
turns the sums into weights and adds ``f (g_j - g_i)`` and ``f`` to both sides of every pair
(the partner's term is the same number negated), each value channel at its own strength (a
grey image, or the SURE search's two strengths of one). Colour with its chroma at twice h or
four times visits the window's offsets in groups of four along the row, each side's sums
added once per group (:mod:`.groups`): 0.82x the time of one offset a sweep. Colour at one
strength forms its weights in the sweep that adds its three channels; otherwise, with
channels sharing strengths, the weights are written first (with their sums) and each
channel's terms added in a sweep of its own. Every sweep indexes one-dimensional rows from
zero, and the sums' rows have spare columns either side and two spare rows below, so that a
sweep adds to both sides over all of a row's pairs, the terms that reach no target landing
in the spares: with the weights formed in the adding sweep, a grey image takes 0.87x the
time of separate sweeps for the weights, the deviations and each side's sums, identical
results. Two sides in one row (the offsets along the row) take a pass each: a sweep whose
rows overlap falls back to scalar code. Against the general kernel, written for any grid and
any statistic, it took 7 to 19 % less time on a
1024x1024 image before that, and compiles in half the time.

Sums are formed afresh for every row, in a fixed order, as in :mod:`.kernels`: results do not
depend on the strips, the threads, the tiles or a clip's frames per call. The strip, cancel and
progress conventions are those of :mod:`.kernels`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .arithmetic import FASTMATH, exponent_factors, gaussian_weight, weights_vanish
from .groups import GROUP, STRIDE, add_group_own, add_group_partner, add_single
from .kernels import pair_ranges

__all__ = ["PLANAR_TAPS", "nonlocal_planar_strips"]

# Numba's cache checks this module's own source only, not that of the functions it inlines
# from .arithmetic, .kernels and .groups: this digest of their sources (tests/test_layout.py
# checks it) changes this module's source whenever one of them changes, so that no kernel
# compiled from older ones is loaded from the cache (an install that replaced them alone
# would otherwise keep it).
_INLINED_DIGEST = "9d6dd3adb32b7002"

#: The patch sides the planar kernel's sums are written out for. Other sides up to the last
#: take the next one, their weights padded with zeros (the same sums: each zero term adds
#: exactly nothing); longer patches take the general kernel. The first run's compile grows
#: with the terms written out (about 0.03 s a term in each of the two sums, whatever sides
#: the run uses): 11 is left out, taking 13 at 1.08x the time.
PLANAR_TAPS = (3, 5, 7, 9, 13)

# The sums along rows and across the ring are written out here for one-dimensional rows and a
# two-dimensional ring, rather than calling the general kernel's taps (three-dimensional
# indexing, any slot and step): with those, in one process, the same outputs came 4 % slower
# for grey, 8 to 14 % slower for the defaults' short SURE rows, and the first compile took
# 6.8 s against 5.0 s.
#
# The helpers take the parent arrays and where a row starts, and slice them themselves: a view
# made in the kernel and handed to a helper costs an atomic increment and decrement of its
# parent's reference count, once per row and offset (Numba's runtime; the threads share the
# maps'), where a view made and dropped inside the helper costs nothing. Colour took 0.93x
# the time and grey 0.97x, identical outputs. The adding helpers each slice their pair's
# rows, in the same few lines: a helper that returned the views would hand them on again.
# (One returning the twelve rows of colour at one strength took it 1.04x the time.)


@njit(cache=True)
def _terms(weights, n):
    """Return the written-out sums' thirteen weights: ``weights[:n]``, then the last repeated.

    Terms past *n* are never read; repeating the last keeps their indices inside the array.
    """
    last = n - 1
    return (weights[0], weights[min(1, last)], weights[min(2, last)], weights[min(3, last)],
            weights[min(4, last)], weights[min(5, last)], weights[min(6, last)],
            weights[min(7, last)], weights[min(8, last)], weights[min(9, last)],
            weights[min(10, last)], weights[min(11, last)], weights[min(12, last)])


@njit(cache=True, fastmath=FASTMATH)
def _row_taps(src, weights, n, m, ring, slot):
    """``ring[slot, i] = sum_k weights[k] src[i + k]`` for ``i < m`` (n in :data:`PLANAR_TAPS`)."""
    out = ring[slot]
    w0, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11, w12 = _terms(weights, n)
    if n == 3:
        for i in range(m):
            out[i] = w0 * src[i] + w1 * src[i + 1] + w2 * src[i + 2]
    elif n == 5:
        for i in range(m):
            out[i] = (w0 * src[i] + w1 * src[i + 1] + w2 * src[i + 2] + w3 * src[i + 3]
                      + w4 * src[i + 4])
    elif n == 7:
        for i in range(m):
            out[i] = (w0 * src[i] + w1 * src[i + 1] + w2 * src[i + 2] + w3 * src[i + 3]
                      + w4 * src[i + 4] + w5 * src[i + 5] + w6 * src[i + 6])
    elif n == 9:
        for i in range(m):
            out[i] = (w0 * src[i] + w1 * src[i + 1] + w2 * src[i + 2] + w3 * src[i + 3]
                      + w4 * src[i + 4] + w5 * src[i + 5] + w6 * src[i + 6]
                      + w7 * src[i + 7] + w8 * src[i + 8])
    else:
        for i in range(m):
            out[i] = (w0 * src[i] + w1 * src[i + 1] + w2 * src[i + 2] + w3 * src[i + 3]
                      + w4 * src[i + 4] + w5 * src[i + 5] + w6 * src[i + 6]
                      + w7 * src[i + 7] + w8 * src[i + 8] + w9 * src[i + 9]
                      + w10 * src[i + 10] + w11 * src[i + 11] + w12 * src[i + 12])


@njit(cache=True, fastmath=FASTMATH)
def _ring_taps(ring, member, oldest, weights, n, m, first_rows, second_rows, at):
    """Sum a member's ring for two rows of outputs: from slot *oldest*, and the slot after it.

    ``first_rows[0, at + i] = sum_k weights[k] ring[member * slots + (oldest + k) % slots,
    i]`` and ``second_rows[0, at + i]`` the same from ``oldest + 1``, for ``i < m``, each in
    order (n in :data:`PLANAR_TAPS`; each member's ring holds ``slots = n + 1`` rows). The
    two sums share ``n`` of their ``n + 1`` rows' loads: on a Zen 3, grey 0.89x the time of
    one row's sum per sweep.
    """
    first = first_rows[0, at : at + m]
    second = second_rows[0, at : at + m]
    slots = n + 1
    own = ring[member * slots : (member + 1) * slots]
    w0, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11, w12 = _terms(weights, n)
    j0, j1, j2, j3 = oldest % slots, (oldest + 1) % slots, (oldest + 2) % slots, (
        oldest + 3) % slots
    j4, j5, j6, j7 = ((oldest + 4) % slots, (oldest + 5) % slots, (oldest + 6) % slots,
                      (oldest + 7) % slots)
    j8, j9, j10 = (oldest + 8) % slots, (oldest + 9) % slots, (oldest + 10) % slots
    j11, j12, j13 = (oldest + 11) % slots, (oldest + 12) % slots, (oldest + 13) % slots
    if n == 3:
        for i in range(m):
            r0, r1, r2, r3 = own[j0, i], own[j1, i], own[j2, i], own[j3, i]
            first[i] = w0 * r0 + w1 * r1 + w2 * r2
            second[i] = w0 * r1 + w1 * r2 + w2 * r3
    elif n == 5:
        for i in range(m):
            r0, r1, r2, r3 = own[j0, i], own[j1, i], own[j2, i], own[j3, i]
            r4, r5 = own[j4, i], own[j5, i]
            first[i] = w0 * r0 + w1 * r1 + w2 * r2 + w3 * r3 + w4 * r4
            second[i] = w0 * r1 + w1 * r2 + w2 * r3 + w3 * r4 + w4 * r5
    elif n == 7:
        for i in range(m):
            r0, r1, r2, r3 = own[j0, i], own[j1, i], own[j2, i], own[j3, i]
            r4, r5, r6, r7 = own[j4, i], own[j5, i], own[j6, i], own[j7, i]
            first[i] = w0 * r0 + w1 * r1 + w2 * r2 + w3 * r3 + w4 * r4 + w5 * r5 + w6 * r6
            second[i] = w0 * r1 + w1 * r2 + w2 * r3 + w3 * r4 + w4 * r5 + w5 * r6 + w6 * r7
    elif n == 9:
        for i in range(m):
            r0, r1, r2, r3 = own[j0, i], own[j1, i], own[j2, i], own[j3, i]
            r4, r5, r6, r7 = own[j4, i], own[j5, i], own[j6, i], own[j7, i]
            r8, r9 = own[j8, i], own[j9, i]
            first[i] = (w0 * r0 + w1 * r1 + w2 * r2 + w3 * r3 + w4 * r4 + w5 * r5 + w6 * r6
                        + w7 * r7 + w8 * r8)
            second[i] = (w0 * r1 + w1 * r2 + w2 * r3 + w3 * r4 + w4 * r5 + w5 * r6 + w6 * r7
                         + w7 * r8 + w8 * r9)
    else:
        for i in range(m):
            r0, r1, r2, r3 = own[j0, i], own[j1, i], own[j2, i], own[j3, i]
            r4, r5, r6, r7 = own[j4, i], own[j5, i], own[j6, i], own[j7, i]
            r8, r9, r10, r11 = own[j8, i], own[j9, i], own[j10, i], own[j11, i]
            r12, r13 = own[j12, i], own[j13, i]
            first[i] = (w0 * r0 + w1 * r1 + w2 * r2 + w3 * r3 + w4 * r4 + w5 * r5 + w6 * r6
                        + w7 * r7 + w8 * r8 + w9 * r9 + w10 * r10 + w11 * r11 + w12 * r12)
            second[i] = (w0 * r1 + w1 * r2 + w2 * r3 + w3 * r4 + w4 * r5 + w5 * r6 + w6 * r7
                         + w7 * r8 + w8 * r9 + w9 * r10 + w10 * r11 + w11 * r12 + w12 * r13)


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def nonlocal_planar_strips(left, values, out, offsets, groups, k0, k2, scale, bias, inv_h2,
                           inv_h2b, squarings, split, strip, lo1, grid1, visits_lo, visits_hi,
                           sums_in, sums_out, first_strip, n_run, cancel, done):
    """Evaluate the classic operation on the strips ``[first_strip, first_strip + n_run)``.

    *left* ``(K, grid1 + 2 s1, n0 + 2 p0, n2 + 2 p2)`` and *values* ``(M, ...)`` hold the
    grid's second axis first (a clip's frames), padded by the search radius ``s1`` only (the
    patch lies in the plane), the first axis by patch and search radius, the last by those
    and ``GROUP - 1`` more (:mod:`.groups`); *out* is ``(M, n0, n1, n2)`` in the grid's
    order; *offsets* is the half window (the zero offset first, ``t0 >= 0``), visited by
    *groups*, rows ``(first, count)``: the offsets ``[first, first + count)``, which are
    ``(t0, t1, t2 + g)`` for ``g < count`` (:func:`~.operation.offset_groups`; ``count`` is 1
    but in the squared version, up to :data:`~.groups.GROUP`, and the zero offset is alone);
    *k0* and *k2* are the patch weights along the first and last
    axes (*k2* already times the second axis' single weight). The sums are kept for the
    positions ``[lo1, lo1 + n1 + c)`` of the second axis (a clip's frames), ``c`` being
    ``sums_out.shape[1]``; the first ``n1`` are finished into *out* (the targets), the last
    ``c`` left in *sums_out* for a later call. Only the frames ``[visits_lo, visits_hi)`` are
    visited (each over the whole window); *sums_in* holds what earlier visits added to the
    first frames (``(M + sets, c_in, n0, n2)``, the value sums, then the weight sums of each
    set), and *sums_out* receives the same for the last. ``done[s]`` counts the offsets strip
    ``s`` has visited; a strip stops between offsets once ``cancel[0]`` is non-zero. An
    *out* of ``M + 1`` channels receives the first set's weight sums in its last.

    The value channels from *split* on take the second strength *inv_h2b* (one strength
    when it is ``M``). *split* is ``None`` when each value channel has a strength of its own:
    one channel (a grey image) or two (two strengths of a grey image, as the SURE search
    runs them). *inv_h2* is ``None`` when the first strength is the second's times
    ``2 ** squarings`` (1 to 4), whose weights are then the second's squared *squarings*
    times, for three value channels with *split* 1 and three maps in *left* (colour with the
    chroma at twice h); *squarings* is ``None`` in the other versions.
    Numba removes the branches that test the three against ``None`` before it types the rest,
    so that each version compiles its own sweeps only: a grey image's first run compiles
    about 1 s less than with all of them, a colour one's about 0.6 s less.
    """
    n_values = values.shape[0]
    n0, n1, n2 = out.shape[1:]
    n_sums = n1 + sums_out.shape[1]
    n_maps = left.shape[0]
    pad0 = (left.shape[2] - n0) // 2
    pad1 = (left.shape[1] - grid1) // 2
    pad2 = (left.shape[3] - n2) // 2
    width = left.shape[3]
    taps0, taps2 = k0.shape[0], k2.shape[0]
    r0, r2 = taps0 // 2, taps2 // 2
    hi1 = lo1 + n_sums
    # (The tests of split against None stay in the branches' conditions, where Numba can
    # evaluate them from the argument's type.)
    second_from = 1 if split is None else split
    sets = 2 if second_from < n_values else 1
    for k in range(n_run):
        s = first_strip + k
        lo = s * strip
        hi = min(lo + strip, n0)
        rows = hi - lo
        # The value sums, then the weight sums of each set (as the carried sums). Their rows
        # have pad2 spare columns either side, and two spare rows follow the strip's: a sweep
        # over all of a row's pairs then adds to both sides at once, the terms that reach no
        # target landing there (never read).
        # One flat array, each sum's rows at ``m * block + frame * plane + row * row_len``:
        # a four-dimensional one took Numba 0.4 s more to compile (its zeroing and indexing).
        row_len = n2 + 2 * pad2
        plane = (rows + 2) * row_len
        block = n_sums * plane
        first_set = n_values * block  # where the weight sums start
        # Zeroed by elements, as the ring below: np.zeros is one more function to compile.
        sums = np.empty((n_values + sets) * block, np.float32)
        for i in range(sums.shape[0]):
            sums[i] = 0.0
        # Earlier visits' sums, exact: the later visits add to them in the order of one call.
        # (Element loops: Numba compiles an array assignment's broadcasting at length.)
        for i1 in range(sums_in.shape[1]):
            for r in range(rows):
                for m in range(n_values + sets):
                    source = sums_in[m, i1, lo + r]
                    at = m * block + i1 * plane + r * row_len + pad2
                    for i2 in range(n2):
                        sums[at + i2] = source[i2]
        statistic = np.empty(width, np.float32)
        # A ring for each member of a group of offsets (one but in the squared version), each
        # with one slot more than the patch's rows: two rows' sums come from one sweep.
        # Zeroed, so that a lone row's unused second sum reads numbers.
        slots = (GROUP if squarings is not None else 1) * (taps0 + 1)
        ring = np.empty((slots, width), np.float32)
        for slot in range(slots):
            for i in range(width):
                ring[slot, i] = 0.0
        # The patch sums, then (but grey) the weights of each strength.
        weights = np.empty((3, width), np.float32)
        next_weights = np.empty((3, width), np.float32)  # the same for the row after
        if squarings is not None:
            # The squared version's groups: each member's patch sums STRIDE apart (for this
            # row and the next), its weights at both strengths, GROUP - 1 zeros before each
            # row; its values flat (a frame, a channel) and each sum a view of its own; the
            # factors of its exponents. (Here, not for every version: grey's compile.)
            group_sums = np.empty((1, GROUP * STRIDE), np.float32)
            next_group_sums = np.empty((1, GROUP * STRIDE), np.float32)
            group_weights = np.empty(2 * GROUP * STRIDE, np.float32)
            for row in range(2 * GROUP):
                for k in range(GROUP - 1):
                    group_weights[row * STRIDE + k] = 0.0
            flat = values.reshape(values.size)
            frame, channel = values.shape[2] * width, values.shape[1] * values.shape[2] * width
            sum_l, sum_a = sums[:block], sums[block : 2 * block]
            sum_b, sum_f = sums[2 * block : 3 * block], sums[first_set : first_set + block]
            sum_e = sums[first_set + block : first_set + 2 * block]
            slope_b, offset_b = exponent_factors(scale, bias, inv_h2b)
            slope, offset = exponent_factors(scale, bias, inv_h2b * np.float32(2**squarings))
        # Frame by frame (a still has one), each over the whole window: the sums of a pair
        # land in its own frame and its partner's, so a step keeps two frames in cache.
        n_frames = visits_hi - visits_lo
        n_offsets = offsets.shape[0]
        for f in range(n_frames):
            i1 = visits_lo + f
            for group in range(groups.shape[0]):
                if cancel[0] != 0:
                    break
                o, count = groups[group, 0], groups[group, 1]
                done[s] = (f * n_offsets + o) // n_frames
                t0, t1, t2 = offsets[o, 0], offsets[o, 1], offsets[o, 2]
                both = o > 0
                q_lo, b1, b1_hi, b2, b2_hi = pair_ranges(lo, lo1, n_sums, n2, t0, t1, t2,
                                                         both)
                # A group's members are offsets t2, t2 + 1, ...: their columns together.
                b2 = min(b2, -offsets[o + count - 1, 2])
                if not b1 <= i1 < b1_hi:
                    continue
                m2 = b2_hi - b2
                e2 = m2 + 2 * r2
                c0 = b2 - r2 + pad2
                first = q_lo - r0
                if squarings is not None:
                    # Members past the last offset: infinite patch sums, zero weights.
                    for member in range(count, GROUP):
                        for i in range(m2):
                            group_sums[0, member * STRIDE + i] = np.inf
                            next_group_sums[0, member * STRIDE + i] = np.inf
                # The pair's frames in the padded maps (a clip's; a still has one).
                own_frame, partner_frame = i1 + pad1, i1 + t1 + pad1
                for a0 in range(first, hi + r0):
                    # Slices taken before the sweeps start at index zero, which lets LLVM
                    # prove them contiguous (no negative-index wraparound) and vectorise.
                    d = statistic[:e2]
                    own_row, partner_row = a0 + pad0, a0 + pad0 + t0
                    for member in range(count):
                        c2 = c0 + t2 + member
                        # Colour's three maps in one sweep, the row of differences through
                        # memory once, not three times: colour 0.97x the time. The squared
                        # version (three maps) compiles this loop only, the grey version the
                        # other only (each prunes the test of its None argument).
                        if split is not None and (inv_h2 is None or n_maps == 3):
                            a_0 = left[0, own_frame, own_row, c0 : c0 + e2]
                            b_0 = left[0, partner_frame, partner_row, c2 : c2 + e2]
                            a_1 = left[1, own_frame, own_row, c0 : c0 + e2]
                            b_1 = left[1, partner_frame, partner_row, c2 : c2 + e2]
                            a_2 = left[2, own_frame, own_row, c0 : c0 + e2]
                            b_2 = left[2, partner_frame, partner_row, c2 : c2 + e2]
                            for i in range(e2):
                                diff_0 = a_0[i] - b_0[i]
                                diff_1 = a_1[i] - b_1[i]
                                diff_2 = a_2[i] - b_2[i]
                                d[i] = diff_0 * diff_0 + diff_1 * diff_1 + diff_2 * diff_2
                        elif inv_h2 is not None:
                            for c in range(n_maps):
                                a = left[c, own_frame, own_row, c0 : c0 + e2]
                                b = left[c, partner_frame, partner_row, c2 : c2 + e2]
                                if c == 0:
                                    for i in range(e2):
                                        diff = a[i] - b[i]
                                        d[i] = diff * diff
                                else:
                                    for i in range(e2):
                                        diff = a[i] - b[i]
                                        d[i] += diff * diff
                        _row_taps(statistic, k2, taps2, m2, ring,
                                  member * (taps0 + 1) + a0 % (taps0 + 1))
                    if a0 - first < 2 * r0:
                        continue
                    # Rows' ring sums two at a time: an even-numbered row waits for the next
                    # one (the last row of all goes alone). (Not k: the strips' counter.)
                    row_number = a0 - first - 2 * r0
                    if row_number % 2 == 0 and a0 < hi + r0 - 1:
                        continue
                    n_rows = 2 if row_number % 2 == 1 else 1
                    # (One call for both versions' destinations: two compiled it twice. A
                    # member is 0 but in a group.)
                    for member in range(count):
                        _ring_taps(ring, member, a0 + 3 - n_rows, k0, taps0, m2,
                                   group_sums if squarings is not None
                                   else weights,
                                   next_group_sums if squarings is not None
                                   else next_weights, member * STRIDE)
                    for row_ in range(n_rows):
                        q = a0 - r0 - n_rows + 1 + row_
                        own_side = q >= lo and lo1 <= i1 < hi1
                        partner_side = both and q + t0 < hi and lo1 <= i1 + t1 < hi1
                        if not (own_side or partner_side):
                            continue
                        if inv_h2 is None:
                            # Colour, the luminance's weights the chroma's squared: a group of
                            # offsets at once, each side's sums in a sweep of its own
                            # (.groups), the own side's first; a side that reaches no target
                            # adds to its spare row. (squarings is never None here: testing
                            # it drops the groups from the other versions, as inv_h2 drops
                            # what follows from this one.)
                            if squarings is not None:
                                own_at = pad2 + b2 + ((i1 - lo1) * plane + (q - lo) * row_len
                                                      if own_side else rows * row_len)
                                partner_at = pad2 + b2 + t2 + (
                                    (i1 + t1 - lo1) * plane + (q + t0 - lo) * row_len
                                    if partner_side else (rows + 1) * row_len)
                                own = own_frame * frame + (q + pad0) * width + b2 + pad2
                                partner = (partner_frame * frame + (q + pad0 + t0) * width
                                           + b2 + pad2 + t2)
                                row_sums = group_sums if row_ == 0 else next_group_sums
                                if count == 1:
                                    add_single(row_sums, m2, slope_b, offset_b, slope, offset,
                                               squarings, group_weights, flat, own, partner,
                                               channel, sum_l, sum_a, sum_b, sum_f, sum_e,
                                               own_at, partner_at)
                                    continue
                                add_group_own(row_sums, m2, slope_b, offset_b, slope, offset,
                                              squarings, group_weights, flat, own, partner,
                                              channel, sum_l, sum_a, sum_b, sum_f, sum_e,
                                              own_at)
                                add_group_partner(m2, group_weights, flat, own, partner,
                                                  channel, sum_l, sum_a, sum_b, sum_f, sum_e,
                                                  partner_at)
                            continue
                        row_weights = weights if row_ == 0 else next_weights
                        # Where the pair's values start (frame, row, column).
                        own_pixel = (own_frame, q + pad0, b2 + pad2)
                        partner_pixel = (partner_frame, q + pad0 + t0, b2 + pad2 + t2)
                        # f (g_j - g_i) at i, and its negative (exactly) at its partner
                        # j = i + t, in one sweep with the weights; a side that reaches no
                        # target adds to its spare row. Two sides in one row take a pass each
                        # (one sweep over both would neither vectorise nor add in the order
                        # of the other offsets).
                        passes = 2 if own_side and partner_side and t0 == 0 and t1 == 0 else 1
                        for pass_ in range(passes):
                            # Where this pair's terms start in each side's rows of a sum.
                            own_at = (i1 - lo1) * plane + (q - lo) * row_len
                            if not (own_side and pass_ == 0):
                                own_at = rows * row_len
                            partner_at = ((i1 + t1 - lo1) * plane + (q + t0 - lo) * row_len
                                          + t2)
                            if not (partner_side and pass_ == passes - 1):
                                partner_at = (rows + 1) * row_len + t2
                            own_at += pad2 + b2
                            partner_at += pad2 + b2
                            # Numba drops a branch only where the argument tested is None:
                            # split in the grey version, inv_h2 in the squared one.
                            if split is None:
                                # A strength per channel: each channel's weights formed in
                                # its adding sweep, never in memory. (inv_h2 is never None
                                # here: testing it drops this sweep from the squared version.)
                                if inv_h2 is not None:
                                    for m in range(n_values):
                                        at = m * block
                                        own_set = first_set + m * block
                                        _weigh_and_add(row_weights, m2, scale, bias,
                                                       inv_h2 if m == 0 else inv_h2b, values,
                                                       m, own_pixel, partner_pixel, sums,
                                                       at + own_at, own_set + own_at,
                                                       at + partner_at, own_set + partner_at)
                            elif sets == 1 and n_values == 3:
                                # Colour at one strength: weights and channels in one sweep.
                                _shared_weigh_and_add(row_weights, m2, scale, bias, inv_h2,
                                                      values, own_pixel, partner_pixel, sums,
                                                      block, first_set, own_at, partner_at)
                            else:
                                # Channels sharing strengths: the weights written first.
                                for set_ in range(sets):
                                    at = first_set + set_ * block
                                    _weights_and_add(row_weights, 1 + set_, m2, scale, bias,
                                                     inv_h2 if set_ == 0 else inv_h2b, sums,
                                                     at + own_at, at + partner_at)
                                for m in range(n_values):
                                    at = m * block
                                    _deviate_and_add(row_weights,
                                                     1 if m < second_from else 2, m2, values,
                                                     m, own_pixel, partner_pixel, sums,
                                                     at + own_at, at + partner_at)
        for m in range(n_values):
            for r in range(rows):
                for i1 in range(n1):
                    at = i1 * plane + r * row_len + pad2
                    total_at = (n_values + (0 if m < second_from else 1)) * block + at
                    own = values[m, lo1 + i1 + pad1, lo + r + pad0, pad2 : pad2 + n2]
                    for i2 in range(n2):
                        c = sums[total_at + i2]
                        factor = np.float32(0.0) if weights_vanish(c) else np.float32(1.0) / c
                        out[m, lo + r, i1, i2] = own[i2] + sums[m * block + at + i2] * factor
        if out.shape[0] > n_values:
            for r in range(rows):
                for i1 in range(n1):
                    at = first_set + i1 * plane + r * row_len + pad2
                    for i2 in range(n2):
                        out[n_values, lo + r, i1, i2] = sums[at + i2]
        for i1 in range(n1, n_sums):
            for r in range(rows):
                for m in range(n_values + sets):
                    at = m * block + i1 * plane + r * row_len + pad2
                    target = sums_out[m, i1 - n1, lo + r]
                    for i2 in range(n2):
                        target[i2] = sums[at + i2]


@njit(cache=True, fastmath=FASTMATH)
def _weigh_and_add(weights, n, scale, bias, inv_h2, values, m, own_pixel, partner_pixel, sums,
                   own_acc_at, own_wsum_at, partner_acc_at, partner_wsum_at):
    """Turn a row's patch sums into Gaussian weights and add each pair's terms to both sides.

    With ``f_i`` the weight of ``weights[0, i]`` (:func:`~.arithmetic.gaussian_weight`), ``own``
    and ``partner`` channel *m*'s *n* values from *own_pixel* and *partner_pixel* (frame, row,
    column of *values*), and each accumulator *n* entries of the flat *sums* from its start:
    ``own_acc[i] += f_i (partner[i] - own[i])``, ``partner_acc[i] -=`` the same number,
    ``own_wsum[i]`` and ``partner_wsum[i] += f_i``. For a value channel at a strength of its
    own (a grey image, or one of two strengths of one), whose weights come while the sums
    load and go through no memory. The four accumulators must not overlap (the sweep would
    not vectorise).
    """
    patch_sums = weights[0]
    own = values[m, own_pixel[0], own_pixel[1], own_pixel[2] : own_pixel[2] + n]
    partner = values[m, partner_pixel[0], partner_pixel[1],
                     partner_pixel[2] : partner_pixel[2] + n]
    own_acc = sums[own_acc_at : own_acc_at + n]
    own_wsum = sums[own_wsum_at : own_wsum_at + n]
    partner_acc = sums[partner_acc_at : partner_acc_at + n]
    partner_wsum = sums[partner_wsum_at : partner_wsum_at + n]
    slope, offset = exponent_factors(scale, bias, inv_h2)
    for i in range(n):
        f = gaussian_weight(patch_sums[i], slope, offset)
        d = f * (partner[i] - own[i])
        own_wsum[i] += f
        own_acc[i] += d
        partner_wsum[i] += f
        partner_acc[i] -= d


@njit(cache=True, fastmath=FASTMATH)
def _deviate_and_add(weights, row, n, values, m, own_pixel, partner_pixel, sums, own_at,
                     partner_at):
    """``own_acc[i] += weights[row, i] (partner[i] - own[i])``, ``partner_acc[i] -=`` the same.

    ``own``, ``partner``, ``own_acc`` and ``partner_acc`` as in :func:`_weigh_and_add`.
    """
    row_weights = weights[row]
    own = values[m, own_pixel[0], own_pixel[1], own_pixel[2] : own_pixel[2] + n]
    partner = values[m, partner_pixel[0], partner_pixel[1],
                     partner_pixel[2] : partner_pixel[2] + n]
    own_acc = sums[own_at : own_at + n]
    partner_acc = sums[partner_at : partner_at + n]
    for i in range(n):
        d = row_weights[i] * (partner[i] - own[i])
        own_acc[i] += d
        partner_acc[i] -= d


@njit(cache=True, fastmath=FASTMATH)
def _weights_and_add(weights, row, n, scale, bias, inv_h2, sums, own_at, partner_at):
    """Write the Gaussian weights of ``weights[0]`` at one strength to ``weights[row]``.

    They are added to both sides' sums of weights, *n* entries of *sums* from *own_at* and
    from *partner_at*.
    """
    patch_sums = weights[0]
    row_weights = weights[row]
    own_wsum = sums[own_at : own_at + n]
    partner_wsum = sums[partner_at : partner_at + n]
    slope, offset = exponent_factors(scale, bias, inv_h2)
    for i in range(n):
        f = gaussian_weight(patch_sums[i], slope, offset)
        row_weights[i] = f
        own_wsum[i] += f
        partner_wsum[i] += f


@njit(cache=True, fastmath=FASTMATH)
def _shared_weigh_and_add(weights, n, scale, bias, inv_h2, values, own_pixel, partner_pixel,
                          sums, block, first_set, own_at, partner_at):
    """Turn a row's patch sums into weights at one strength and add a colour pair's terms.

    For colour at one strength (the chroma at h): all three value channels (*block* apart in
    *sums*, each side's from *own_at* and *partner_at*) and both sides' sums of weights (the
    set at *first_set*) take the weight at *inv_h2*, formed in the sweep, as
    :func:`_weigh_and_add` forms and adds one channel's. Against writing the weights first
    and adding each channel in a sweep of its own, identical results in 0.89 to 0.98x the
    time (1024² p7 w21, 11 and 15 alternating rounds on a noisy machine).
    """
    patch_sums = weights[0]
    f0, r0, c0 = own_pixel
    f1, r1, c1 = partner_pixel
    own_l = values[0, f0, r0, c0 : c0 + n]
    own_a = values[1, f0, r0, c0 : c0 + n]
    own_b = values[2, f0, r0, c0 : c0 + n]
    partner_l = values[0, f1, r1, c1 : c1 + n]
    partner_a = values[1, f1, r1, c1 : c1 + n]
    partner_b = values[2, f1, r1, c1 : c1 + n]
    own_l_acc = sums[own_at : own_at + n]
    own_a_acc = sums[block + own_at : block + own_at + n]
    own_b_acc = sums[2 * block + own_at : 2 * block + own_at + n]
    partner_l_acc = sums[partner_at : partner_at + n]
    partner_a_acc = sums[block + partner_at : block + partner_at + n]
    partner_b_acc = sums[2 * block + partner_at : 2 * block + partner_at + n]
    own_wsum = sums[first_set + own_at : first_set + own_at + n]
    partner_wsum = sums[first_set + partner_at : first_set + partner_at + n]
    slope, offset = exponent_factors(scale, bias, inv_h2)
    for i in range(n):
        f = gaussian_weight(patch_sums[i], slope, offset)
        own_wsum[i] += f
        partner_wsum[i] += f
        d = f * (partner_l[i] - own_l[i])
        own_l_acc[i] += d
        partner_l_acc[i] -= d
        d = f * (partner_a[i] - own_a[i])
        own_a_acc[i] += d
        partner_a_acc[i] -= d
        d = f * (partner_b[i] - own_b[i])
        own_b_acc[i] += d
        partner_b_acc[i] -= d
