"""The planar kernel's adding sweeps for colour: four offsets of a row added at once.

For offsets ``(t0, t1, t2 + g)``, ``g < GROUP``, which share their rows, a target's terms
from the group's four pairs are summed in registers and added to its sums once, on each
side, where one offset's sweep adds to them once per offset. Colour with its chroma at twice
h adds five sums on each side of every pair (the luminance, two chroma channels and a sum of
weights for each strength): one offset at a time, ten loads and ten stores of sums per pair,
which bound its sweep; four at a time, two and a half of each.

The own side's sweep forms the four offsets' weights (at both strengths) and writes them to
*weights*; the partner's sweep reads them back at the partner's columns. Each weight row lies
:data:`STRIDE` floats after the one before in one flat buffer, a constant: each sweep then
reaches all of them from one base pointer (with the rows as separate arrays, or the stride
given at run time, LLVM did not vectorise the sweeps, as it cannot tell that they do not
overlap). A row therefore holds at most ``STRIDE - 2 * GROUP`` columns: wider images take
the kernel's general version (:mod:`.operation`), two exponentials a pair, whose results
differ in the last bits (so that a tile of such an image, narrower, is not bit-identical to
the whole). A weight row holds ``GROUP - 1`` zeros before and after its columns, the terms
of the pairs a partner's column does not have. The sweeps are written out for ``GROUP`` 4.

In one process against one offset a sweep, alternating (1024² p7 w21, colour): 0.80x to
0.87x the time (four sittings), the sweeps alone about 0.69x; stand-alone, 0.64x to 0.67x.
A row of 21 offsets is grouped (4, 4, 4, 4, 4, 1); a group of one offset (the zero offset's
too) takes sweeps of its own (:func:`add_single`), which form and add no empty members' zero
weights: 0.966x the time on one thread and 0.944x on two (21 alternating rounds, 1024² p7
w21, colour).

Every term is written as a deviation, ``f (g_j - g_i)``, so that a constant image is
exactly a fixed point. A group member past the last offset (*count* < ``GROUP``) has
infinite patch sums, whose weights are exactly zero. The sums are formed in the same order
for any strip, thread or tile: results do not depend on them. The sweeps' fast-math flags
leave out ``reassoc`` (:data:`~.arithmetic.FASTMATH_IN_ORDER`), so that every loop LLVM makes
of them keeps that order.
"""

from __future__ import annotations

from numba import njit

from .arithmetic import FASTMATH_IN_ORDER, gaussian_weight, squared_weight

__all__ = ["GROUP", "STRIDE", "add_group_own", "add_group_partner", "add_single"]

# Numba's cache checks this module's own source only, not that of the functions it inlines
# from .arithmetic: this digest of arithmetic.py (tests/test_layout.py checks it) changes this
# module's source whenever that one changes (as in .planar).
_INLINED_DIGEST = "f3f61ca338d4adc8"

#: The offsets added at once.
GROUP = 4
#: The distance between the rows of the group's buffers (patch sums, weights), in floats:
#: 2 ** 16 columns and a little more, so that rows do not share their addresses' low bits.
STRIDE = (1 << 16) + 64


@njit(cache=True, fastmath=FASTMATH_IN_ORDER)
def add_group_own(patch_sums, n, slope_b, offset_b, slope, offset, squarings, weights, values,
                  own, partner, channel, sum_l, sum_a, sum_b, sum_f, sum_e, at):
    """Weigh a row's pairs of four offsets and add their terms to the own side's sums.

    ``patch_sums[0, g * STRIDE + i]`` is the patch sum of pair ``i`` of offset ``g``, which
    joins own pixel ``i`` and partner pixel ``i + g``, ``i < n``: in the flat *values*,
    the three channels ``channel`` apart, the pixels ``own + i`` and ``partner + i + g``.
    With ``e`` its weight at the second strength (*slope_b* and *offset_b*) and ``f`` that
    at the first, ``2 ** squarings`` times it (*slope*, *offset*;
    :func:`~.arithmetic.squared_weight`), channel 0 takes ``f`` and channels 1 and 2 take
    ``e``: the sums ``sum_l``, ``sum_a`` and ``sum_b`` (of the three channels) and
    ``sum_f`` and ``sum_e`` (of the weights at each strength), each at ``at + i``, receive
    the four offsets' ``f (g_j - g_i)`` and weights in one addition each. The weights go to
    *weights*: ``f`` of offset ``g`` at ``g * STRIDE + GROUP - 1 + i``, ``e`` at ``(GROUP
    + g) * STRIDE + GROUP - 1 + i``, each row followed by ``GROUP - 1`` zeros, for
    :func:`add_group_partner`.

    Each sum is an array of its own: rows of one array, LLVM did not vectorise the sweep.
    """
    d = patch_sums[0]
    own_l = values[own : own + n]
    own_a = values[own + channel : own + channel + n]
    own_b = values[own + 2 * channel : own + 2 * channel + n]
    partner_l = values[partner : partner + n + 3]
    partner_a = values[partner + channel : partner + channel + n + 3]
    partner_b = values[partner + 2 * channel : partner + 2 * channel + n + 3]
    l_acc, a_acc, b_acc = sum_l[at : at + n], sum_a[at : at + n], sum_b[at : at + n]
    first, second = sum_f[at : at + n], sum_e[at : at + n]
    # The four offsets' rows written out: with STRIDE a constant, one base pointer each.
    for i in range(n):
        s0, s1, s2, s3 = d[i], d[STRIDE + i], d[2 * STRIDE + i], d[3 * STRIDE + i]
        e0 = gaussian_weight(s0, slope_b, offset_b)
        e1 = gaussian_weight(s1, slope_b, offset_b)
        e2 = gaussian_weight(s2, slope_b, offset_b)
        e3 = gaussian_weight(s3, slope_b, offset_b)
        w0 = squared_weight(e0, s0, slope, offset, squarings)
        w1 = squared_weight(e1, s1, slope, offset, squarings)
        w2 = squared_weight(e2, s2, slope, offset, squarings)
        w3 = squared_weight(e3, s3, slope, offset, squarings)
        weights[3 + i] = w0
        weights[STRIDE + 3 + i] = w1
        weights[2 * STRIDE + 3 + i] = w2
        weights[3 * STRIDE + 3 + i] = w3
        weights[4 * STRIDE + 3 + i] = e0
        weights[5 * STRIDE + 3 + i] = e1
        weights[6 * STRIDE + 3 + i] = e2
        weights[7 * STRIDE + 3 + i] = e3
        first[i] += (w0 + w1) + (w2 + w3)
        second[i] += (e0 + e1) + (e2 + e3)
        v = own_l[i]
        l_acc[i] += ((w0 * (partner_l[i] - v) + w1 * (partner_l[i + 1] - v))
                     + (w2 * (partner_l[i + 2] - v) + w3 * (partner_l[i + 3] - v)))
        v = own_a[i]
        a_acc[i] += ((e0 * (partner_a[i] - v) + e1 * (partner_a[i + 1] - v))
                     + (e2 * (partner_a[i + 2] - v) + e3 * (partner_a[i + 3] - v)))
        v = own_b[i]
        b_acc[i] += ((e0 * (partner_b[i] - v) + e1 * (partner_b[i + 1] - v))
                     + (e2 * (partner_b[i + 2] - v) + e3 * (partner_b[i + 3] - v)))
    for row in range(2 * GROUP):
        for k in range(GROUP - 1):
            weights[row * STRIDE + GROUP - 1 + n + k] = 0.0


@njit(cache=True, fastmath=FASTMATH_IN_ORDER)
def add_group_partner(n, weights, values, own, partner, channel, sum_l, sum_a, sum_b, sum_f,
                      sum_e, at):
    """Add the terms of :func:`add_group_own`'s pairs to the partner side's sums.

    Partner pixel ``j`` (at ``partner + j`` of the flat *values*, ``j < n + GROUP - 1``)
    pairs with own pixel ``j - g`` (at ``own + j - g``) for offset ``g``, with the weight
    :func:`add_group_own` left in *weights* (zero where ``j - g`` is not one of its *n*
    pairs); its sums at ``at + j`` receive the four terms, negated, in one addition each, as
    the own side's.
    """
    m = n + 3
    # Own pixel j - g is at j + 3 - g here: from three before the first.
    own_l = values[own - 3 : own + m]
    own_a = values[own - 3 + channel : own + channel + m]
    own_b = values[own - 3 + 2 * channel : own + 2 * channel + m]
    partner_l = values[partner : partner + m]
    partner_a = values[partner + channel : partner + channel + m]
    partner_b = values[partner + 2 * channel : partner + 2 * channel + m]
    l_acc, a_acc, b_acc = sum_l[at : at + m], sum_a[at : at + m], sum_b[at : at + m]
    first, second = sum_f[at : at + m], sum_e[at : at + m]
    for j in range(m):
        w0, w1 = weights[j + 3], weights[STRIDE + j + 2]
        w2, w3 = weights[2 * STRIDE + j + 1], weights[3 * STRIDE + j]
        e0, e1 = weights[4 * STRIDE + j + 3], weights[5 * STRIDE + j + 2]
        e2, e3 = weights[6 * STRIDE + j + 1], weights[7 * STRIDE + j]
        first[j] += (w0 + w1) + (w2 + w3)
        second[j] += (e0 + e1) + (e2 + e3)
        v = partner_l[j]
        l_acc[j] -= ((w0 * (v - own_l[j + 3]) + w1 * (v - own_l[j + 2]))
                     + (w2 * (v - own_l[j + 1]) + w3 * (v - own_l[j])))
        v = partner_a[j]
        a_acc[j] -= ((e0 * (v - own_a[j + 3]) + e1 * (v - own_a[j + 2]))
                     + (e2 * (v - own_a[j + 1]) + e3 * (v - own_a[j])))
        v = partner_b[j]
        b_acc[j] -= ((e0 * (v - own_b[j + 3]) + e1 * (v - own_b[j + 2]))
                     + (e2 * (v - own_b[j + 1]) + e3 * (v - own_b[j])))


@njit(cache=True, fastmath=FASTMATH_IN_ORDER)
def add_single(patch_sums, n, slope_b, offset_b, slope, offset, squarings, weights, values,
               own, partner, channel, sum_l, sum_a, sum_b, sum_f, sum_e, own_at, partner_at):
    """:func:`add_group_own` then :func:`add_group_partner` for a group of one offset.

    The own side's sums at *own_at*, then the partner's at *partner_at* (partner ``j`` pairs
    with own ``j``), each in a sweep of its own; the weights pass through ``weights[3 + i]``
    and ``weights[4 * STRIDE + 3 + i]``, as the group's first member's.
    """
    d = patch_sums[0]
    own_l = values[own : own + n]
    own_a = values[own + channel : own + channel + n]
    own_b = values[own + 2 * channel : own + 2 * channel + n]
    partner_l = values[partner : partner + n]
    partner_a = values[partner + channel : partner + channel + n]
    partner_b = values[partner + 2 * channel : partner + 2 * channel + n]
    end = own_at + n
    l_acc, a_acc, b_acc = sum_l[own_at:end], sum_a[own_at:end], sum_b[own_at:end]
    first, second = sum_f[own_at:end], sum_e[own_at:end]
    for i in range(n):
        s0 = d[i]
        e0 = gaussian_weight(s0, slope_b, offset_b)
        w0 = squared_weight(e0, s0, slope, offset, squarings)
        weights[3 + i] = w0
        weights[4 * STRIDE + 3 + i] = e0
        first[i] += w0
        second[i] += e0
        l_acc[i] += w0 * (partner_l[i] - own_l[i])
        a_acc[i] += e0 * (partner_a[i] - own_a[i])
        b_acc[i] += e0 * (partner_b[i] - own_b[i])
    end = partner_at + n
    l_acc, a_acc, b_acc = sum_l[partner_at:end], sum_a[partner_at:end], sum_b[partner_at:end]
    first, second = sum_f[partner_at:end], sum_e[partner_at:end]
    for j in range(n):
        w0, e0 = weights[3 + j], weights[4 * STRIDE + 3 + j]
        first[j] += w0
        second[j] += e0
        l_acc[j] -= w0 * (partner_l[j] - own_l[j])
        a_acc[j] -= e0 * (partner_a[j] - own_a[j])
        b_acc[j] -= e0 * (partner_b[j] - own_b[j])
