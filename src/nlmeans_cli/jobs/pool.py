"""Denoising a batch on worker processes of this machine.

The local runner of ``nlm batch``. Nothing here prints; :func:`run_batch` yields one
:class:`~nlmeans_cli.jobs.file.FileOutcome` per file as it finishes, and the caller shows
progress.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

from ..io.folders import BatchItem
from .file import FileOutcome, JobOptions, denoise_file

__all__ = [
    "available_cores",
    "run_batch",
    "threads_per_worker",
    "worker_count",
]

#: How often a file is tried when its worker process dies under it (killed, out of memory).
ATTEMPTS = 2


def threads_per_worker(jobs: int, cores: int | None = None) -> int:
    """Numba threads for each of *jobs* workers so that together they fill, not flood, the cores.

    Parameters
    ----------
    jobs : int
        Number of worker processes.
    cores : int, optional
        Cores available; by default those this process may run on.

    Returns
    -------
    int
        At least 1.
    """
    cores = cores or available_cores()
    return max(1, cores // max(1, jobs))


def worker_count(jobs: int, files: int, cores: int | None = None) -> int:
    """Return how many worker processes a batch starts: what was asked, capped at the work.

    Parameters
    ----------
    jobs : int
        Worker processes asked for.
    files : int
        Files in the batch.
    cores : int, optional
        Cores available; by default those this process may run on.

    Returns
    -------
    int
        At least 1, at most *files* and the cores: a worker beyond either only waits, and
        costs a process start and its memory.
    """
    return max(1, min(jobs, files, cores or available_cores()))


def available_cores() -> int:
    """Return the number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _start_worker(threads: int, parent: int) -> None:
    """Set the worker's thread count and load the kernels once, before any file arrives.

    Numba starts as in ``nlm``'s own process, without SciPy's linear algebra
    (:func:`~nlmeans_cli.engine.start_numba_without_scipy`).
    """
    import signal

    import numba

    # Ctrl-C and SIGTERM reach the whole process group (a terminal, SLURM); the parent decides
    # when to stop, and a worker finishes the file it has. A worker whose parent is gone
    # stops at once instead: it is told by SIGTERM, asked for on the parent's death.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_terminate)
    # Born with both signals blocked (see _signals_blocked): what arrived meanwhile is now
    # delivered to the handlers above.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    _WORKER["parent"] = parent
    _ask_for_signal_on_parent_death(signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(143)
    import numpy as np

    from ..denoising import denoise
    from ..engine import set_engine_threads, start_numba_without_scipy

    start_numba_without_scipy()
    set_engine_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    denoise(np.zeros((8, 8), np.float32), sigma=0.1)


_STOP_SIGNALS = {2, 15}  # SIGINT, SIGTERM


@contextmanager
def _signals_blocked():
    """Block Ctrl-C and SIGTERM while worker processes may start.

    The workers inherit the block and are never interrupted while importing; the parent gets
    the signals once this ends.
    """
    import signal

    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# The worker's state, for its signal handler: its parent's process id, whether it is busy.
_WORKER: dict = {"parent": None, "busy": False}


def _on_terminate(signum, frame):
    if os.getppid() == _WORKER["parent"]:
        return  # the parent is alive and will stop the pool when it is time
    if _WORKER["busy"]:
        raise KeyboardInterrupt  # unwinds the write in progress, which removes its file
    os._exit(143)


def _ask_for_signal_on_parent_death(number: int) -> None:
    """Have the kernel send *number* to this process when its parent dies (Linux only)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(number), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: orphans end when the queue closes
        pass


def _denoise_in_worker(source, target, options, overwrite, skip_existing) -> FileOutcome:
    """Run :func:`denoise_file` in a worker; a worker orphaned meanwhile exits after it."""
    _WORKER["busy"] = True
    try:
        return denoise_file(source, target, options, overwrite=overwrite,
                            skip_existing=skip_existing)
    except KeyboardInterrupt:
        os._exit(143)
    finally:
        _WORKER["busy"] = False


def run_batch(items: Sequence[BatchItem], options: JobOptions | None = None, *,
              jobs: int = 1, overwrite: bool = False, skip_existing: bool = False,
              stop: Callable[[], bool] | None = None) -> Iterator[FileOutcome]:
    """Denoise every item, yielding outcomes as the files finish.

    Parameters
    ----------
    items : sequence of BatchItem
        The files, as from :func:`plan_batch`.
    options : JobOptions, optional
        Denoising options for every file; by default every option's default.
    jobs : int
        Worker processes, capped by :func:`worker_count` at the files and the cores. 1 runs
        in this process with every core's threads; more start a pool of processes, each
        loading the kernels once and using :func:`threads_per_worker` threads.
    overwrite, skip_existing : bool
        As for :func:`nlmeans_cli.jobs.file.denoise_file`.
    stop : callable, optional
        Asked before each file is handed out; once it returns true no more files start, the
        files in progress finish and the generator ends (a graceful Ctrl-C).

    Yields
    ------
    FileOutcome
        One per item, in the order they finish. A bad file gives a ``"failed"`` outcome and
        the batch goes on; a file whose worker dies is tried again on a fresh worker
        (``ATTEMPTS`` times in all) and then reported failed.

    Raises
    ------
    ValueError
        If *jobs* is below 1.

    Notes
    -----
    Outputs are written to temporary files and renamed, so an interrupted batch leaves no
    partial outputs, and a rerun with *skip_existing* resumes it.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    options = options or JobOptions()
    yield from (FileOutcome.unreadable(item) for item in items if item.problem)
    items = [item for item in items if not item.problem]
    jobs = worker_count(jobs, len(items))
    if jobs == 1:
        for item in items:
            if stop and stop():
                return
            yield denoise_file(item.source, item.target, options, overwrite=overwrite,
                               skip_existing=skip_existing)
        return
    yield from _run_pool(list(items), options, jobs, overwrite, skip_existing,
                         stop or (lambda: False))


def _run_pool(items, options, jobs, overwrite, skip_existing, stop):
    import multiprocessing

    # Fresh interpreters: forking a process whose thread pools are running is unsafe.
    context = multiprocessing.get_context("spawn")
    attempts = dict.fromkeys(range(len(items)), 0)
    queue = list(range(len(items)))
    while queue and not stop():
        broken = []
        pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker,
                                   initargs=(threads_per_worker(jobs), os.getpid()))
        pending = {}
        try:
            # A few files in flight per worker keeps them busy without committing the whole
            # queue to a pool that may break.
            while (queue and not stop()) or pending:
                while queue and len(pending) < 2 * jobs and not stop():
                    index = queue.pop(0)
                    attempts[index] += 1
                    with _signals_blocked():  # the pool starts workers as work arrives
                        future = pool.submit(_denoise_in_worker, items[index].source,
                                             items[index].target, options, overwrite,
                                             skip_existing)
                    pending[future] = index
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    index = pending.pop(future)
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        broken.append(index)
                if broken:
                    broken.extend(pending.values())
                    pending.clear()
                    break
        finally:
            # On Ctrl-C or an early stop, files not started are dropped; those running finish
            # or are interrupted, and either way leave no partial output.
            pool.shutdown(wait=True, cancel_futures=True)
        for index in broken:
            if attempts[index] < ATTEMPTS:
                queue.append(index)
            else:
                item = items[index]
                yield FileOutcome(str(item.source), str(item.target), "failed",
                                  error=f"{item.source}: the worker process died while "
                                        "denoising it (out of memory or killed)")
        queue.sort()
