"""An XMP packet made fit for the denoised file: orientation, width and height, thumbnail."""

import pytest

from nlmeans_cli.io.xmp import carried_xmp

PACKET = (b'<rdf:Description tiff:ImageWidth="4000" tiff:ImageLength = \'3000\' '
          b'tiff:Orientation="6"><exif:PixelXDimension>4000</exif:PixelXDimension>'
          b"<exif:PixelYDimension>3000</exif:PixelYDimension>"
          b"<xmp:Thumbnails><rdf:Alt><rdf:li>AAAA</rdf:li></rdf:Alt></xmp:Thumbnails>"
          b"</rdf:Description>")


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_a_quarter_turn_trades_width_and_height_and_sets_the_orientation_to_1(orientation):
    notes = []
    packet = carried_xmp(PACKET, orientation=orientation, notes=notes)
    assert b'tiff:ImageWidth="3000"' in packet and b"tiff:ImageLength = '4000'" in packet
    assert b"<exif:PixelXDimension>3000</" in packet and b"<exif:PixelYDimension>4000</" in packet
    assert b'tiff:Orientation="1"' in packet
    assert b"Thumbnails" not in packet and notes == [
        "the XMP thumbnail dropped (it shows the noisy image)"]


@pytest.mark.parametrize("orientation", [2, 3, 4])
def test_a_half_turn_or_a_mirror_keeps_width_and_height(orientation):
    packet = carried_xmp(PACKET, orientation=orientation, notes=[])
    assert b'tiff:ImageWidth="4000"' in packet and b"<exif:PixelXDimension>4000</" in packet
    assert b'tiff:Orientation="1"' in packet


def test_pixels_not_turned_keep_the_packet_but_its_thumbnail():
    packet = carried_xmp(PACKET.decode(), orientation=1, notes=[])
    assert packet == PACKET.replace(
        b"<xmp:Thumbnails><rdf:Alt><rdf:li>AAAA</rdf:li></rdf:Alt></xmp:Thumbnails>", b"")
    assert carried_xmp(b"\x00\x00", orientation=6, notes=[]) is None
