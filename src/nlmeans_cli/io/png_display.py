"""A PNG's significant bits (``sBIT``) and background (``bKGD``), read and written again.

Both are laid out by the PNG's colour type, which the output's may not share: a palette's
image is written as RGB, a transparent colour as alpha.
"""

from __future__ import annotations

import struct

__all__ = ["SAMPLES", "display_chunks", "png_background"]

#: The samples of each PNG colour type: grey, RGB, palette (its colours'), grey and alpha,
#: RGBA (``sBIT`` holds one byte for each).
SAMPLES = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}


def png_background(data: bytes, colour_type: int, palette: bytes) -> tuple[int, ...] | None:
    """Return a ``bKGD`` chunk's grey level or colour, a palette's index taken to its colour.

    Parameters
    ----------
    data : bytes
        The chunk's data.
    colour_type : int
        The PNG's colour type (``IHDR``).
    palette : bytes
        Its ``PLTE`` chunk's data (empty without one).

    Returns
    -------
    tuple of int or None
        One grey level or red, green and blue in the file's sample values; ``None`` where
        the chunk does not fit the colour type.
    """
    if colour_type == 3:
        start = 3 * data[0] if len(data) == 1 else len(palette)
        return tuple(palette[start : start + 3]) if start + 3 <= len(palette) else None
    count = 1 if colour_type in (0, 4) else 3
    return struct.unpack(f">{count}H", data) if len(data) == 2 * count else None


def display_chunks(encoded: bytes, significant_bits: tuple[int, ...] | None,
                   background: tuple[int, ...] | None) -> list[tuple[bytes, bytes]]:
    """Return ``sBIT`` and ``bKGD`` laid out for an encoded PNG's own colour type.

    Parameters
    ----------
    encoded : bytes
        The PNG as written (grey, RGB, grey and alpha or RGBA, not a palette).
    significant_bits : tuple of int or None
        The source's ``sBIT`` bytes: each grey or colour sample's, then its alpha's.
    background : tuple of int or None
        The source's background, as :func:`png_background` reads it.

    Returns
    -------
    list of tuple
        ``(type, data)`` for each that fits: grey with grey, colour with colour. Alpha the
        source did not have is taken as measured at the full depth; no sample holds more
        bits than the depth.
    """
    depth, colour_type = encoded[24], encoded[25]
    colours = 1 if colour_type in (0, 4) else 3
    chunks = []
    if significant_bits and (len(significant_bits) in (1, 2)) == (colours == 1):
        alpha = ((significant_bits[colours] if len(significant_bits) > colours else depth,)
                 if colour_type in (4, 6) else ())
        bits = (*significant_bits[:colours], *alpha)
        chunks.append((b"sBIT", bytes(min(bit, depth) for bit in bits)))
    if background and len(background) == colours:
        chunks.append((b"bKGD", struct.pack(f">{colours}H", *background)))
    return chunks
