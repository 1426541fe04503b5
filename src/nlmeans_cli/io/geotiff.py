"""A TIFF's georeferencing (GeoTIFF) and GDAL's tags, carried from a TIFF into a TIFF.

Satellite, aerial and radar images place their pixels on the Earth with GeoTIFF's tags (the
pixel scale, tie points or a transformation, and the keys naming the projection); GDAL adds
its metadata (scales, offsets, band names) and the value that marks pixels with no data.
Denoising keeps every pixel where it was, so the tags stay true and are written back as they
were stored. Where the pixels were turned upright (a TIFF orientation), the georeferencing
no longer fits them and is dropped, with a note.

References
----------
.. [1] OGC, "GeoTIFF Standard", version 1.1 (2019).
.. [2] GDAL, "GTiff -- GeoTIFF File Format": the GDAL_METADATA and GDAL_NODATA tags.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GEO_TAGS", "gdal_nodata", "geo_extratags", "mark_nodata"]

#: The tags carried, by code.
GEO_TAGS = {33550: "ModelPixelScale", 33922: "ModelTiepoint", 34264: "ModelTransformation",
            34735: "GeoKeyDirectory", 34736: "GeoDoubleParams", 34737: "GeoAsciiParams",
            42112: "GDAL_METADATA", 42113: "GDAL_NODATA"}

_ASCII = 2
_NODATA = 42113


def geo_extratags(page, *, turned: bool, notes: list[str]) -> tuple:
    """Return a TIFF page's GeoTIFF and GDAL tags as tifffile's ``extratags``.

    Parameters
    ----------
    page : tifffile.TiffPage
        The first page.
    turned : bool
        Whether its pixels were turned upright on reading: the tags are then dropped.
    notes : list of str
        Where to say so.

    Returns
    -------
    tuple
        ``(code, type, count, value, True)`` per tag, as stored (text with its length left to
        tifffile); empty where the page has none.

    Notes
    -----
    ``O(1)``: at most :data:`GEO_TAGS`' tags, read from the page's directory.
    """
    found = [page.tags[code] for code in GEO_TAGS if code in page.tags]
    if found and turned:
        notes.append("GeoTIFF georeferencing dropped: the pixels were turned upright, off "
                     "their grid")
        return ()
    return tuple((tag.code, int(tag.dtype), 0 if int(tag.dtype) == _ASCII else tag.count,
                  tag.value, True) for tag in found)


def gdal_nodata(extratags: tuple) -> float | None:
    """Return GDAL's no-data value among a page's tags, or ``None`` (none, or not a number).

    Parameters
    ----------
    extratags : tuple
        As :func:`geo_extratags` returns them.

    Returns
    -------
    float or None
    """
    for code, _, _, value, _ in extratags:
        if code == _NODATA:
            try:
                return float(str(value).strip("\x00 "))
            except ValueError:
                return None
    return None


def mark_nodata(pixels: np.ndarray, nodata: float, notes: list[str]) -> np.ndarray | None:
    """Return where a still holds GDAL's no-data value, to be left out and written back.

    Parameters
    ----------
    pixels : numpy.ndarray
        A still's pixels.
    nodata : float
        The value that marks no data (a NaN one is missing already).
    notes : list of str
        Where to say what is done with them.

    Returns
    -------
    numpy.ndarray or None
        bool, per value; ``None`` where there are none.

    Notes
    -----
    ``O(N)``: one comparison.
    """
    if not np.isfinite(nodata) or not _holds(pixels.dtype, nodata):
        return None
    mask = pixels == np.asarray(nodata).astype(pixels.dtype)
    if not mask.any():
        return None
    count = int(np.count_nonzero(mask.reshape(pixels.shape[0], pixels.shape[1], -1).any(-1)))
    notes.append(f"{count} pixels hold GDAL's no-data value {nodata:g}: left out of the "
                 "denoising and written back as it")
    return mask


def _holds(dtype: np.dtype, value: float) -> bool:
    """Tell whether *dtype* holds *value* exactly."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return float(value).is_integer() and info.min <= value <= info.max
    return float(np.asarray(value).astype(dtype)) == value
