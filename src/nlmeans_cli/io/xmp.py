"""A file's XMP packet (Adobe's Extensible Metadata Platform), made fit to carry on.

Photographers' files keep their ratings, keywords, captions, rights and editing history in
XMP: a JPEG's or WebP's ``xmp`` (Pillow reads and writes it), a PNG's ``iTXt`` chunk with the
keyword :data:`PNG_KEYWORD`, TIFF tag :data:`TIFF_TAG`. It is carried as it came, but for
what would be wrong of the denoised file: its orientation where the pixels were turned
upright, and a thumbnail (it shows the noisy image).

References
----------
.. [1] Adobe, "XMP Specification Part 3: Storage in Files" (2020).
"""

from __future__ import annotations

import re

__all__ = ["JPEG_MOST_XMP", "PNG_KEYWORD", "TIFF_TAG", "carried_xmp", "png_xmp_chunk"]

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
# xmp:Thumbnails (xap: in older files), and everything it holds.
_THUMBNAILS = re.compile(rb"<(xmp|xap):Thumbnails\b.*?</\1:Thumbnails>", re.DOTALL)


def carried_xmp(packet: bytes | str | None, *, turned: bool, notes: list[str]
                ) -> bytes | None:
    """Return an XMP packet as the denoised file should carry it.

    Parameters
    ----------
    packet : bytes or str or None
        The packet as read (UTF-8 where text).
    turned : bool
        Whether the pixels were turned upright on reading (an EXIF or TIFF orientation other
        than 1): the packet's ``tiff:Orientation`` is then set to 1, as the EXIF's is.
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
    if turned:
        data = _ORIENTATION.sub(lambda match: b"1".join(
            group for group in match.groups() if group is not None), data)
    data, thumbnails = _THUMBNAILS.subn(b"", data)
    if thumbnails:
        notes.append("the XMP thumbnail dropped (it shows the noisy image)")
    return data.strip(b"\x00") or None


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
