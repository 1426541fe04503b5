"""The codecs behind :mod:`nlmeans_cli.io.stills` that take more than one call of Pillow's.

A still's header (size, frames, orientation) read without its pixels, and the turn that puts
them upright; 16-bit PNGs, which Pillow reads in colour as 8 bits (libpng through
imagecodecs, or PyPNG); the plain 8-bit PNGs and JPEGs Pillow decodes directly; what a JPEG
output keeps of a JPEG input's encoding; premultiplied alpha made straight; a TIFF laid out
as its input was, its pyramid's levels made again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .metadata import open_unlimited, png_orientation
from .pyramids import pyramid_name, reduced_level

__all__ = ["EIGHT_BIT_IN_PILLOW", "PNG_LEVEL", "Header", "decode_png16", "encode_png16",
           "encode_tiff", "is_16_bit_png", "read_header", "read_interlaced_png16", "read_plain",
           "straight_alpha", "upright"]


def read_plain(raw: bytes, *, transparent: bool = False) -> np.ndarray:
    """Decode a PNG or JPEG in one of Pillow's plain modes (``L``, ``LA``, ``RGB``, ``RGBA``).

    *transparent* (:attr:`Header.transparent`): an 8-bit image whose transparency is one
    colour or a palette's table, decoded with it as an alpha channel (grey + alpha, or
    RGBA); Pillow's array, and imageio's, drop it.
    """
    with open_unlimited(raw) as image:
        image.load()
        if transparent:
            return np.asarray(image.convert("LA" if image.mode == "L" else "RGBA"))
        return np.asarray(image)


def is_16_bit_png(raw: bytes) -> bool:
    """Whether *raw* is a 16-bit PNG (Pillow reads one in colour as 8-bit)."""
    # Signature (8 bytes), IHDR length and type (8), width, height (8), bit depth, colour type,
    # compression, filter, interlace method.
    return raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 28 and raw[24] == 16


#: PNG colour types (RGB, grey with alpha, RGBA) whose 16 bits Pillow reads as 8.
EIGHT_BIT_IN_PILLOW = (2, 4, 6)


def decode_png16(raw: bytes) -> np.ndarray:
    """Decode a 16-bit PNG exactly, grey or colour: libpng through imagecodecs.

    Against PyPNG's decoder in Python, 0.009 s against 0.14 s for a 1024² colour image; PyPNG
    also shifted values down to the bits an sBIT chunk names, which then read as a dark
    16-bit image. A transparent colour (tRNS) becomes an alpha channel in both.
    """
    import imagecodecs

    return imagecodecs.png_decode(raw)


def read_interlaced_png16(raw: bytes) -> np.ndarray:
    """Decode an interlaced 16-bit PNG in colour or with alpha with PyPNG.

    libpng, as imagecodecs calls it, decodes these right but prints a warning on stderr.
    PyPNG shifts the values down to the bits an sBIT chunk names, as before.
    """
    import png

    width, height, rows, info = png.Reader(bytes=raw).asDirect()
    pixels = np.vstack([np.asarray(row, np.uint16) for row in rows])
    return pixels.reshape(height, width, info["planes"])


#: zlib's level for the PNGs written. On 18 denoised images (grey and colour, 0.03 to 0.8
#: MP) level 6, Pillow's and zlib's default, took 2.1x the time of level 4 for files 0.1 %
#: larger in all; level 1 took 0.6x the time of level 4 for files 11 % larger.
PNG_LEVEL = 4


def encode_png16(data: np.ndarray) -> bytes:
    """Encode 16-bit pixels (grey or colour, with alpha or not) as a PNG, with libpng."""
    import imagecodecs

    return imagecodecs.png_encode(np.ascontiguousarray(data), level=PNG_LEVEL)


def _jpeg_encoding(image) -> dict:
    """Return how a JPEG was encoded, as Pillow's ``save`` keywords a JPEG output keeps.

    Parameters
    ----------
    image : PIL.JpegImagePlugin.JpegImageFile
        The file, open.

    Returns
    -------
    dict
        ``qtables`` (its quantisation tables) and ``subsampling`` (its chroma's, where Pillow
        names it), as Pillow's ``quality="keep"`` reuses them; empty where it has none a
        baseline JPEG can hold.

    Notes
    -----
    Reads the header only. A denoised photograph saved with its input's tables is about as
    good and no larger than the input: a fixed quality would re-quantise a file saved at 80
    at 95 (larger than it), or one saved at 100 at 95 (coarser).
    """
    from PIL import JpegImagePlugin

    tables = getattr(image, "quantization", None)
    sampling = JpegImagePlugin.get_sampling(image) if tables else -1
    qtables = [list(tables[key]) for key in sorted(tables)] if tables else []
    if not qtables or len(qtables) > 4 or max(max(table) for table in qtables) > 255:
        # None to keep, or tables a baseline encoder cannot write (16-bit precision, more
        # than four): the output is written at quality 95.
        return {}
    options: dict = {"qtables": qtables}
    if sampling != -1:
        options["subsampling"] = sampling
    return options


def encode_tiff(data: np.ndarray, options: dict, keywords: dict, *, photometric: str,
                alpha: bool, exact_levels: bool = False) -> tuple[bytes, list[str]]:
    """Encode a still as a TIFF laid out as its input was; return the bytes and notes.

    Parameters
    ----------
    data : numpy.ndarray
        ``(H, W)`` or ``(H, W, C)``, alpha last.
    options : dict
        The input's layout (``Picture.tiff_options``): ``tifffile`` keywords, and
        ``pyramid`` (:class:`nlmeans_cli.io.pyramids.Pyramid`), whose levels are made again
        from *data*.
    keywords : dict
        The metadata's keywords (:func:`nlmeans_cli.io.tiff_metadata.tiff_tags`).
    photometric : str
        ``"rgb"`` or ``"minisblack"``.
    alpha : bool
        Whether the last channel is alpha.
    exact_levels : bool
        Make the pyramid's levels of values *data* holds (a no-data value is not blended).

    Returns
    -------
    bytes
        The file.
    list of str
        What was done to the pyramid, if the input had one.

    Notes
    -----
    ``O(H W)``; the levels add a third or less.
    """
    import io

    import tifffile

    options = dict(options)
    extrasamples = options.pop("extrasamples", ("unassalpha",))
    pyramid = options.pop("pyramid", None)
    if options.get("compression") == "jpeg" and alpha:
        options = {"compression": "adobe_deflate"}  # JPEG cannot hold the alpha channel
    notes = []
    if pyramid and keywords.get("imagej"):
        notes.append(f"{pyramid_name(pyramid)} left out: an ImageJ TIFF holds none")
        pyramid = None
    levels = [reduced_level(data, shape, exact_values=exact_levels)
              for shape in (pyramid.shapes if pyramid else ())]
    options.setdefault("planarconfig", "contig")
    if options["planarconfig"] == "separate" and data.ndim == 3:
        # tifffile takes a plane-by-plane page's samples first; ours are last
        data, levels = np.moveaxis(data, -1, 0), [np.moveaxis(level, -1, 0) for level in levels]
    options.update(photometric=photometric, extrasamples=extrasamples if alpha else None)
    buffer = io.BytesIO()
    if not pyramid:
        tifffile.imwrite(buffer, data, **options, **keywords)
        return buffer.getvalue(), notes
    # tifffile.imwrite's own rule for BigTIFF, over the levels too
    size = data.nbytes + sum(level.nbytes for level in levels)
    bigtiff = size > 2**32 - 2**25 and options.get("compression") in (None, "none")
    with tifffile.TiffWriter(buffer, bigtiff=bigtiff) as writer:
        writer.write(data, subifds=len(levels) if pyramid.in_subifds else None,
                     **options, **keywords)
        for level in levels:
            # Described as the image is: tifffile reads a pyramid of its shaped JSON where
            # every level has it, and logs an error where one does not
            writer.write(level, subfiletype=1,
                         metadata=None if keywords.get("metadata", {}) is None else {},
                         **options)
    notes.append(f"{pyramid_name(pyramid)} made again from the denoised image")
    return buffer.getvalue(), notes


def straight_alpha(data: np.ndarray) -> np.ndarray:
    """Return colours premultiplied by their alpha (last channel) divided by it again.

    Parameters
    ----------
    data : numpy.ndarray
        Channels last, alpha last; integer (full scale the type's maximum) or float (1).

    Returns
    -------
    numpy.ndarray
        The same type: where alpha is 0 the colours are 0, elsewhere ``colour / alpha`` of
        full scale, rounded and clipped for integers.

    Notes
    -----
    ``O(N)``, in float64. Premultiplied colours at an alpha of a few levels hold few levels
    themselves: divided, they come out coarse, as any conversion to straight alpha gives.
    """
    full = float(np.iinfo(data.dtype).max) if np.issubdtype(data.dtype, np.integer) else 1.0
    alpha = data[..., -1:].astype(np.float64)
    colours = data[..., :-1].astype(np.float64)
    straight = np.divide(colours * full, alpha, out=np.zeros_like(colours), where=alpha > 0)
    if np.issubdtype(data.dtype, np.integer):
        straight = np.clip(np.rint(straight), 0, full)
    return np.concatenate([straight, alpha], axis=-1).astype(data.dtype)


@dataclass
class Header:
    """A still's size, frame count, mode, EXIF orientation and Multi-Picture previews.

    ``transparent``: a grey, colour or palette image whose transparency is one colour (or a
    palette's table, a PNG's ``tRNS``) rather than an alpha channel.
    """

    width: int
    height: int
    frames: int = 1
    mode: str | None = None
    orientation: int = 1
    previews: int = 0
    jpeg_options: dict = field(default_factory=dict)
    transparent: bool = False


def read_header(raw: bytes, kind: str) -> Header:
    """Size, frame count, mode, EXIF orientation and a JPEG's encoding, no pixel decoded."""
    with open_unlimited(raw) as image:
        jpeg_options = _jpeg_encoding(image) if kind == ".jpg" else {}
        if kind == ".png":
            orientation = png_orientation(raw)
        elif kind in (".jpg", ".webp"):
            orientation = image.getexif().get(_ORIENTATION, 1)
        else:
            orientation = 1
        frames = getattr(image, "n_frames", 1)
        if image.format == "MPO":
            # A camera's JPEG with its previews (the Multi-Picture Format): the first image
            # is the photograph, the others smaller copies of it (or another view).
            return Header(image.width, image.height, 1, image.mode, int(orientation),
                          previews=frames - 1, jpeg_options=jpeg_options)
        return Header(image.width, image.height, frames, image.mode, int(orientation),
                      jpeg_options=jpeg_options,
                      transparent=image.mode in _TRANSPARENT_MODES and "transparency" in image.info)


_ORIENTATION = 0x0112  # the EXIF (and TIFF) orientation tag

# Modes whose transparency Pillow keeps apart from the pixels, in ``info["transparency"]``
_TRANSPARENT_MODES = frozenset({"L", "RGB", "P"})


def upright(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn pixels stored with an EXIF *orientation* (2-8) the way they are meant to be seen."""
    turns = {2: (0, True), 3: (2, False), 4: (2, True), 5: (1, True), 6: (3, False),
             7: (3, True), 8: (1, False)}
    quarter_turns, mirrored = turns.get(orientation, (0, False))
    if mirrored:
        pixels = pixels[:, ::-1]
    return np.ascontiguousarray(np.rot90(pixels, quarter_turns))
