"""Huge images in overlapping tiles (``dask.array.map_overlap``), equal to the whole-image result.

Tiling is a way of denoising one image: the parameters are resolved once for the whole image,
every tile is extended by the method's reach and denoised with that one setting, and the
extension is cropped. Dask is imported only here, when tiles are asked for, so it stays an
optional extra (``pip install 'nlmeans_cli[dask]'``).
"""

from __future__ import annotations

import numpy as np

from .denoising import denoise_with, resolve_parameters
from .methods import Setting
from .parameters import DEFAULT_NOISE
from .pixels import channels_last, rows_columns_swapped, turned_still

__all__ = ["denoise_tiled", "denoise_tiled_with", "tile_chunks"]


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


def denoise_tiled(image: np.ndarray, *, tile: int, client=None, sigma: float | None = None,
                  h: float | None = None, patch_size: int | None = None,
                  search_window: int | None = None, affinity: str | None = None,
                  method: str = "classic", channel_axis: int | None = None,
                  model: str | None = None, patch_kernel: str | None = None,
                  h_chroma: float | None = None,
                  spacing: tuple[float, float, float] | None = None,
                  noise: str = DEFAULT_NOISE, gain: float | None = None,
                  read_noise: float | None = None, black_level: float | None = None,
                  colour: bool = True) -> np.ndarray:
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
    sigma, h, patch_size, search_window, affinity, method, channel_axis, model, patch_kernel
        As for :func:`nlmeans_cli.denoise`. The parameters are resolved once for the whole
        image (sigma, when estimated, on the whole image), so every tile uses the same ones.
    h_chroma, spacing, noise, gain, read_noise, black_level, colour
        As for :func:`nlmeans_cli.denoise`; Poisson-Gaussian noise is fitted, and its
        transform's scale set, on the whole image too.

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
    Each tile is extended by the method's reach on every side (``dask.array.map_overlap``;
    patch radius plus search radius for the classic method, the sum of its stages' windows
    and filters for a learned model) and the extension is cropped afterwards: every output
    pixel depends only on input within that distance, and the engine's reflected padding
    applies only at the image's own edges. Memory per tile is about ``(tile + 2 overlap)^d`` times
    the per-pixel cost of ``denoise``; the cost is that of ``denoise`` plus the overlaps.
    """
    setting = resolve_parameters(image, sigma=sigma, h=h, patch_size=patch_size,
                                 search_window=search_window, affinity=affinity,
                                 method=method, channel_axis=channel_axis, model=model,
                                 patch_kernel=patch_kernel, h_chroma=h_chroma,
                                 spacing=spacing, noise=noise, gain=gain,
                                 read_noise=read_noise, black_level=black_level,
                                 colour=colour)
    return denoise_tiled_with(image, setting, tile=tile, client=client,
                              channel_axis=channel_axis)


def denoise_tiled_with(image: np.ndarray, setting: Setting, *, tile: int, client=None,
                       channel_axis: int | None = None) -> np.ndarray:
    """Denoise an image in overlapping tiles with a resolved setting.

    Parameters
    ----------
    image : numpy.ndarray
        As for :func:`nlmeans_cli.denoise`.
    setting : Setting
        From :func:`nlmeans_cli.resolve_parameters`, for the whole image.
    tile, client
        As for :func:`denoise_tiled`.
    channel_axis : int, optional
        As for :func:`nlmeans_cli.denoise`.

    Returns
    -------
    numpy.ndarray
        What :func:`nlmeans_cli.denoising.denoise_with` returns for the whole image.

    Raises
    ------
    ValueError, ImportError
        As for :func:`denoise_tiled`.
    """
    try:
        import dask.array as da
    except ImportError:
        raise ImportError("Dask is not installed; pip install 'nlmeans_cli[dask]'") from None
    image, turned = turned_still(np.asarray(image), channel_axis, setting.method)
    if turned:  # as denoise turns it, so that the tiles give its result
        out = denoise_tiled_with(image, setting, tile=tile, client=client,
                                 channel_axis=channel_axis)
        return np.ascontiguousarray(rows_columns_swapped(out, channel_axis))
    pixels = channels_last(image, channel_axis)
    spatial = pixels.shape[:-1]
    halo = setting.reach(spatial)
    if all(n <= tile for n in spatial):
        return denoise_with(image, setting, channel_axis=channel_axis)  # one tile
    if tile < 2 * max(halo) + 1:
        raise ValueError(f"tile must be at least {2 * max(halo) + 1} (twice the overlap of "
                         f"{max(halo)} plus one), got {tile}")
    chunks = [tile_chunks(n, tile, 2 * d) for n, d in zip(spatial, halo, strict=True)]
    colour = channel_axis is not None
    array = da.from_array(pixels if colour else pixels[..., 0],
                          chunks=tuple(chunks) + ((pixels.shape[-1],) if colour else ()))
    depth = dict(enumerate(halo))
    if colour:
        depth[len(spatial)] = 0
    result = array.map_overlap(_denoise_block, depth=depth, boundary="none", trim=True,
                               dtype=image.dtype, setting=setting, colour=colour)
    if client is not None:
        out = client.compute(result).result()
    else:
        # One tile at a time: each already uses every core.
        out = result.compute(scheduler="synchronous")
    if colour:
        out = np.moveaxis(out, -1, channel_axis % image.ndim)
    return np.ascontiguousarray(out)


def _denoise_block(block: np.ndarray, setting: Setting, colour: bool) -> np.ndarray:
    return denoise_with(block, setting, channel_axis=-1 if colour else None)
