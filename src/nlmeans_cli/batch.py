"""Denoising folders: finding the images, running them on worker processes, reporting.

The library part of ``nlm batch``. Nothing here prints; :func:`run_batch` yields one
:class:`~nlmeans_cli.tasks.FileOutcome` per file as it finishes, and the caller shows progress.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from pathlib import Path

from .files import FORMATS
from .media import SEQUENCE_FORMATS
from .tasks import DenoiseOptions, FileOutcome, denoise_file

__all__ = [
    "DEFAULT_PATTERNS",
    "BatchItem",
    "available_cores",
    "find_images",
    "plan_batch",
    "run_batch",
    "threads_per_worker",
    "write_report",
]

#: Every readable image extension, in upper and lower case.
DEFAULT_PATTERNS: tuple[str, ...] = tuple(
    f"*{extension}" for extension in sorted(set(FORMATS) | set(SEQUENCE_FORMATS)))

#: How often a file is tried when its worker process dies under it (killed, out of memory).
ATTEMPTS = 2


@dataclass(frozen=True)
class BatchItem:
    """One file of a batch: where it is read and where its result goes."""

    source: Path
    target: Path


def find_images(root: str | os.PathLike, *, patterns: Sequence[str] = DEFAULT_PATTERNS,
                recursive: bool = False, exclude: str | os.PathLike | None = None) -> list[Path]:
    """List the files under *root* whose names match any of *patterns*.

    Parameters
    ----------
    root : path-like
        The folder to search.
    patterns : sequence of str
        Shell patterns matched against file names, case-insensitively.
    recursive : bool
        Descend into subfolders.
    exclude : path-like, optional
        A folder left out of the search (the output folder, when it lies inside *root*).

    Returns
    -------
    list of pathlib.Path
        Sorted paths. Hidden files and folders (names starting with ``.``), among them the
        temporary files of writes in progress, are left out.

    Raises
    ------
    NotADirectoryError
        If *root* is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder")
    lowered = [pattern.lower() for pattern in patterns]
    excluded = Path(exclude).resolve() if exclude is not None else None
    found = []
    for folder, subfolders, names in os.walk(root):
        here = Path(folder)
        subfolders[:] = sorted(
            name for name in subfolders
            if recursive and not name.startswith(".")
            and (excluded is None or (here / name).resolve() != excluded)
        )
        for name in names:
            if name.startswith("."):
                continue
            if any(fnmatch.fnmatchcase(name.lower(), pattern) for pattern in lowered):
                found.append(here / name)
    return sorted(found)


def plan_batch(in_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
               patterns: Sequence[str] = DEFAULT_PATTERNS,
               recursive: bool = False) -> list[BatchItem]:
    """Pair every image under *in_dir* with its place in *out_dir* (the same relative path).

    Parameters
    ----------
    in_dir, out_dir : path-like
        Source and destination folders. *out_dir* may lie inside *in_dir*; it is not searched.
    patterns, recursive
        As for :func:`find_images`.

    Returns
    -------
    list of BatchItem
        In sorted order of the sources.

    Raises
    ------
    NotADirectoryError
        If *in_dir* is not a folder.
    ValueError
        If *out_dir* is *in_dir*: every output would replace its input.
    """
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    if out_dir.exists() and in_dir.exists() and os.path.samefile(in_dir, out_dir):
        raise ValueError(f"{out_dir}: the output folder is the input folder")
    sources = find_images(in_dir, patterns=patterns, recursive=recursive, exclude=out_dir)
    return [BatchItem(source, out_dir / source.relative_to(in_dir)) for source in sources]


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


def available_cores() -> int:
    """Return the number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _start_worker(threads: int) -> None:
    """Set the worker's thread count and load the kernels once, before any file arrives."""
    import signal

    import numba

    # Ctrl-C reaches the whole process group; the parent decides when to stop, and a worker
    # always finishes the file it has.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import numpy as np

    from .denoising import denoise

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    denoise(np.zeros((8, 8), np.float32), sigma=0.1)


def run_batch(items: Sequence[BatchItem], options: DenoiseOptions | None = None, *,
              jobs: int = 1, overwrite: bool = False, skip_existing: bool = False,
              stop: Callable[[], bool] | None = None) -> Iterator[FileOutcome]:
    """Denoise every item, yielding outcomes as the files finish.

    Parameters
    ----------
    items : sequence of BatchItem
        The files, as from :func:`plan_batch`.
    options : DenoiseOptions, optional
        Denoising options for every file; by default every option's default.
    jobs : int
        Worker processes. 1 runs in this process with every core's threads; more start a pool
        of processes, each loading the kernels once and using
        :func:`threads_per_worker` threads.
    overwrite, skip_existing : bool
        As for :func:`nlmeans_cli.tasks.denoise_file`.
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
    options = options or DenoiseOptions()
    if jobs == 1 or len(items) <= 1:
        for item in items:
            if stop and stop():
                return
            yield denoise_file(item.source, item.target, options, overwrite=overwrite,
                               skip_existing=skip_existing)
        return
    yield from _run_pool(list(items), options, min(jobs, len(items)), overwrite,
                         skip_existing, stop or (lambda: False))


def _run_pool(items, options, jobs, overwrite, skip_existing, stop):
    import multiprocessing

    # Fresh interpreters: forking a process whose thread pools are running is unsafe.
    context = multiprocessing.get_context("spawn")
    attempts = dict.fromkeys(range(len(items)), 0)
    queue = list(range(len(items)))
    while queue and not stop():
        broken = []
        pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker,
                                   initargs=(threads_per_worker(jobs),))
        pending = {}
        try:
            # A few files in flight per worker keeps them busy without committing the whole
            # queue to a pool that may break.
            while (queue and not stop()) or pending:
                while queue and len(pending) < 2 * jobs and not stop():
                    index = queue.pop(0)
                    attempts[index] += 1
                    future = pool.submit(denoise_file, items[index].source,
                                         items[index].target, options, overwrite=overwrite,
                                         skip_existing=skip_existing)
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


REPORT_FIELDS = ("input", "output", "status", "sigma", "seconds", "error")


def write_report(path: str | os.PathLike, outcomes: Sequence[FileOutcome]) -> Path:
    """Write a per-file report, CSV or JSON by the extension of *path*.

    Parameters
    ----------
    path : path-like
        ``.csv`` or ``.json``; written atomically.
    outcomes : sequence of FileOutcome
        The files.

    Returns
    -------
    pathlib.Path
        The report's path.

    Raises
    ------
    ValueError
        If the extension is neither ``.csv`` nor ``.json``.
    OSError
        If the file cannot be written.

    Notes
    -----
    Fields: input, output, status, sigma (0-255 scale, empty when not reached), seconds,
    error.
    """
    path = Path(path)
    extension = path.suffix.lower()
    if extension not in (".csv", ".json"):
        raise ValueError(f"{path}: report must be .csv or .json, got {extension or '(none)'}")
    rows = []
    for outcome in outcomes:
        row = {key: value for key, value in asdict(outcome).items() if key in REPORT_FIELDS}
        row["seconds"] = round(row["seconds"], 4)
        if row["sigma"] is not None:
            row["sigma"] = round(row["sigma"], 4)
        rows.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    with open(temporary, "w", newline="") as handle:
        if extension == ".json":
            json.dump(rows, handle, indent=1)
            handle.write("\n")
        else:
            writer = csv.DictWriter(handle, fieldnames=REPORT_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    os.replace(temporary, path)
    return path
