"""Batches on a Dask ``distributed`` cluster: one task per file.

Nothing here is imported unless a user asks for a scheduler, so Dask stays an optional extra
(``pip install 'nlmeans_cli[dask]'``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from ..io.folders import BatchItem
from .file import FileOutcome, JobOptions, denoise_file
from .pool import available_cores, threads_per_worker

__all__ = ["RETRIES", "close", "connect", "run_batch_on_cluster"]

#: How often Dask may restart a file whose worker died before reporting it failed.
RETRIES = 2


def _require_distributed():
    try:
        import distributed
    except ImportError:
        raise ImportError(
            "Dask's distributed is not installed; pip install 'nlmeans_cli[dask]'") from None
    return distributed


def connect(scheduler: str):
    """Open a client on a scheduler address, or on a new local cluster for ``"local"``.

    Parameters
    ----------
    scheduler : str
        ``tcp://HOST:PORT`` (or any address Dask takes), or ``"local"`` to start a
        ``LocalCluster`` of one single-threaded worker process per core for this run.

    Returns
    -------
    distributed.Client
        Close it when done (closing also stops a local cluster it started).

    Raises
    ------
    ImportError
        If ``distributed`` is not installed.
    OSError
        If the scheduler cannot be reached.
    """
    distributed = _require_distributed()
    if scheduler == "local":
        cluster = distributed.LocalCluster(n_workers=available_cores(), threads_per_worker=1,
                                           processes=True, dashboard_address=":0")
        client = distributed.Client(cluster)
        client._nlm_cluster = cluster  # closed with the client, below
        return client
    try:
        return distributed.Client(scheduler, timeout="20s")
    except (OSError, TimeoutError) as error:
        raise OSError(f"cannot reach the Dask scheduler at {scheduler} ({error})") from None


def close(client) -> None:
    """Close a client from :func:`connect`, and the local cluster it started, if any."""
    cluster = getattr(client, "_nlm_cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def _threads_by_worker(client) -> dict[str, int]:
    """Numba threads per worker so that the workers of one machine share its cores."""
    cores = client.run(available_cores)
    workers = client.scheduler_info()["workers"]
    host = {address: workers.get(address, {}).get("host", address) for address in cores}
    per_host: dict[str, int] = {}
    for address in cores:
        per_host[host[address]] = per_host.get(host[address], 0) + 1
    return {address: threads_per_worker(per_host[host[address]], count)
            for address, count in cores.items()}


def _cluster_task(source, target, options, overwrite, skip_existing, threads) -> FileOutcome:
    """One file on a Dask worker, with that worker's share of its machine's cores."""
    import numba
    from distributed import get_worker

    from ..engine import set_engine_threads

    wanted = threads.get(get_worker().address, 1)
    set_engine_threads(max(1, min(wanted, numba.config.NUMBA_NUM_THREADS)))
    return denoise_file(source, target, options, overwrite=overwrite,
                        skip_existing=skip_existing)


def run_batch_on_cluster(items: Sequence[BatchItem], client,
                         options: JobOptions | None = None, *, overwrite: bool = False,
                         skip_existing: bool = False,
                         stop: Callable[[], bool] | None = None) -> Iterator[FileOutcome]:
    """Denoise every item as one task per file on a Dask cluster, yielding outcomes as they come.

    Parameters
    ----------
    items : sequence of BatchItem
        The files; workers read and write these paths themselves (a shared filesystem).
    client : distributed.Client
        From :func:`connect`.
    options : JobOptions, optional
        Denoising options for every file.
    overwrite, skip_existing : bool
        As for :func:`nlmeans_cli.jobs.file.denoise_file`.
    stop : callable, optional
        Once it returns true, files not yet started are cancelled and the generator ends.

    Yields
    ------
    FileOutcome
        One per item. A file whose worker dies is rerun by Dask on another worker
        (``RETRIES`` times); after that it is reported failed, and a rerun with
        *skip_existing* completes the batch. Outputs are written atomically, so a dead worker
        never leaves a partial file.
    """
    distributed = _require_distributed()
    options = options or JobOptions()
    threads = _threads_by_worker(client)
    futures = {}
    yield from (FileOutcome.unreadable(item) for item in items if item.problem)
    for item in (item for item in items if not item.problem):
        future = client.submit(_cluster_task, str(item.source), str(item.target), options,
                               overwrite, skip_existing, threads, pure=False, retries=RETRIES)
        futures[future] = item
    pending = set(futures)
    try:
        for future in distributed.as_completed(futures):
            pending.discard(future)
            item = futures[future]
            try:
                yield future.result()
            except Exception as error:  # the worker died or the task could not run
                yield FileOutcome(str(item.source), str(item.target), "failed",
                                  error=f"{item.source}: the Dask task failed "
                                        f"({type(error).__name__}: {error})")
            if stop and stop():
                break
    finally:
        client.cancel(list(pending))
