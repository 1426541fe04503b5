"""IPTC records (captions, keywords, credit, rights), as JPEG and TIFF hold them.

Agencies and photographers keep a picture's caption, keywords, byline and rights in IPTC's
Information Interchange Model: in a JPEG, Photoshop's image resource :data:`IPTC_RESOURCE`
in an APP13 segment; in a TIFF, tag :data:`TIFF_TAG`. Only those records are carried: the
segment's other resources describe the old file (its thumbnail, its print settings). PNG and
WebP have no place for them (XMP, carried too, holds IPTC Core where the writer put it).

References
----------
.. [1] IPTC, "IPTC - NAA Information Interchange Model", version 4.2 (2014).
.. [2] Adobe, "Photoshop File Formats Specification": image resource blocks (2016).
"""

from __future__ import annotations

import struct

__all__ = ["IPTC_RESOURCE", "JPEG_MOST_IPTC", "TIFF_TAG", "with_jpeg_iptc"]

#: Photoshop's image resource that holds IPTC records.
IPTC_RESOURCE = 0x0404

#: The TIFF tag that holds IPTC records (IPTC-NAA). tifffile reads its bytes as stored,
#: whatever type the writer gave it (Photoshop's LONG included).
TIFF_TAG = 33723

_APP13_HEADER = b"Photoshop 3.0\x00"
# A resource block: signature, resource, empty (padded) name, then the records' length.
_RESOURCE_HEAD = b"8BIM" + struct.pack(">H", IPTC_RESOURCE) + b"\x00\x00"

#: The most bytes of records one APP13 segment holds, with its headers.
JPEG_MOST_IPTC = 65533 - len(_APP13_HEADER) - len(_RESOURCE_HEAD) - 4 - 1


def with_jpeg_iptc(encoded: bytes, records: bytes) -> bytes:
    """Return an encoded JPEG with an APP13 segment holding IPTC *records*.

    Parameters
    ----------
    encoded : bytes
        A JPEG as an encoder wrote it (no APP13 of its own).
    records : bytes
        At most :data:`JPEG_MOST_IPTC` bytes of IPTC records.

    Returns
    -------
    bytes
        The JPEG with the segment after its application segments (JFIF, EXIF, ICC, XMP).

    Raises
    ------
    ValueError
        If *records* do not fit one segment.

    Notes
    -----
    ``O(n)`` in the JPEG's length.
    """
    if len(records) > JPEG_MOST_IPTC:
        raise ValueError(f"{len(records)} bytes of IPTC records do not fit a JPEG segment")
    padding = b"\x00" * (len(records) % 2)  # resource data are padded to an even length
    body = (_APP13_HEADER + _RESOURCE_HEAD + struct.pack(">I", len(records)) + records
            + padding)
    segment = b"\xff\xed" + struct.pack(">H", len(body) + 2) + body
    position = 2  # after the start-of-image marker
    while (position + 4 <= len(encoded) and encoded[position] == 0xFF
           and 0xE0 <= encoded[position + 1] <= 0xEF):
        position += 2 + struct.unpack(">H", encoded[position + 2:position + 4])[0]
    return encoded[:position] + segment + encoded[position:]
