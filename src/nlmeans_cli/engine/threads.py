"""Work shared out over the engine's threads, on a pool kept for the process.

:func:`~.operation.nonlocal_operation` runs its strips on threads of its own (it must stop
them on Ctrl-C); shorter work in shares fixed in advance (the unary maps of :mod:`.unary`, the
learned network's convolutions) goes through :func:`on_engine_threads`, whose pool's threads
outlive the call: starting two threads costs more than a millisecond's map.
"""

from __future__ import annotations

__all__ = ["even_spans", "on_engine_threads"]

# A pool (a concurrent.futures.ThreadPoolExecutor) for each number of helpers asked for, the
# calling thread taking the first share.
_POOLS: dict = {}


def on_engine_threads(function, shares: list) -> None:
    """Call ``function(share)`` for every share at once, on threads kept for the process.

    Parameters
    ----------
    function : callable
        Work that releases the GIL for most of its time (Numba ``nogil`` kernels, BLAS).
    shares : list
        One argument per thread; the first runs on the calling thread.

    Notes
    -----
    Returns when every call has; the first exception raised is raised here.
    """
    futures = []
    if len(shares) > 1:
        pool = _POOLS.get(len(shares) - 1)
        if pool is None:
            # Imported here: 3 ms of a grey run's start-up, which never shares work out so.
            from concurrent.futures import ThreadPoolExecutor

            pool = _POOLS[len(shares) - 1] = ThreadPoolExecutor(len(shares) - 1,
                                                                "nlm-engine")
        futures = [pool.submit(function, share) for share in shares[1:]]
    try:
        function(shares[0])
    finally:
        for future in futures:
            future.result()


def even_spans(n: int, parts: int) -> list[tuple[int, int]]:
    """Cut ``range(n)`` into at most *parts* contiguous spans ``(lo, hi)`` of near-equal length.

    Parameters
    ----------
    n : int
        The positions (rows, elements) to share out.
    parts : int
        The most spans wanted (one per thread).

    Returns
    -------
    list of tuple of int
        ``max(1, min(parts, n))`` spans in order, covering ``[0, n)``: the shares of
        :func:`on_engine_threads`.
    """
    parts = max(1, min(parts, n))
    bounds = [n * k // parts for k in range(parts + 1)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))
