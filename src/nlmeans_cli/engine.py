"""The Numba engine that evaluates the non-local operation.

:func:`nonlocal_operation` is the public entry: it validates and pads feature maps and calls
:func:`_nonlocal_strips`, the parallel kernel. The kernel follows the offset-outer algorithm:
for each offset ``t`` of the search window it forms the pair statistic between every position
and its partner at ``+t``, box-sums it over the patch with separable sums, turns it into the
affinity ``f`` and accumulates ``f * g`` and ``f``. The cost is ``O(N * S)`` for ``N`` positions
and ``S`` offsets, independent of the patch size.

Work is split into strips along the first axis; a thread owns a strip's output rows and its own
scratch planes. With a symmetric statistic (``left is right``) half the offsets are visited and
each weight ``w(p, p + t)`` is also used as ``w(p + t, p)``; a strip then also computes the
statistic for the ``t0`` rows above it, whose partners lie inside the strip.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
from numba import config, get_num_threads, njit, prange

from .formulation import (
    AFFINITIES,
    EXPONENTIAL_KERNEL,
    GAUSSIAN_KERNEL,
    NORMALISERS,
    PRODUCT,
    RELU_KERNEL,
    SQUARED_DIFFERENCE,
    lookup,
)

__all__ = ["FASTMATH", "correlate_filters", "kernels_cached", "nonlocal_operation",
           "search_offsets"]

#: The fast-math flags of every kernel: those that let LLVM reassociate and vectorise sums,
#: but not ``nnan`` or ``ninf``, so NaN and inf keep their IEEE meaning.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# One kernel call at a time: a parallel kernel entered from two Python threads at once can
# abort the process under some threading layers (workqueue); each call uses every thread.
_KERNEL_LOCK = threading.Lock()

# Gaussian weights below exp(-CUTOFF) ~ 2e-9 are dropped.
CUTOFF = np.float32(20.0)


def search_offsets(search_radius: tuple[int, int, int], *, half: bool) -> np.ndarray:
    """List the offsets of a search window.

    Parameters
    ----------
    search_radius : tuple of 3 int
        Radius of the window along each axis.
    half : bool
        If true, return the zero offset followed by one offset of each pair ``{t, -t}``
        (the lexicographically positive one), enough when the statistic is symmetric.

    Returns
    -------
    numpy.ndarray
        int64 array of shape ``(n_offsets, 3)``, the zero offset first.
    """
    s0, s1, s2 = search_radius
    grid = np.mgrid[-s0 : s0 + 1, -s1 : s1 + 1, -s2 : s2 + 1].reshape(3, -1).T
    nonzero = grid[np.any(grid != 0, axis=1)]
    if half:
        t0, t1, t2 = nonzero.T
        positive = (t0 > 0) | ((t0 == 0) & (t1 > 0)) | ((t0 == 0) & (t1 == 0) & (t2 > 0))
        nonzero = nonzero[positive]
    return np.ascontiguousarray(np.vstack([np.zeros((1, 3), np.int64), nonzero]), np.int64)


def nonlocal_operation(
    left: np.ndarray,
    right: np.ndarray | None,
    values: np.ndarray,
    *,
    affinity: str = "gaussian",
    normaliser: str | None = None,
    patch_radius: tuple[int, int, int] = (0, 0, 0),
    search_radius: tuple[int, int, int] = (1, 1, 1),
    scale: float = 1.0,
    bias: float = 0.0,
    h: float = 1.0,
    targets: tuple[int, int] | None = None,
    patch_weights: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    second_h: float | None = None,
    second_from: int | None = None,
) -> np.ndarray:
    """Evaluate ``y_i = 1/C * sum_j f(x_i, x_j) g(x_j)`` on feature maps.

    Positions are the points of a 3-D grid (a 2-D image is a grid with one axis of length 1);
    every map holds its channels first.

    Parameters
    ----------
    left : numpy.ndarray
        ``(K, n0, n1, n2)`` features at *i* (``theta``; the image itself for NL-means). For the
        concatenation affinity, the map ``w_theta^T theta``.
    right : numpy.ndarray or None
        ``(K, n0, n1, n2)`` features at *j* (``phi``); ``None`` means the same map as *left*,
        which makes the statistic symmetric and halves the work.
    values : numpy.ndarray
        ``(M, n0, n1, n2)`` the unary map ``g`` already applied to every position.
    affinity : str
        Name in :data:`~nlmeans_cli.formulation.AFFINITIES`.
    normaliser : str or None
        Name in :data:`~nlmeans_cli.formulation.NORMALISERS`; ``None`` takes the affinity's
        pairing from the paper.
    patch_radius : tuple of 3 int
        The statistic is summed over the patch ``[-r, r]`` along each axis.
    search_radius : tuple of 3 int
        The window ``[-s, s]`` along each axis. Positions outside the grid are reflected.
    scale : float
        The summed statistic is multiplied by *scale* before the kernel (for NL-means, one over
        the number of patch elements, giving the mean squared distance).
    bias : float
        Gaussian kernel only: subtracted from the scaled statistic (``2 sigma^2``).
    h : float
        Gaussian kernel only: the filtering parameter, ``f = exp(-max(d2 - bias, 0) / h^2)``.
    targets : tuple of 2 int, optional
        Compute *y* only at the positions ``lo <= i1 < hi`` of axis 1 (for a clip laid out as
        ``(C, rows, frames, columns)``: the frames to denoise, the others serving as
        candidates). ``None``: every position. A restricted range visits every offset (the
        symmetric halving needs all targets).
    patch_weights : tuple of 3 numpy.ndarray, optional
        Separable weights of the patch sum, one array of ``2 r + 1`` values per axis for the
        requested *patch_radius* (the statistic at offset ``u`` is weighted by
        ``w0[u0] w1[u1] w2[u2]``); a radius clamped to the grid keeps the central values.
        ``None``: every weight 1 (a box).
    second_h, second_from : float and int, optional
        Gaussian kernel only: the value channels from *second_from* on are averaged with
        weights of strength *second_h* instead of *h*, from the same patch distances, in the
        same pass (the chroma channels of a colour image, smoothed more than its luminance).

    Returns
    -------
    numpy.ndarray
        float32 ``(M, n0, n1, n2)``, the operation's output *y*; ``(M, n0, hi - lo, n2)``
        with *targets*.

    Raises
    ------
    ValueError
        If a name is unknown, shapes disagree, a radius is negative or *h* is not positive.

    Notes
    -----
    Cost ``O(N * S * (K + M))`` for ``N`` positions and ``S = prod(2 s + 1)`` offsets (half that
    with a shared feature map), independent of the patch size thanks to separable box sums.
    Memory: the padded maps plus one output-sized accumulator. A normaliser ``C = 0`` (possible
    for the linear kernels) leaves ``y_i = g(x_i)``.

    References
    ----------
    .. [1] X. Wang et al., "Non-local Neural Networks", CVPR 2018.
    .. [2] J. Darbon et al., "Fast nonlocal filtering applied to electron cryomicroscopy",
       ISBI 2008 (the offset-outer box-sum algorithm).
    """
    spec = lookup(AFFINITIES, affinity, "affinity")
    norm = lookup(NORMALISERS, normaliser if normaliser is not None else spec.normaliser,
                  "normaliser")
    values_are_left = values is left
    shared = right is None
    left = _as_planar(left, "left")
    right = left if shared else _as_planar(right, "right")
    values = left if values_are_left else _as_planar(values, "values")
    if right.shape != left.shape or values.shape[1:] != left.shape[1:]:
        raise ValueError(
            f"feature maps disagree: left {left.shape}, right {right.shape}, values {values.shape}"
        )
    if not h > 0:
        raise ValueError(f"h must be positive, got {h}")
    split = values.shape[0]
    inv_h2b = np.float32(0.0)
    if second_h is not None:
        if spec.kernel != GAUSSIAN_KERNEL or second_from is None or not second_h > 0:
            raise ValueError("second_h needs the gaussian affinity, a positive value and "
                             "second_from")
        if not 0 <= int(second_from) <= values.shape[0]:
            raise ValueError(f"second_from must be between 0 and {values.shape[0]}")
        split = int(second_from)
        inv_h2b = _inverse_square(second_h)
    grid = left.shape[1:]
    lo1, hi1 = (0, grid[1]) if targets is None else (int(targets[0]), int(targets[1]))
    if not 0 <= lo1 < hi1 <= grid[1]:
        raise ValueError(f"targets {targets} must satisfy 0 <= lo < hi <= {grid[1]}")
    symmetric = shared and (lo1, hi1) == (0, grid[1])
    requested = tuple(int(r) for r in patch_radius)
    patch = _clamp_radius(patch_radius, grid, "patch radius")
    search = _clamp_radius(search_radius, grid, "search radius")
    k0, k1, k2 = _patch_weights(patch_weights, requested, patch)
    pad = [(0, 0)] + [(p + s, p + s) for p, s in zip(patch, search, strict=True)]
    left_padded = np.pad(left, pad, mode="reflect")
    right_padded = left_padded if shared else np.pad(right, pad, mode="reflect")
    values_padded = left_padded if values is left else np.pad(values, pad, mode="reflect")
    offsets = search_offsets(search, half=symmetric)
    n_positions = int(np.prod([2 * s + 1 for s in search]))
    out = np.empty((values.shape[0], grid[0], hi1 - lo1, grid[2]), np.float32)
    with _KERNEL_LOCK:
        _nonlocal_strips(
            left_padded,
            right_padded,
            values_padded,
            out,
            offsets,
            np.asarray(patch, np.int64),
            k0,
            k1,
            k2,
            spec.statistic,
            spec.kernel,
            norm.code,
            np.float32(scale),
            np.float32(bias),
            _inverse_square(h),
            inv_h2b,
            split,
            symmetric,
            _strip_height(grid),
            n_positions,
            lo1,
            grid[1],
        )
    return out


def correlate_filters(image: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """Correlate a 2-D image with ``K`` square filters, borders reflected as the engine pads.

    The learned method's embeddings ``theta``, ``phi`` and its unary map ``g`` are such
    filters of a patch.

    Parameters
    ----------
    image : numpy.ndarray
        ``(rows, columns)``.
    filters : numpy.ndarray
        ``(K, P, P)`` with ``P`` odd.

    Returns
    -------
    numpy.ndarray
        float32 ``(K, rows, columns)``: ``out[k, i] = sum_u filters[k, u] image[i + u]``.

    Raises
    ------
    ValueError
        If *filters* are not ``(K, P, P)`` with ``P`` odd, or *image* is not 2-D.

    Notes
    -----
    ``O(N * K * P^2)``, parallel over rows.
    """
    filters = np.asarray(filters)
    image = np.asarray(image)
    if (filters.ndim != 3 or filters.shape[1] != filters.shape[2] or filters.shape[1] % 2 == 0
            or image.ndim != 2):
        raise ValueError(f"expected a 2-D image and (K, P, P) filters with P odd, got "
                         f"{image.shape} and {filters.shape}")
    r = filters.shape[1] // 2
    padded = np.pad(np.asarray(image, np.float32), r, mode="reflect")
    out = np.empty((filters.shape[0], *image.shape), np.float32)
    with _KERNEL_LOCK:
        _correlate_rows(padded, np.ascontiguousarray(filters, np.float32), out)
    return out


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _correlate_rows(padded, filters, out):
    n_filters, size, _ = filters.shape
    rows, cols = out.shape[1], out.shape[2]
    for i in prange(rows):
        for k in range(n_filters):
            dst = out[k, i]
            dst[:] = 0.0
            for u0 in range(size):
                for u1 in range(size):
                    weight = filters[k, u0, u1]
                    src = padded[i + u0, u1 : u1 + cols]
                    for c in range(cols):
                        dst[c] += weight * src[c]


def _as_planar(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 4:
        raise ValueError(f"{name} must have shape (channels, n0, n1, n2), got {array.shape}")
    return np.ascontiguousarray(array, dtype=np.float32)


def kernels_cached() -> bool:
    """Tell whether Numba's on-disk cache already holds the engine's main kernel.

    Returns
    -------
    bool
        ``False`` right after installing (or after the engine's source changed): the first
        call then compiles the kernels, once. Looks beside this module (``__pycache__``) and
        under ``NUMBA_CACHE_DIR``, not in Numba's user-wide folder (``False`` there).
    """
    kernel = _nonlocal_strips.py_func
    name = (f"{Path(__file__).stem}.{kernel.__name__}-{kernel.__code__.co_firstlineno}"
            f".py{sys.version_info.major}{sys.version_info.minor}.nbi")
    folder = Path(config.CACHE_DIR) if config.CACHE_DIR else None
    return (Path(__file__).parent / "__pycache__" / name).is_file() or (
        folder is not None and folder.is_dir() and any(folder.rglob(name)))


def _inverse_square(h: float) -> np.float32:
    """``1 / h**2`` in float32; an h too small for float32 keeps only identical patches."""
    return np.float32(min(1.0 / (float(h) * float(h)), float(np.finfo(np.float32).max)))


def _patch_weights(weights, requested, clamped):
    """Per-axis float32 weights for the clamped radii: the central values of the requested."""
    if weights is None:
        return tuple(np.ones(2 * r + 1, np.float32) for r in clamped)
    out = []
    for w, asked, r in zip(weights, requested, clamped, strict=True):
        w = np.asarray(w, np.float32).ravel()
        if w.size != 2 * asked + 1 or not np.isfinite(w).all():
            raise ValueError(f"patch weights must hold 2 r + 1 finite values per axis, got "
                             f"{w.size} for radius {asked}")
        out.append(np.ascontiguousarray(w[asked - r : asked + r + 1]))
    return tuple(out)


def _clamp_radius(radius, grid, what):
    radius = tuple(int(r) for r in radius)
    if len(radius) != 3 or min(radius) < 0:
        raise ValueError(f"{what} must be 3 non-negative integers, got {radius}")
    # Beyond size - 1 a window only revisits reflected copies of the same positions.
    return tuple(min(r, n - 1) for r, n in zip(radius, grid, strict=True))


def _strip_height(grid) -> int:
    rows = grid[0]
    plane = grid[1] * grid[2]
    # Enough strips to balance the threads, tall enough that the halo of rows recomputed per
    # strip stays small, short enough that a strip's scratch planes stay in cache.
    by_threads = -(-rows // (4 * get_num_threads()))
    by_cache = max(1, (1 << 18) // max(plane, 1))
    return int(max(1, min(by_threads, by_cache, 128)))


@njit(cache=True, fastmath=FASTMATH)
def _statistic_plane(left, right, statistic, row_left, row_right, start1, start2, t1, t2, e1,
                     e2, plane):
    """Sum over channels of the pair statistic on one plane (before the box sums)."""
    # Rows are sliced before the pixel loops: an index that starts at zero lets LLVM prove
    # the accesses contiguous (no negative-index wraparound) and vectorise them.
    plane[:e1, :e2] = 0.0
    for c in range(left.shape[0]):
        for i1 in range(e1):
            a = left[c, row_left, start1 + i1, start2 : start2 + e2]
            b = right[c, row_right, start1 + i1 + t1, start2 + t2 : start2 + t2 + e2]
            p = plane[i1, :e2]
            if statistic == SQUARED_DIFFERENCE:
                for i2 in range(e2):
                    diff = a[i2] - b[i2]
                    p[i2] += diff * diff
            elif statistic == PRODUCT:
                for i2 in range(e2):
                    p[i2] += a[i2] * b[i2]
            else:
                for i2 in range(e2):
                    p[i2] += a[i2] + b[i2]


@njit(cache=True, fastmath=FASTMATH)
def _box_plane(plane, r1, r2, m1, m2, k1, k2, scratch, out):
    """Sum a plane over ``[-r1, r1] x [-r2, r2]`` with weights ``k1 x k2`` into ``out[:m1, :m2]``.

    The loop over pixels is innermost everywhere, so that it vectorises. With weights of 1
    (a box) the products are exact, so the sums are those of an unweighted box.
    """
    inner = scratch if r1 > 0 else out
    # Without a second pass, axis 1's single weight joins axis 2's.
    along1 = k1[0] if r1 == 0 else np.float32(1.0)
    for i1 in range(m1 + 2 * r1):
        src = plane[i1]
        dst = inner[i1]
        first = k2[0] * along1
        for i2 in range(m2):
            dst[i2] = first * src[i2]
        for k in range(1, 2 * r2 + 1):
            shifted = src[k : k + m2]
            weight = k2[k] * along1
            for i2 in range(m2):
                dst[i2] += weight * shifted[i2]
    if r1 == 0:
        return
    for i1 in range(m1):
        dst = out[i1]
        first = k1[0]
        for i2 in range(m2):
            dst[i2] = first * scratch[i1, i2]
        for k in range(1, 2 * r1 + 1):
            src = scratch[i1 + k]
            weight = k1[k]
            for i2 in range(m2):
                dst[i2] += weight * src[i2]


@njit(cache=True, fastmath=FASTMATH)
def _negative_exp(x):
    """``exp(-x)`` for ``0 <= x < CUTOFF`` in plain arithmetic that vectorises.

    ``exp(-x) = exp(-x / 64) ** 64``: a degree-6 Taylor polynomial on ``[-CUTOFF / 64, 0]``
    (error below 1e-7) squared six times; relative error about 1e-5 in float32.
    """
    t = x * np.float32(-1.0 / 64.0)
    p = np.float32(1.0) + t * (np.float32(1.0) + t * np.float32(0.5) * (
        np.float32(1.0) + t * np.float32(1.0 / 3.0) * (
            np.float32(1.0) + t * np.float32(0.25) * (
                np.float32(1.0) + t * np.float32(0.2) * (
                    np.float32(1.0) + t * np.float32(1.0 / 6.0))))))
    for _ in range(6):
        p = p * p
    return p


@njit(cache=True, fastmath=FASTMATH)
def _kernel_plane(ring, oldest, k0, kernel, m1, m2, scale, bias, inv_h2, inv_h2b, two,
                  weights):
    """Sum the ring of boxed planes along axis 0 (weights *k0*) and turn the sums into affinities.

    ``weights[0]`` receives the affinities; with *two* (Gaussian kernel), ``weights[1]`` also
    receives them for the second strength ``inv_h2b``, from the same sums.

    The sum is formed afresh for every row (no running sum), from the oldest row of the ring
    (slot *oldest*) to the newest: rounding must depend neither on where a strip starts nor
    on where the array starts, so that results are the same for any number of threads and
    for an image cut into overlapping tiles. For the exponential kernel the result is the
    logit.
    """
    ring_len = ring.shape[0]
    for i1 in range(m1):
        w = weights[0, i1]
        first = ring[oldest, i1]
        weight = k0[0]
        for i2 in range(m2):
            w[i2] = weight * first[i2]
        for k in range(1, ring_len):
            src = ring[(oldest + k) % ring_len, i1]
            weight = k0[k]
            for i2 in range(m2):
                w[i2] += weight * src[i2]
        if kernel == GAUSSIAN_KERNEL and two:
            second = weights[1, i1]
            for i2 in range(m2):
                d = max(w[i2] * scale - bias, np.float32(0.0))
                x = d * inv_h2
                y = d * inv_h2b
                w[i2] = _negative_exp(x) if x < CUTOFF else np.float32(0.0)
                second[i2] = _negative_exp(y) if y < CUTOFF else np.float32(0.0)
        elif kernel == GAUSSIAN_KERNEL:
            for i2 in range(m2):
                x = max(w[i2] * scale - bias, np.float32(0.0)) * inv_h2
                w[i2] = _negative_exp(x) if x < CUTOFF else np.float32(0.0)
        elif kernel == RELU_KERNEL:
            for i2 in range(m2):
                w[i2] = max(w[i2] * scale, np.float32(0.0))
        else:
            for i2 in range(m2):
                w[i2] = w[i2] * scale


@njit(cache=True, fastmath=FASTMATH)
def _accumulate(weights, values, acc, wsum, peak, exponential, split, w1, w2, v_row, v1, v2,
                a_row, g_row, g1, g2, n1, n2):
    """Add ``f * (g_j - g_i)`` and ``f`` for an ``n1 x n2`` block of targets *i*.

    The block's weights start at ``weights[w1, w2]``, the partners' values ``g_j`` at padded
    ``(v_row, v1, v2)``, the targets' own values ``g_i`` at padded ``(g_row, g1, g2)`` and the
    targets at row *a_row* of the strip's accumulators. Summing deviations from
    ``g_i`` (added back at the end) keeps a constant image exactly constant and the sums
    small. The exponential kernel keeps a running maximum of the logits per target (an
    online softmax), so large logits never overflow. Value channels from *split* on take the
    second set of weights, ``weights[1]``, and its sums ``wsum[1]``.
    """
    n_values = values.shape[0]
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
        for i2 in range(n2):
            logit = weights[0, w1 + i1, w2 + i2]
            old = peak[a_row, i1, i2]
            if logit > old:
                rescale = np.exp(old - logit)
                e = 1.0
                wsum[0, a_row, i1, i2] *= rescale
                peak[a_row, i1, i2] = logit
            else:
                rescale = 1.0
                e = np.exp(logit - old)
            wsum[0, a_row, i1, i2] += e
            for m in range(n_values):
                deviation = values[m, v_row, v1 + i1, v2 + i2] - values[m, g_row, g1 + i1, g2 + i2]
                acc[m, a_row, i1, i2] = (acc[m, a_row, i1, i2] * rescale
                                                   + e * deviation)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _nonlocal_strips(left, right, values, out, offsets, patch, k0, k1, k2, statistic, kernel,
                     normaliser, scale, bias, inv_h2, inv_h2b, split, symmetric, strip,
                     n_positions, lo1, grid1):
    # Targets are the positions [lo1, lo1 + n1) of axis 1, of length grid1 (all of them when
    # symmetric).
    n_values, n0, n1, n2 = out.shape
    pad0 = (left.shape[1] - n0) // 2
    pad1 = (left.shape[2] - grid1) // 2
    pad2 = (left.shape[3] - n2) // 2
    r0, r1, r2 = patch[0], patch[1], patch[2]
    width1, width2 = left.shape[2], left.shape[3]
    ring_len = 2 * r0 + 1
    exponential = kernel == EXPONENTIAL_KERNEL
    n_strips = (n0 + strip - 1) // strip
    for s in prange(n_strips):
        lo = s * strip
        hi = min(lo + strip, n0)
        rows = hi - lo
        acc = np.zeros((n_values, rows, n1, n2), np.float32)
        wsum = np.zeros((2 if split < n_values else 1, rows, n1, n2), np.float32)
        peak = np.full((rows, n1, n2), -np.inf, np.float32)
        plane = np.empty((width1, width2), np.float32)
        scratch = np.empty((width1, width2), np.float32)
        ring = np.empty((ring_len, width1, width2), np.float32)
        weights = np.empty((2 if split < n_values else 1, width1, width2), np.float32)
        for o in range(offsets.shape[0]):
            t0, t1, t2 = offsets[o, 0], offsets[o, 1], offsets[o, 2]
            both = symmetric and o > 0
            if both:
                # Rows above the strip whose partner at +t lies inside it (t0 >= 0 here).
                q_lo = lo - t0
                b1, b1_hi = min(0, -t1), max(n1, n1 - t1)
                b2, b2_hi = min(0, -t2), max(n2, n2 - t2)
            else:
                q_lo = lo
                b1, b1_hi, b2, b2_hi = lo1, lo1 + n1, 0, n2
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
                              inv_h2, inv_h2b, split < n_values, weights)
                if q >= lo:
                    _accumulate(weights, values, acc, wsum, peak, exponential, split,
                                lo1 - b1, -b2, q + t0 + pad0, lo1 + t1 + pad1, t2 + pad2,
                                q - lo, q + pad0, lo1 + pad1, pad2, n1, n2)
                if both and q + t0 < hi:
                    # Every target p + t of the grid takes the weight w(p, p + t); the source
                    # p itself may lie in the reflected border.
                    _accumulate(weights, values, acc, wsum, peak, exponential, split,
                                -t1 - b1, -t2 - b2, q + pad0, pad1 - t1, pad2 - t2,
                                q + t0 - lo, q + t0 + pad0, pad1, pad2, n1, n2)
        for r in range(rows):
            for i1 in range(n1):
                for i2 in range(n2):
                    for m in range(n_values):
                        c = wsum[0 if m < split else 1, r, i1, i2]
                        if normaliser == 1:
                            factor = np.float32(1.0) / n_positions
                            if exponential:
                                factor *= np.exp(peak[r, i1, i2])
                        elif c != 0.0:
                            factor = np.float32(1.0) / c
                        else:
                            factor = np.float32(0.0)
                        own = values[m, lo + r + pad0, lo1 + i1 + pad1, i2 + pad2]
                        if normaliser == 1:
                            # sum_j f g_j = g_i sum_j f + sum_j f (g_j - g_i)
                            out[m, lo + r, i1, i2] = (own * c + acc[m, r, i1, i2]) * factor
                        else:
                            out[m, lo + r, i1, i2] = own + acc[m, r, i1, i2] * factor
