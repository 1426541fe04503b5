"""The public side of the engine: validation, padding, and the kernel calls.

:func:`nonlocal_operation` runs :func:`~.kernels.nonlocal_strips` (or, for a patch of one
position, :func:`~.pointwise.nonlocal_pointwise_strips`) a batch of strips at a time.
Called from the main thread, the batches run on a helper thread while the main thread waits,
so that Ctrl-C (and SIGTERM, where the command line turns it into an exception) is handled
within one offset of the search window, and a progress callback set with
:func:`reporting_progress` hears how far the operation is.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
from numba import config

from ..formulation import AFFINITIES, GAUSSIAN_KERNEL, NORMALISERS, SQUARED_DIFFERENCE, lookup
from .buffers import FrameCarry, Workspace, reflect_padded
from .cache import PLANAR_VERSIONS, notice_compile
from .groups import GROUP, STRIDE
from .kernels import nonlocal_strips
from .planar import PLANAR_TAPS, nonlocal_planar_strips
from .pointwise import POINTWISE_TILE, nonlocal_pointwise_strips

__all__ = ["engine_threads", "nonlocal_operation", "offset_groups", "reporting_progress",
           "search_offsets", "set_engine_threads"]

# The thread count set by set_engine_threads (None: NUMBA_NUM_THREADS).
_THREADS: list[int | None] = [None]

# Who hears the progress of the operations run in this context, if anyone.
_PROGRESS: contextvars.ContextVar[Callable[[float], None] | None] = contextvars.ContextVar(
    "nlmeans_progress", default=None)

# How often the waiting main thread looks at the kernel's progress, in seconds.
_POLL_SECONDS = 0.1


@contextmanager
def reporting_progress(callback: Callable[[float], None]) -> Iterator[None]:
    """Have every :func:`nonlocal_operation` run inside the block report its progress.

    Parameters
    ----------
    callback : callable
        Called as ``callback(fraction)`` from the calling thread, about ten times a second
        while an operation runs (``fraction`` between 0 and 1, per operation: several
        operations each start again from 0).

    Yields
    ------
    None

    Notes
    -----
    Progress is reported by operations called from the thread that entered the block.
    """
    token = _PROGRESS.set(callback)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


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


def offset_groups(offsets: np.ndarray, size: int) -> np.ndarray:
    """Group a half window's offsets into runs along the last axis, for the planar kernel.

    Parameters
    ----------
    offsets : numpy.ndarray
        ``(n_offsets, 3)`` int64, the zero offset first (as :func:`search_offsets` lists
        them, in any order that keeps each run's offsets together).
    size : int
        The most offsets a group may hold.

    Returns
    -------
    numpy.ndarray
        int64 ``(n_groups, 2)``: each group's first offset and its count, in order; a
        group's offsets are ``(t0, t1, t2 + g)``, ``g < count``, taken greedily; the zero
        offset is alone.
    """
    # As tuples: an array comparison per offset cost a colour megapixel's call 2 ms.
    rows = [tuple(row) for row in np.asarray(offsets).tolist()]
    groups = []
    first = 0
    while first < len(rows):
        t0, t1, t2 = rows[first]
        count = 1
        while (first > 0 and count < size and first + count < len(rows)
               and rows[first + count] == (t0, t1, t2 + count)):
            count += 1
        groups.append((first, count))
        first += count
    return np.array(groups, np.int64).reshape(-1, 2)


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
    workspace: Workspace | None = None,
    carry: FrameCarry | None = None,
    weight_sums: bool = False,
    padded: bool = False,
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
        candidates). ``None``: every position. With a shared map the pairs among targets are
        still computed once (a range of one position gains little from that).
    patch_weights : tuple of 3 numpy.ndarray, optional
        Separable weights of the patch sum, one array of ``2 r + 1`` values per axis for the
        requested *patch_radius* (the statistic at offset ``u`` is weighted by
        ``w0[u0] w1[u1] w2[u2]``); a radius clamped to the grid keeps the central values.
        ``None``: every weight 1 (a box).
    second_h, second_from : float and int, optional
        Gaussian kernel only: the value channels from *second_from* on are averaged with
        weights of strength *second_h* instead of *h*, from the same patch distances, in the
        same pass (the chroma channels of a colour image, smoothed more than its luminance).
    workspace : Workspace, optional
        Where to lay out the padded maps, reused from call to call (a network runs the
        operation once per band of rows); the result does not change.
    carry : FrameCarry, optional
        For a clip cut into calls whose *targets* follow on from one call to the next (each
        call's grid holding the frames from ``s1`` before its targets, or the clip's first,
        to ``2 s1`` after them, or the clip's last): the sums of the pairs that reach the next
        call's targets are handed on, instead of that call visiting them again. The result
        does not change (bit for bit). Used by the kernel for images and clips; others
        compute every call's pairs afresh and leave it empty.
    weight_sums : bool
        Also return ``sum_j f(x_i, x_j)`` (1 for ``j = i``), one more channel after *y*'s:
        how many positions an output averages. The classic case only (the Gaussian affinity
        of a shared map, the sum normaliser, a patch in the first and last axes' plane).
    padded : bool
        *left*, *right* and *values* already hold their reflection by the patch and search
        radii along each axis (as :func:`~.buffers.reflect_padded` lays them out, or a writer
        of the inside with :func:`~.buffers.reflect_borders`), so none is copied; the grid
        is their shape less those pads. A patch of one position and one strength only (the
        network's block), and no radius may reach past its axis.

    Returns
    -------
    numpy.ndarray
        float32 ``(M, n0, n1, n2)``, the operation's output *y*; ``(M, n0, hi - lo, n2)``
        with *targets*; ``M + 1`` channels with *weight_sums*.

    Raises
    ------
    ValueError
        If a name is unknown, shapes disagree, a radius is negative, *h* is not positive,
        *carry* holds sums for another grid, *weight_sums* is asked outside that case, or
        *padded* maps do not fit their radii.

    Notes
    -----
    Cost ``O(N * S * (K + M))`` for ``N`` positions and ``S = prod(2 s + 1)`` offsets (half that
    with a shared feature map), independent of the patch size thanks to separable box sums.
    Memory: the padded maps plus one output-sized accumulator (and, with *carry*, the
    sums of ``2 s1`` frames handed on). A normaliser ``C = 0`` (possible
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
    inv_h2 = _inverse_square(h)
    if split < values.shape[0] and inv_h2b == inv_h2:
        # The second strength is the first: one set of weights and sums does for every
        # channel, with the same numbers (colour with the chroma at h: 0.9x the time).
        split, inv_h2b = values.shape[0], np.float32(0.0)
    squarings = _squarings(inv_h2, inv_h2b)
    grid = left.shape[1:]
    requested = tuple(int(r) for r in patch_radius)
    if padded:
        grid = _inside(grid, requested, search_radius)
    lo1, hi1 = (0, grid[1]) if targets is None else (int(targets[0]), int(targets[1]))
    if not 0 <= lo1 < hi1 <= grid[1]:
        raise ValueError(f"targets {targets} must satisfy 0 <= lo < hi <= {grid[1]}")
    symmetric = shared
    patch = _clamp_radius(patch_radius, grid, "patch radius")
    search = _clamp_radius(search_radius, grid, "search radius")
    k0, k1, k2 = _patch_weights(patch_weights, requested, patch)
    pad = [(0, 0)] + [(p + s, p + s) for p, s in zip(patch, search, strict=True)]
    def pad_by(maps, name, widths):
        shape = tuple(n + a + b for n, (a, b) in zip(maps.shape, widths, strict=True))
        return reflect_padded(maps, widths, np.empty(shape, maps.dtype) if workspace is None
                              else workspace.take(name, shape))

    n_positions = int(np.prod([2 * s + 1 for s in search]))
    planar = _planar(spec, norm.name, symmetric, patch)
    if padded and (max(patch) > 0 or split < values.shape[0]):
        raise ValueError("padded maps need a patch of one position and one strength")
    if weight_sums and not planar:
        raise ValueError("weight_sums needs the gaussian affinity of a shared map, the sum "
                         "normaliser and a patch in the plane of the first and last axes")
    out = np.empty((values.shape[0] + weight_sums, grid[0], hi1 - lo1, grid[2]), np.float32)
    # Planes read or written per position and offset: the statistic's maps, and the values
    # with their accumulators when they are maps of their own.
    planes = left.shape[0] * (1 if shared else 2) + (0 if values is left else 2 * values.shape[0])
    offsets = search_offsets(search, half=symmetric)
    if planar:
        # The classic operation on planes: its own kernel, each row's steps in sweeps of
        # their own, frame by frame (see .planar). Its maps lie frame by frame (the second
        # axis first), so that a frame's rows are contiguous, and its strips are as tall as
        # one frame's.
        k0, along2 = _written_out(k0), _written_out((k2 * k1[0]).astype(np.float32))
        # The last axis takes GROUP - 1 more columns either side: a group of offsets
        # (.groups) reads that far past its last offset's pairs and before its first.
        swapped = [pad[0], (search[1], search[1]), (k0.size // 2 + search[0],) * 2,
                   (along2.size // 2 + search[2] + GROUP - 1,) * 2]
        frames_first = pad_by(left.transpose(0, 2, 1, 3), "engine-left", swapped)
        values_first = (frames_first if values is left
                        else pad_by(values.transpose(0, 2, 1, 3), "engine-values", swapped))
        strip = _strip_height((grid[0], 1, grid[2]), patch, planes)
        if search[1] > 0:
            # A clip's offsets grouped by frame step (the zero offset's group first, in its
            # order), so that a frame's partner frame stays in cache over a run of offsets.
            offsets = offsets[np.lexsort((np.arange(len(offsets)), offsets[:, 1],
                                          offsets[:, 1] != 0))]
        visits, sums_in, sums_out = _frame_sums(carry, lo1, hi1, search[1], grid,
                                                values.shape[0], split)
        # The kernel's version (a strength per value channel: a grey image, or two
        # strengths of one; or colour, the luminance's weights the chroma's squared) is
        # selected by the arguments its entry names as None (see the kernel's docstring).
        # (The squared version's groups hold rows of up to STRIDE - 2 GROUP columns.)
        version = ("own strengths" if split == 1 and values.shape[0] <= 2
                   else "squared" if (squarings and split == 1 and values.shape[0] == 3
                                      and left.shape[0] == 3
                                      and frames_first.shape[3] <= STRIDE - 2 * GROUP)
                   else "exponentials")
        groups = offset_groups(offsets, GROUP if version == "squared" else 1)
        nones = PLANAR_VERSIONS[version][1]
        arguments = (frames_first, values_first, out, offsets, groups, k0, along2,
                     np.float32(scale),
                     np.float32(bias), None if "inv_h2" in nones else inv_h2, inv_h2b,
                     squarings if version == "squared" else None,
                     None if "split" in nones else split, strip, lo1, grid[1],
                     *visits, sums_in, sums_out)
        notice_compile(nonlocal_planar_strips, version=version)
        _run_strips(nonlocal_planar_strips, arguments, -(-grid[0] // strip), offsets.shape[0])
        if carry is not None:
            carry.sums = sums_out if sums_out.shape[1] else None
        return out
    if carry is not None:
        carry.sums = None
    if padded:
        left_padded, right_padded, values_padded = left, right, values
    else:
        left_padded = pad_by(left, "engine-left", pad)
        right_padded = left_padded if shared else pad_by(right, "engine-right", pad)
        values_padded = left_padded if values is left else pad_by(values, "engine-values", pad)
    strip = _strip_height(grid, patch, planes)
    if max(patch) == 0 and split == values.shape[0]:
        # A patch of one position (the network's block): no box sums to share, so each
        # tile of targets visits the whole window at once (no half window by symmetry).
        factor = np.float32(k0[0] * k1[0] * k2[0] * np.float32(scale))
        arguments = (left_padded, right_padded, values_padded, out,
                     np.asarray(search, np.int64), spec.statistic, spec.kernel, norm.code,
                     factor, np.float32(bias), inv_h2, POINTWISE_TILE, strip, n_positions,
                     lo1, grid[1])
        _run_strips(nonlocal_pointwise_strips, arguments, -(-grid[0] // strip), n_positions)
        return out
    arguments = (left_padded, right_padded, values_padded, out, offsets,
                 np.asarray(patch, np.int64), k0, k1, k2, spec.statistic, spec.kernel,
                 norm.code, np.float32(scale), np.float32(bias), inv_h2, inv_h2b,
                 squarings, split, symmetric, strip, n_positions, lo1, grid[1])
    _run_strips(nonlocal_strips, arguments, -(-grid[0] // strip), offsets.shape[0])
    return out


def _frame_sums(carry, lo1, hi1, s1, grid, n_values, split):
    """Return the planar kernel's visited frames, and its sums handed in and on (*carry*)."""
    rows = n_values + (2 if split < n_values else 1)
    sums_in = np.zeros((rows, 0, grid[0], grid[2]), np.float32)
    if carry is None:
        return (lo1 - s1, hi1 + s1), sums_in, sums_in
    # The frames up to s1 after the first target were visited by the call before, if any.
    if carry.sums is not None:
        sums_in = carry.sums
        if (sums_in.shape[0] != rows or sums_in.shape[1] > min(2 * s1, grid[1] - lo1)
                or sums_in.shape[2:] != (grid[0], grid[2])):
            raise ValueError(f"carried sums {sums_in.shape} do not fit this call's grid")
    first = lo1 - s1 if carry.sums is None else lo1 + s1
    sums_out = np.empty((rows, min(hi1 + 2 * s1, grid[1]) - hi1, grid[0], grid[2]), np.float32)
    return (first, hi1 + s1), sums_in, sums_out


def _planar(spec, normaliser: str, symmetric: bool, patch) -> bool:
    """Tell whether :func:`~.planar.nonlocal_planar_strips` evaluates this operation."""
    return (symmetric and spec.statistic == SQUARED_DIFFERENCE
            and spec.kernel == GAUSSIAN_KERNEL and normaliser == "sum"
            and patch[1] == 0 and max(patch) > 0
            and 2 * max(patch[0], patch[2]) + 1 <= PLANAR_TAPS[-1])


def _run_strips(kernel, arguments: tuple, n_strips: int, n_offsets: int) -> None:
    """Run *kernel* over every strip, on :func:`engine_threads` threads that it waits for.

    Each thread takes the next strip not yet taken, so the threads stay busy whatever the
    strips cost. The calling thread only waits, which keeps the main thread free to take a
    signal: on Ctrl-C it tells the kernel to stop (within one offset), waits for the threads,
    and lets the KeyboardInterrupt go on.
    """
    cancel = np.zeros(1, np.int32)
    done = np.zeros(n_strips, np.int64)
    strips = iter(range(n_strips))
    taking = threading.Lock()
    failure: list[BaseException] = []

    def work() -> None:
        try:
            while not cancel[0]:
                with taking:
                    s = next(strips, None)
                if s is None:
                    return
                kernel(*arguments, s, 1, cancel, done)
        except BaseException as error:  # handed to the calling thread
            cancel[0] = 1
            failure.append(error)

    helpers = [threading.Thread(target=work, name="nlmeans-kernel", daemon=True)
               for _ in range(min(engine_threads(), n_strips))]
    report = _PROGRESS.get()
    try:
        for helper in helpers:
            helper.start()
        for helper in helpers:
            while helper.is_alive():
                helper.join(_POLL_SECONDS)
                if report is not None and helper.is_alive():
                    report(float(done.sum()) / max(n_strips * max(n_offsets - 1, 1), 1))
    except BaseException:
        cancel[0] = 1
        for helper in helpers:
            if helper.ident is not None:
                helper.join()
        raise
    if failure:
        raise failure[0]
    if report is not None:
        report(1.0)


def engine_threads() -> int:
    """Return how many threads an operation runs on (see :func:`set_engine_threads`).

    Returns
    -------
    int
        The number set, else ``NUMBA_NUM_THREADS`` (Numba's default: the cores).
    """
    return _THREADS[0] or config.NUMBA_NUM_THREADS


def set_engine_threads(threads: int | None) -> None:
    """Set how many threads every later operation of this process runs on.

    Parameters
    ----------
    threads : int or None
        At least 1; ``None`` goes back to ``NUMBA_NUM_THREADS``.

    Raises
    ------
    ValueError
        If *threads* is below 1.

    Notes
    -----
    Results do not depend on it (each strip of rows is computed the same way on any thread).
    """
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    _THREADS[0] = threads


def _as_planar(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 4:
        raise ValueError(f"{name} must have shape (channels, n0, n1, n2), got {array.shape}")
    return np.ascontiguousarray(array, dtype=np.float32)


def _inverse_square(h: float) -> np.float32:
    """``1 / h**2`` in float32; an h too small for float32 keeps only identical patches."""
    return np.float32(min(1.0 / (float(h) * float(h)), float(np.finfo(np.float32).max)))


def _squarings(inv_h2: np.float32, inv_h2b: np.float32) -> int:
    """``n`` where ``inv_h2 = 2**n inv_h2b`` exactly (1 <= n <= 4), else 0.

    The kernel then squares the second strength's weights ``n`` times for the first's,
    instead of a second exponential (chroma at twice luminance's h gives ``n = 2``).
    """
    for n in range(1, 5):
        if inv_h2b > 0 and inv_h2 == np.float32(2**n) * inv_h2b:
            return n
    return 0


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


def _written_out(weights: np.ndarray) -> np.ndarray:
    """Pad a patch's weights along an axis with zeros to the next side in :data:`PLANAR_TAPS`."""
    side = next(n for n in PLANAR_TAPS if n >= weights.size)
    edge = (side - weights.size) // 2
    return np.pad(weights, edge) if edge else weights


def _inside(padded_grid, patch_radius, search_radius) -> tuple[int, int, int]:
    """Return the grid inside maps padded by the radii; refuse radii a grid would clamp."""
    radii = [int(p) + int(s) for p, s in zip(patch_radius, search_radius, strict=True)]
    grid = tuple(n - 2 * r for n, r in zip(padded_grid, radii, strict=True))
    if any(r > max(n - 1, 0) for n, r in zip(grid, radii, strict=True)):
        raise ValueError(f"maps of {padded_grid} padded by {radii} leave {grid}, too small "
                         "for those radii")
    return grid


def _clamp_radius(radius, grid, what):
    radius = tuple(int(r) for r in radius)
    if len(radius) != 3 or min(radius) < 0:
        raise ValueError(f"{what} must be 3 non-negative integers, got {radius}")
    # Beyond size - 1 a window only revisits reflected copies of the same positions.
    return tuple(min(r, n - 1) for r, n in zip(radius, grid, strict=True))


def _strip_height(grid, patch, maps) -> int:
    rows = grid[0]
    plane = max(grid[1] * grid[2], 1)
    # Enough strips to balance the threads, tall enough that the halo of rows recomputed per
    # strip stays small, short enough that a strip's scratch planes stay in cache.
    by_threads = -(-rows // (4 * engine_threads()))
    by_cache = max(1, (1 << 18) // plane)
    if max(patch) == 0:
        # No halo to recompute (a patch of one position, the network's block, whose kernel
        # works tile by tile): short strips, which share the rows out evenly.
        by_cache = max(1, (1 << 18) // (plane * max(maps, 1)))
    return int(max(1, min(by_threads, by_cache, 128)))
