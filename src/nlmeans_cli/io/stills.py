"""Reading and writing image files (imageio), safely.

Reading converts what the denoiser cannot take as it is, and says so in :attr:`Picture.notes`:

- a palette image is expanded to RGB (or RGBA when the palette has transparency) and written
  back as RGB(A), since a denoised image no longer fits a palette;
- a 1-bit image is read as 8-bit grey (0 and 255) and written as 8-bit grey;
- an alpha channel (grey + alpha, RGBA) is split off, passed through untouched and put back.

Writing never leaves a partial file: the image goes to a hidden temporary file in the target
folder, which is then renamed over the target. An existing output is replaced only when asked,
the input is never written, and a missing output folder is created.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..scales import SUPPORTED_DTYPES
from .arrays import ALPHA_NOTE, encode_array, read_array
from .atomic import ImageFileError, check_target, reason, staged
from .geotiff import gdal_nodata, mark_nodata
from .iptc import JPEG_MOST_IPTC, with_jpeg_iptc
from .metadata import (
    Metadata,
    pillow_options,
    png_notes,
    read_metadata,
    with_png_chunks,
)
from .pyramids import pyramid_name, pyramid_of
from .still_codecs import (
    EIGHT_BIT_IN_PILLOW,
    PNG_LEVEL,
    decode_png16,
    encode_png16,
    encode_tiff,
    is_16_bit_png,
    read_header,
    read_interlaced_png16,
    read_plain,
    straight_alpha,
    upright,
)
from .tiff_metadata import tiff_tags, with_tiff_exif

__all__ = [
    "FORMATS",
    "DEFAULT_MAX_PIXELS",
    "Picture",
    "check_output_path",
    "read_picture",
    "sniff_kind",
    "write_picture",
]

#: Extensions read and written, with the dtypes each format can store.
FORMATS: dict[str, tuple[str, ...]] = {
    ".png": ("uint8", "uint16"),
    ".tif": SUPPORTED_DTYPES,
    ".tiff": SUPPORTED_DTYPES,
    ".jpg": ("uint8",),
    ".jpeg": ("uint8",),
    ".bmp": ("uint8",),
    ".webp": ("uint8",),
    ".npy": SUPPORTED_DTYPES,
}



@dataclass
class Picture:
    """An image as read from a file.

    Attributes
    ----------
    pixels : numpy.ndarray
        ``(H, W)`` grey or ``(H, W, C)`` colour, without alpha.
    alpha : numpy.ndarray or None
        ``(H, W)`` alpha channel, passed through untouched.
    notes : list of str
        Conversions made while reading, for the user.
    tiff_options : dict
        How a TIFF input was compressed and laid out (``tifffile.imwrite`` keywords, and
        ``pyramid``: its reduced-resolution levels, a :class:`nlmeans_cli.io.pyramids.Pyramid`);
        a TIFF output keeps it, its levels made again from its pixels.
    bands : bool
        Whether the channels are a multispectral TIFF's bands (grey samples none of which is
        alpha), not colour: a TIFF output writes them back so, and other formats, which
        would read them as colour, are refused.
    nodata, nodata_mask : float or None, numpy.ndarray or None
        GDAL's no-data value of a TIFF and where the input held it
        (:func:`nlmeans_cli.io.geotiff.mark_nodata`): written back there, whatever the
        pixels become.
    jpeg_options : dict
        How a JPEG input was encoded (Pillow's ``save`` keywords: its quantisation tables and
        chroma subsampling, read with its header by
        :func:`nlmeans_cli.io.still_codecs.read_header`); a JPEG output keeps it, and is
        written at quality 95 otherwise.
    metadata : Metadata
        What the file carries besides its pixels (:mod:`nlmeans_cli.io.metadata`), written
        back unless stripped.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    tiff_options: dict = field(default_factory=dict)
    metadata: Metadata = field(default_factory=Metadata)
    jpeg_options: dict = field(default_factory=dict)
    nodata: float | None = None
    nodata_mask: np.ndarray | None = None
    bands: bool = False

    @property
    def nodata_pixels(self) -> np.ndarray | None:
        """Where any channel holds the no-data value (rows and columns), or ``None``."""
        mask = self.nodata_mask
        return mask if mask is None or mask.ndim == 2 else mask.any(axis=-1)

    @property
    def channel_axis(self) -> int | None:
        """The channel axis to give :func:`nlmeans_cli.denoise`, or ``None`` for grey."""
        return -1 if self.pixels.ndim == 3 else None

    def with_pixels(self, pixels: np.ndarray) -> Picture:
        """Return a copy holding *pixels* in place of the current ones."""
        return Picture(pixels, self.alpha, list(self.notes), dict(self.tiff_options),
                       self.metadata, dict(self.jpeg_options), self.nodata, self.nodata_mask,
                       self.bands)

    def stacked(self) -> np.ndarray:
        """Return the pixels, no-data values put back, with the alpha channel put back last."""
        pixels = self.pixels
        if self.nodata_mask is not None:
            pixels = np.where(self.nodata_mask, np.asarray(self.nodata).astype(pixels.dtype),
                              pixels)
        if self.alpha is None:
            return pixels
        pixels = pixels if pixels.ndim == 3 else pixels[..., np.newaxis]
        return np.concatenate([pixels, self.alpha[..., np.newaxis]], axis=-1)


#: Default limit on the pixels of an image, read from its header before anything is decoded.
DEFAULT_MAX_PIXELS = 2**27  # 134 megapixels, e.g. 11585 x 11585

#: The file kinds that can be read, by their canonical extension.
KIND_NAMES = {".png": "PNG", ".jpg": "JPEG", ".tif": "TIFF", ".bmp": "BMP", ".webp": "WebP"}
_CANONICAL = {".jpeg": ".jpg", ".tiff": ".tif"}


def sniff_kind(raw: bytes) -> str | None:
    """Return the canonical extension of the image format *raw* holds, from its signature.

    Parameters
    ----------
    raw : bytes
        The file's first bytes (twelve are enough).

    Returns
    -------
    str or None
        ``".png"``, ``".jpg"``, ``".tif"``, ``".bmp"``, ``".webp"``, or ``None`` for anything
        else.
    """
    if raw.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if raw.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if raw[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return ".tif"
    if raw.startswith(b"BM"):
        return ".bmp"
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return ".webp"
    return None


def _read_tiff(raw: bytes, path: Path, max_pixels: int
               ) -> tuple[np.ndarray, list[str], dict, int]:
    """Pixels, notes, write options and page count of a TIFF, checked against *max_pixels*."""
    try:
        return _decode_tiff(raw, path, max_pixels)
    except ImageFileError:
        raise
    except Exception as error:  # tifffile raises many unrelated types on bad data
        raise ImageFileError(f"{path}: corrupt or truncated TIFF data ({reason(error)})"
                             ) from None


def _decode_tiff(raw: bytes, path: Path, max_pixels: int
                 ) -> tuple[np.ndarray, list[str], dict, int]:
    import io

    from .tiffs import (
        check_pages,
        compression_of,
        image_pages,
        layout_of,
        open_tiff,
        page_pixels,
        stored_plane_by_plane,
    )

    with open_tiff(io.BytesIO(raw)) as tiff:
        try:
            check_pages(tiff, max_pixels, str(path))
        except ValueError as error:
            raise ImageFileError(str(error)) from None
        pages = image_pages(tiff)
        if len(pages) > 1:
            return np.empty(0), [], {}, len(pages)
        page = pages[0]
        # A thumbnail or a pyramid's levels: the same image again, smaller.
        reduced = len(tiff.pages) - 1
        pyramid = pyramid_of(tiff, page)
        if int(page.imagedepth) > 1:
            raise ImageFileError(f"{path}: a 3-D TIFF page (depth {page.imagedepth}); read it "
                                 "as a volume from a multi-page TIFF instead")
        try:
            data = page.asarray()
        except Exception as error:
            raise ImageFileError(f"{path}: corrupt or truncated TIFF data "
                                 f"({reason(error)})") from None
        if stored_plane_by_plane(page):
            data = np.moveaxis(data, 0, -1)
        try:
            pixels, notes = page_pixels(page, data, str(path))
        except ValueError as error:
            raise ImageFileError(str(error)) from None
        orientation = int(page.tags.valueof(274, 1) or 1)
        if orientation not in (0, 1):
            pixels = upright(pixels, orientation)
            notes.append(f"TIFF orientation {orientation} applied: the result is written "
                         "upright")
        # The writer makes the levels again from the denoised image; a turned image's not.
        keep_pyramid = pyramid is not None and orientation in (0, 1)
        if keep_pyramid and not pyramid.in_subifds:
            reduced -= len(pyramid.shapes)  # pages made again: not left out
        elif pyramid and not keep_pyramid and pyramid.in_subifds:
            reduced += len(pyramid.shapes)  # not pages, but left out all the same
        if reduced:
            notes.append(f"{reduced} reduced-resolution page{'s' if reduced > 1 else ''} (a "
                         "thumbnail, a pyramid's levels) left out: the output holds the image "
                         "at full resolution alone")
        write_dtype = np.uint8 if pixels.dtype == bool else pixels.dtype
        compression, options, compression_notes = compression_of(page, write_dtype)
        notes.extend(compression_notes)
        if compression is not None:
            options["compression"] = compression
        options.update(layout_of(page, pixels))
        if keep_pyramid:
            options["pyramid"] = pyramid  # not a keyword: taken off by the writer
        return pixels, notes, options, 1


def read_picture(path: str | os.PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Picture:
    """Read a still image file.

    Parameters
    ----------
    path : path-like
        A PNG, JPEG, TIFF, BMP or WebP file, whose contents decide how it is decoded (a name
        that disagrees with them gets a note), or a ``.npy`` array holding one image.
    max_pixels : int
        Refuse images whose header claims more pixels than this, before decoding them (a
        decompression bomb is a small file that claims a huge image).

    Returns
    -------
    Picture
        The pixels (uint8, uint16, int16, float16, float32 or float64), alpha and
        conversion notes. Palette images are expanded, 1-bit images become 8-bit, CMYK
        becomes RGB and an EXIF orientation is applied, each with a note.

    Raises
    ------
    ImageFileError
        If the file is missing, not a file, empty, unreadable, not image data, of an
        unsupported kind or pixel type, larger than *max_pixels*, corrupt or truncated, or
        holds several frames.

    Notes
    -----
    Memory: the file's bytes plus the decoded pixels.
    """
    path = Path(path)
    if not path.exists():
        raise ImageFileError(f"{path}: no such file")
    if not path.is_file():
        raise ImageFileError(f"{path}: not a file" + (" (a folder)" if path.is_dir() else ""))
    extension = path.suffix.lower()
    if extension not in FORMATS:
        raise ImageFileError(
            f"{path}: unsupported file type {extension or '(none)'}; "
            f"supported: {', '.join(sorted(FORMATS))}"
        )
    if extension == ".npy":
        if not os.access(path, os.R_OK):
            raise ImageFileError(f"{path}: permission denied")
        pixels = read_array(path, max_pixels=max_pixels)
        return _to_picture(path, pixels, None,
                           [ALPHA_NOTE] if pixels.ndim == 3 and pixels.shape[-1] != 3 else [])
    try:
        raw = path.read_bytes()
    except PermissionError:
        raise ImageFileError(f"{path}: permission denied") from None
    except OSError as error:
        raise ImageFileError(f"{path}: cannot read ({error.strerror})") from None
    if not raw:
        raise ImageFileError(f"{path}: file is empty")
    kind = sniff_kind(raw)
    if kind is None:
        raise ImageFileError(f"{path}: not an image (the contents are not PNG, JPEG, TIFF, BMP "
                             "or WebP data)")
    notes = []
    if _CANONICAL.get(extension, extension) != kind:
        notes.append(f"the file holds {KIND_NAMES[kind]} data despite its {extension} name")
    if kind == ".tif":
        pixels, tiff_notes, write_options, n_pages = _read_tiff(raw, path, max_pixels)
        if n_pages > 1:
            raise ImageFileError(
                f"{path}: holds {n_pages} frames; only still images are supported")
        bands = write_options.pop("bands", False)
        picture = _to_picture(path, pixels, None, notes + tiff_notes, bands=bands)
        picture.metadata = read_metadata(raw, kind)
        picture.notes.extend(picture.metadata.notes)
        picture.nodata = gdal_nodata(picture.metadata.geo)
        if picture.nodata is not None:
            picture.nodata_mask = mark_nodata(picture.pixels, picture.nodata, picture.notes)
        picture.tiff_options = write_options
        return picture
    try:
        header = read_header(raw, kind)
    except Exception as error:  # the parsers raise many unrelated types
        raise ImageFileError(f"{path}: corrupt {KIND_NAMES[kind]} header ({reason(error)})"
                             ) from None
    if header.frames > 1:
        raise ImageFileError(
            f"{path}: holds {header.frames} frames (an animated {KIND_NAMES[kind]}), which is "
            "not read as a clip; clips are read from videos, GIFs, multi-page TIFFs and .npy "
            "files: convert it to one of those")
    if header.width * header.height > max_pixels:
        raise ImageFileError(
            f"{path}: {header.width}x{header.height} is {header.width * header.height} pixels, "
            f"more than the limit of {max_pixels} (raise it with --max-pixels)")
    options = {}
    if header.previews:
        options["index"] = 0
        notes.append(f"{header.previews} more image{'s' if header.previews > 1 else ''} of the "
                     "JPEG's Multi-Picture Format (a camera's previews, or another view) left "
                     "out: the output holds the first, the photograph, alone")
    if header.mode == "CMYK":
        options["mode"] = "RGB"
        notes.append("CMYK image converted to RGB and written as RGB")
    try:
        png16 = is_16_bit_png(raw)
        if png16 and raw[28] == 0:  # the IHDR's interlace method: none
            pixels = decode_png16(raw)
        elif png16 and raw[25] in EIGHT_BIT_IN_PILLOW:  # the IHDR's colour type
            pixels = read_interlaced_png16(raw)
        elif header.transparent or (kind in (".png", ".jpg") and header.mode in _PLAIN_MODES):
            pixels = read_plain(raw, transparent=header.transparent)
            if header.transparent and header.mode != "P":
                notes.append("its transparent colour read as an alpha channel, and written "
                             "as one")
        else:
            import imageio.v3 as iio

            pixels = iio.imread(raw, extension=kind, **options)
    except Exception as error:
        raise ImageFileError(f"{path}: corrupt or truncated {KIND_NAMES[kind]} data "
                             f"({reason(error)})") from None
    if header.orientation not in (0, 1):
        pixels = upright(pixels, header.orientation)
        notes.append(f"EXIF orientation {header.orientation} applied: the result is written "
                     "upright")
    picture = _to_picture(path, pixels, header.mode, notes)
    picture.jpeg_options = header.jpeg_options
    picture.metadata = read_metadata(raw, kind)
    picture.notes.extend(picture.metadata.notes)
    return picture


#: Pillow modes whose pixels come straight out as uint8 arrays: the common PNGs and JPEGs are
#: decoded by Pillow directly, which is what imageio does for them too, without the ~50 ms
#: of importing imageio and having Pillow load every one of its format plugins.
_PLAIN_MODES = frozenset({"L", "LA", "RGB", "RGBA"})


def _to_picture(path: Path, pixels: np.ndarray, mode: str | None, notes: list[str], *,
                bands: bool = False) -> Picture:
    if pixels.dtype == bool:
        pixels = pixels.astype(np.uint8) * np.uint8(255)
        notes.append("1-bit image read as 8-bit grey (0/255) and written as 8-bit")
    if mode == "P":
        expanded = "RGBA" if pixels.ndim == 3 and pixels.shape[-1] == 4 else "RGB"
        notes.append(f"palette image expanded to {expanded} and written as {expanded}")
    if pixels.dtype.name not in SUPPORTED_DTYPES:
        raise ImageFileError(
            f"{path}: unsupported pixel type {pixels.dtype}; "
            "expected 8- or 16-bit unsigned integers, 16-bit signed ones or 16/32/64-bit floats"
        )
    if bands and pixels.ndim == 3:
        return Picture(np.ascontiguousarray(pixels), None, notes, bands=True)
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[-1] > 4):
        raise ImageFileError(f"{path}: unsupported image layout {pixels.shape}")
    alpha = None
    if pixels.ndim == 3 and pixels.shape[-1] in (2, 4):
        pixels, alpha = pixels[..., :-1], pixels[..., -1].copy()
        if pixels.shape[-1] == 1:
            pixels = pixels[..., 0]
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    return Picture(np.ascontiguousarray(pixels), alpha, notes)


#: The formats that keep an alpha channel (PNG, TIFF and WebP as one; .npy as a last channel).
_ALPHA_FORMATS = (".png", ".tif", ".tiff", ".webp", ".npy")


def check_output_path(output: str | os.PathLike, *, source: str | os.PathLike | None = None,
                      overwrite: bool = False, dtype: np.dtype | None = None,
                      alpha: bool = False, bands: int = 0) -> Path:
    """Check that an image may be written to *output* before any work is done.

    Parameters
    ----------
    output : path-like
        The file to write.
    source : path-like, optional
        The input file; writing over it is refused.
    overwrite : bool
        Whether an existing *output* may be replaced.
    dtype : numpy.dtype, optional
        The pixel type to be written; checked against the format.
    alpha : bool
        Whether the image has an alpha channel, which the format must keep (JPEG and BMP
        cannot: dropping it would lose what the image carries).
    bands : int
        How many bands of a multispectral image are to be written (0: none), which only a
        TIFF or ``.npy`` holds as bands.

    Returns
    -------
    pathlib.Path
        *output* as a path.

    Raises
    ------
    ImageFileError
        If the format is unsupported or cannot store *dtype*, the alpha channel or the bands,
        the output is the input, or the output exists and *overwrite* is false.
    """
    output = Path(output)
    if output.is_dir():
        raise ImageFileError(f"{output}: is a folder; give the output file's name")
    extension = output.suffix.lower()
    if extension not in FORMATS:
        raise ImageFileError(
            f"{output}: unsupported output type {extension or '(none)'}; "
            f"supported: {', '.join(sorted(FORMATS))}"
        )
    output = check_target(output, FORMATS, source=source, overwrite=overwrite, dtype=dtype,
                          what="pixels")
    if alpha and extension not in _ALPHA_FORMATS:
        raise ImageFileError(f"{output}: {KIND_NAMES[_CANONICAL.get(extension, extension)]} "
                             f"cannot hold an alpha channel; use {', '.join(_ALPHA_FORMATS)}")
    if bands and extension not in (".tif", ".tiff", ".npy"):
        raise ImageFileError(f"{output}: {KIND_NAMES[_CANONICAL.get(extension, extension)]} "
                             f"cannot hold {bands} bands of a multispectral image (it would "
                             "read them as colour); use .tif, .tiff, .npy")
    return output


def write_picture(output: str | os.PathLike, picture: Picture, *,
                  source: str | os.PathLike | None = None, overwrite: bool = False,
                  strip_metadata: bool = False) -> Path:
    """Write a picture atomically, with the metadata it carries.

    Parameters
    ----------
    output : path-like
        Target file; its extension chooses the format. Missing folders are created.
    picture : Picture
        What to write (alpha and metadata included). What the format cannot hold of the
        metadata is dropped, with a note appended to ``picture.notes``.
    source : path-like, optional
        The input file, which is never written.
    overwrite : bool
        Whether an existing *output* may be replaced.
    strip_metadata : bool
        Write the pixels only: no profile, EXIF, density or text.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    ImageFileError
        As :func:`check_output_path`, or when the file cannot be written.
    """
    data = picture.stacked()
    output = check_output_path(output, source=source, overwrite=overwrite, dtype=data.dtype,
                               alpha=picture.alpha is not None,
                               bands=picture.pixels.shape[-1] if picture.bands else 0)
    extension = output.suffix.lower()
    metadata = Metadata() if strip_metadata else picture.metadata
    extra = picture.tiff_options.get("extrasamples") if picture.alpha is not None else None
    if extra == ("assocalpha",) and extension in (".png", ".webp"):
        data = straight_alpha(data)
        picture.notes.append(f"premultiplied alpha written as straight alpha, as "
                             f"{extension[1:].upper()} holds it")
    elif extra == ("unspecified",) and extension not in (".tif", ".tiff", ".npy"):
        picture.notes.append(f"the TIFF's extra sample of no stated meaning written as alpha: "
                             f"{extension[1:].upper()} holds no other")
    pyramid = picture.tiff_options.get("pyramid")
    if pyramid and extension not in (".tif", ".tiff"):
        picture.notes.append(f"{pyramid_name(pyramid)} left out: "
                             f"{extension[1:].upper()} holds none")
    with staged(output, overwrite=overwrite) as temporary:
        # Encoded in memory first: the file is then written by one plain write, so that a
        # full disk is one error here and not a second one when an encoder closes its file.
        encoded, notes = _encode(picture, data, extension, metadata)
        temporary.write_bytes(encoded)
    picture.notes.extend(notes)
    return output


def _encode(picture: Picture, data: np.ndarray, extension: str, metadata: Metadata
            ) -> tuple[bytes, list[str]]:
    """Encode in the format of *extension*; return the bytes and what metadata was dropped."""
    import io

    from PIL import Image

    if extension == ".png":
        if data.dtype == np.uint16:
            encoded = encode_png16(data)
        else:
            # Pillow directly, as imageio calls it (at Pillow's level, 6), without importing
            # imageio (see _PLAIN_MODES).
            buffer = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(data)).save(buffer, format="PNG",
                                                            compress_level=PNG_LEVEL)
            encoded = buffer.getvalue()
        return ((with_png_chunks(encoded, metadata) if metadata else encoded),
                png_notes(metadata))
    if extension in (".tif", ".tiff"):
        keywords, notes = tiff_tags(metadata) if metadata else ({}, [])
        encoded, layout_notes = encode_tiff(
            data, picture.tiff_options, keywords,
            photometric="rgb" if picture.pixels.ndim == 3 and not picture.bands
            else "minisblack", alpha=picture.alpha is not None,
            exact_levels=picture.nodata_mask is not None)
        notes += layout_notes
        return (with_tiff_exif(encoded, metadata.exif_tags()) if metadata.exif else encoded
                ), notes
    if extension == ".npy":
        return encode_array(data), (["metadata dropped: .npy holds none"] if metadata else [])
    buffer = io.BytesIO()
    image = Image.fromarray(np.ascontiguousarray(data))
    if extension == ".bmp":
        image.save(buffer, format="BMP")
        return buffer.getvalue(), (["metadata dropped: BMP holds none"] if metadata else [])
    keywords, notes = pillow_options(metadata, extension) if metadata else ({}, [])
    if extension == ".webp":
        if data.ndim == 2 or data.shape[-1] == 2:
            # Pillow writes grey as RGB (and grey + alpha as RGBA): WebP has no grey mode.
            notes.append("WebP holds no grey: written as colour with three equal channels")
        image.save(buffer, format="WEBP", lossless=True, **keywords)
    else:
        image.save(buffer, format="JPEG", **(picture.jpeg_options or {"quality": 95}),
                   **keywords)
        if metadata.iptc and len(metadata.iptc) <= JPEG_MOST_IPTC:
            return with_jpeg_iptc(buffer.getvalue(), metadata.iptc), notes
    return buffer.getvalue(), notes
