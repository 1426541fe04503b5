"""The engine's element-wise arithmetic: its fast-math flags, the weights and the normaliser.

Every kernel of the engine compiles with one of the two named sets of fast-math flags here.
The functions turn a patch's summed pair statistic into its affinity ``f`` (the Gaussian
kernel's exponentials as powers of two, in plain arithmetic that vectorises; the ReLU and
linear kernels), and tell where a target's summed weights vanish. They are
small and inlined by the kernels of :mod:`.kernels`, :mod:`.planar`, :mod:`.pointwise` and
:mod:`.groups`.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from ..formulation import GAUSSIAN_KERNEL, RELU_KERNEL

__all__ = ["CUTOFF", "FASTMATH", "FASTMATH_IN_ORDER", "SMALLEST_NORMAL", "exponent_factors",
           "gaussian_weight", "negative_exp", "squared_weight", "to_affinity", "two_strengths",
           "weights_vanish"]

#: The fast-math flags of the kernels (but :mod:`.groups`' sweeps, below): those that let
#: LLVM reassociate and vectorise sums, but not ``nnan`` or ``ninf``, so NaN and inf keep
#: their IEEE meaning.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
#: The same without ``reassoc``, for sweeps whose sums must keep their written order in
#: every loop LLVM makes of them: :mod:`.groups`' sweeps. With it, the same inputs gave
#: results one ulp apart in a process that had compiled the kernel and in one that loaded it
#: from the cache, and in the latter a tile's results differed from the whole image's: most
#: likely the sweep's vector loop and its scalar fallback (taken where LLVM's run-time
#: overlap checks fail, which depends on where the arrays lie in memory) ordered the sums
#: differently. Without it: colour 1.03x the time.
FASTMATH_IN_ORDER = FASTMATH - {"reassoc"}

#: The smallest normal float32. A weight sum below it has no finite reciprocal (and a
#: subnormal one may be flushed to zero): see :func:`weights_vanish`.
SMALLEST_NORMAL = np.float32(np.finfo(np.float32).tiny)
#: Gaussian weights below exp(-CUTOFF) ~ 2e-9 are dropped.
CUTOFF = np.float32(20.0)
# The engine's exponentials are powers of two: exp(x) = 2 ** (x log2(e)).
_LOG2_E = np.float32(np.log2(np.e))
# The cutoff for the exponent as _exp2 takes it.
_EXP2_CUTOFF = -CUTOFF * _LOG2_E


@njit(cache=True, fastmath=FASTMATH)
def weights_vanish(c):
    """Tell whether a target's weight sum *c*, its sum normaliser, is 0 or subnormal.

    There the target keeps its own value. A subnormal sum (a constant image of subnormal
    values under the concatenation affinity) has an infinite reciprocal, and the deviations'
    zero sum times it gave NaN. A NaN sum does not vanish: NaN stays NaN.
    """
    return abs(c) < SMALLEST_NORMAL


@intrinsic
def _times_two_to(typingctx, value, power):
    """``value * 2 ** power``, *power* an integral float32, by adding it to the exponent's bits.

    For a *value* and result in the normal range (no overflow, no subnormals; for
    :func:`_exp2`, whose *value* lies in ``[1/sqrt(2), sqrt(2)]``, a *power* of -125 or more):
    one integer conversion, shift and add, which vectorise. Lanes outside that range (NaN
    included) give meaningless bits, never a trap: callers select them away.
    """
    if value != types.float32 or power != types.float32:
        return None

    def codegen(context, builder, signature, args):
        word = ir.IntType(32)
        bits = builder.bitcast(args[0], word)
        exponent = builder.shl(builder.fptosi(args[1], word), ir.Constant(word, 23))
        return builder.bitcast(builder.add(bits, exponent), ir.FloatType())

    return types.float32(types.float32, types.float32), codegen


@njit(cache=True, fastmath=FASTMATH)
def _exp2(y):
    """``2 ** y`` for ``-125 < y <= 0`` in plain arithmetic that vectorises.

    ``2 ** y = 2 ** n * 2 ** f`` with ``n`` the integer nearest *y* (added to the exponent's
    bits) and ``|f| <= 1/2``; ``2 ** f`` as ``1 + f q(f)``, *q* of degree 3 fitted for the
    relative error (so that ``y = 0`` gives exactly 1). Relative error against float64:
    2.9e-6, the same over the whole range. Four multiply-adds, a rounding and a subtraction,
    against the twelve multiplies and multiply-adds of the degree-5 polynomial squared four
    times that this replaced (relative error 2e-5): on a core with 256-bit vectors (a Zen 3),
    grey and colour took 0.965x the time.
    """
    n = np.rint(y)
    f = y - n
    q = np.float32(0.009582852944731712) * f + np.float32(0.055906426161527634)
    q = q * f + np.float32(0.24024099111557007)
    q = q * f + np.float32(0.6931241750717163)
    return _times_two_to(q * f + np.float32(1.0), n)


@njit(cache=True, fastmath=FASTMATH)
def negative_exp(x):
    """``exp(-x)`` for ``0 <= x < CUTOFF`` (:func:`_exp2` of ``-x log2(e)``)."""
    return _exp2(x * -_LOG2_E)


@njit(cache=True, fastmath=FASTMATH)
def two_strengths(w, second, n, scale, bias, inv_h2, inv_h2b, squarings):
    """Turn the summed statistics ``w[:n]`` into Gaussian affinities at two strengths.

    ``w[:n]`` receives them at ``inv_h2`` (in place), ``second[:n]`` at ``inv_h2b``. Where
    ``inv_h2 = 2 ** squarings * inv_h2b`` (*squarings* > 0), the first set is the second
    squared *squarings* times (:func:`squared_weight`): one exponential per weight.
    """
    slope, offset = exponent_factors(scale, bias, inv_h2)
    slope_b, offset_b = exponent_factors(scale, bias, inv_h2b)
    if squarings > 0:
        for i in range(n):
            e = gaussian_weight(w[i], slope_b, offset_b)
            second[i] = e
            w[i] = squared_weight(e, w[i], slope, offset, squarings)
        return
    for i in range(n):
        patch_sum = w[i]
        w[i] = gaussian_weight(patch_sum, slope, offset)
        second[i] = gaussian_weight(patch_sum, slope_b, offset_b)


@njit(cache=True, fastmath=FASTMATH)
def exponent_factors(scale, bias, inv_h2):
    """Return ``(slope, offset)``, the factors of the weights' exponent at one strength.

    ``patch_sum * slope - offset`` is ``-(patch_sum * scale - bias) * inv_h2 * log2(e)``, the
    exponent as :func:`_exp2` takes it, in one multiply-subtract: a loop computes the
    factors once, before its elements. (Against a multiply-subtract and a multiply, the grey
    kernel took 0.96x the time on a core with 256-bit vectors, a Zen 3, where its sweep is
    bound by its chain of dependent operations.) Factors at ``2 ** n`` times a strength are
    exactly ``2 ** n`` times that strength's, and so is the exponent.
    """
    factor = inv_h2 * -_LOG2_E
    return scale * factor, bias * factor


@njit(cache=True, fastmath=FASTMATH)
def gaussian_weight(patch_sum, slope, offset):
    """Return the Gaussian affinity of a patch's summed statistic.

    ``exp(-max(patch_sum * scale - bias, 0) * inv_h2)``, *slope* and *offset* from
    :func:`exponent_factors`, and 0 where the exponent passes :data:`CUTOFF` (tested on the
    exponent as :func:`_exp2` takes it).
    """
    y = min(patch_sum * slope - offset, np.float32(0.0))
    return _exp2(y) if y > _EXP2_CUTOFF else np.float32(0.0)


@njit(cache=True, fastmath=FASTMATH)
def squared_weight(second, patch_sum, slope, offset, squarings):
    """Return the affinity at ``inv_h2`` from *second*, the one at ``inv_h2 / 2 ** squarings``.

    ``exp(-2^n y) = exp(-y)^(2^n)``: *second* squared *squarings* times (1 to 4), and 0 where
    the exponent at ``inv_h2`` (*slope* and *offset* from :func:`exponent_factors`) passes
    :data:`CUTOFF`, as :func:`gaussian_weight` gives it. The squarings are written out, each
    chosen by a condition that is the same for every element, so that a loop over elements
    still vectorises.
    """
    p = second * second
    p = p * p if squarings > 1 else p
    p = p * p if squarings > 2 else p
    p = p * p if squarings > 3 else p
    return p if patch_sum * slope - offset > _EXP2_CUTOFF else np.float32(0.0)


@njit(cache=True, fastmath=FASTMATH)
def to_affinity(w, kernel, scale, bias, inv_h2, n):
    """Turn the summed statistics ``w[:n]`` into affinities in place (one strength).

    For the exponential kernel the result is the logit.
    """
    if kernel == GAUSSIAN_KERNEL:
        slope, offset = exponent_factors(scale, bias, inv_h2)
        for i in range(n):
            w[i] = gaussian_weight(w[i], slope, offset)
    elif kernel == RELU_KERNEL:
        for i in range(n):
            w[i] = max(w[i] * scale, np.float32(0.0))
    else:
        for i in range(n):
            w[i] = w[i] * scale
