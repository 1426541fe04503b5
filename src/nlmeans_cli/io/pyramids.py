"""A TIFF's pyramid: the reduced-resolution levels viewers of large images open first.

A pyramidal TIFF (OME-TIFF's SubIFDs, or reduced pages after the image, as QuPath, bfconvert
and GDAL's overviews write them) holds the image again at halved sizes, so that a viewer can
show any part of it at any zoom without reading it all. Copied from the input, the levels
would show the noise the full image no longer has; they are made again from the denoised
image instead, at the input's sizes, and stored as the input stored them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Pyramid", "pyramid_name", "pyramid_of", "reduced_level"]


@dataclass(frozen=True)
class Pyramid:
    """The reduced-resolution levels an output is to hold.

    Attributes
    ----------
    shapes : tuple of (int, int)
        Each level's rows and columns, largest first.
    in_subifds : bool
        Whether the levels hang off the image's page as SubIFDs (OME-TIFF's way), rather
        than following it as pages of their own.
    """

    shapes: tuple[tuple[int, int], ...]
    in_subifds: bool


def pyramid_of(tiff, page) -> Pyramid | None:
    """Return the pyramid whose full-resolution level is *page*, or ``None``.

    Parameters
    ----------
    tiff : tifffile.TiffFile
        The open file.
    page : tifffile.TiffPage
        Its full-resolution image.

    Returns
    -------
    Pyramid or None
        The reduced SubIFDs of *page*, every one (tifffile's series hold the levels of one
        sampling factor only); else the reduced pages tifffile's series take for its levels
        (a thumbnail is a series of its own, not a level). ``None`` where there are none.

    Notes
    -----
    Reads the levels' headers, not their pixels.
    """
    if page.subifds:
        shapes = tuple(shape for shape in _subifd_shapes(tiff, page)
                       if shape[0] <= page.imagelength and shape[1] <= page.imagewidth
                       and shape != (page.imagelength, page.imagewidth))
        return Pyramid(shapes, True) if shapes else None
    series = tiff.series[0] if tiff.series else None
    if series is None or len(series.levels) < 2 or series.keyframe.offset != page.offset:
        return None
    shapes = tuple((int(level.keyframe.imagelength), int(level.keyframe.imagewidth))
                   for level in series.levels[1:])
    return Pyramid(shapes, False)


def _subifd_shapes(tiff, page) -> list[tuple[int, int]]:
    """Return the rows and columns of *page*'s reduced-resolution SubIFDs, in order."""
    import tifffile

    shapes = []
    for number, offset in enumerate(page.subifds):
        tiff.filehandle.seek(offset)
        level = tifffile.TiffPage(tiff, index=(page.index, number))
        if level.is_reduced:
            shapes.append((int(level.imagelength), int(level.imagewidth)))
    return shapes


def pyramid_name(pyramid: Pyramid) -> str:
    """Return how a note names *pyramid*: ``"the pyramid's 2 reduced-resolution levels"``."""
    count = len(pyramid.shapes)
    return f"the pyramid's {count} reduced-resolution level{'s' if count > 1 else ''}"


def reduced_level(pixels: np.ndarray, shape: tuple[int, int], *, exact_values: bool = False
                  ) -> np.ndarray:
    """Return *pixels* (channels last) reduced to *shape* rows and columns, in their dtype.

    Parameters
    ----------
    pixels : numpy.ndarray
        ``(H, W)`` or ``(H, W, C)``.
    shape : tuple of (int, int)
        The level's rows and columns, at most ``(H, W)``.
    exact_values : bool
        Keep every value one the image holds (nearest pixel: a no-data value must not be
        blended into its neighbours); otherwise averaged.

    Returns
    -------
    numpy.ndarray
        The level, integers rounded and clipped to their type.

    Notes
    -----
    A level a whole factor smaller (its sides rounded up or down, as pyramids' writers
    round them) is the mean of each block of that many pixels, the edge repeated to fill
    the last; any other size is resampled with anti-aliasing (scikit-image's ``resize``).
    ``O(H W)``.
    """
    factors = [round(side / level) for side, level in zip(pixels.shape[:2], shape, strict=True)]
    whole = all(factor >= 1 and level in (side // factor, -(-side // factor))
                for side, level, factor in zip(pixels.shape[:2], shape, factors,
                                                   strict=True))
    if exact_values or not whole:
        from skimage.transform import resize

        level = resize(pixels, tuple(shape) + pixels.shape[2:], order=0 if exact_values else 1,
                       anti_aliasing=not exact_values, preserve_range=True)
    else:
        rows, columns = shape[0] * factors[0], shape[1] * factors[1]
        cut = pixels[:rows, :columns]  # a side rounded down leaves its last pixels out
        padded = np.pad(cut, [(0, rows - cut.shape[0]), (0, columns - cut.shape[1])]
                        + [(0, 0)] * (pixels.ndim - 2), mode="edge")
        level = padded.reshape(shape[0], factors[0], shape[1], factors[1],
                               *pixels.shape[2:]).mean(axis=(1, 3))
    if np.issubdtype(pixels.dtype, np.integer):
        limits = np.iinfo(pixels.dtype)
        level = np.clip(np.rint(level), limits.min, limits.max)
    return level.astype(pixels.dtype)
