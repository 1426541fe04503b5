"""A file's XMP packet (Adobe's Extensible Metadata Platform), made fit to carry on.

Photographers' files keep their ratings, keywords, captions, rights and editing history in
XMP: a JPEG's or WebP's ``xmp`` (Pillow reads and writes it), a PNG's ``iTXt`` chunk with the
keyword :data:`PNG_KEYWORD`, TIFF tag :data:`TIFF_TAG`. It is carried as it came, but for
what would be wrong of the denoised file: its orientation where the pixels were turned
upright (and its width and height, where they turned a quarter), and a thumbnail (it shows
the noisy image).

References
----------
.. [1] Adobe, "XMP Specification Part 3: Storage in Files" (2020).
"""

from __future__ import annotations

import re

__all__ = ["JPEG_MOST_XMP", "PNG_KEYWORD", "QUARTER_TURNS", "TIFF_TAG", "carried_xmp",
           "png_xmp_chunk"]

#: The keyword of a PNG's ``iTXt`` chunk that holds XMP.
PNG_KEYWORD = "XML:com.adobe.xmp"

#: The TIFF tag that holds XMP (XMLPacket).
TIFF_TAG = 700

#: The most bytes of XMP one JPEG APP1 segment holds (65533 less its namespace header);
#: larger packets are split as "extended XMP", which is not written here.
JPEG_MOST_XMP = 65504

# tiff:Orientation as an attribute (orientation="6") or an element (<...>6</...>).
_ORIENTATION = re.compile(rb'(tiff:Orientation\s*=\s*["\'])\s*\d+\s*(["\'])'
                          rb"|(<tiff:Orientation>)\s*\d+\s*(</tiff:Orientation>)")
#: The EXIF (and TIFF) orientations that turn the pixels a quarter: width and height trade.
QUARTER_TURNS = (5, 6, 7, 8)

# The widths and heights that then trade places.
_DIMENSIONS = ((b"tiff:ImageWidth", b"tiff:ImageLength"),
               (b"exif:PixelXDimension", b"exif:PixelYDimension"))
# xmp:Thumbnails (xap: in older files), and everything it holds.
_THUMBNAILS = re.compile(rb"<(xmp|xap):Thumbnails\b.*?</\1:Thumbnails>", re.DOTALL)


def carried_xmp(packet: bytes | str | None, *, orientation: int, notes: list[str]
                ) -> bytes | None:
    """Return an XMP packet as the denoised file should carry it.

    Parameters
    ----------
    packet : bytes or str or None
        The packet as read (UTF-8 where text).
    orientation : int
        The EXIF or TIFF orientation the pixels were turned upright by on reading (1: none):
        the packet's ``tiff:Orientation`` is then set to 1, as the EXIF's is, and where it
        turned them a quarter, its widths and heights (``tiff:ImageWidth`` and
        ``tiff:ImageLength``, ``exif:PixelXDimension`` and ``exif:PixelYDimension``) trade
        places.
    notes : list of str
        Where to say what was dropped.

    Returns
    -------
    bytes or None
        The packet, ``None`` where empty.

    Notes
    -----
    ``O(n)`` in the packet's length: two searches of its text, no XML parsing (the packet is
    written back byte for byte elsewhere).
    """
    if not packet:
        return None
    data = packet.encode("utf-8") if isinstance(packet, str) else bytes(packet)
    if orientation not in (0, 1):
        data = _ORIENTATION.sub(lambda match: b"1".join(
            group for group in match.groups() if group is not None), data)
    if orientation in QUARTER_TURNS:
        for first, second in _DIMENSIONS:
            data = _swapped(data, first, second)
    data, thumbnails = _THUMBNAILS.subn(b"", data)
    if thumbnails:
        notes.append("the XMP thumbnail dropped (it shows the noisy image)")
    return data.strip(b"\x00") or None


def _swapped(data: bytes, first: bytes, second: bytes) -> bytes:
    """Return *data* with the values of two properties (attributes or elements) swapped."""
    spans = [_value_span(data, name) for name in (first, second)]
    if None in spans or spans[0] == spans[1]:
        return data
    (a, b), (c, d) = sorted(spans)
    return data[:a] + data[c:d] + data[b:c] + data[a:b] + data[d:]


def _value_span(data: bytes, name: bytes) -> tuple[int, int] | None:
    """Return where a property's value lies, written as an attribute or as an element."""
    escaped = re.escape(name)
    for pattern in (rb"" + escaped + rb"""\s*=\s*["']([^"']*)["']""",
                    rb"<" + escaped + rb">([^<]*)</" + escaped + rb">"):
        match = re.search(pattern, data)
        if match:
            return match.span(1)
    return None


def png_xmp_chunk(packet: bytes) -> tuple[bytes, bytes]:
    """Return the PNG chunk, type and data, that holds an XMP *packet* (uncompressed ``iTXt``).

    Parameters
    ----------
    packet : bytes
        UTF-8 XMP.

    Returns
    -------
    tuple of (bytes, bytes)
    """
    # Keyword, then no compression (flag and method 0), no language, no translated keyword.
    return b"iTXt", PNG_KEYWORD.encode("latin-1") + b"\x00\x00\x00\x00\x00" + packet
