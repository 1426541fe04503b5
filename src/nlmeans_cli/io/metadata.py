"""What an image file carries besides its pixels, read from one format and written to another.

A denoiser sits in the middle of a pipeline: what the next step needs (the colour profile, the
camera's EXIF, the pixel size) must come out as it went in. :func:`read_metadata` gathers it
from a PNG, JPEG, WebP or TIFF into one :class:`Metadata`; the writers of
:mod:`nlmeans_cli.io.stills` put back what the output format can hold and say what it cannot.

- The ICC profile (PNG ``iCCP``, JPEG/WebP ``icc_profile``, TIFF tag 34675).
- EXIF (PNG ``eXIf``, JPEG/WebP ``exif``, TIFF's first IFD and its EXIF and GPS sub-IFDs),
  with the orientation set to 1 (the pixels were turned upright when read) and no thumbnail
  (it would show the noisy image).
- The pixel density (PNG ``pHYs``, JPEG's JFIF density, TIFF resolution tags), PNG gamma and
  text chunks, the TIFF description.
- XMP (:mod:`nlmeans_cli.io.xmp`), with its orientation and thumbnail made right as EXIF's;
  IPTC records (:mod:`nlmeans_cli.io.iptc`); a JPEG's comment (a PNG's ``Comment`` text).

TIFF outputs hold EXIF's first-IFD tags (camera make and model, software, date, artist,
copyright) and its EXIF and GPS sub-IFDs, which tifffile does not write: they are added to the
encoded file (:mod:`nlmeans_cli.io.tiff_metadata`).
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field

from .geotiff import geo_extratags
from .iptc import IPTC_RESOURCE, JPEG_MOST_IPTC
from .iptc import TIFF_TAG as IPTC_TAG
from .png_display import SAMPLES, display_chunks, png_background
from .xmp import (
    JPEG_MOST_XMP,
    PNG_KEYWORD,
    QUARTER_TURNS,
    TIFF_TAG,
    carried_xmp,
    png_xmp_chunk,
)

__all__ = ["TIFF_TEXT_TAGS", "Metadata", "imagej_settings", "open_unlimited", "page_records",
           "pillow_options", "png_chunks", "png_notes", "png_orientation", "read_metadata",
           "with_png_chunks"]

_ORIENTATION = 0x0112
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
# EXIF's PixelXDimension and PixelYDimension (traded on a quarter turn).
_PIXEL_X, _PIXEL_Y = 0xA002, 0xA003

#: EXIF first-IFD tags a TIFF output keeps, as (tag, tifffile's name for the keyword if any).
TIFF_TEXT_TAGS = {0x010F: "Make", 0x0110: "Model", 0x0131: "Software", 0x0132: "DateTime",
                  0x013B: "Artist", 0x013C: "HostComputer", 0x8298: "Copyright"}

#: TIFF tags that describe the pixels' storage, never copied from one file to another.
_STRUCTURE_TAGS = {
    254, 255, 256, 257, 258, 259, 262, 263, 264, 265, 266, 273, 277, 278, 279, 280, 281, 282,
    283, 284, 288, 289, 290, 291, 292, 293, 296, 297, 301, 317, 318, 319, 320, 321, 322, 323,
    324, 325, 338, 339, 340, 341, 347, 530, 531, 532, 34675, 50838, 50839}


# ImageJ metadata that describes the data's layout; tifffile writes it from the shape.
_IMAGEJ_LAYOUT = {"ImageJ", "images", "channels", "slices", "frames", "hyperstack", "mode",
                  "min", "max", "axes", "Ranges", "LUTs", "Info", "Labels", "Properties"}

# A PNG's chunks, besides gAMA and iCCP, that say what colours its values mean: the sRGB
# intent, primaries (cHRM), coding-independent code points (cICP, HDR) and the mastering
# display's and content's light levels (mDCV, cLLI). Denoising leaves them true.
_COLOUR_CHUNKS = frozenset({b"sRGB", b"cHRM", b"cICP", b"mDCV", b"cLLI"})

# tifffile's own description keys that describe a still's layout; tifffile writes them anew
# (an axes string read off a single page may not match how the still is written back).
_SHAPED_LAYOUT = {"shape", "axes"}


@dataclass
class Metadata:
    """What a file carries besides its pixels, in a form any output format can be made from.

    Attributes
    ----------
    icc : bytes or None
        The ICC colour profile.
    exif : bytes or None
        EXIF as Pillow writes it (the ``Exif`` header and a TIFF-structured block), orientation
        1, no thumbnail.
    dpi : tuple of 2 float or None
        Pixels per inch, horizontal and vertical.
    gamma : float or None
        PNG gamma (``gAMA``).
    colour_chunks : dict
        A PNG's other chunks that say what colours its values mean (:data:`_COLOUR_CHUNKS`),
        type to data, as stored.
    significant_bits : tuple of int or None
        A PNG's ``sBIT``: the bits of each grey or colour sample that the source measured (a
        12-bit camera's in a 16-bit file), then the alpha's where it had alpha.
    background : tuple of int or None
        A PNG's ``bKGD``: the grey level or the red, green and blue to show it on (a
        palette's index taken to its colour).
    text : dict
        PNG text chunks, keyword to text.
    description : str or None
        A TIFF's ImageDescription (not ImageJ's or OME's, kept apart, nor tifffile's own).
    shaped : dict or None
        What tifffile's own (JSON) description of a TIFF holds beyond the layout (its shape
        and axes): the keys its writer added, written back as tifffile's ``metadata``.
    tiff_resolution : tuple or None
        A TIFF's resolution tags as stored: ``(x, y, unit)`` (pixels per unit, unit 1 none,
        2 inch, 3 centimetre), which a TIFF output writes back as they were.
    xmp : bytes or None
        The XMP packet (:func:`nlmeans_cli.io.xmp.carried_xmp`).
    iptc : bytes or None
        IPTC records (a JPEG's APP13 resource, TIFF tag 33723: :mod:`nlmeans_cli.io.iptc`).
    comment : str or None
        A JPEG's comment (``COM``), which a PNG holds as its ``Comment`` text.
    geo : tuple
        A TIFF's GeoTIFF and GDAL tags, as tifffile's ``extratags``
        (:func:`nlmeans_cli.io.geotiff.geo_extratags`).
    imagej : dict or None
        A single-page ImageJ TIFF's metadata (unit, spacing, ...; not the layout keys).
    ome : str or None
        A single-page OME-TIFF's OME-XML.
    notes : list of str
        What was changed on reading (an orientation reset, a thumbnail dropped).
    """

    icc: bytes | None = None
    exif: bytes | None = None
    dpi: tuple[float, float] | None = None
    gamma: float | None = None
    colour_chunks: dict[bytes, bytes] = field(default_factory=dict)
    significant_bits: tuple[int, ...] | None = None
    background: tuple[int, ...] | None = None
    text: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    shaped: dict | None = None
    xmp: bytes | None = None
    iptc: bytes | None = None
    comment: str | None = None
    geo: tuple = ()
    tiff_resolution: tuple[float, float, int] | None = None
    imagej: dict | None = None
    ome: str | None = None
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any((self.icc, self.exif, self.dpi, self.gamma, self.colour_chunks,
                    self.significant_bits, self.background, self.text,
                    self.description, self.shaped, self.xmp, self.iptc, self.comment, self.geo,
                    self.tiff_resolution, self.imagej, self.ome))

    def colour_chunks_note(self, format_name: str) -> list[str]:
        """Return the note for an output that cannot hold a PNG's colour chunks.

        ``sRGB`` goes unsaid: an output without a profile is read as sRGB.
        """
        dropped = sorted([kind.decode("latin-1") for kind in self.colour_chunks
                          if kind != b"sRGB"]
                         + ["sBIT"] * bool(self.significant_bits)
                         + ["bKGD"] * bool(self.background))
        return ([f"PNG colour chunks ({', '.join(dropped)}) dropped: {format_name} holds "
                 "none"] if dropped else [])

    def science_notes(self, format_name: str) -> list[str]:
        """Return the notes for an output that cannot hold ImageJ, OME or GeoTIFF metadata."""
        kind = "ImageJ" if self.imagej else "OME" if self.ome else None
        return ([f"{kind} metadata (spacing, unit) dropped: {format_name} cannot hold it"]
                if kind else []) + ([f"GeoTIFF georeferencing dropped: {format_name} cannot "
                                     "hold it"] if self.geo else [])

    def exif_tags(self):
        """Return the EXIF as a ``PIL.Image.Exif`` (empty without EXIF)."""
        from PIL import Image

        exif = Image.Exif()
        if self.exif:
            exif.load(self.exif)
        return exif


def read_metadata(raw: bytes, kind: str) -> Metadata:
    """Gather the metadata of an image file from its bytes (no pixel is decoded).

    Parameters
    ----------
    raw : bytes
        The file's contents.
    kind : str
        Its format, ``".png"``, ``".jpg"``, ``".webp"``, ``".tif"`` or ``".bmp"``.

    Returns
    -------
    Metadata
        What was found; unreadable pieces are left out.

    Notes
    -----
    One pass over the file's chunks or tags.
    """
    try:
        if kind == ".png":
            return _png_metadata(raw)
        if kind == ".tif":
            return _tiff_metadata(raw)
        if kind in (".jpg", ".webp"):
            return _pillow_metadata(raw)
    except Exception:  # metadata never stops the pixels from being denoised
        return Metadata(notes=["the file's metadata could not be read and is not carried"])
    return Metadata()


def _clean_exif(block: bytes, notes: list[str], keep: dict | None = None) -> bytes | None:
    """EXIF bytes with orientation 1 and no thumbnail, or ``None`` if unreadable or empty.

    With *keep*, only those first-IFD tags (and the sub-IFDs) stay: a TIFF's first IFD
    holds its own layout and description too.
    """
    from PIL import Image

    if block.startswith(b"Exif\x00\x00"):
        block = block[6:]
    exif = Image.Exif()
    try:
        exif.load(block)
    except Exception:
        notes.append("unreadable EXIF dropped")
        return None
    if exif.get(_ORIENTATION, 1) in QUARTER_TURNS:
        # Turned a quarter upright, the image's width and height trade places.
        sub = exif.get_ifd(_EXIF_IFD)
        if _PIXEL_X in sub and _PIXEL_Y in sub:
            sub[_PIXEL_X], sub[_PIXEL_Y] = sub[_PIXEL_Y], sub[_PIXEL_X]
    if exif.get(_ORIENTATION, 1) not in (0, 1):
        exif[_ORIENTATION] = 1
    from PIL import ExifTags

    if exif.get_ifd(ExifTags.IFD.IFD1):
        notes.append("the EXIF thumbnail dropped (it shows the noisy image)")
    for tag in list(exif):
        unwanted = (tag not in keep and tag not in (_EXIF_IFD, _GPS_IFD, _ORIENTATION)
                    if keep is not None else tag in _STRUCTURE_TAGS and tag != _ORIENTATION)
        if unwanted:
            del exif[tag]
    return exif.tobytes() if len(exif) else None


def _png_metadata(raw: bytes) -> Metadata:
    metadata = Metadata()
    orientation = 1
    colour_type, palette = 0, b""
    for kind, data in png_chunks(raw):
        if kind == b"IHDR" and len(data) == 13:
            colour_type = data[9]
        elif kind == b"PLTE":
            palette = data
        elif kind == b"sBIT" and data and len(data) == SAMPLES.get(colour_type, 0):
            metadata.significant_bits = tuple(data)
        elif kind == b"bKGD":
            metadata.background = png_background(data, colour_type, palette)
        elif kind == b"iCCP":
            name_end = data.index(b"\x00")
            metadata.icc = zlib.decompress(data[name_end + 2:])
        elif kind == b"eXIf":
            metadata.exif = _clean_exif(data, metadata.notes)
            if metadata.exif:  # readable: its orientation turned the pixels
                orientation = _exif_orientation(data)
        elif kind == b"gAMA" and len(data) == 4:
            metadata.gamma = struct.unpack(">I", data)[0] / 100000.0
        elif kind in _COLOUR_CHUNKS:
            metadata.colour_chunks[kind] = data
        elif kind == b"pHYs" and len(data) == 9:
            x, y, unit = struct.unpack(">IIB", data)
            if unit == 1 and x and y:  # per metre
                metadata.dpi = (x * 0.0254, y * 0.0254)
        elif kind == b"tEXt":
            key, _, value = data.partition(b"\x00")
            metadata.text[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"zTXt":
            key, _, rest = data.partition(b"\x00")
            metadata.text[key.decode("latin-1")] = zlib.decompress(rest[1:]).decode("latin-1")
        elif kind == b"iTXt":
            key, _, rest = data.partition(b"\x00")
            compressed = rest[0] == 1
            _, _, rest = rest[2:].partition(b"\x00")  # language tag
            _, _, value = rest.partition(b"\x00")  # translated keyword
            if compressed:
                value = zlib.decompress(value)
            metadata.text[key.decode("latin-1")] = value.decode("utf-8")
    metadata.xmp = carried_xmp(metadata.text.pop(PNG_KEYWORD, None), orientation=orientation,
                               notes=metadata.notes)
    return metadata


def _exif_orientation(exif_block: bytes) -> int:
    """Return an EXIF block's orientation (1 where it has none)."""
    from PIL import Image

    exif = Image.Exif()
    exif.load(exif_block[6:] if exif_block.startswith(b"Exif\x00\x00") else exif_block)
    return int(exif.get(_ORIENTATION, 1) or 1)


def png_orientation(raw: bytes) -> int:
    """Return the EXIF orientation in a PNG's ``eXIf`` chunk (1 when there is none).

    Read from the chunks: Pillow finds a PNG's EXIF only by decoding the whole image.
    """
    for kind, data in png_chunks(raw):
        if kind == b"eXIf":
            return _exif_orientation(data)
    return 1


def png_chunks(raw: bytes):
    """Yield ``(type, data)`` for every chunk of a PNG, from its bytes.

    Parameters
    ----------
    raw : bytes
        A PNG file.

    Yields
    ------
    tuple of (bytes, bytes)
    """
    position = 8
    while position + 8 <= len(raw):
        length, kind = struct.unpack(">I4s", raw[position:position + 8])
        yield kind, raw[position + 8:position + 8 + length]
        if kind == b"IEND":
            return
        position += 12 + length


def open_unlimited(source):
    """Open an image with Pillow (header only), its own size limit giving way to ours.

    Parameters
    ----------
    source : path-like or bytes
        A file, or a file's contents.

    Returns
    -------
    PIL.Image.Image
        Opened lazily; the caller closes it. ``--max-pixels`` is checked from the header
        before anything is decoded, so Pillow's limit would only refuse what the user allowed.
    """
    import io

    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        return Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _pillow_metadata(raw: bytes) -> Metadata:
    metadata = Metadata()
    with open_unlimited(raw) as image:
        info = dict(image.info)
        orientation = int(image.getexif().get(_ORIENTATION, 1) or 1)
    metadata.icc = info.get("icc_profile") or None
    metadata.xmp = carried_xmp(info.get("xmp"), orientation=orientation, notes=metadata.notes)
    metadata.iptc = (info.get("photoshop") or {}).get(IPTC_RESOURCE) or None
    if info.get("comment"):
        comment = info["comment"]
        metadata.comment = (comment.decode("utf-8", "replace") if isinstance(comment, bytes)
                            else str(comment))
    if info.get("exif"):
        metadata.exif = _clean_exif(info["exif"], metadata.notes)
    if info.get("dpi") and all(info["dpi"]):
        metadata.dpi = tuple(float(value) for value in info["dpi"])
    return metadata


def _tiff_metadata(raw: bytes) -> Metadata:
    import io

    from .tiffs import open_tiff

    metadata = Metadata()
    with open_tiff(io.BytesIO(raw)) as tiff:
        page = tiff.pages.first
        tags = page.tags
        icc = tags.valueof(34675)
        metadata.icc = bytes(icc) if icc is not None else None
        x, y = tags.get("XResolution"), tags.get("YResolution")
        unit = tags.valueof("ResolutionUnit", 2)
        if x is not None and y is not None and all(tag.value[1] for tag in (x, y)):
            metadata.tiff_resolution = (x.value[0] / x.value[1], y.value[0] / y.value[1],
                                        int(unit))
        if x is not None and y is not None and int(unit) in (2, 3):
            per_unit = [tag.value[0] / tag.value[1] for tag in (x, y)]
            factor = 2.54 if int(unit) == 3 else 1.0  # per centimetre to per inch
            if all(per_unit):
                metadata.dpi = (per_unit[0] * factor, per_unit[1] * factor)
        description = tags.valueof("ImageDescription")
        if (isinstance(description, str) and description.strip()
                and not (tiff.is_imagej or tiff.is_ome or tiff.is_shaped)):
            metadata.description = description
        if tiff.is_imagej:
            metadata.imagej = imagej_settings(tiff)
        elif tiff.is_ome and tiff.ome_metadata:
            metadata.ome = tiff.ome_metadata
        elif tiff.is_shaped and tiff.shaped_metadata:
            metadata.shaped = {key: value for key, value in tiff.shaped_metadata[0].items()
                               if key not in _SHAPED_LAYOUT} or None
        metadata.xmp, metadata.iptc, metadata.geo = page_records(
            page, int(tags.valueof(_ORIENTATION, 1) or 1), metadata.notes)
    # Pillow reads TIFF's first IFD with its EXIF and GPS sub-IFDs as one Exif object.
    try:
        with open_unlimited(raw) as image:
            exif = image.getexif()
            for pointer in (_EXIF_IFD, _GPS_IFD):
                exif.get_ifd(pointer)  # read now, while the file is open
            # A BigTIFF's tags would come out with BigTIFF's header, which Pillow's EXIF
            # reader (and every EXIF reader) refuses; EXIF is classic TIFF.
            exif.bigtiff = False
            block = exif.tobytes()
        metadata.exif = _clean_exif(block, metadata.notes, keep=TIFF_TEXT_TAGS)
    except Exception:  # Pillow cannot open every TIFF (float colour, ...); the rest stays
        pass
    return metadata


def page_records(page, orientation: int, notes: list[str]
                 ) -> tuple[bytes | None, bytes | None, tuple]:
    """Return a TIFF page's XMP, IPTC records and GeoTIFF tags, as an output carries them.

    Parameters
    ----------
    page : tifffile.TiffPage
        A still's page, or a stack's first.
    orientation : int
        The TIFF orientation its pixels were turned upright by (1: none).
    notes : list of str
        Where to say what is dropped of them.

    Returns
    -------
    xmp, iptc : bytes or None
        As :attr:`Metadata.xmp` and :attr:`Metadata.iptc`.
    geo : tuple
        As :attr:`Metadata.geo`.

    Notes
    -----
    ``O(1)`` tags read, plus the packet's length.
    """
    tags = page.tags
    iptc = tags.valueof(IPTC_TAG)
    return (carried_xmp(tags.valueof(TIFF_TAG), orientation=orientation, notes=notes),
            bytes(iptc) if isinstance(iptc, bytes) and iptc else None,
            geo_extratags(page, turned=orientation not in (0, 1), notes=notes))


def png_notes(metadata: Metadata) -> list[str]:
    """Return what a PNG output cannot hold of *metadata*: ImageJ, OME, GeoTIFF, IPTC."""
    return metadata.science_notes("PNG") + (["IPTC dropped: PNG holds none here"]
                                            if metadata.iptc else [])


def imagej_settings(tiff) -> dict:
    """Return an ImageJ TIFF's metadata without the keys that describe its layout.

    Parameters
    ----------
    tiff : tifffile.TiffFile
        An ImageJ file.

    Returns
    -------
    dict
        Spacing, unit, frame interval and the like, ready for ``tifffile.imwrite(...,
        imagej=True, metadata=...)``.
    """
    return {key: value for key, value in (tiff.imagej_metadata or {}).items()
            if key not in _IMAGEJ_LAYOUT}


def with_png_chunks(encoded: bytes, metadata: Metadata) -> bytes:
    """Return an encoded PNG with *metadata*'s chunks put in after its header.

    Parameters
    ----------
    encoded : bytes
        A PNG as an encoder wrote it.
    metadata : Metadata
        The profile, EXIF, density, gamma and text to write.

    Returns
    -------
    bytes
        The PNG with ``iCCP``, ``eXIf``, ``pHYs``, ``gAMA`` and text chunks (replacing any of
        those kinds the encoder wrote).
    """
    chunks = []
    if metadata.icc:
        chunks.append((b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(metadata.icc)))
    if metadata.gamma:
        chunks.append((b"gAMA", struct.pack(">I", round(metadata.gamma * 100000))))
    chunks.extend(metadata.colour_chunks.items())
    chunks.extend(display_chunks(encoded, metadata.significant_bits, metadata.background))
    if metadata.dpi:
        per_metre = [round(value / 0.0254) for value in metadata.dpi]
        chunks.append((b"pHYs", struct.pack(">IIB", *per_metre, 1)))
    if metadata.exif:
        block = metadata.exif
        chunks.append((b"eXIf", block[6:] if block.startswith(b"Exif\x00\x00") else block))
    if metadata.xmp:
        chunks.append(png_xmp_chunk(metadata.xmp))
    text = dict(metadata.text)
    if metadata.comment:
        text.setdefault("Comment", metadata.comment)
    description = metadata.description or (json.dumps(metadata.shaped) if metadata.shaped
                                            else None)
    if description and "Description" not in text:
        text["Description"] = description
    for key, value in text.items():
        keyword = key.encode("latin-1", "replace")[:79]
        try:
            chunks.append((b"tEXt", keyword + b"\x00" + value.encode("latin-1")))
        except UnicodeEncodeError:
            chunks.append((b"iTXt", keyword + b"\x00\x00\x00\x00\x00"
                           + value.encode("utf-8")))
    replaced = {kind for kind, _ in chunks} | ({b"zTXt", b"iTXt", b"tEXt"} if text else set())
    out = [encoded[:8]]
    for kind, data in png_chunks(encoded):
        if kind in replaced:
            continue
        out.append(_chunk(kind, data))
        if kind == b"IHDR":
            out.extend(_chunk(*chunk) for chunk in chunks)
    return b"".join(out)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def pillow_options(metadata: Metadata, extension: str) -> tuple[dict, list[str]]:
    """Return Pillow ``save`` keywords that write *metadata* into a JPEG or WebP.

    Parameters
    ----------
    metadata : Metadata
        What to write.
    extension : str
        ``".jpg"``, ``".jpeg"`` or ``".webp"``.

    Returns
    -------
    keywords : dict
        ``icc_profile``, ``exif``, ``xmp`` and (JPEG) ``dpi`` and ``comment``; a JPEG's IPTC
        records are put in after encoding (:func:`nlmeans_cli.io.iptc.with_jpeg_iptc`).
    notes : list of str
        What the format cannot hold.
    """
    keywords: dict = {}
    notes = []
    if metadata.icc:
        keywords["icc_profile"] = metadata.icc
    if metadata.exif:
        keywords["exif"] = metadata.exif
    if metadata.xmp and extension != ".webp" and len(metadata.xmp) > JPEG_MOST_XMP:
        notes.append(f"XMP dropped: its {len(metadata.xmp)} bytes are more than a JPEG "
                     f"segment holds ({JPEG_MOST_XMP})")
    elif metadata.xmp:
        keywords["xmp"] = metadata.xmp
    if metadata.dpi:
        if extension == ".webp":
            notes.append("pixel density dropped: WebP has no field for it")
        else:
            keywords["dpi"] = tuple(round(value) for value in metadata.dpi)
    comment = metadata.comment or metadata.text.get("Comment")
    if comment and extension != ".webp":
        keywords["comment"] = comment
    elif comment:
        notes.append("the comment dropped: WebP holds none here")
    if set(metadata.text) - {"Comment"} or metadata.description or metadata.shaped:
        notes.append(f"text and description dropped: {extension[1:].upper()} holds none here")
    if metadata.iptc and extension == ".webp":
        notes.append("IPTC dropped: WebP holds none here")
    elif metadata.iptc and len(metadata.iptc) > JPEG_MOST_IPTC:
        notes.append(f"IPTC dropped: its {len(metadata.iptc)} bytes are more than a JPEG "
                     f"segment holds ({JPEG_MOST_IPTC})")
    if metadata.gamma:
        notes.append(f"PNG gamma dropped: {extension[1:].upper()} has no gamma field")
    notes.extend(metadata.colour_chunks_note(extension[1:].upper()))
    notes.extend(metadata.science_notes(extension[1:].upper()))
    return keywords, notes
