"""What a TIFF output writes of a :class:`nlmeans_cli.io.metadata.Metadata`.

First tifffile's keywords (:func:`tiff_tags`): resolution, description, ImageJ's or OME's
metadata, the profile, XMP, IPTC and EXIF's first-IFD tags. Then EXIF's sub-IFDs, which
tifffile does not write (a camera's exposure and GPS position), added to the encoded file
(:func:`with_tiff_exif`).
"""

from __future__ import annotations

import struct

from .iptc import TIFF_TAG as IPTC_TAG
from .metadata import TIFF_TEXT_TAGS, Metadata
from .xmp import TIFF_TAG as XMP_TAG

__all__ = ["record_extratags", "tiff_tags", "with_tiff_exif"]

_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825


def tiff_tags(metadata: Metadata) -> tuple[dict, list[str]]:
    """Return tifffile keywords that write *metadata* into a TIFF, and what is dropped.

    Parameters
    ----------
    metadata : Metadata
        What to write.

    Returns
    -------
    keywords : dict
        ``resolution``, ``resolutionunit``, ``description`` and ``extratags`` for
        ``tifffile.imwrite``.
    notes : list of str
        What a TIFF written by tifffile cannot hold.
    """
    keywords: dict = {}
    extratags = []
    notes = []
    if metadata.icc:
        extratags.append((34675, "B", len(metadata.icc), metadata.icc, True))
    extratags.extend(record_extratags(metadata.xmp, metadata.iptc, metadata.geo))
    if metadata.comment:
        notes.append("the JPEG comment dropped: a TIFF output holds none")
    if metadata.tiff_resolution:
        x, y, unit = metadata.tiff_resolution
        keywords["resolution"] = (x, y)
        keywords["resolutionunit"] = unit
    elif metadata.dpi:
        keywords["resolution"] = metadata.dpi
        keywords["resolutionunit"] = "INCH"
    if metadata.description:
        keywords["description"] = metadata.description
        keywords["metadata"] = None  # no second, JSON description from tifffile
    elif metadata.shaped:
        keywords["metadata"] = dict(metadata.shaped)  # tifffile adds the shape
    if metadata.imagej is not None:
        keywords["imagej"] = True
        keywords["metadata"] = dict(metadata.imagej)
        keywords.pop("description", None)
        keywords.pop("resolutionunit", None)  # ImageJ keeps its unit in its metadata
    elif metadata.ome:
        keywords["description"] = metadata.ome
        keywords["metadata"] = None
    if metadata.exif:
        exif = metadata.exif_tags()
        for tag in TIFF_TEXT_TAGS:
            value = exif.get(tag)
            if not isinstance(value, str) or not value:
                continue
            # tifffile writes these two itself; its keywords set them.
            if tag == 0x0131:
                keywords["software"] = value
            elif tag == 0x0132:
                keywords["datetime"] = value
            else:
                extratags.append((tag, "s", 0, value, True))

    if metadata.text:
        notes.append("PNG text chunks dropped: a TIFF output holds only a description")
    notes.extend(metadata.colour_chunks_note("TIFF"))
    if extratags:
        keywords["extratags"] = extratags
    return keywords, notes



def record_extratags(xmp: bytes | None, iptc: bytes | None, geo: tuple) -> list:
    """Return tifffile's ``extratags`` for a page's XMP, IPTC records and GeoTIFF tags.

    Parameters
    ----------
    xmp, iptc, geo
        As :func:`nlmeans_cli.io.metadata.page_records` returns them.

    Returns
    -------
    list
        ``(code, type, count, value, True)`` per tag present.
    """
    extratags = [(XMP_TAG, "B", len(xmp), xmp, True)] if xmp else []
    extratags.extend(geo)
    if iptc:  # UNDEFINED (7), as records of bytes
        extratags.append((IPTC_TAG, 7, len(iptc), iptc, True))
    return extratags


def with_tiff_exif(encoded: bytes, exif) -> bytes:
    """Return an encoded TIFF with an EXIF's EXIF and GPS sub-IFDs added.

    tifffile writes no EXIF sub-IFD, so the sub-IFDs are appended to the file, followed by a
    copy of the first IFD with the two pointer tags added, and the header is pointed at the
    copy (the old first IFD stays in the file, unreferenced).

    Parameters
    ----------
    encoded : bytes
        A classic (not Big) TIFF, as tifffile wrote it.
    exif : PIL.Image.Exif or None
        Whose EXIF and GPS sub-IFDs to add (``None``: none).

    Returns
    -------
    bytes
        The TIFF with the sub-IFDs (unchanged when there are none, or for a BigTIFF).

    Notes
    -----
    ``O(n)`` in the file's length: one copy.
    """
    from PIL import TiffImagePlugin

    subs = {pointer: exif.get_ifd(pointer) for pointer in (_EXIF_IFD, _GPS_IFD)
            if exif is not None and exif.get_ifd(pointer)}
    if not subs or encoded[2:4] not in (b"*\x00", b"\x00*"):
        return encoded
    order = "<" if encoded[:2] == b"II" else ">"
    (first,) = struct.unpack(f"{order}I", encoded[4:8])
    (count,) = struct.unpack(f"{order}H", encoded[first:first + 2])
    entries = {struct.unpack(f"{order}H", encoded[at:at + 2])[0]: encoded[at:at + 12]
               for at in range(first + 2, first + 2 + 12 * count, 12)}
    next_ifd = encoded[first + 2 + 12 * count:first + 6 + 12 * count]
    out = bytearray(encoded)
    for pointer, tags in subs.items():
        if len(out) % 2:
            out += b"\x00"  # IFDs start on a word boundary
        directory = TiffImagePlugin.ImageFileDirectory_v2(prefix=encoded[:2])
        for tag, value in tags.items():
            directory[tag] = value
        at = len(out)
        out += directory.tobytes(offset=at)
        entries[pointer] = struct.pack(f"{order}HHII", pointer, 4, 1, at)
    if len(out) % 2:
        out += b"\x00"
    copy = len(out)
    out += struct.pack(f"{order}H", len(entries))
    out += b"".join(entries[tag] for tag in sorted(entries)) + next_ifd
    out[4:8] = struct.pack(f"{order}I", copy)
    return bytes(out)
