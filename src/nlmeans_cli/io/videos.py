"""Video files: their header, frames and writing, and what they carry besides the frames.

Read with imageio's pyav plugin (frames to RGB by the stream's own YUV matrix and range) and
written with PyAV: H.264 at constant quality 17 in ``.mp4`` and ``.mov``, lossless FFV1 in
``.mkv`` and ``.avi``. A video of more than 8 bits per component (10-bit HDR, 12-bit) is read
as uint16 frames and written with as many bits as its encoder takes (H.264 10, FFV1 16).
Carried over: the frame rate, container and stream tags, the display matrix (a phone's
portrait rotation), the pixel aspect ratio, the colour description, the audio and
subtitles, copied packet by packet where the output's container takes their codecs, and a
Matroska file's attachments (the fonts its subtitles are drawn in) into Matroska.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from .atomic import ImageFileError

__all__ = ["ATTACHING_CONTAINERS", "DEEP_BITS", "PIXEL_ASPECT_CONTAINERS", "ROTATING_CONTAINERS",
           "VIDEO_CODECS", "audio_kept", "rotation_kept", "subtitles_kept", "video_bits_kept",
           "video_frames", "video_header", "write_video"]

#: The video containers that hold attachments (files, such as subtitle fonts).
ATTACHING_CONTAINERS = (".mkv",)

#: Video containers and the encoder each is written with.
VIDEO_CODECS = {".mp4": "libx264", ".mov": "libx264", ".mkv": "ffv1", ".avi": "ffv1"}

#: Video containers that hold a display matrix (AVI has no place for one).
ROTATING_CONTAINERS = (".mp4", ".mov", ".mkv")

#: Outputs that hold a pixel aspect ratio: H.264's own stream does (FFV1's does not).
PIXEL_ASPECT_CONTAINERS = (".mp4", ".mov")

# H.264's constant-quality setting; 17 is commonly taken as visually lossless.
_H264_QUALITY = "17"

# FFmpeg's AVCOL_RANGE_JPEG: every code value from 0 to the top is a level.
_FULL_RANGE = 2

#: The bits per component each encoder writes beyond 8, fewest first (libx264 as PyAV's
#: wheels build it: 8 or 10; FFV1's planar RGB and grey formats).
DEEP_BITS = {"libx264": (10,), "ffv1": (10, 12, 14, 16)}


def video_header(path: Path) -> dict:
    """Read what a video file holds besides its frames, as :class:`Sequence`'s fields.

    Parameters
    ----------
    path : pathlib.Path
        The video.

    Returns
    -------
    dict
        ``n_frames``, ``frame_shape``, ``dtype``, ``fps``, ``notes``, ``carried``, ``colour``,
        ``audio``, ``subtitles``, ``attachments``, ``pixel_aspect``, ``display_matrix`` and
        ``bits`` (``None`` for 8 bits; deeper video is read as uint16).

    Raises
    ------
    ImageFileError
        If it holds no video stream, or one without a frame size.

    Notes
    -----
    Decodes the first frame, for its display matrix (FFmpeg attaches it there). Data streams
    other than a timecode (GPS, a camera's metadata) are not carried: a note says so.
    """
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ImageFileError(f"{path}: holds no video stream")
        stream = container.streams.video[0]
        context = stream.codec_context
        grey = (context.pix_fmt or "").startswith("gray")
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else None
        n_frames = int(stream.frames) or None
        if n_frames is None and fps:
            # Some containers (Matroska) give no count: estimate it from the duration.
            if stream.duration and stream.time_base:
                seconds = float(stream.duration * stream.time_base)
            else:
                seconds = (container.duration or 0) / 1_000_000
            n_frames = max(1, round(seconds * fps)) if seconds > 0 else None
        # A timecode track is rebuilt by the muxer from the video stream's timecode tag,
        # which is carried; other data (GPS, a camera's metadata track) is not.
        data = _stream_names(each for each in container.streams.data
                             if "timecode" not in each.metadata)
        notes = [f"data streams not carried: {', '.join(data)}"] if data else []
        bits = min(_component_bits(context.pix_fmt), 16)
        shape = (context.height, context.width) if grey else (context.height, context.width, 3)
        if min(shape[:2]) < 1:
            raise ImageFileError(f"{path}: video stream has no frame size")
        # Tags that survive a re-encode: creation time, title, rotation, language, ...
        carried = {"container": {k: v for k, v in container.metadata.items()
                                 if k not in _ENCODER_TAGS},
                   "stream": {k: v for k, v in stream.metadata.items()
                              if k not in _ENCODER_TAGS}}
        aspect = stream.sample_aspect_ratio or context.sample_aspect_ratio
        # What the stream leaves unspecified (2, or range 0) the encoder leaves so too.
        colour = {name: int(getattr(context, name)) for name in _COLOUR_FIELDS
                  if int(getattr(context, name, 0) or 0) not in (0, 2)}
        return {"n_frames": n_frames, "frame_shape": shape,
                "dtype": np.dtype(np.uint16 if bits > 8 else np.uint8),
                "bits": bits if bits > 8 else None,
                "fps": fps, "notes": notes, "carried": carried, "colour": colour,
                "audio": tuple(each.codec_context.name for each in container.streams.audio),
                "subtitles": tuple(_stream_names(container.streams.subtitles)),
                "attachments": tuple(each.name or "unnamed"
                                     for each in container.streams.attachments),
                "pixel_aspect": (Fraction(aspect) if aspect and aspect > 0 and aspect != 1
                                 else None),
                "display_matrix": _display_matrix(container)}


def _stream_names(streams) -> list[str]:
    """Return each stream's codec name, or its handler's where FFmpeg has no decoder for it."""
    return [getattr(getattr(each, "codec_context", None), "name", None)
            or each.metadata.get("handler_name") or "unknown" for each in streams]


def _component_bits(pixel_format: str | None) -> int:
    """Return the most bits a component of *pixel_format* holds (8 where it is unknown)."""
    import av

    try:
        return max(component.bits for component in av.VideoFormat(pixel_format).components)
    except (TypeError, ValueError):  # no format, or one this FFmpeg does not name
        return 8


#: A stream's colour description, as FFmpeg's codec parameters name it.
_COLOUR_FIELDS = ("colorspace", "color_range", "color_primaries", "color_trc")

# FFmpeg's YUV matrices (AVColorSpace) as the scaler names them (its SWS_CS_ numbers): BT.709,
# FCC, BT.470BG and SMPTE 170M (both BT.601), SMPTE 240M, BT.2020.
_SCALER_MATRICES = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}


# The display matrix that leaves a picture as it is (16.16 fixed point, 2.30 in the last
# column).
_IDENTITY_MATRIX = (65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30)


def _display_matrix(container) -> tuple[int, ...] | None:
    """Return the display matrix FFmpeg attaches to a video's first frame, if it turns it."""
    try:
        frame = next(container.decode(video=0), None)
        sides = getattr(frame, "side_data", ())
        for entry in sides:
            # PyAV 18.1.1 iterates a frame's side data by type, a key to each; before, its
            # iteration gave the side data themselves.
            side = entry if hasattr(entry, "type") else sides[entry]
            if str(side.type).endswith("DISPLAYMATRIX"):
                matrix = tuple(int(value) for value in np.frombuffer(side, np.int32))
                return matrix if len(matrix) == 9 and matrix != _IDENTITY_MATRIX else None
    except Exception:  # a first frame that does not decode: the frames' reading says why
        return None
    return None


# Tags that describe the old encoding, which the new file's encoder writes afresh.
_ENCODER_TAGS = {"encoder", "major_brand", "minor_version", "compatible_brands", "handler_name",
                 "vendor_id", "duration", "DURATION", "ENCODER"}


def video_frames(sequence) -> Iterator[np.ndarray]:
    """Decode a video's frames to RGB (or grey), by its own YUV matrix and range.

    *sequence* is the :class:`nlmeans_cli.io.sequences.Sequence` of the video; a video of
    more than 8 bits is decoded to uint16 on the full 16-bit scale.
    """
    import imageio.v3 as iio

    grey = len(sequence.frame_shape) == 2  # as video_header read it from the stream
    yield from iio.imiter(sequence.path, plugin="pyav",
                          format=_frame_format(grey, sequence.dtype == np.uint16))


def _frame_format(grey: bool, deep: bool) -> str:
    """Return PyAV's name for frames as the package holds them: grey or RGB, 8 or 16 bits."""
    return ("gray16le" if deep else "gray") if grey else ("rgb48le" if deep else "rgb24")


def video_bits_kept(like, output: str | os.PathLike) -> int:
    """Return the bits per component a video written to *output* like *like* holds.

    Parameters
    ----------
    like : Sequence
        The sequence the frames come from: a video's own bits, else all of its dtype's.
    output : path-like
        A video file (:data:`VIDEO_CODECS`).

    Returns
    -------
    int
        8 for uint8 frames; else the fewest the encoder writes that hold the frames' bits,
        or its most (H.264 holds 10 of a 12-bit video or a 16-bit stack; FFV1 all 16).
    """
    if like.depth <= 8:
        return 8
    deep = DEEP_BITS[VIDEO_CODECS[Path(output).suffix.lower()]]
    return next((each for each in deep if each >= like.depth), deep[-1])


def write_video(temporary: Path, frames: Iterable[np.ndarray], like) -> int:
    """Encode frames into a video file, carrying what *like* holds besides its frames.

    Parameters
    ----------
    temporary : pathlib.Path
        The file written; its extension chooses the container and codec
        (:data:`VIDEO_CODECS`).
    frames : iterable of numpy.ndarray
        Frames of *like*'s shape and dtype (uint8, or uint16 on the full 16-bit scale, written
        with :func:`video_bits_kept` bits).
    like : Sequence
        The sequence the frames come from: its frame rate, tags, display matrix, pixel
        aspect, colour description and, from a video, its audio and subtitles
        (:func:`audio_kept`, :func:`subtitles_kept`) and attachments
        (:data:`ATTACHING_CONTAINERS`).

    Returns
    -------
    int
        The number of frames written.
    """
    import av

    extension = temporary.suffix.lower()
    codec = VIDEO_CODECS[extension]
    fps = Fraction(like.fps or 25.0).limit_denominator(1001 * 1000)
    rows, columns = like.frame_shape[:2]
    grey = len(like.frame_shape) == 2
    bits = video_bits_kept(like, temporary)
    depth = "" if bits == 8 else f"{bits}le"
    if grey:
        pixel_format = "gray" + depth
    elif codec == "ffv1":
        pixel_format = "gbrp" + depth if depth else "bgr0"  # lossless RGB
    else:
        # 4:2:0 needs even sides; odd frames keep full colour resolution instead.
        pixel_format = ("yuv420p" if rows % 2 == 0 and columns % 2 == 0 else "yuv444p") + depth
    frame_format = _frame_format(grey, np.dtype(like.dtype) == np.uint16)
    count = 0
    with av.open(str(temporary), "w", format=_muxer(extension)) as out:
        stream = out.add_stream(codec, rate=fps)
        carried = like.carried or {}
        for key, value in carried.get("container", {}).items():
            out.metadata[key] = value
        for key, value in carried.get("stream", {}).items():
            stream.metadata[key] = value
        if like.display_matrix is not None and rotation_kept(temporary):
            stream.set_display_matrix(list(like.display_matrix))
        if like.pixel_aspect is not None:
            stream.codec_context.sample_aspect_ratio = like.pixel_aspect
        stream.width, stream.height = columns, rows
        stream.pix_fmt = pixel_format
        if codec == "libx264":
            stream.options = {"crf": _H264_QUALITY}
        # Frames read to RGB by the source's YUV matrix and range go back by the same, and
        # the stream says which (untagged, a player guesses: BT.709 for HD, where the scaler
        # would have used BT.601's, and the colours shifted). RGB and grey keep only the
        # primaries and transfer.
        yuv = pixel_format.startswith("yuv")
        colour = {name: value for name, value in like.colour.items()
                  if yuv or name in ("color_primaries", "color_trc")}
        for name, value in colour.items():
            setattr(stream.codec_context, name, value)
        if grey and codec == "libx264":
            # Grey frames are H.264's luma as they are, 0 to 255: tagged full range, or a
            # decoder takes them for video range (16 to 235) and stretches them, crushing
            # the darkest 16 levels to black and the brightest 20 to white.
            stream.codec_context.color_range = _FULL_RANGE
        matrix = _SCALER_MATRICES.get(colour.get("colorspace", 0))
        kinds = tuple(kind for kind, kept in (("audio", audio_kept),
                                              ("subtitles", subtitles_kept))
                      if kept(like, temporary))
        copied = _PacketCopy(like, out, kinds) if kinds else None
        if like.attachments and extension in ATTACHING_CONTAINERS:
            _attach(like, out)
        # A variable frame rate keeps its frames' times (at the average rate, a phone's
        # low-light stretch at half the rate ran ahead of its sound).
        times = _variable_times(like)
        if times is not None:
            stream.codec_context.time_base = stream.time_base = _FINE_TIME_BASE
        for frame in frames:
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame),
                                                 format=frame_format)
            if yuv and (matrix or "color_range" in colour):
                picture = picture.reformat(format=pixel_format, dst_colorspace=matrix,
                                           dst_color_range=colour.get("color_range"))
            seconds = count / float(fps)
            if times is not None:
                seconds = times[count] if count < len(times) else times[-1] + (
                    count - len(times) + 1) / float(fps)
                picture.pts = round(seconds / _FINE_TIME_BASE)
                picture.time_base = _FINE_TIME_BASE
            for packet in stream.encode(picture):
                out.mux(packet)
            count += 1
            if copied is not None:  # interleaved: sound and text up to this frame's end
                copied.mux_until(seconds + 1 / float(fps))
        for packet in stream.encode():
            out.mux(packet)
        if copied is not None:
            copied.mux_until(float("inf"))
    return count


#: The time base of a variable frame rate's timestamps (MPEG's 90 kHz clock).
_FINE_TIME_BASE = Fraction(1, 90000)


def _variable_times(like) -> list[float] | None:
    """Return a video's frame times in seconds from its first, where its rate varies.

    ``None`` for a constant rate (every frame within a quarter frame of its place at the
    average rate), for anything but a video, or where the times cannot be read. The
    packets' presentation times, sorted: demuxed, not decoded.
    """
    import av

    if like.kind != "video" or not like.fps:
        return None
    try:
        with av.open(str(like.path)) as source:
            stream = source.streams.video[0]
            stamps = sorted(packet.pts for packet in source.demux(stream)
                            if packet.pts is not None)
            base = float(stream.time_base)
    except Exception:  # the frames' reading says what is wrong with the file
        return None
    if len(stamps) < 2:
        return None
    times = [(stamp - stamps[0]) * base for stamp in stamps]
    steady = np.arange(len(times)) / like.fps
    return None if np.max(np.abs(np.array(times) - steady)) < 0.25 / like.fps else times


def rotation_kept(output: str | os.PathLike) -> bool:
    """Tell whether a video written to *output* carries a display matrix (its rotation).

    Its container must hold one (:data:`ROTATING_CONTAINERS`), and PyAV write it (18 on).
    """
    import av

    return (Path(output).suffix.lower() in ROTATING_CONTAINERS
            and hasattr(av.video.stream.VideoStream, "set_display_matrix"))


def audio_kept(like, output: str | os.PathLike) -> bool:
    """Tell whether a video written to *output* like *like* carries *like*'s audio.

    It does where *like* is a video with audio and *output*'s container takes every one of its
    audio streams' codecs as they are (a header is written to memory to ask the muxer).
    """
    return bool(like.audio) and _container_takes(like, output, "audio")


def subtitles_kept(like, output: str | os.PathLike) -> bool:
    """Tell whether a video written to *output* like *like* carries *like*'s subtitles.

    As :func:`audio_kept`, for its subtitle streams (Matroska takes SubRip and ASS, MP4 and
    QuickTime their own ``mov_text``).
    """
    return bool(like.subtitles) and _container_takes(like, output, "subtitles")


def _container_takes(like, output: str | os.PathLike, kind: str) -> bool:
    """Tell whether *output*'s container takes *like*'s streams of *kind* as they are."""
    import io

    import av

    extension = Path(output).suffix.lower()
    if like.kind != "video" or extension not in VIDEO_CODECS:
        return False
    try:
        with av.open(str(like.path)) as source:
            with av.open(io.BytesIO(), "w", format=_muxer(extension)) as trial:
                for each in getattr(source.streams, kind):
                    trial.add_stream_from_template(each)
                trial.start_encoding()
    except Exception:  # the muxer refuses the codec (or the source does not open)
        return False
    return True


def _attach(like, out) -> None:
    """Attach to *out* the files *like*'s video carries (a Matroska file's fonts)."""
    import av

    with av.open(str(like.path)) as source:
        for each in source.streams.attachments:
            out.add_attachment(each.name or "unnamed", each.mimetype or "application/octet-stream",
                               bytes(each.data))


def _muxer(extension: str) -> str:
    """Return FFmpeg's name for the muxer of a video extension."""
    return extension[1:].replace("mkv", "matroska")


class _PacketCopy:
    """A video's audio or subtitle streams, copied packet by packet into an output being written.

    The packets keep their timing, less the source video's start (the denoised frames start
    at 0), so that sound, text and picture stay together. *kinds* names the streams copied:
    ``"audio"``, ``"subtitles"`` or both.
    """

    def __init__(self, like, out, kinds: tuple[str, ...]) -> None:
        import av

        self.source = av.open(str(like.path))
        inputs = [each for kind in kinds for each in getattr(self.source.streams, kind)]
        self.outputs = {each.index: out.add_stream_from_template(each) for each in inputs}
        video = self.source.streams.video[0]
        self.start = (float(video.start_time * video.time_base)
                      if video.start_time is not None else 0.0)
        self.packets = (packet for packet in self.source.demux(inputs)
                        if packet.dts is not None)
        self.pending = next(self.packets, None)
        self.out = out

    def mux_until(self, seconds: float) -> None:
        """Mux the packets that start before *seconds* of the output (all, at the end)."""
        while self.pending is not None:
            packet = self.pending
            shift = round(self.start / packet.time_base)
            if float((packet.pts if packet.pts is not None else packet.dts) - shift) * float(
                    packet.time_base) >= seconds:
                return
            packet.pts = None if packet.pts is None else packet.pts - shift
            packet.dts -= shift
            packet.stream = self.outputs[packet.stream.index]
            self.out.mux(packet)
            self.pending = next(self.packets, None)
        if self.source is not None:  # every packet is in
            self.source.close()
            self.source = None
