"""What a file carries comes out of `nlm denoise` and `nlm batch`: ICC, EXIF, density, text."""

import io
import struct
import zlib

import numpy as np
import pytest
import tifffile
from PIL import ExifTags, Image, ImageCms, PngImagePlugin
from typer.testing import CliRunner

from nlmeans_cli.cli import app

runner = CliRunner()

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _pixels(rng, shape=(40, 48, 3), dtype=np.uint8):
    top = np.iinfo(dtype).max
    rows, columns = np.mgrid[0:shape[0], 0:shape[1]]
    base = 0.3 + 0.4 * np.sin(rows / 6.0) ** 2 + 0.002 * columns
    if len(shape) == 3:
        base = np.stack([base, base[::-1], base[:, ::-1]], axis=-1)
    return np.clip((base + rng.normal(0, 0.05, shape)) * top, 0, top).astype(dtype)


def _stack(rng, shape, dtype=np.uint16):
    return np.stack([_pixels(rng, shape[1:], dtype) for _ in range(shape[0])])


def _exif(model="NLM Test Camera", orientation=None):
    exif = Image.Exif()
    exif[0x0110] = model
    exif[0x010F] = "NLM Optics"
    exif.get_ifd(0x8769)[0x829A] = 0.01  # exposure time
    if orientation is not None:
        exif[0x0112] = orientation
    return exif


def _read(path):
    """(ICC profile, EXIF, info) of a written file, as Pillow sees it."""
    with Image.open(path) as image:
        image.load()
        return image.info.get("icc_profile"), image.getexif(), dict(image.info)


def _denoise(source, target, *extra):
    result = runner.invoke(app, ["denoise", str(source), str(target), "--sigma", "10", *extra])
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("output", [".jpg", ".png", ".webp", ".tif"])
def test_jpeg_profile_and_exif_reach_every_format(tmp_path, output):
    rng = np.random.default_rng(1)
    source = tmp_path / "photo.jpg"
    Image.fromarray(_pixels(rng)).save(source, quality=95, icc_profile=SRGB,
                                       exif=_exif(orientation=6), dpi=(300, 300))
    target = tmp_path / f"out{output}"
    _denoise(source, target)
    icc, exif, info = _read(target)
    assert icc == SRGB
    assert exif.get(0x0110) == "NLM Test Camera" and exif.get(0x010F) == "NLM Optics"
    assert exif.get(0x0112, 1) == 1  # the pixels were turned upright
    assert exif.get_ifd(0x8769).get(0x829A) == pytest.approx(0.01)
    if output in (".jpg", ".png", ".tif"):
        assert tuple(round(v) for v in info["dpi"]) == (300, 300)


@pytest.mark.parametrize("output", [".jpg", ".png", ".tif"])
def test_exif_pixel_dimensions_trade_places_where_the_pixels_turned_a_quarter(tmp_path, output):
    rng = np.random.default_rng(24)
    exif = _exif(orientation=6)
    exif.get_ifd(0x8769).update({0xA002: 48, 0xA003: 40})  # as stored: 48 wide, 40 high
    source = tmp_path / "photo.jpg"
    Image.fromarray(_pixels(rng)).save(source, quality=95, exif=exif)
    target = tmp_path / f"out{output}"
    _denoise(source, target)
    with Image.open(target) as image:
        assert image.size == (40, 48)  # turned upright: 40 wide, 48 high
    _, written, _ = _read(target)
    sub = written.get_ifd(0x8769)
    assert (sub[0xA002], sub[0xA003]) == (40, 48)


def test_png_text_gamma_density_and_16_bit_profile(tmp_path):
    rng = np.random.default_rng(2)
    source = tmp_path / "in.png"
    text = PngImagePlugin.PngInfo()
    text.add_text("Title", "a noisy test")
    text.add_itxt("Comment", "naïve ünïcode")
    Image.fromarray(_pixels(rng, (32, 36))).save(source, pnginfo=text, icc_profile=SRGB,
                                                  dpi=(72, 72))
    raw = source.read_bytes()
    # Add a gAMA chunk by hand after the header (Pillow writes none).
    gamma = struct.pack(">I", 45455)
    chunk = struct.pack(">I", 4) + b"gAMA" + gamma + struct.pack(
        ">I", zlib.crc32(b"gAMA" + gamma) & 0xFFFFFFFF)
    source.write_bytes(raw[:33] + chunk + raw[33:])
    target = tmp_path / "out.png"
    _denoise(source, target)
    icc, _, info = _read(target)
    assert icc == SRGB
    assert info["Title"] == "a noisy test" and info["Comment"] == "naïve ünïcode"
    assert info["gamma"] == pytest.approx(0.45455)
    assert tuple(round(v) for v in info["dpi"]) == (72, 72)


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def test_png_colour_chunks_are_kept_and_its_time_is_not(tmp_path):
    # sRGB and the primaries (cHRM) were dropped without a word; tIME is the old file's.
    from nlmeans_cli.io.metadata import png_chunks

    rng = np.random.default_rng(21)
    buffer = io.BytesIO()
    Image.fromarray(_pixels(rng)).save(buffer, format="PNG")
    raw = buffer.getvalue()
    primaries = struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)
    colour = {b"sRGB": b"\x00", b"cHRM": primaries}
    added = b"".join(_png_chunk(kind, data) for kind, data in colour.items())
    source = tmp_path / "in.png"
    source.write_bytes(raw[:33] + added + _png_chunk(b"tIME", b"\x07\xe4\x01\x02\x03\x04\x05")
                       + raw[33:])
    _denoise(source, tmp_path / "out.png")
    written = dict(png_chunks((tmp_path / "out.png").read_bytes()))
    assert {kind: written.get(kind) for kind in colour} == colour
    assert b"tIME" not in written
    result = _denoise(source, tmp_path / "out.jpg")
    assert "PNG colour chunks (cHRM) dropped: JPG holds none" in result.stderr


def _with_chunks(image, chunks, **save):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **save)
    raw = buffer.getvalue()
    added = b"".join(_png_chunk(kind, data) for kind, data in chunks)
    # After IHDR, but a background after a palette, as PNG orders them.
    at = raw.index(b"IDAT") - 4 if any(kind == b"bKGD" for kind, _ in chunks) else 33
    return raw[:at] + added + raw[at:]


def test_png_significant_bits_and_background_are_kept_in_the_output_s_layout(tmp_path):
    # sBIT (a 12-bit camera's values in 16 bits) and bKGD were dropped without a word.
    from nlmeans_cli.io.metadata import png_chunks

    rng = np.random.default_rng(22)
    grey = (rng.integers(1000, 3000, (40, 48)) << 4).astype(np.uint16)
    cases = [
        # 16-bit grey: as stored.
        (Image.fromarray(grey), [(b"sBIT", b"\x0c"), (b"bKGD", struct.pack(">H", 4096))], {},
         b"\x0c", struct.pack(">H", 4096)),
        # A palette's, written as RGB: its colours' bits, its index to its colour.
        (Image.fromarray(_pixels(rng)).quantize(16),
         [(b"sBIT", b"\x05\x06\x05"), (b"bKGD", b"\x02")], {}, b"\x05\x06\x05", None),
        # A transparent grey level, written as alpha: the alpha measured at the full depth.
        (Image.fromarray(_pixels(rng, (40, 48))), [(b"sBIT", b"\x06")], {"transparency": 7},
         b"\x06\x08", None),
    ]
    for number, (image, chunks, save, bits, background) in enumerate(cases):
        source = tmp_path / f"in{number}.png"
        source.write_bytes(_with_chunks(image, chunks, **save))
        _denoise(source, tmp_path / f"out{number}.png")
        written = dict(png_chunks((tmp_path / f"out{number}.png").read_bytes()))
        assert written.get(b"sBIT") == bits
        if background is not None:
            assert written.get(b"bKGD") == background
        elif image.mode == "P":
            index = dict(chunks)[b"bKGD"][0]
            colour = image.getpalette()[3 * index : 3 * index + 3]
            assert written.get(b"bKGD") == struct.pack(">3H", *colour)
    result = _denoise(source, tmp_path / "out.tif")
    assert "PNG colour chunks (sBIT) dropped: TIFF holds none" in result.stderr


def test_tiff_resolution_description_profile_and_camera(tmp_path):
    rng = np.random.default_rng(3)
    source = tmp_path / "scan.tif"
    tifffile.imwrite(source, _pixels(rng, dtype=np.uint16), photometric="rgb",
                     resolution=(600, 600), resolutionunit="INCH",
                     description="slide 12, stained", metadata=None,
                     extratags=[(34675, "B", len(SRGB), SRGB, True),
                                (272, "s", 0, "NLM Scanner", True)])
    target = tmp_path / "out.tif"
    _denoise(source, target)
    with tifffile.TiffFile(target) as tiff:
        tags = tiff.pages.first.tags
        assert bytes(tags.valueof(34675)) == SRGB
        assert tags.valueof(272) == "NLM Scanner"
        assert tags.valueof("ImageDescription") == "slide 12, stained"
        assert tags["XResolution"].value[0] / tags["XResolution"].value[1] == 600
    png = tmp_path / "out.png"
    _denoise(source, png)
    icc, _, info = _read(png)
    assert icc == SRGB and info["Description"] == "slide 12, stained"


def test_a_bigtiff_keeps_its_camera_without_a_false_note(tmp_path):
    rng = np.random.default_rng(7)
    source = tmp_path / "big.tif"
    tifffile.imwrite(source, _pixels(rng, dtype=np.uint16)[..., 0], bigtiff=True,
                     metadata=None, extratags=[(272, "s", 0, "NLM Camera", True)])
    target = tmp_path / "out.tif"
    result = _denoise(source, target)
    assert "EXIF" not in result.output
    with tifffile.TiffFile(target) as tiff:
        assert tiff.pages.first.tags.valueof(272) == "NLM Camera"


def _xmp(orientation, thumbnail=b""):
    return (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            b'<x:xmpmeta xmlns:x="adobe:ns:meta/">'
            b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
            b'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
            b'xmp:Rating="4"><tiff:Orientation>' + str(orientation).encode()
            + b"</tiff:Orientation>" + thumbnail
            + b'</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


def _written_xmp(path):
    if path.suffix == ".tif":
        with tifffile.TiffFile(path) as tiff:
            return tiff.pages.first.tags.valueof(700)
    with Image.open(path) as image:
        packet = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    return packet.encode() if isinstance(packet, str) else packet


@pytest.mark.parametrize("output", [".jpg", ".png", ".webp", ".tif"])
def test_xmp_reaches_every_format_upright_and_without_its_thumbnail(tmp_path, output):
    # Ratings, keywords and captions live in XMP: it was dropped without a word.
    rng = np.random.default_rng(15)
    thumbnail = (b"<xmp:Thumbnails><rdf:Alt><rdf:li><xmpGImg:image>AAAA</xmpGImg:image>"
                 b"</rdf:li></rdf:Alt></xmp:Thumbnails>")
    source = tmp_path / "photo.jpg"
    Image.fromarray(_pixels(rng)).save(source, quality=95, exif=_exif(orientation=6),
                                       xmp=_xmp(6, thumbnail))
    target = tmp_path / f"out{output}"
    result = _denoise(source, target)
    assert "the XMP thumbnail dropped" in result.stderr
    packet = _written_xmp(target)
    assert b'xmp:Rating="4"' in packet
    assert b"<tiff:Orientation>1</tiff:Orientation>" in packet  # the pixels were turned
    assert b"Thumbnails" not in packet
    # Read back from the output, the packet is carried on unchanged.
    again = tmp_path / f"again{output}"
    _denoise(target, again)
    assert _written_xmp(again) == packet


def test_xmp_keeps_its_orientation_where_the_pixels_were_not_turned(tmp_path):
    rng = np.random.default_rng(16)
    source = tmp_path / "photo.tif"
    packet = _xmp(6)
    tifffile.imwrite(source, _pixels(rng), photometric="rgb",
                     extratags=[(700, "B", len(packet), packet, True)])
    _denoise(source, tmp_path / "out.png")
    assert _written_xmp(tmp_path / "out.png") == packet


def test_xmp_too_large_for_a_jpeg_is_dropped_with_a_note(tmp_path):
    rng = np.random.default_rng(17)
    source = tmp_path / "photo.png"
    packet = _xmp(1, b"<xmp:Label>" + b"x" * 70000 + b"</xmp:Label>")
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", packet.decode())
    Image.fromarray(_pixels(rng)).save(source, pnginfo=info)
    result = _denoise(source, tmp_path / "out.jpg")
    assert "XMP dropped" in result.stderr and _written_xmp(tmp_path / "out.jpg") is None
    _denoise(source, tmp_path / "out.tif")
    assert _written_xmp(tmp_path / "out.tif") == packet


def _with_app13(jpeg, resources):
    """A JPEG with an APP13 segment of Photoshop image resources ``{id: data}``."""
    blocks = b"".join(b"8BIM" + struct.pack(">HHI", resource, 0, len(data)) + data
                      + b"\x00" * (len(data) % 2) for resource, data in resources.items())
    body = b"Photoshop 3.0\x00" + blocks
    return jpeg[:2] + b"\xff\xed" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


_CAPTION = b"\x1c\x02\x78" + struct.pack(">H", 14) + b"a caption here"


def test_iptc_and_a_jpeg_comment_are_carried_where_the_format_holds_them(tmp_path):
    # Captions and keywords in IPTC records, and a JPEG's comment, were dropped unsaid.
    rng = np.random.default_rng(18)
    buffer = io.BytesIO()
    Image.fromarray(_pixels(rng)).save(buffer, format="JPEG", quality=95, comment="shot at dusk")
    source = tmp_path / "photo.jpg"
    source.write_bytes(_with_app13(buffer.getvalue(), {0x0404: _CAPTION, 0x040C: b"thumb"}))
    _denoise(source, tmp_path / "out.jpg")
    with Image.open(tmp_path / "out.jpg") as image:
        # The records alone: the segment's other resources (a thumbnail) describe the old file.
        assert image.info["photoshop"] == {0x0404: _CAPTION}
        assert image.info["comment"] == b"shot at dusk"
    result = _denoise(source, tmp_path / "out.tif")
    assert "the JPEG comment dropped" in result.stderr
    with tifffile.TiffFile(tmp_path / "out.tif") as tiff:
        assert tiff.pages.first.tags.valueof(33723) == _CAPTION
    result = _denoise(source, tmp_path / "out.png")
    assert "IPTC dropped: PNG holds none here" in result.stderr
    assert _read(tmp_path / "out.png")[2]["Comment"] == "shot at dusk"
    # and a PNG's Comment text becomes a JPEG's comment
    _denoise(tmp_path / "out.png", tmp_path / "again.jpg")
    with Image.open(tmp_path / "again.jpg") as image:
        assert image.info["comment"] == b"shot at dusk"


@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_a_tiff_s_iptc_stored_as_longs_reaches_a_jpeg(tmp_path, byteorder):
    # Photoshop types the records' bytes as 32-bit LONGs; they are read as stored.
    rng = np.random.default_rng(19)
    records = _CAPTION + b"\x00" * (-len(_CAPTION) % 4)
    source = tmp_path / "photo.tif"
    tifffile.imwrite(source, _pixels(rng), photometric="rgb", byteorder=byteorder,
                     extratags=[(33723, "I", len(records) // 4,
                                 np.frombuffer(records, "<u4"), True)])
    with tifffile.TiffFile(source) as tiff:
        tag = tiff.pages.first.tags[33723]
        assert tag.dtype == 4  # LONG
        stored = source.read_bytes()[tag.valueoffset:tag.valueoffset + len(records)]
    assert stored == records  # the file holds the records' bytes, as Photoshop's do
    _denoise(source, tmp_path / "out.jpg")
    with Image.open(tmp_path / "out.jpg") as image:
        assert image.info["photoshop"][0x0404] == records


@pytest.mark.parametrize("kind", ["plain", "zlib", "imagej", "ome-channels"])
def test_a_stack_keeps_its_xmp_iptc_and_georeferencing_on_its_first_page(tmp_path, kind):
    rng = np.random.default_rng(20)
    packet = _xmp(1)
    tags = [(700, "B", len(packet), packet, True), (33723, 7, len(_CAPTION), _CAPTION, True),
            *_GEO]
    shape = (2, 3, 24, 28) if kind == "ome-channels" else (4, 24, 28)
    stack = _stack(rng, (int(np.prod(shape[:-2])), *shape[-2:])).reshape(shape)
    source = tmp_path / ("stack.ome.tif" if kind == "ome-channels" else "stack.tif")
    options = {"plain": {"photometric": "minisblack"},
               "zlib": {"photometric": "minisblack", "compression": "zlib"},
               "imagej": {"imagej": True, "metadata": {"axes": "ZYX"}},
               "ome-channels": {"ome": True, "metadata": {"axes": "CZYX"}}}[kind]
    tifffile.imwrite(source, stack, extratags=tags, **options)
    _denoise(source, tmp_path / "out.tif")
    with tifffile.TiffFile(tmp_path / "out.tif") as tiff:
        assert tiff.series[0].shape == stack.shape
        assert tiff.pages.first.tags.valueof(700) == packet
        assert tiff.pages.first.tags.valueof(33723) == _CAPTION
    assert _geo_values(tmp_path / "out.tif") == {code: value for code, _, _, value, _ in _GEO}
    result = _denoise(source, tmp_path / "out.npy")
    assert "XMP, IPTC and GeoTIFF tags dropped: .npy cannot hold it" in result.stderr


_GEO = [(33550, 12, 3, (30.0, 30.0, 0.0), True),
        (33922, 12, 6, (0.0, 0.0, 0.0, 500000.0, 4000000.0, 0.0), True),
        (34735, 3, 16, (1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32633), True),
        (34737, 2, 0, "WGS 84 / UTM zone 33N|", True)]


def _geo_values(path):
    with tifffile.TiffFile(path) as tiff:
        tags = tiff.pages.first.tags
        return {code: tags[code].value for code, *_ in _GEO if code in tags}


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
def test_a_geotiff_keeps_its_georeferencing_and_its_no_data(tmp_path, dtype):
    # Georeferencing was dropped without a word, and no-data pixels came out as data.
    rng = np.random.default_rng(22)
    nodata = -9999 if dtype == np.float32 else 0
    top = 1.0 if dtype == np.float32 else 65535
    image = np.clip(0.5 + 0.05 * rng.standard_normal((48, 56)), 0, 1) * top
    image = image.astype(dtype)
    image[:, :16] = nodata
    source = tmp_path / "scene.tif"
    tifffile.imwrite(source, image, extratags=[*_GEO, (42113, 2, 0, str(nodata), True)])
    result = _denoise(source, tmp_path / "out.tif", "--sigma", "12.75")  # 0.05 of the range
    assert "pixels hold GDAL's no-data value" in result.stderr
    assert _geo_values(tmp_path / "out.tif") == {code: value for code, _, _, value, _ in _GEO}
    out = tifffile.imread(tmp_path / "out.tif")
    assert out.dtype == dtype and (out[:, :16] == nodata).all()
    # the measured part denoised: within its own range, never pulled toward the no-data value
    assert out[:, 16:].min() > 0.2 * top and np.isfinite(out).all()
    assert np.std(out[:, 24:]) < np.std(image[:, 24:])
    if dtype == np.uint16:
        result = _denoise(source, tmp_path / "out.png")
        assert "GeoTIFF georeferencing dropped: PNG cannot hold it" in result.stderr


def test_geotiff_tags_are_dropped_where_the_pixels_were_turned(tmp_path):
    rng = np.random.default_rng(23)
    source = tmp_path / "turned.tif"
    tifffile.imwrite(source, _pixels(rng, (24, 28), np.uint16),
                     extratags=[*_GEO, (274, 3, 1, 6, True)])
    result = _denoise(source, tmp_path / "out.tif")
    assert "GeoTIFF georeferencing dropped: the pixels were turned upright" in result.stderr
    assert _geo_values(tmp_path / "out.tif") == {}


def test_strip_metadata_drops_everything(tmp_path):
    rng = np.random.default_rng(4)
    source = tmp_path / "photo.jpg"
    Image.fromarray(_pixels(rng)).save(source, icc_profile=SRGB, exif=_exif(), xmp=_xmp(1))
    target = tmp_path / "out.jpg"
    _denoise(source, target, "--strip-metadata")
    icc, exif, info = _read(target)
    assert icc is None and exif.get(0x0110) is None and "xmp" not in info


def test_batch_keeps_metadata(tmp_path):
    rng = np.random.default_rng(5)
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(_pixels(rng)).save(folder / "a.jpg", icc_profile=SRGB, exif=_exif())
    Image.fromarray(_pixels(rng)).save(folder / "b.png", icc_profile=SRGB, exif=_exif())
    text = PngImagePlugin.PngInfo()
    text.add_text("Title", "batch text")
    Image.fromarray(_pixels(rng, (32, 32))).save(folder / "c.png", pnginfo=text, dpi=(96, 96))
    tifffile.imwrite(folder / "d.tif", _stack(rng, (4, 24, 24)), imagej=True,
                     resolution=(2.0, 2.0),
                     metadata={"spacing": 3.0, "unit": "um", "axes": "ZYX"})
    result = runner.invoke(app, ["batch", str(folder), str(tmp_path / "out"), "-j", "1",
                                 "--sigma", "10"])
    assert result.exit_code == 0, result.output
    for name in ("a.jpg", "b.png"):
        icc, exif, _ = _read(tmp_path / "out" / name)
        assert icc == SRGB and exif.get(0x0110) == "NLM Test Camera"
    _, _, info = _read(tmp_path / "out" / "c.png")
    assert info["Title"] == "batch text" and tuple(round(v) for v in info["dpi"]) == (96, 96)
    with tifffile.TiffFile(tmp_path / "out" / "d.tif") as tiff:
        assert tiff.imagej_metadata["spacing"] == 3.0 and tiff.imagej_metadata["unit"] == "um"


def _exif_with_thumbnail(model: bytes, thumbnail: bytes) -> bytes:
    """EXIF whose IFD1 holds a JPEG thumbnail, laid out by hand (big-endian TIFF)."""
    import struct

    model += b"\x00"
    ifd0_at = 8
    model_at = ifd0_at + 2 + 12 + 4
    ifd1_at = model_at + len(model)
    thumb_at = ifd1_at + 2 + 2 * 12 + 4
    ifd0 = (struct.pack(">H", 1) + struct.pack(">HHII", 0x0110, 2, len(model), model_at)
            + struct.pack(">I", ifd1_at))
    ifd1 = (struct.pack(">H", 2) + struct.pack(">HHII", 0x0201, 4, 1, thumb_at)
            + struct.pack(">HHII", 0x0202, 4, 1, len(thumbnail)) + struct.pack(">I", 0))
    return b"Exif\x00\x00MM\x00*" + struct.pack(">I", ifd0_at) + ifd0 + model + ifd1 + thumbnail


def test_exif_thumbnail_is_dropped(tmp_path):
    rng = np.random.default_rng(6)
    thumbnail = io.BytesIO()
    Image.fromarray(_pixels(rng, (16, 16, 3))).save(thumbnail, format="JPEG")
    exif = _exif_with_thumbnail(b"NLM Test Camera", thumbnail.getvalue())
    source = tmp_path / "photo.jpg"
    Image.fromarray(_pixels(rng)).save(source, exif=exif)
    _, original, _ = _read(source)
    assert original.get_ifd(ExifTags.IFD.IFD1)  # the input does carry a thumbnail
    target = tmp_path / "out.jpg"
    result = _denoise(source, target)
    _, written, _ = _read(target)
    assert not written.get_ifd(ExifTags.IFD.IFD1)
    assert written.get(0x0110) == "NLM Test Camera"
    assert "thumbnail dropped" in result.stderr


@pytest.mark.parametrize("volume", [False, True])
def test_imagej_spacing_unit_interval_resolution_and_compression_are_kept(tmp_path, volume):
    rng = np.random.default_rng(7)
    stack = _stack(rng, (6, 32, 36))
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, stack, imagej=True, resolution=(2.0, 2.0), compression="zlib",
                     metadata={"spacing": 2.0, "unit": "um", "axes": "ZYX", "finterval": 0.5})
    target = tmp_path / "out.tif"
    _denoise(source, target, *(["--volume"] if volume else []))
    with tifffile.TiffFile(target) as tiff:
        assert tiff.is_imagej and tiff.series[0].shape == stack.shape
        meta = tiff.imagej_metadata
        assert meta["spacing"] == 2.0 and meta["unit"] == "um" and meta["finterval"] == 0.5
        x = tiff.pages.first.tags["XResolution"].value
        assert x[0] / x[1] == 2.0
        assert tiff.pages.first.compression.name == "ADOBE_DEFLATE"


@pytest.mark.parametrize("kind", ["shaped", "ome", "rgb"])
@pytest.mark.parametrize("volume", [False, True])
def test_a_compressed_stack_keeps_its_compression_and_its_one_series(tmp_path, kind, volume):
    # Compressed pages cannot be appended one by one to a series (tifffile's contiguous
    # mode): a zlib stack that is neither ImageJ's nor colour-separated used to fail.
    rng = np.random.default_rng(11)
    shape = (5, 32, 36, 3) if kind == "rgb" else (5, 32, 36)
    stack = _stack(rng, shape, np.uint8 if kind == "rgb" else np.uint16)
    extra = ["--volume"] if volume else []
    outputs = []
    for compression in ("zlib", None):
        source = tmp_path / f"{compression}.{'ome.' if kind == 'ome' else ''}tif"
        tifffile.imwrite(source, stack, compression=compression, ome=kind == "ome",
                         photometric="rgb" if kind == "rgb" else "minisblack")
        target = tmp_path / f"out-{compression}.tif"
        _denoise(source, target, *extra)
        with tifffile.TiffFile(target) as tiff:
            assert len(tiff.series) == 1 and tiff.series[0].shape == stack.shape
            assert tiff.pages.first.compression.name == ("ADOBE_DEFLATE" if compression
                                                         else "NONE")
            assert tiff.is_ome == (kind == "ome")
            outputs.append(tiff.asarray())
    np.testing.assert_array_equal(outputs[0], outputs[1])


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_tifffile_s_own_metadata_of_a_stack_is_kept(tmp_path, compression):
    rng = np.random.default_rng(13)
    stack = _stack(rng, (4, 24, 28))
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, stack, compression=compression, photometric="minisblack",
                     metadata={"axes": "TYX", "objective": "20x", "interval": 0.5})
    target = tmp_path / "out.tif"
    _denoise(source, target)
    with tifffile.TiffFile(target) as tiff:
        assert tiff.series[0].shape == stack.shape and tiff.series[0].axes == "TYX"
        assert tiff.shaped_metadata[0]["objective"] == "20x"
        assert tiff.shaped_metadata[0]["interval"] == 0.5


@pytest.mark.parametrize(("shape", "axes"), [((24, 28), "YX"), ((24, 28, 3), "YXS")])
def test_tifffile_s_own_metadata_of_a_still_is_kept(tmp_path, shape, axes):
    # A still's keys beyond its layout were dropped: tifffile wrote a description of the
    # shape alone.
    rng = np.random.default_rng(14)
    still = _pixels(rng, shape, np.uint16)
    source = tmp_path / "still.tif"
    tifffile.imwrite(source, still, compression="zlib",
                     metadata={"axes": axes, "objective": "20x", "exposure": [0.5, 0.25]})
    _denoise(source, tmp_path / "out.tif")
    with tifffile.TiffFile(tmp_path / "out.tif") as tiff:
        assert tiff.series[0].shape == still.shape
        assert tiff.shaped_metadata[0]["objective"] == "20x"
        assert tiff.shaped_metadata[0]["exposure"] == [0.5, 0.25]
    _denoise(source, tmp_path / "out.png")
    _, _, info = _read(tmp_path / "out.png")
    assert '"objective": "20x"' in info["Description"]
    eight_bit = tmp_path / "eight.tif"
    tifffile.imwrite(eight_bit, (still >> 8).astype(np.uint8), metadata={"objective": "20x"})
    result = _denoise(eight_bit, tmp_path / "out.jpg")
    assert "text and description dropped: JPG holds none here" in result.stderr


@pytest.mark.parametrize("compression", [None, "zlib"])
@pytest.mark.parametrize("channels", [False, True])
def test_a_bigtiff_stack_stays_one(tmp_path, compression, channels):
    rng = np.random.default_rng(12)
    stack = _stack(rng, (6, 24, 28))
    stack = stack.reshape(2, 3, 24, 28) if channels else stack
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, stack, bigtiff=True, compression=compression,
                     photometric="minisblack", metadata={"axes": "ZCYX" if channels else "ZYX"})
    target = tmp_path / "out.tif"
    _denoise(source, target)
    with tifffile.TiffFile(target) as tiff:
        assert tiff.is_bigtiff and tiff.series[0].shape == stack.shape


@pytest.mark.parametrize(("axes", "shape"), [("ZYX", (5, 24, 24)), ("TCYX", (3, 2, 24, 24)),
                                             ("CZYX", (2, 3, 24, 24))])
def test_ome_xml_is_kept(tmp_path, axes, shape):
    # Channels are denoised apart; in ImageJ's order (TCYX) they were written as an ImageJ
    # hyperstack, and the OME-XML (its physical sizes) was dropped without a word.
    rng = np.random.default_rng(8)
    source = tmp_path / "stack.ome.tif"
    stack = _stack(rng, (int(np.prod(shape[:-2])), *shape[-2:])).reshape(shape)
    tifffile.imwrite(source, stack, ome=True,
                     metadata={"axes": axes, "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5,
                               "PhysicalSizeZ": 2.0})
    target = tmp_path / "out.ome.tif"
    _denoise(source, target)
    with tifffile.TiffFile(source) as before, tifffile.TiffFile(target) as after:
        assert after.is_ome and after.ome_metadata == before.ome_metadata
        assert after.series[0].shape == shape and after.series[0].axes == axes
        denoised = after.asarray()
    # Each plane where it was: closer to its own source plane than to any other.
    planes, out = stack.reshape(-1, *shape[-2:]), denoised.reshape(-1, *shape[-2:])
    for k, plane in enumerate(out):
        errors = [np.abs(plane.astype(float) - other).mean() for other in planes]
        assert int(np.argmin(errors)) == k


def test_stack_metadata_is_stripped_on_request(tmp_path):
    rng = np.random.default_rng(9)
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, _stack(rng, (4, 24, 24)), imagej=True,
                     metadata={"spacing": 3.0, "unit": "um", "axes": "ZYX"})
    target = tmp_path / "out.tif"
    _denoise(source, target, "--strip-metadata")
    with tifffile.TiffFile(target) as tiff:
        assert not tiff.is_imagej


def test_video_tags_are_kept(tmp_path):
    import av

    rng = np.random.default_rng(10)
    source = tmp_path / "clip.mkv"
    with av.open(str(source), "w") as container:
        container.metadata["title"] = "bench clip"
        container.metadata["creation_time"] = "2026-01-02T03:04:05.000000Z"
        stream = container.add_stream("ffv1", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "bgr0"
        stream.metadata["language"] = "eng"
        for _ in range(4):
            frame = av.VideoFrame.from_ndarray(_pixels(rng, (24, 32, 3)), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    target = tmp_path / "out.mkv"
    _denoise(source, target)
    with av.open(str(target)) as container:
        assert container.metadata.get("title") == "bench clip"
        assert container.metadata.get("creation_time", "").startswith("2026-01-02")
        assert container.streams.video[0].metadata.get("language") == "eng"


def test_single_page_imagej_keeps_its_calibration_and_a_png_says_it_cannot(tmp_path):
    rng = np.random.default_rng(11)
    source = tmp_path / "plane.tif"
    tifffile.imwrite(source, _pixels(rng, (32, 32), np.uint16), imagej=True,
                     resolution=(2.0, 2.0), metadata={"spacing": 2.0, "unit": "um"})
    _denoise(source, tmp_path / "out.tif")
    with tifffile.TiffFile(tmp_path / "out.tif") as tiff:
        assert tiff.is_imagej and tiff.imagej_metadata["unit"] == "um"
        x = tiff.pages.first.tags["XResolution"].value
        assert x[0] / x[1] == 2.0
    result = _denoise(source, tmp_path / "out.png")
    assert "ImageJ metadata (spacing, unit) dropped: PNG cannot hold it" in result.stderr


def test_stack_to_npy_says_what_it_drops(tmp_path):
    rng = np.random.default_rng(12)
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, _stack(rng, (4, 24, 24)), imagej=True,
                     metadata={"spacing": 3.0, "unit": "um", "axes": "ZYX"})
    result = _denoise(source, tmp_path / "out.npy")
    assert "ImageJ metadata dropped: .npy cannot hold it" in result.stderr


def test_sixteen_bit_colour_png_keeps_its_profile(tmp_path):
    import png

    rng = np.random.default_rng(13)
    pixels = _pixels(rng, (24, 28, 3), np.uint16)
    plain = tmp_path / "plain.png"
    with plain.open("wb") as handle:
        png.Writer(28, 24, greyscale=False, bitdepth=16).write(handle, pixels.reshape(24, -1))
    from nlmeans_cli.io.metadata import Metadata, with_png_chunks

    source = tmp_path / "in.png"
    source.write_bytes(with_png_chunks(plain.read_bytes(), Metadata(icc=SRGB)))
    target = tmp_path / "out.png"
    _denoise(source, target)
    assert _read(target)[0] == SRGB


@pytest.mark.parametrize("frames", [1, 3])
def test_xmp_written_as_ascii_text_is_carried(tmp_path, frames):
    # Some writers type tag 700 as ASCII: tifffile reads it as text, not bytes.
    rng = np.random.default_rng(25)
    packet = _xmp(1).decode()
    source = tmp_path / "in.tif"
    pixels = _stack(rng, (frames, 24, 28))
    tifffile.imwrite(source, pixels[0] if frames == 1 else pixels, photometric="minisblack",
                     extratags=[(700, "s", 0, packet, True)])
    _denoise(source, tmp_path / "out.tif")
    assert _written_xmp(tmp_path / "out.tif") == packet.encode()
