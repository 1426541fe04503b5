"""Running on Dask: batches on a ``distributed`` cluster, and huge images in overlapping tiles.

Nothing here is imported unless a user asks for a scheduler or tiles, so Dask stays an optional
extra (``pip install 'nlmeans_cli[dask]'``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from .batch import BatchItem, available_cores
from .tasks import DenoiseOptions, FileOutcome, denoise_file

__all__ = [
    "close",
    "connect",
    "denoise_tiled",
    "denoise_tiled_with_report",
    "run_batch_on_cluster",
    "tile_chunks",
]

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
    per_host: dict[str, int] = {}
    for address in cores:
        host = workers.get(address, {}).get("host", address)
        per_host[host] = per_host.get(host, 0) + 1
    return {address: max(1, count // per_host[workers.get(address, {}).get("host", address)])
            for address, count in cores.items()}


def _cluster_task(source, target, options, overwrite, skip_existing, threads) -> FileOutcome:
    """One file on a Dask worker, with that worker's share of its machine's cores."""
    import numba
    from distributed import get_worker

    wanted = threads.get(get_worker().address, 1)
    numba.set_num_threads(max(1, min(wanted, numba.config.NUMBA_NUM_THREADS)))
    return denoise_file(source, target, options, overwrite=overwrite,
                        skip_existing=skip_existing)


def run_batch_on_cluster(items: Sequence[BatchItem], client,
                         options: DenoiseOptions | None = None, *, overwrite: bool = False,
                         skip_existing: bool = False,
                         stop: Callable[[], bool] | None = None) -> Iterator[FileOutcome]:
    """Denoise every item as one task per file on a Dask cluster, yielding outcomes as they come.

    Parameters
    ----------
    items : sequence of BatchItem
        The files; workers read and write these paths themselves (a shared filesystem).
    client : distributed.Client
        From :func:`connect`.
    options : DenoiseOptions, optional
        Denoising options for every file.
    overwrite, skip_existing : bool
        As for :func:`nlmeans_cli.tasks.denoise_file`.
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
    options = options or DenoiseOptions()
    threads = _threads_by_worker(client)
    futures = {}
    for item in items:
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


def tile_chunks(length: int, tile: int, halo: int) -> tuple[int, ...]:
    """Split an axis into chunks of *tile*, merging a short last chunk into the one before.

    Parameters
    ----------
    length : int
        Axis length.
    tile : int
        Wanted chunk length.
    halo : int
        Overlap each chunk needs on each side; no chunk is left shorter than it.

    Returns
    -------
    tuple of int
        Chunk lengths summing to *length*.
    """
    tile = max(int(tile), 1)
    sizes = [tile] * (length // tile)
    rest = length - sum(sizes)
    if rest:
        if sizes and rest <= halo:
            sizes[-1] += rest
        else:
            sizes.append(rest)
    return tuple(sizes) or (length,)


def _denoise_block(block, sigma, h, patch_size, search_window, affinity, method, colour):
    from .denoising import denoise

    return denoise(block, sigma=sigma, h=h, patch_size=patch_size, search_window=search_window,
                   affinity=affinity, method=method, channel_axis=-1 if colour else None)


def denoise_tiled(image: np.ndarray, *, tile: int, client=None, sigma: float | None = None,
                  h: float | None = None, patch_size: int | None = None,
                  search_window: int | None = None, affinity: str = "gaussian",
                  method: str = "classic", channel_axis: int | None = None) -> np.ndarray:
    """Denoise an image in overlapping tiles; the result equals :func:`denoise`'s exactly.

    Parameters
    ----------
    image : numpy.ndarray
        As for :func:`nlmeans_cli.denoise`.
    tile : int
        Side of the tiles along every spatial axis (the last tile of an axis may be longer,
        up to *tile* plus twice the overlap).
    client : distributed.Client, optional
        Run the tiles on this cluster; ``None`` runs them here, one after another.
    sigma, h, patch_size, search_window, affinity, method, channel_axis
        As for :func:`nlmeans_cli.denoise`. Sigma, when estimated, is estimated once on the
        whole image, so every tile uses the same parameters.

    Returns
    -------
    numpy.ndarray
        The same array (shape, dtype and values) as :func:`nlmeans_cli.denoise` returns.

    Raises
    ------
    ValueError
        If *tile* is smaller than twice the overlap plus one, or as for ``denoise``.
    ImportError
        If ``dask`` is not installed.

    Notes
    -----
    Each tile is extended by an overlap of ``patch radius + search radius`` on every side
    (``dask.array.map_overlap``) and the extension is cropped afterwards: every output pixel
    depends only on input within that distance, and the engine's reflected padding applies
    only at the image's own edges. Memory per tile is about ``(tile + 2 overlap)^d`` times
    the per-pixel cost of ``denoise``; the cost is that of ``denoise`` plus the overlaps.
    """
    return denoise_tiled_with_report(
        image, tile=tile, client=client, sigma=sigma, h=h, patch_size=patch_size,
        search_window=search_window, affinity=affinity, method=method,
        channel_axis=channel_axis).image


def denoise_tiled_with_report(image: np.ndarray, *, tile: int, client=None,
                              sigma: float | None = None,
                  h: float | None = None, patch_size: int | None = None,
                  search_window: int | None = None, affinity: str = "gaussian",
                  method: str = "classic", channel_axis: int | None = None) -> np.ndarray:
    """Denoise like :func:`denoise_tiled`, and also return the parameters used.

    Parameters
    ----------
    image, tile, client, sigma, h, patch_size, search_window, affinity, method, channel_axis
        As for :func:`denoise_tiled`.

    Returns
    -------
    nlmeans_cli.denoising.Denoised
        The image and the parameters, as :func:`nlmeans_cli.denoise_with_report` gives them.

    Raises
    ------
    ValueError, ImportError
        As for :func:`denoise_tiled`.
    """
    try:
        import dask.array as da
    except ImportError:
        raise ImportError("Dask is not installed; pip install 'nlmeans_cli[dask]'") from None
    from .denoising import (
        Denoised,
        _channels_last,
        _resolve_parameters,
        estimate_noise,
        unit_scale,
    )
    from .formulation import AFFINITIES, lookup
    from .methods import METHODS

    image = np.asarray(image)
    affinity = lookup(AFFINITIES, affinity, "affinity").name
    method = lookup(METHODS, method, "method").name
    estimated = sigma is None
    if estimated:
        sigma = estimate_noise(image, channel_axis=channel_axis)
    pixels = _channels_last(image, channel_axis)
    spatial = pixels.shape[:-1]
    full_scale = unit_scale(image.dtype)
    _, h_unit, chosen_patch, chosen_window = _resolve_parameters(
        sigma, h, patch_size, search_window, full_scale=full_scale, ndim=len(spatial))
    # Radii as the engine clamps them on the whole image.
    halo = [min(chosen_patch // 2, n - 1) + min(chosen_window // 2, n - 1) for n in spatial]
    if tile < 2 * max(halo) + 1:
        raise ValueError(f"tile must be at least {2 * max(halo) + 1} (twice the overlap of "
                         f"{max(halo)} plus one), got {tile}")
    chunks = [tile_chunks(n, tile, 2 * d) for n, d in zip(spatial, halo, strict=True)]
    colour = channel_axis is not None
    array = da.from_array(pixels if colour else pixels[..., 0],
                          chunks=tuple(chunks) + ((pixels.shape[-1],) if colour else ()))
    depth = {axis: d for axis, d in enumerate(halo)}
    if colour:
        depth[len(spatial)] = 0
    result = array.map_overlap(
        _denoise_block, depth=depth, boundary="none", trim=True, dtype=image.dtype,
        # The options as given (only sigma resolved): every tile then derives h, patch and
        # window exactly as the whole image would, to the last bit.
        sigma=sigma, h=h, patch_size=patch_size, search_window=search_window,
        affinity=affinity, method=method, colour=colour)
    if client is not None:
        out = client.compute(result).result()
    else:
        # One tile at a time: each already uses every core.
        out = result.compute(scheduler="synchronous")
    if colour:
        out = np.moveaxis(out, -1, channel_axis % image.ndim)
    return Denoised(image=np.ascontiguousarray(out), sigma=float(sigma),
                    sigma_estimated=estimated, h=h_unit * full_scale, patch_size=chosen_patch,
                    search_window=chosen_window, affinity=affinity, method=method)
