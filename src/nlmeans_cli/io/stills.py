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

from ..pixels import SUPPORTED_DTYPES
from .atomic import ImageFileError, check_target, reason, staged

__all__ = [
    "FORMATS",
    "DEFAULT_MAX_PIXELS",
    "Picture",
    "check_output_path",
    "read_picture",
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
}

_WRITE_OPTIONS = {".jpg": {"quality": 95}, ".jpeg": {"quality": 95}, ".webp": {"lossless": True}}


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
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def channel_axis(self) -> int | None:
        """The channel axis to give :func:`nlmeans_cli.denoise`, or ``None`` for grey."""
        return -1 if self.pixels.ndim == 3 else None

    def with_pixels(self, pixels: np.ndarray) -> Picture:
        """Return a copy holding *pixels* in place of the current ones."""
        return Picture(pixels, self.alpha, list(self.notes))

    def stacked(self) -> np.ndarray:
        """Return the pixels with the alpha channel put back last."""
        if self.alpha is None:
            return self.pixels
        pixels = self.pixels if self.pixels.ndim == 3 else self.pixels[..., np.newaxis]
        return np.concatenate([pixels, self.alpha[..., np.newaxis]], axis=-1)


#: Default limit on the pixels of an image, read from its header before anything is decoded.
DEFAULT_MAX_PIXELS = 2**27  # 134 megapixels, e.g. 11585 x 11585

#: The file kinds that can be read, by their canonical extension.
KIND_NAMES = {".png": "PNG", ".jpg": "JPEG", ".tif": "TIFF", ".bmp": "BMP", ".webp": "WebP"}
_CANONICAL = {".jpeg": ".jpg", ".tiff": ".tif"}


def _sniff(raw: bytes) -> str | None:
    """Return the canonical extension of the format the bytes hold, from their signature."""
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


@dataclass
class _Header:
    width: int
    height: int
    frames: int = 1
    mode: str | None = None
    orientation: int = 1
    samples: int | None = None


def _header(raw: bytes, kind: str) -> _Header:
    """Size, frame count, mode and EXIF orientation, without decoding the pixels."""
    import io

    if kind == ".tif":
        import tifffile

        with tifffile.TiffFile(io.BytesIO(raw)) as tiff:
            page = tiff.pages.first
            return _Header(int(page.imagewidth), int(page.imagelength) * max(1, page.imagedepth),
                           len(tiff.pages), samples=int(page.samplesperpixel))
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    try:
        # The size is checked against our own limit before decoding; Pillow's would refuse
        # large images that the user allowed.
        Image.MAX_IMAGE_PIXELS = None
        with Image.open(io.BytesIO(raw)) as image:
            orientation = image.getexif().get(0x0112, 1) if kind in (".jpg", ".webp") else 1
            return _Header(image.width, image.height, getattr(image, "n_frames", 1),
                           image.mode, int(orientation))
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def read_picture(path: str | os.PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Picture:
    """Read a still image file.

    Parameters
    ----------
    path : path-like
        A PNG, JPEG, TIFF, BMP or WebP file. The contents decide how it is decoded; a name
        that disagrees with them gets a note.
    max_pixels : int
        Refuse images whose header claims more pixels than this, before decoding them (a
        decompression bomb is a small file that claims a huge image).

    Returns
    -------
    Picture
        The pixels (uint8, uint16, float32 or float64), alpha and conversion notes. Palette
        images are expanded, 1-bit images become 8-bit, CMYK becomes RGB and an EXIF
        orientation is applied, each with a note.

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
    import imageio.v3 as iio

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
    try:
        raw = path.read_bytes()
    except PermissionError:
        raise ImageFileError(f"{path}: permission denied") from None
    except OSError as error:
        raise ImageFileError(f"{path}: cannot read ({error.strerror})") from None
    if not raw:
        raise ImageFileError(f"{path}: file is empty")
    kind = _sniff(raw)
    if kind is None:
        raise ImageFileError(f"{path}: not an image (the contents are not PNG, JPEG, TIFF, BMP "
                             "or WebP data)")
    notes = []
    if _CANONICAL.get(extension, extension) != kind:
        notes.append(f"the file holds {KIND_NAMES[kind]} data despite its {extension} name")
    try:
        header = _header(raw, kind)
    except Exception as error:  # the parsers raise many unrelated types
        raise ImageFileError(f"{path}: corrupt {KIND_NAMES[kind]} header ({reason(error)})"
                             ) from None
    if header.frames > 1:
        raise ImageFileError(
            f"{path}: holds {header.frames} frames; only still images are supported")
    if header.width * header.height > max_pixels:
        raise ImageFileError(
            f"{path}: {header.width}x{header.height} is {header.width * header.height} pixels, "
            f"more than the limit of {max_pixels} (raise it with --max-pixels)")
    options = {}
    if header.mode == "CMYK":
        options["mode"] = "RGB"
        notes.append("CMYK image converted to RGB and written as RGB")
    if header.orientation not in (0, 1):
        options["rotate"] = True
        notes.append(f"EXIF orientation {header.orientation} applied: the result is written "
                     "upright")
    try:
        if _is_16_bit_colour_png(raw):
            pixels = _read_png16(raw)
        else:
            pixels = iio.imread(raw, extension=kind, **options)
    except Exception as error:
        raise ImageFileError(f"{path}: corrupt or truncated {KIND_NAMES[kind]} data "
                             f"({reason(error)})") from None
    # A single-page TIFF may come with a leading page axis; a still image one row high (or
    # a colour TIFF) keeps its first axis.
    if kind == ".tif" and header.samples == 1 and pixels.ndim == 3 and pixels.shape[0] == 1:
        pixels = pixels[0]
    return _to_picture(path, pixels, header.mode, notes)


def _is_16_bit_colour_png(raw: bytes) -> bool:
    """Pillow reads 16-bit colour PNGs as 8-bit; PyPNG reads them exactly."""
    # Signature (8 bytes), IHDR length and type (8), width, height (8), bit depth, colour type.
    return (raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 25 and raw[24] == 16
            and raw[25] in (2, 4, 6))


def _read_png16(raw: bytes) -> np.ndarray:
    import png

    width, height, rows, info = png.Reader(bytes=raw).asDirect()
    pixels = np.vstack([np.asarray(row, np.uint16) for row in rows])
    return pixels.reshape(height, width, info["planes"])


def _write_png16(path: str, data: np.ndarray) -> None:
    import png

    height, width, planes = data.shape
    writer = png.Writer(width, height, greyscale=planes < 3, alpha=planes in (2, 4),
                        bitdepth=16)
    with open(path, "wb") as handle:
        writer.write(handle, data.reshape(height, width * planes))


def _to_picture(path: Path, pixels: np.ndarray, mode: str | None, notes: list[str]) -> Picture:
    if pixels.dtype == bool:
        pixels = pixels.astype(np.uint8) * np.uint8(255)
        notes.append("1-bit image read as 8-bit grey (0/255) and written as 8-bit")
    if mode == "P":
        notes.append("palette image expanded to RGB and written as RGB")
    if pixels.dtype.name not in SUPPORTED_DTYPES:
        raise ImageFileError(
            f"{path}: unsupported pixel type {pixels.dtype}; "
            "expected 8- or 16-bit unsigned integers or 32/64-bit floats"
        )
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


def check_output_path(output: str | os.PathLike, *, source: str | os.PathLike | None = None,
                      overwrite: bool = False, dtype: np.dtype | None = None) -> Path:
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

    Returns
    -------
    pathlib.Path
        *output* as a path.

    Raises
    ------
    ImageFileError
        If the format is unsupported or cannot store *dtype*, the output is the input, or the
        output exists and *overwrite* is false.
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
    return check_target(output, FORMATS, source=source, overwrite=overwrite, dtype=dtype,
                         what="pixels")


def write_picture(output: str | os.PathLike, picture: Picture, *,
                  source: str | os.PathLike | None = None, overwrite: bool = False) -> Path:
    """Write a picture atomically.

    Parameters
    ----------
    output : path-like
        Target file; its extension chooses the format. Missing folders are created.
    picture : Picture
        What to write (alpha included).
    source : path-like, optional
        The input file, which is never written.
    overwrite : bool
        Whether an existing *output* may be replaced.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    ImageFileError
        As :func:`check_output_path`, or when the file cannot be written.
    """
    import imageio.v3 as iio

    data = picture.stacked()
    output = check_output_path(output, source=source, overwrite=overwrite, dtype=data.dtype)
    extension = output.suffix.lower()
    with staged(output, overwrite=overwrite) as temporary:
        if extension == ".png" and data.dtype == np.uint16 and data.ndim == 3:
            _write_png16(str(temporary), data)
        else:
            iio.imwrite(temporary, data, extension=extension,
                        **_WRITE_OPTIONS.get(extension, {}))
    return output


