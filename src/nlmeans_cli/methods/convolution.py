r"""The learned network's convolutions: 3x3 by Winograd's F(4x4, 3x3), and 1x1.

Each 4x4 block of outputs is computed from the 6x6 block of inputs around it as
:math:`A^T [(G w G^T) \odot (B^T d B)] A` (Lavin and Gray [1]_): 36 products per input and
output channel pair instead of the 144 of sixteen direct 3x3 sums. The 36 element-wise
products, summed over input channels, are 36 small matrix products (BLAS); the transforms
around them are the Numba kernels below, which also add the bias and apply the ReLU.

The maps live in the network's padded layout: ``C`` maps of ``H x W`` stored flat as
``(C, padded_length(H, W))``: a zero border around each map, three spare zero rows below it
(which the last row of tiles reads) and one spare zero at either end, so that position
``(i, j)`` of the bordered ``(H + 2) x (W + 2)`` grid sits at ``1 + i (W + 2) + j``.

The 3x3 work is cut into spans of tiles along one row of tiles; each of the engine's threads
takes every n-th span and works on it alone. The spans are kept small enough that BLAS runs
each product on the calling thread (OpenBLAS does below 2^18 multiply-adds): BLAS's own
threads, which keep spinning for a while after a large product, would otherwise take the
cores from the transforms and from the non-local block's engine. The 1x1 layers, a few
multiply-adds per position, are a Numba loop on the same threads.

References
----------
.. [1] A. Lavin, S. Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..engine import (
    FASTMATH,
    Workspace,
    engine_threads,
    even_spans,
    in_cache,
    on_engine_threads,
    reflect_borders,
)

__all__ = ["MULTIPLY_ADDS_PER_PRODUCT", "PaddedMaps", "convolve_padded", "kernels_cached",
           "padded_length", "pointwise", "winograd_filters"]

#: The most multiply-adds in one BLAS product (``C D`` per tile): small enough that OpenBLAS
#: runs it on the calling thread.
MULTIPLY_ADDS_PER_PRODUCT = 2**18

# G of F(4x4, 3x3): the filter transform U = G w G^T.
_FILTER_TRANSFORM = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                              [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]])


def padded_length(height: int, width: int) -> int:
    """Return the length of one ``H x W`` map in the padded layout (module docstring)."""
    return (height + 5) * (width + 2) + 2


def winograd_filters(weights: np.ndarray) -> np.ndarray:
    """Transform ``(3, 3, C, D)`` filters (HWIO) into the ``(36, D, C)`` matrices of F(4x4, 3x3).

    Parameters
    ----------
    weights : numpy.ndarray
        3x3 filters in JAX's HWIO layout.

    Returns
    -------
    numpy.ndarray
        float32 ``(36, D, C)``: entry ``6 a + b`` holds ``(G w G^T)[a, b]`` for every pair of
        channels, computed in float64.

    Raises
    ------
    ValueError
        If the filters are not 3x3.
    """
    weights = np.asarray(weights, np.float64)
    if weights.shape[:2] != (3, 3):
        raise ValueError(f"Winograd F(4x4, 3x3) needs 3x3 filters, got {weights.shape[:2]}")
    g = _FILTER_TRANSFORM
    transformed = np.einsum("ak,klcd,bl->abdc", g, weights, g)
    return np.ascontiguousarray(
        transformed.reshape(36, weights.shape[3], weights.shape[2]), np.float32)


def convolve_padded(flat: np.ndarray, filters: np.ndarray, bias: np.ndarray, height: int,
                    width: int, *, relu: bool, out: np.ndarray | None = None) -> np.ndarray:
    """Correlate padded maps with 3x3 filters (zero padding, "same"), add the bias, ReLU.

    Parameters
    ----------
    flat : numpy.ndarray
        float32 ``(C, padded_length(H, W))`` maps in the padded layout (module docstring),
        border and spare rows zero.
    filters : numpy.ndarray
        float32 ``(36, D, C)`` from :func:`winograd_filters`.
    bias : numpy.ndarray
        float32 ``(D,)``.
    height, width : int
        ``H`` and ``W``.
    relu : bool
        Whether to clip the result at 0.
    out : numpy.ndarray, optional
        float32 ``(D, padded_length(H, W))`` to write into (not *flat*); else allocated.

    Returns
    -------
    numpy.ndarray
        float32 ``(D, padded_length(H, W))``: the result in the same layout, border zero.

    Notes
    -----
    Cost: ``36 C D`` multiply-adds per 4x4 outputs (2.25 per output and channel pair, against
    9 for a direct convolution) in BLAS, plus ``O((C + D) H W)`` for the transforms; on
    :func:`~nlmeans_cli.engine.engine_threads` threads. Memory: ``36 (C + D)`` float32 per
    tile of a span, per thread, besides the result. The result equals the direct sums up to
    float32 rounding (a few 1e-6 of the values), and does not depend on the thread count.
    """
    channels, outputs = filters.shape[2], filters.shape[1]
    row = width + 2
    if out is None:
        out = np.empty((outputs, padded_length(height, width)), np.float32)
    out[:, :1 + row] = 0
    out[:, 1 + (height + 1) * row:] = 0
    tiles_across = (width + 3) // 4
    per_span = max(1, min(tiles_across, MULTIPLY_ADDS_PER_PRODUCT // (channels * outputs)))
    spans = [(a, b, min(b + per_span, tiles_across)) for a in range((height + 3) // 4)
             for b in range(0, tiles_across, per_span)]
    bias = np.ascontiguousarray(bias, np.float32)

    def run(share):
        transformed = np.empty((36, channels, per_span), np.float32)
        products = np.empty((36, outputs, per_span), np.float32)
        # One input channel (the stem) is an outer product: broadcasting beats BLAS at K = 1.
        combine = np.multiply if channels == 1 else np.matmul
        for a, lo, hi in share:
            n = hi - lo
            _transform_input(flat, height, row, a, lo, hi, transformed)
            combine(filters, transformed[:, :, :n], out=products[:, :, :n])
            _transform_output(products, bias, relu, height, width, row, a, lo, hi, out)

    threads = max(1, min(engine_threads(), len(spans)))
    on_engine_threads(run, [spans[k::threads] for k in range(threads)])
    return out


def pointwise(source: np.ndarray, source_layout: tuple[int, int], matrix: np.ndarray,
              bias: np.ndarray, target: np.ndarray, target_layout: tuple[int, int],
              height: int, width: int, *, accumulate: bool = False) -> np.ndarray:
    """Apply a 1x1 layer: ``target = matrix @ source + bias`` at every position (or ``+=``).

    Parameters
    ----------
    source : numpy.ndarray
        float32 ``(C, L)``: ``C`` maps, each stored flat; position ``(i, j)`` of an
        ``H x W`` map at ``base + i * stride + j`` for ``(base, stride) = source_layout``.
    source_layout : tuple of int
        ``(base, stride)`` of *source* (``(0, W)`` for plain maps, ``(W + 4, W + 2)`` for the
        inside of the padded layout).
    matrix : numpy.ndarray
        float32 ``(D, C)``.
    bias : numpy.ndarray
        float32 ``(D,)``.
    target : numpy.ndarray
        float32 ``(D, L')``, laid out by *target_layout* the same way; written in place.
    target_layout : tuple of int
        ``(base, stride)`` of *target*.
    height, width : int
        ``H`` and ``W``.
    accumulate : bool
        Add to *target* instead of overwriting it.

    Returns
    -------
    numpy.ndarray
        *target*.

    Notes
    -----
    Cost: ``C D`` multiply-adds per position, in a Numba loop over rows on
    :func:`~nlmeans_cli.engine.engine_threads` threads (no BLAS call: see the module
    docstring); results do not depend on the thread count.
    """
    source = np.ascontiguousarray(source, np.float32)
    matrix = np.ascontiguousarray(matrix, np.float32)
    bias = np.ascontiguousarray(bias, np.float32)

    def run(rows):
        _pointwise_rows(source, source_layout[0], source_layout[1], matrix, bias, target,
                        target_layout[0], target_layout[1], width, rows[0], rows[1],
                        accumulate)

    on_engine_threads(run, even_spans(height, engine_threads()))
    return target


class PaddedMaps:
    """``C`` maps of one ``H x W`` grid in the padded layout (module docstring), and their layers.

    Position ``q`` of the ``H (W + 2)`` rows inside the border sits at ``1 + (W + 2) + q``,
    and its neighbour at ``(dy - 1, dx - 1)`` at ``q + dy (W + 2) + dx``. The 3x3 layers read
    and write the layout with its border kept zero, as zero padding wants.
    """

    def __init__(self, height: int, width: int, workspace: Workspace | None = None):
        self.height, self.width = height, width
        self.row = width + 2
        self.size = height * self.row
        self.total = padded_length(height, width)
        self._workspace = workspace if workspace is not None else Workspace()
        self._last = ""

    def pad(self, maps: np.ndarray) -> np.ndarray:
        """Lay ``(C, H, W)`` maps out padded."""
        flat = self._workspace.take("input", (maps.shape[0], self.total))
        flat.fill(0)
        view = flat[:, 1:1 + (self.height + 2) * self.row]
        view.reshape(maps.shape[0], self.height + 2, self.row)[:, 1:-1, 1:-1] = maps
        return flat

    def inside(self, flat: np.ndarray) -> np.ndarray:
        """Return the ``(C, H, W)`` maps (a view) of a padded layout."""
        rows = flat[:, 1 + self.row:1 + self.row + self.size]
        return rows.reshape(flat.shape[0], self.height, self.row)[:, :, 1:self.width + 1]

    def convolve(self, flat: np.ndarray, layer: dict, *, relu: bool) -> np.ndarray:
        """Apply a 3x3 layer (zero padding, "same"), then ReLU; return the padded result.

        Results go to two workspace arrays in turn (never the input): the layers' maps are
        written into memory that earlier layers, bands and passes have already touched.
        """
        self._last = "maps-b" if self._last == "maps-a" else "maps-a"
        out = self._workspace.take(self._last, (layer["w"].shape[3], self.total))
        return convolve_padded(flat, winograd_filters(layer["w"]), layer["b"], self.height,
                               self.width, relu=relu, out=out)

    def pointwise(self, flat: np.ndarray, layers: list[dict], *, margin: int = 0
                  ) -> list[np.ndarray]:
        """Apply 1x1 layers in one pass; return contiguous ``(D, H, 1, W)`` maps for each.

        With a *margin* (shorter than either side), the maps are
        ``(D, H + 2 margin, 1, W + 2 margin)``, padded by reflection, as the engine takes
        them with ``padded=True``: written inside, their borders reflected, with no copy.
        """
        matrix = np.concatenate([layer["w"][0, 0].T for layer in layers])
        bias = np.concatenate([layer["b"] for layer in layers])
        rows, columns = self.height + 2 * margin, self.width + 2 * margin
        out = self._workspace.take("embeddings", (matrix.shape[0], rows * columns))
        pointwise(flat, (self.row + 2, self.row), matrix, bias, out,
                  (margin * columns + margin, columns), self.height, self.width)
        maps = out.reshape(-1, rows, 1, columns)
        if margin:
            reflect_borders(maps, [(0, 0), (margin, margin), (0, 0), (margin, margin)])
        bounds = np.cumsum([0] + [layer["b"].shape[0] for layer in layers])
        return [maps[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]

    def add_pointwise(self, flat: np.ndarray, maps: np.ndarray, layer: dict) -> None:
        """Add a 1x1 layer of contiguous ``(C, H, W)`` maps to the padded layout, in place."""
        pointwise(maps.reshape(maps.shape[0], -1), (0, self.width), layer["w"][0, 0].T,
                  layer["b"], flat, (self.row + 2, self.row), self.height, self.width,
                  accumulate=True)


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def _transform_input(flat, height, row, a, lo, hi, transformed):
    """``B^T d B`` for the tiles ``[lo, hi)`` of tile row ``a``, stored from column 0 on."""
    # Rows first (a span of whole rows at once, so the loops vectorise), then columns.
    # B^T = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
    #        [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]].
    top = 4 * a  # the bordered grid's row above the tile row's first output row
    start = 4 * lo
    # Past the border: rows below it are the layout's spare zero rows; columns past it (the
    # last tiles of a width not divisible by 4) are the zero tail of `mixed`.
    span = min(4 * (hi - lo) + 2, row - start)
    mixed = np.zeros((6, 4 * (hi - lo) + 4), np.float32)
    phases = np.empty((4, hi - lo + 1), np.float32)
    base = 1 + top * row + start
    for c in range(flat.shape[0]):
        r0 = flat[c, base:base + span]
        r1 = flat[c, base + row:base + row + span]
        r2 = flat[c, base + 2 * row:base + 2 * row + span]
        r3 = flat[c, base + 3 * row:base + 3 * row + span]
        r4 = flat[c, base + 4 * row:base + 4 * row + span]
        r5 = flat[c, base + 5 * row:base + 5 * row + span]
        for j in range(span):
            mixed[0, j] = 4 * r0[j] - 5 * r2[j] + r4[j]
            mixed[1, j] = r3[j] + r4[j] - 4 * (r1[j] + r2[j])
            mixed[2, j] = 4 * (r1[j] - r2[j]) + r4[j] - r3[j]
            mixed[3, j] = 2 * (r3[j] - r1[j]) + r4[j] - r2[j]
            mixed[4, j] = 2 * (r1[j] - r3[j]) + r4[j] - r2[j]
            mixed[5, j] = 4 * r1[j] - 5 * r3[j] + r5[j]
        for m in range(6):
            e = mixed[m]
            v = 6 * m
            # Columns 4 b + p split by phase p first (a whole group of four at a time), so
            # that the transform below reads every input with unit stride.
            for b in range(hi - lo + 1):
                phases[0, b] = e[4 * b]
                phases[1, b] = e[4 * b + 1]
                phases[2, b] = e[4 * b + 2]
                phases[3, b] = e[4 * b + 3]
            p0, p1, p2, p3 = phases[0], phases[1], phases[2], phases[3]
            for b in range(hi - lo):
                c0, c1, c2, c3, c4, c5 = p0[b], p1[b], p2[b], p3[b], p0[b + 1], p1[b + 1]
                transformed[v, c, b] = 4 * c0 - 5 * c2 + c4
                transformed[v + 1, c, b] = c3 + c4 - 4 * (c1 + c2)
                transformed[v + 2, c, b] = 4 * (c1 - c2) + c4 - c3
                transformed[v + 3, c, b] = 2 * (c3 - c1) + c4 - c2
                transformed[v + 4, c, b] = 2 * (c1 - c3) + c4 - c2
                transformed[v + 5, c, b] = 4 * c1 - 5 * c3 + c5


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def _transform_output(products, bias, relu, height, width, row, a, lo, hi, out):
    """``A^T M A`` plus bias (and ReLU) for the tiles ``[lo, hi)`` of tile row ``a``."""
    # A^T = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
    #        [0, 1, -1, 8, -8, 1]]: rows of the 6x6 products first, then columns.
    n = hi - lo
    sums = np.empty((4, 6, n), np.float32)
    values = np.empty(4 * n, np.float32)
    zero = np.float32(0.0)
    start = 4 * lo
    columns = min(4 * n, width - start)
    for d in range(products.shape[1]):
        beta = bias[d]
        for v in range(6):
            for b in range(n):
                m0 = products[v, d, b]
                m1 = products[6 + v, d, b]
                m2 = products[12 + v, d, b]
                m3 = products[18 + v, d, b]
                m4 = products[24 + v, d, b]
                m5 = products[30 + v, d, b]
                sums[0, v, b] = m0 + m1 + m2 + m3 + m4
                sums[1, v, b] = m1 - m2 + 2 * (m3 - m4)
                sums[2, v, b] = m1 + m2 + 4 * (m3 + m4)
                sums[3, v, b] = m1 - m2 + 8 * (m3 - m4) + m5
        for k in range(4):
            i = 1 + 4 * a + k
            if i > height:
                break
            s = sums[k]
            o = out[d, 1 + i * row + 1 + start:1 + i * row + 1 + start + columns]
            # Straight into the maps where the span's tiles all lie inside the row, through
            # `values` at its end. The ReLU is a floor of 0, no ReLU a floor of -inf (Numba's
            # max keeps a NaN first argument): one branch-free loop, which LLVM vectorises
            # with its four interleaved stores (twice as fast as a separate copy).
            direct = columns == 4 * n
            target = o if direct else values
            floor = zero if relu else np.float32(-np.inf)
            for b in range(n):
                s0, s1, s2, s3, s4, s5 = s[0, b], s[1, b], s[2, b], s[3, b], s[4, b], s[5, b]
                target[4 * b] = max(s0 + s1 + s2 + s3 + s4 + beta, floor)
                target[4 * b + 1] = max(s1 - s2 + 2 * (s3 - s4) + beta, floor)
                target[4 * b + 2] = max(s1 + s2 + 4 * (s3 + s4) + beta, floor)
                target[4 * b + 3] = max(s1 - s2 + 8 * (s3 - s4) + s5 + beta, floor)
            if not direct:
                for j in range(columns):
                    o[j] = values[j]
            if lo == 0:
                out[d, 1 + i * row] = 0
            if start + columns == width:
                out[d, 1 + i * row + width + 1] = 0


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def _pointwise_rows(source, source_base, source_stride, matrix, bias, target, target_base,
                    target_stride, width, lo, hi, accumulate):
    """``matrix @ source + bias`` for the rows ``[lo, hi)`` (see :func:`pointwise`)."""
    sums = np.empty(width, np.float32)
    for i in range(lo, hi):
        s0 = source_base + i * source_stride
        t0 = target_base + i * target_stride
        for d in range(matrix.shape[0]):
            sums[:] = bias[d]
            # Four channels per sweep: one load and store of the sums for four products.
            whole = matrix.shape[1] - matrix.shape[1] % 4
            for c in range(0, whole, 4):
                w0, w1, w2, w3 = matrix[d, c], matrix[d, c + 1], matrix[d, c + 2], matrix[d, c + 3]
                x0 = source[c, s0:s0 + width]
                x1 = source[c + 1, s0:s0 + width]
                x2 = source[c + 2, s0:s0 + width]
                x3 = source[c + 3, s0:s0 + width]
                for j in range(width):
                    sums[j] += w0 * x0[j] + w1 * x1[j] + w2 * x2[j] + w3 * x3[j]
            for c in range(whole, matrix.shape[1]):
                weight = matrix[d, c]
                x = source[c, s0:s0 + width]
                for j in range(width):
                    sums[j] += weight * x[j]
            t = target[d, t0:t0 + width]
            if accumulate:
                for j in range(width):
                    t[j] += sums[j]
            else:
                for j in range(width):
                    t[j] = sums[j]


def kernels_cached() -> bool:
    """Tell whether Numba's cache holds the convolutions' kernels (:func:`~..engine.in_cache`).

    Returns
    -------
    bool
        ``False`` before the first learned run after installing.
    """
    return all(in_cache(kernel) for kernel in (_transform_input, _transform_output,
                                               _pointwise_rows))
