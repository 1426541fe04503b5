"""What a TIFF page means: its colour space, its compression and its size, read with tifffile.

A TIFF stores numbers whose meaning its *photometric interpretation* gives. Decoding the numbers
is tifffile's job (with imagecodecs for LZW, Deflate, JPEG, Group 4 and the rest); this module
turns them into the grey or RGB pixels the denoiser works on, and says what it did:

- ``MINISBLACK`` and ``RGB`` are taken as they are;
- ``MINISWHITE`` (0 is white) is inverted to the usual black-is-0;
- ``PALETTE`` is expanded through its colour map (to grey when the map is grey);
- ``SEPARATED`` with four inks (CMYK) is converted to RGB without a colour profile;
- ``YCBCR`` is converted to RGB (JPEG-compressed pages are decoded to RGB by the codec);
- anything else (CIE L*a*b*, LogLuv, colour filter arrays, ...) is refused with one line.

Writing keeps the input's compression where the output can hold it (:func:`compression_of`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tifffile

__all__ = ["check_pages", "chain_broken", "compression_of", "image_pages", "layout_of",
           "open_tiff", "page_pixels", "sample_roles", "stored_plane_by_plane", "tifffile_log",
           "tile_of"]

# Compressions tifffile writes for any dtype the package supports.
_LOSSLESS_WRITABLE = {"LZW", "ADOBE_DEFLATE", "DEFLATE", "ZSTD", "PACKBITS", "LZMA"}


def page_pixels(page, data: np.ndarray, name: str) -> tuple[np.ndarray, list[str]]:
    """Interpret decoded TIFF samples by the page's photometric interpretation.

    Parameters
    ----------
    page : tifffile.TiffPage
        The page the samples come from (its tags say what they mean).
    data : numpy.ndarray
        The samples, as ``page.asarray()`` (or a series) returns them, samples last.
    name : str
        The file's name, for messages.

    Returns
    -------
    pixels : numpy.ndarray
        Black-is-0 grey, or RGB (with any extra samples, such as alpha, kept last).
    notes : list of str
        What was converted, for the user.

    Raises
    ------
    ValueError
        If the colour space is one the package does not interpret; the message names *name*.

    Notes
    -----
    One pass over the samples when a conversion is needed, none otherwise.
    """
    photometric = page.photometric.name
    if photometric in ("MINISBLACK", "RGB"):
        return data, []
    if photometric == "MINISWHITE":
        if data.dtype == bool:
            inverted = ~data
        elif data.dtype.kind == "u":
            top = min(2 ** int(page.bitspersample) - 1, np.iinfo(data.dtype).max)
            inverted = (data.dtype.type(top) - data).astype(data.dtype)
        else:
            raise ValueError(f"{name}: floating-point TIFF with MINISWHITE (0 is white) "
                             "photometric is not supported")
        return inverted, ["MINISWHITE TIFF (0 is white) inverted to black-is-0 and written "
                          "that way"]
    if photometric == "PALETTE":
        return _expand_palette(page, data)
    if photometric == "SEPARATED":
        return _cmyk_to_rgb(page, data, name)
    if photometric == "YCBCR":
        if page.compression.name == "JPEG" or data.ndim != 3:
            # The JPEG codec hands back RGB already.
            return data, []
        if data.dtype != np.uint8 or data.shape[-1] != 3:
            raise ValueError(f"{name}: YCbCr TIFF other than 8-bit 3-sample is not supported")
        from PIL import Image

        rgb = np.asarray(Image.fromarray(np.ascontiguousarray(data), mode="YCbCr").convert("RGB"))
        return rgb, ["YCbCr TIFF converted to RGB and written as RGB"]
    raise ValueError(f"{name}: unsupported TIFF colour space {photometric}; expected grey, "
                     "RGB, palette, CMYK or YCbCr")


def _expand_palette(page, data: np.ndarray) -> tuple[np.ndarray, list[str]]:
    colormap = np.asarray(page.colormap)
    if colormap.ndim == 1:  # a grey map
        colormap = np.stack([colormap] * 3)
    # TIFF colour maps are 16-bit; most were made from 8-bit palettes (every entry n * 257).
    if np.all(colormap % 257 == 0):
        colormap = (colormap // 257).astype(np.uint8)
    else:
        colormap = colormap.astype(np.uint16)
    indices = np.clip(data.astype(np.intp), 0, colormap.shape[1] - 1)
    if np.array_equal(colormap[0], colormap[1]) and np.array_equal(colormap[0], colormap[2]):
        return colormap[0][indices], ["grey palette TIFF expanded to grey and written as grey"]
    return (np.moveaxis(colormap[:, indices], 0, -1),
            ["palette TIFF expanded to RGB and written as RGB"])


def _cmyk_to_rgb(page, data: np.ndarray, name: str) -> tuple[np.ndarray, list[str]]:
    inks = getattr(page, "inkset", 1) or 1
    if int(inks) != 1 or data.ndim != 3 or data.shape[-1] not in (4, 5):
        raise ValueError(f"{name}: unsupported separated (ink) TIFF with {data.shape[-1:]} "
                         "inks; only CMYK is read")
    if data.dtype.kind != "u":
        raise ValueError(f"{name}: floating-point CMYK TIFF is not supported")
    top = float(np.iinfo(data.dtype).max)
    inks = data[..., :4].astype(np.float64) / top
    rgb = (1.0 - inks[..., :3]) * (1.0 - inks[..., 3:4])
    converted = np.round(rgb * top).astype(data.dtype)
    if data.shape[-1] == 5:  # CMYK + alpha
        converted = np.concatenate([converted, data[..., 4:]], axis=-1)
    return converted, ["CMYK TIFF converted to RGB (without a colour profile) and written as RGB"]


def compression_of(page, dtype: np.dtype) -> tuple[str | None, dict, list[str]]:
    """Return how to compress a TIFF written from *page*'s file with pixels of *dtype*.

    Parameters
    ----------
    page : tifffile.TiffPage
        The input's first page.
    dtype : numpy.dtype
        The pixel type that will be written.

    Returns
    -------
    compression : str or None
        tifffile's name of the compression (``None``: uncompressed).
    options : dict
        Further keywords for ``tifffile.imwrite`` (predictor, JPEG quality).
    notes : list of str
        Why a compression could not be kept, if it could not.
    """
    name = page.compression.name
    if name == "NONE":
        return None, {}, []
    options: dict = {}
    predictor = getattr(page, "predictor", 1)
    if name in _LOSSLESS_WRITABLE:
        if int(predictor) != 1 and np.dtype(dtype).kind in "uf":
            options["predictor"] = True
        return name.lower(), options, []
    if name == "JPEG" and np.dtype(dtype) == np.uint8:
        return "jpeg", {"compressionargs": {"level": 95}}, []
    return ("adobe_deflate", {},
            [f"the input's {name} compression cannot hold the result; written with Deflate"])


def stored_plane_by_plane(page) -> bool:
    """Tell whether a page holds several samples per pixel, each in a plane of its own.

    Parameters
    ----------
    page : tifffile.TiffPage
        The page.

    Returns
    -------
    bool
        ``True`` where ``page.asarray()`` has its samples first (readers move them last)
        and an output written from it keeps them so.
    """
    return int(page.samplesperpixel) > 1 and page.planarconfig.name == "SEPARATE"


def tile_of(page) -> tuple[int, int] | None:
    """Return a 2-D tiled page's tile (rows, columns), kept by an output written from it.

    Parameters
    ----------
    page : tifffile.TiffPage
        The input's page.

    Returns
    -------
    tuple of 2 int or None
        ``None`` for a striped page, or a 3-D one (tiles in depth too).
    """
    if page.is_tiled and int(page.imagedepth) == 1:
        return int(page.tilelength), int(page.tilewidth)
    return None


def layout_of(page, pixels: np.ndarray) -> dict:
    """Return how a still written from *page*'s file lays out its pixels: tiles, planes.

    Parameters
    ----------
    page : tifffile.TiffPage
        The input's page.
    pixels : numpy.ndarray
        The pixels as read (upright, channels last): a tile shape is kept where the image
        was not turned.

    Returns
    -------
    dict
        Keywords for ``tifffile.imwrite``: ``tile`` for a tiled input (viewers of large
        images read tiled files a tile at a time), ``planarconfig`` ``"separate"`` for
        colour stored plane by plane, ``bands`` (not a keyword: taken off by the reader)
        where grey samples none of which is alpha are a multispectral image's bands,
        ``extrasamples`` ``("assocalpha",)`` for an alpha
        channel the colours are premultiplied by (``("unspecified",)`` for an extra sample
        of no stated meaning); empty for a striped, interleaved input.
    """
    options: dict = {}
    tile = tile_of(page)
    if tile and pixels.shape[:2] == (int(page.imagelength), int(page.imagewidth)):
        options["tile"] = tile  # kept where the image was not turned
    if pixels.ndim == 3 and stored_plane_by_plane(page):
        options["planarconfig"] = "separate"
    label, bands = sample_roles(page, several=pixels.ndim == 3)
    if bands:
        options["bands"] = True
    elif label:
        options["extrasamples"] = (label,)
    return options


def sample_roles(page, *, several: bool) -> tuple[str | None, bool]:
    """Return what a page's samples beyond grey or RGB are: alpha, or a multispectral's bands.

    Parameters
    ----------
    page : tifffile.TiffPage
        The page (a still's, or a stack's first).
    several : bool
        Whether a pixel, as read, holds several samples.

    Returns
    -------
    label : str or None
        The last sample's ExtraSamples label as tifffile's writer names it
        (``"unassalpha"``, ``"assocalpha"`` for an alpha the colours are premultiplied by,
        ``"unspecified"`` for one of no stated meaning, an RGB image's fourth band), passed
        through as alpha is and labelled as it was; ``None`` where there is none, or bands.
    bands : bool
        Whether grey samples none of which is alpha are a multispectral image's bands.
    """
    extra = [int(kind) for kind in page.extrasamples or ()]
    if page.photometric.name == "MINISBLACK" and several and not set(extra) & {1, 2}:
        return None, True
    return (_EXTRA_SAMPLE_LABELS.get(extra[0], "unassalpha") if extra else None), False


# TIFF's ExtraSamples values, as tifffile's writer names them.
_EXTRA_SAMPLE_LABELS = {0: "unspecified", 1: "assocalpha", 2: "unassalpha"}


class _Collected(logging.Handler):
    """Keep the messages of the records it is given."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def tifffile_log() -> Iterator[list[str]]:
    """Collect what tifffile logs while the block runs, instead of its lines on stderr.

    Yields
    ------
    list of str
        The messages logged (warnings and errors), filled as the block runs.

    Notes
    -----
    tifffile logs the problems it reads past (a page past the end of the file, a bad tag)
    as errors; with no handler of the program's own they came out as bare lines among
    ``nlm``'s. A program's own handlers on the root logger still get them.
    """
    handler = _Collected()
    logger = logging.getLogger("tifffile")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


@contextmanager
def open_tiff(source) -> Iterator[tifffile.TiffFile]:
    """Open a TIFF for reading, with what tifffile logs collected rather than printed.

    Parameters
    ----------
    source : path-like or file-like
        The file, or its bytes in a ``BytesIO``.

    Yields
    ------
    tifffile.TiffFile
        The open file, closed when the block ends.

    Notes
    -----
    :func:`tifffile_log` and ``tifffile.TiffFile`` together, as every reader opens them; a
    reader that needs the messages (a truncated file's) opens the two itself.
    """
    import tifffile

    with tifffile_log(), tifffile.TiffFile(source) as tiff:
        yield tiff


def chain_broken(messages: list[str]) -> bool:
    """Tell whether tifffile's log says a page lies past the end of the file (truncated).

    Parameters
    ----------
    messages : list of str
        What :func:`tifffile_log` collected while the pages were counted.

    Returns
    -------
    bool
    """
    return any("invalid page offset" in message for message in messages)


def image_pages(tiff) -> list:
    """Return the pages that hold the image at full resolution, in order.

    Parameters
    ----------
    tiff : tifffile.TiffFile
        The open file.

    Returns
    -------
    list of tifffile.TiffPage
        Every page but the reduced-resolution ones (NewSubfileType bit 0: a thumbnail, a
        pyramid's level), which hold the same image again, smaller: not frames of their
        own. Every page where all are reduced.

    Notes
    -----
    Reads every page's header: ``O(pages)``.
    """
    pages = list(tiff.pages)
    full = [page for page in pages if not getattr(page, "is_reduced", False)]
    return full or pages


def check_pages(tiff, max_pixels: int, name: str) -> None:
    """Refuse a TIFF whose chain of pages breaks, or whose pages or tiles are too large.

    Parameters
    ----------
    tiff : tifffile.TiffFile
        The open file.
    max_pixels : int
        The limit, for every page and every tile.
    name : str
        The file's name, for the message.

    Raises
    ------
    ValueError
        Naming the page and its size; or, where a page's offset lies past the end of the
        file (a truncated file: tifffile then reads the pages before it alone, and a
        stack would have lost the rest without a word), how many pages were found.

    Notes
    -----
    Reads every page's header (not its data): ``O(pages)``.
    """
    with tifffile_log() as messages:
        count = len(tiff.pages)
    if chain_broken(messages):
        raise ValueError(f"{name}: corrupt or truncated TIFF data (the chain of pages breaks "
                         f"after {count} of them: a page lies past the end of the file)")
    for index, page in enumerate(tiff.pages):
        width, length = int(page.imagewidth), int(page.imagelength)
        pixels = width * length * max(1, int(page.imagedepth))
        if pixels > max_pixels:
            raise ValueError(
                f"{name}: page {index + 1} is {width}x{length} ({pixels} pixels), more than "
                f"the limit of {max_pixels} (raise it with --max-pixels)")
        tile = int(page.tilewidth or 0) * int(page.tilelength or 0)
        if tile > max_pixels:
            raise ValueError(
                f"{name}: page {index + 1} has tiles of {page.tilewidth}x{page.tilelength}, "
                f"more than the limit of {max_pixels} pixels (raise it with --max-pixels)")
