"""EXIF's sub-IFDs added to a TIFF that tifffile wrote (which writes none of its own).

A camera's exposure and GPS position live in EXIF's sub-IFDs, which a TIFF's first IFD points
to; :mod:`nlmeans_cli.io.metadata` carries the first IFD's tags as tifffile's keywords.
"""

from __future__ import annotations

import struct

__all__ = ["with_tiff_exif"]

_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825


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
