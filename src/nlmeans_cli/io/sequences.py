"""Reading and writing clips, image stacks and volumes, frame by frame and safely.

A *sequence* is a file of several frames of one size:

- a video (``.mp4``, ``.mov``, ``.mkv``, ``.avi``), read with imageio's pyav plugin and written
  with PyAV: H.264 at constant quality 17 (visually lossless) in ``.mp4`` and ``.mov``,
  lossless FFV1 in ``.mkv`` and ``.avi``; the frame rate, the display matrix (a phone's
  portrait rotation), the colour description and the audio (copied, not re-encoded, where the
  output's container takes its codec) are kept;
- an animated GIF (Pillow), whose frame durations, loop count and transparency are kept;
- a multi-page TIFF (tifffile), one page per frame, any supported dtype;
- a NumPy ``.npy`` array, frames along the first axis (memory-mapped when read).

Frames are read lazily and written as they come, so a long clip never has to fit in memory
(a GIF is the exception: Pillow writes it from all its frames at once, so a GIF output is
refused beyond :data:`GIF_MAX_BYTES` of frames). As for still images,
the result goes to a hidden temporary file that is renamed over the target only once it is
complete.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..scales import SUPPORTED_DTYPES
from .arrays import ALPHA_NOTE, array_shape, holds_still, map_array
from .atomic import ImageFileError, check_target, reason, staged
from .metadata import open_unlimited
from .videos import VIDEO_CODECS, video_frames, video_header, write_video

__all__ = [
    "GIF_MAX_BYTES",
    "SEQUENCE_FORMATS",
    "VIDEO_CODECS",
    "Sequence",
    "check_sequence_output",
    "is_sequence",
    "open_sequence",
    "write_sequence",
]

#: Sequence extensions and the dtypes each can store.
SEQUENCE_FORMATS: dict[str, tuple[str, ...]] = {
    **{extension: ("uint8", "uint16") for extension in VIDEO_CODECS},
    ".gif": ("uint8",),
    ".tif": SUPPORTED_DTYPES,
    ".tiff": SUPPORTED_DTYPES,
    ".npy": SUPPORTED_DTYPES,
}

#: The most frame bytes a GIF output may hold (Pillow writes a GIF from all its frames at once).
GIF_MAX_BYTES = 512 * 2**20

@dataclass
class Sequence:
    """A sequence file, opened: what it holds, and its frames on demand.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    kind : str
        ``"video"``, ``"gif"``, ``"tiff"`` or ``"array"``.
    n_frames : int or None
        The number of frames, ``None`` when a video's header does not say.
    frame_shape : tuple of int
        ``(rows, columns)`` or ``(rows, columns, channels)``.
    dtype : numpy.dtype
        The frames' pixel type.
    fps : float or None
        Frames per second (video).
    durations : list of int or None
        Milliseconds per frame (GIF).
    loop : int or None
        The GIF loop count (0: for ever).
    notes : list of str
        What was dropped or converted while reading.
    axes : str or None
        A TIFF's axes as tifffile names them (``"ZCYX"``, ``"TZCYX"``, ...).
    series_shape : tuple of int or None
        The TIFF series' shape, in the order of *axes*.
    separate_channels : bool
        Whether the last axis of a frame holds a microscope's channels (ImageJ or OME ``C``)
        to be denoised apart, rather than colour.
    spacing : tuple of 3 float or None
        A TIFF stack's voxel spacing (Z, Y, X) from its ImageJ or OME metadata.
    carried : dict or None
        What the output keeps of the file besides the frames: a TIFF's ImageJ or OME
        metadata, resolution and compression; a video's container and stream tags. ``None``
        after ``strip_metadata``.
    colour : dict
        A video's colour description, where its stream gives one (FFmpeg's numbers for
        ``colorspace``, ``color_range``, ``color_primaries`` and ``color_trc``): its frames
        are read to RGB by that matrix and range, and a video written like it is encoded by
        them and tagged with them.
    audio : tuple of str
        A video's audio streams, by codec name: copied into a video written like it, where its
        container takes them (:func:`nlmeans_cli.io.videos.audio_kept`).
    subtitles : tuple of str
        A video's subtitle streams, by codec name: copied as the audio is
        (:func:`nlmeans_cli.io.videos.subtitles_kept`).
    attachments : tuple of str
        A Matroska video's attached files, by name (the fonts its subtitles are drawn in):
        attached to a Matroska file written like it.
    pixel_aspect : fractions.Fraction or None
        A video's sample (pixel) aspect ratio where it is not square (anamorphic video): a
        video written like it carries it, so that the picture keeps its shape.
    display_matrix : tuple of 9 int or None
        A video's display matrix (FFmpeg's layout), that shows its frames upright: a phone
        held upright records a quarter turn here, not in the frames. ``None`` where there is
        none, or it does nothing. A video written like this one carries it.
    transparent : bool
        Whether a GIF's frames have transparent pixels. They are read as RGB (the colour
        the transparent pixels hold) and a GIF written like this one takes their
        transparency back, frame by frame.
    alpha : bool
        Whether a TIFF stack's or an array's frames hold an alpha channel, last (RGBA, grey
        and alpha): :meth:`frames` gives them without it, and a TIFF or ``.npy`` written like
        this sequence takes it back untouched, frame by frame (:meth:`alphas`).
    bands : bool
        Whether a TIFF stack's frames are a multispectral image's bands (grey samples none of
        which is alpha), denoised together as a still's are and written back as bands, to a
        TIFF or ``.npy`` only (:attr:`arrays_only_channels`).
    depths : bool
        Whether a TIFF stack's pages are a volume's slices (its axes name a depth, Z, and no
        time, T), which ``--volume`` denoises as one volume.
    bits : int or None
        A video's bits per component where it holds more than 8 (10 or 12): its frames are
        read as uint16 on the full 16-bit scale, and a video written like it holds as many
        bits as its encoder takes (:func:`nlmeans_cli.io.videos.video_bits_kept`). ``None``:
        all of *dtype*'s (:attr:`depth` gives either).
    """

    path: Path
    kind: str
    n_frames: int | None
    frame_shape: tuple[int, ...]
    dtype: np.dtype
    fps: float | None = None
    durations: list[int] | None = None
    loop: int | None = None
    notes: list[str] = field(default_factory=list)
    axes: str | None = None
    series_shape: tuple[int, ...] | None = None
    separate_channels: bool = False
    spacing: tuple[float, float, float] | None = None
    carried: dict | None = None
    colour: dict = field(default_factory=dict)
    audio: tuple[str, ...] = ()
    subtitles: tuple[str, ...] = ()
    depths: bool = False
    alpha: bool = False
    bands: bool = False
    attachments: tuple[str, ...] = ()
    pixel_aspect: Fraction | None = None
    display_matrix: tuple[int, ...] | None = None
    transparent: bool = False
    bits: int | None = None

    @property
    def depth(self) -> int:
        """The bits per component of a frame: a video's own (:attr:`bits`), else its dtype's."""
        return self.bits or 8 * np.dtype(self.dtype).itemsize

    @property
    def arrays_only_channels(self) -> int:
        """How many channels a frame holds that only a TIFF or ``.npy`` can (0: none).

        A microscope's channels kept apart, other than one or three, and bands of any number:
        a video or GIF would read them as colour.
        """
        count = self.frame_shape[-1] if len(self.frame_shape) == 3 else 1
        return count if self.bands or (self.separate_channels and count not in (1, 3)) else 0

    @property
    def channel_axis(self) -> int | None:
        """The channel axis of a frame, or ``None`` for grey."""
        return -1 if len(self.frame_shape) == 3 else None

    def frames(self) -> Iterator[np.ndarray]:
        """Read the frames one at a time, from the start (each call reopens the file).

        Raises
        ------
        ImageFileError
            If the file turns out corrupt or truncated partway.
        """
        readers = {"video": video_frames, "gif": _gif_frames, "tiff": _tiff_frames,
                   "array": _array_frames}
        try:
            for frame in readers[self.kind](self):
                if self.alpha:
                    frame = _without_alpha(frame)
                if frame.shape != self.frame_shape:
                    raise ImageFileError(f"{self.path}: a frame of shape {frame.shape} among "
                                         f"frames of shape {self.frame_shape}")
                yield frame
        except ImageFileError:
            raise
        except Exception as error:  # the decoders raise many unrelated types
            raise ImageFileError(f"{self.path}: corrupt or truncated {self.kind} data "
                                 f"({reason(error)})") from None

    def read_all(self) -> np.ndarray:
        """Read every frame into one array, frames first (without their alpha)."""
        if self.kind == "array":
            array = map_array(self.path)
            return np.array(_without_alpha(array) if self.alpha else array)
        return np.stack(list(self.frames()))

    def alphas(self) -> Iterator[np.ndarray]:
        """Read the frames' alpha channels one at a time (:attr:`alpha`), from the start."""
        readers = {"tiff": _tiff_frames, "array": _array_frames}
        for frame in readers[self.kind](self):
            yield frame[..., -1]


def is_sequence(path: str | os.PathLike) -> bool:
    """Tell whether *path* names a sequence rather than a still image.

    Videos and GIFs always are; a TIFF is when it has more than one page, and a ``.npy``
    array unless it holds one image (:func:`nlmeans_cli.io.arrays.holds_still`). An
    unreadable TIFF is left to the still-image reader to report, an unreadable array to the
    sequence reader.

    Parameters
    ----------
    path : path-like
        The file.

    Returns
    -------
    bool
    """
    path = Path(path)
    extension = path.suffix.lower()
    if extension in VIDEO_CODECS or extension == ".gif":
        return True
    if extension == ".npy":
        shape = array_shape(path) if path.is_file() else None
        return shape is None or not holds_still(shape)
    if extension in (".tif", ".tiff") and path.is_file():
        try:
            import tifffile

            from .tiffs import chain_broken, image_pages, tifffile_log

            with tifffile_log() as messages, tifffile.TiffFile(path) as tiff:
                pages = len(image_pages(tiff))
        except Exception:  # not a TIFF after all: the still reader says what is wrong
            return False
        # A broken chain of pages: the still reader refuses it, with what is wrong.
        return pages > 1 and not chain_broken(messages)
    return False


def open_sequence(path: str | os.PathLike, *, max_pixels: int) -> Sequence:
    """Open a sequence file and read its header (no frame is decoded but a video's first).

    Parameters
    ----------
    path : path-like
        A video, GIF, multi-page TIFF or ``.npy`` file.
    max_pixels : int
        Refuse frames larger than this many pixels.

    Returns
    -------
    Sequence

    Raises
    ------
    ImageFileError
        If the file is missing, unreadable, not of its kind, holds no frame, has frames of
        an unsupported type or layout, or frames larger than *max_pixels*.

    Notes
    -----
    ``O(1)`` memory; a GIF's frames are visited once for their durations, and a video's
    first frame is decoded for its display matrix.
    """
    path = Path(path)
    if not path.exists():
        raise ImageFileError(f"{path}: no such file")
    if not path.is_file():
        raise ImageFileError(f"{path}: not a file" + (" (a folder)" if path.is_dir() else ""))
    extension = path.suffix.lower()
    if extension not in SEQUENCE_FORMATS:
        raise ImageFileError(f"{path}: unsupported sequence type {extension or '(none)'}; "
                             f"supported: {', '.join(sorted(SEQUENCE_FORMATS))}")
    if not os.access(path, os.R_OK):
        raise ImageFileError(f"{path}: permission denied")
    if path.stat().st_size == 0:
        raise ImageFileError(f"{path}: file is empty")
    openers = {".gif": _open_gif, ".tif": _open_tiff, ".tiff": _open_tiff, ".npy": _open_npy}
    opener = openers.get(extension, _open_video)
    try:
        sequence = opener(path, max_pixels)
    except ImageFileError:
        raise
    except Exception as error:
        what = {".gif": "GIF", ".npy": "NumPy array"}.get(extension, extension[1:].upper())
        if extension in (".tif", ".tiff"):
            what = "TIFF"
        raise ImageFileError(f"{path}: not a readable {what} file ({reason(error)})") from None
    if sequence.n_frames == 0:
        raise ImageFileError(f"{path}: holds no frames")
    if sequence.dtype.name not in SUPPORTED_DTYPES:
        raise ImageFileError(f"{path}: unsupported pixel type {sequence.dtype}; expected 8- or "
                             "16-bit unsigned integers, 16-bit signed ones or 32/64-bit "
                             "floats")
    shape = sequence.frame_shape
    if (len(shape) == 3 and shape[-1] in (2, 4) and not sequence.separate_channels
            and (sequence.alpha or sequence.kind == "array")):
        # Grey or RGB with alpha last (a TIFF's ExtraSamples say so), passed through as a
        # still's is
        if not sequence.alpha:
            sequence.notes.append(ALPHA_NOTE)
        sequence.alpha = True
        sequence.frame_shape = shape = shape[:2] if shape[-1] == 2 else (*shape[:2], 3)
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[-1] not in (1, 3)
                                    and not (sequence.separate_channels or sequence.bands)):
        raise ImageFileError(f"{path}: unsupported frame layout {shape}; expected grey or RGB "
                             "frames")
    if shape[0] * shape[1] > max_pixels:
        raise ImageFileError(
            f"{path}: frames of {shape[1]}x{shape[0]} are {shape[0] * shape[1]} pixels, more "
            f"than the limit of {max_pixels} (raise it with --max-pixels)")
    return sequence


def check_sequence_output(output: str | os.PathLike, *, source: str | os.PathLike | None = None,
                          overwrite: bool = False, dtype: np.dtype | None = None,
                          channels: int = 0) -> Path:
    """Check that a sequence may be written to *output* before any work is done.

    Parameters
    ----------
    output : path-like
        The file to write; its extension must be a sequence format.
    source : path-like, optional
        The input file; writing over it is refused.
    overwrite : bool
        Whether an existing *output* may be replaced.
    dtype : numpy.dtype, optional
        The pixel type to be written; checked against the format.
    channels : int
        Channels only a TIFF or ``.npy`` holds (:attr:`Sequence.arrays_only_channels`).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ImageFileError
        If the format cannot hold a sequence, *dtype* or the *channels*, the output is the
        input, or it exists and *overwrite* is false.
    """
    output = Path(output)
    extension = output.suffix.lower()
    if extension not in SEQUENCE_FORMATS:
        origin = f" ({source} is a clip or stack)" if source is not None else ""
        raise ImageFileError(
            f"{output}: {extension or '(no extension)'} cannot hold several frames{origin}; "
            f"use {', '.join(sorted(SEQUENCE_FORMATS))}")
    if channels and extension not in (".tif", ".tiff", ".npy"):
        raise ImageFileError(f"{output}: cannot hold the {channels} channels of {source}; "
                             "write a .tif or .npy")
    return check_target(output, SEQUENCE_FORMATS, source=source, overwrite=overwrite,
                         dtype=dtype, what="frames")


def write_sequence(output: str | os.PathLike, frames: Iterable[np.ndarray], like: Sequence, *,
                   source: str | os.PathLike | None = None, overwrite: bool = False,
                   strip_metadata: bool = False) -> int:
    """Write frames to a sequence file atomically, as they come.

    Parameters
    ----------
    output : path-like
        Target file; its extension chooses the format. Missing folders are created.
    frames : iterable of numpy.ndarray
        The frames, all of *like*'s shape and dtype.
    like : Sequence
        The sequence the frames come from: its frame rate, durations and loop count are
        kept (a video written from a GIF or a stack gets 25 frames per second).
    source : path-like, optional
        The input file, which is never written.
    overwrite : bool
        Whether an existing *output* may be replaced.
    strip_metadata : bool
        Leave out what *like* carries besides its frames (:attr:`Sequence.carried`).

    Returns
    -------
    int
        The number of frames written.

    Raises
    ------
    ImageFileError
        As :func:`check_sequence_output`, when the file cannot be written, or for a problem
        raised while producing the frames (the output is then not written).
    """
    from dataclasses import replace

    output = check_sequence_output(output, source=source, overwrite=overwrite, dtype=like.dtype)
    if strip_metadata:
        like = replace(like, carried=None)
    writers = {".gif": _write_gif, ".tif": _write_tiff, ".tiff": _write_tiff,
               ".npy": _write_npy}
    writer = writers.get(output.suffix.lower(), write_video)
    if like.alpha and writer in (_write_tiff, _write_npy):
        # The alpha taken back, untouched; other formats hold none (a note says so)
        frames = (np.dstack([frame, alpha])
                  for frame, alpha in zip(frames, like.alphas(), strict=False))
        channels = like.frame_shape[2] if len(like.frame_shape) == 3 else 1
        like = replace(like, frame_shape=(*like.frame_shape[:2], channels + 1))
    # Errors raised while the frames are produced (denoising) pass through unchanged.
    with staged(output, overwrite=overwrite,
                 passthrough=(ImageFileError, ValueError, TypeError, MemoryError)) as temporary:
        count = writer(temporary, frames, like)
    return count


def _without_alpha(frames: np.ndarray) -> np.ndarray:
    """Return frames (or one) with their last channel, alpha, taken off; grey without axis."""
    return frames[..., 0] if frames.shape[-1] == 2 else frames[..., :-1]


# Video -------------------------------------------------------------------------------------


def _open_video(path: Path, max_pixels: int) -> Sequence:
    return Sequence(path, "video", **video_header(path))


# GIF ---------------------------------------------------------------------------------------


def _open_gif(path: Path, max_pixels: int) -> Sequence:
    from PIL import ImageSequence

    with open_unlimited(path) as image:
        if image.format != "GIF":
            raise ImageFileError(f"{path}: not GIF data")
        if image.width * image.height > max_pixels:
            raise ImageFileError(
                f"{path}: frames of {image.width}x{image.height} are "
                f"{image.width * image.height} pixels, more than the limit of {max_pixels} "
                "(raise it with --max-pixels)")
        loop = image.info.get("loop")
        durations, transparent = [], False
        # Each frame's own: after the first, Pillow composes frames in RGB, or in RGBA where
        # they have transparent pixels (the first frame's palette says so in its info).
        for frame in ImageSequence.Iterator(image):
            durations.append(int(frame.info.get("duration", 100)))
            transparent |= "transparency" in frame.info or frame.mode in ("RGBA", "PA", "LA")
        shape = (image.height, image.width, 3)
    return Sequence(path, "gif", len(durations), shape, np.dtype(np.uint8),
                    durations=durations, loop=loop, transparent=transparent)


def _gif_frames(sequence: Sequence) -> Iterator[np.ndarray]:
    from PIL import ImageSequence

    with open_unlimited(sequence.path) as image:
        for frame in ImageSequence.Iterator(image):
            yield np.asarray(frame.convert("RGB"))


def _gif_alphas(sequence: Sequence) -> Iterator[np.ndarray]:
    """Yield each frame's alpha (0 where transparent, 255 elsewhere), as the frames come."""
    from PIL import ImageSequence

    with open_unlimited(sequence.path) as image:
        for frame in ImageSequence.Iterator(image):
            yield np.asarray(frame.convert("RGBA"))[..., 3]


def _write_gif(temporary: Path, frames: Iterable[np.ndarray], like: Sequence) -> int:
    from PIL import Image

    pictures = []
    held = 0
    # A GIF written like a transparent one takes its frames' transparency back: the frames
    # come in its order, so its alphas are read alongside (one frame's at a time).
    alphas = _gif_alphas(like) if like.kind == "gif" and like.transparent else None
    for frame in frames:
        held += frame.nbytes
        if held > GIF_MAX_BYTES:
            # Not an ImageFileError: the staging wraps it with the output's name.
            raise RuntimeError(f"a GIF is written from all its frames at once and these pass "
                               f"{GIF_MAX_BYTES // 2**20} MB; write .mp4, .mkv, .tif or .npy "
                               "instead")
        alpha = None if alphas is None else next(alphas, None)
        if alpha is not None and alpha.shape == frame.shape[:2] and frame.ndim == 3:
            frame = np.dstack([frame, alpha])
        pictures.append(Image.fromarray(np.ascontiguousarray(frame)))
    if alphas is not None:
        alphas.close()  # the source's file, now
    if not pictures:
        raise ImageFileError(f"{like.path}: no frames to write")
    if like.durations and len(like.durations) == len(pictures):
        durations = like.durations
    else:
        durations = round(1000 / (like.fps or 25.0))
    # Each frame replaces the last where it is transparent (disposal 2, to the background),
    # as the frames read were composed: else the frame before would show through.
    disposal = 2 if alphas is not None else 0
    pictures[0].save(temporary, format="GIF", save_all=True, append_images=pictures[1:],
                     duration=durations, loop=like.loop if like.loop is not None else 0,
                     disposal=disposal)
    return len(pictures)


# TIFF --------------------------------------------------------------------------------------


def _open_tiff(path: Path, max_pixels: int) -> Sequence:
    from .stacks import open_tiff_stack

    return Sequence(path, "tiff", **open_tiff_stack(path, max_pixels))


def _tiff_frames(sequence: Sequence) -> Iterator[np.ndarray]:
    from .stacks import tiff_stack_frames

    return tiff_stack_frames(sequence)


def _write_tiff(temporary: Path, frames: Iterable[np.ndarray], like: Sequence) -> int:
    from .stacks import write_tiff_stack

    return write_tiff_stack(temporary, frames, like)


# NumPy -------------------------------------------------------------------------------------


def _open_npy(path: Path, max_pixels: int) -> Sequence:
    array = map_array(path)
    if not isinstance(array, np.ndarray) or array.ndim not in (3, 4):
        shape = getattr(array, "shape", None)
        raise ImageFileError(f"{path}: expected a 2-D image, a 3-D stack (frames, rows, columns) "
                             f"or 4-D with channels last, got shape {shape}")
    return Sequence(path, "array", int(array.shape[0]), tuple(int(n) for n in array.shape[1:]),
                    array.dtype)


def _array_frames(sequence: Sequence) -> Iterator[np.ndarray]:
    array = map_array(sequence.path)
    for k in range(array.shape[0]):
        yield np.array(array[k])


def _write_npy(temporary: Path, frames: Iterable[np.ndarray], like: Sequence) -> int:
    # Written frame by frame through a file handle, so that memory stays at one frame and a
    # full disk is an error, not a bus error (as a memory map's would be). The frame count
    # is patched into the header at the end: a video's header may not give it exactly.
    with open(temporary, "wb") as handle:
        handle.write(_npy_header(like.dtype, like.frame_shape, 0))
        count = 0
        for frame in frames:
            handle.write(np.ascontiguousarray(frame, dtype=like.dtype).tobytes())
            count += 1
        handle.seek(0)
        handle.write(_npy_header(like.dtype, like.frame_shape, count))
    if like.kind != "video" and like.n_frames is not None and count != like.n_frames:
        raise ImageFileError(f"{like.path}: {count} frames where its header says "
                             f"{like.n_frames}")
    return count


# A fixed header length, so that the frame count can be written after the frames.
_NPY_HEADER_BYTES = 256


def _npy_header(dtype: np.dtype, frame_shape: tuple[int, ...], n_frames: int) -> bytes:
    """Return a version 1.0 ``.npy`` header of :data:`_NPY_HEADER_BYTES` bytes."""
    description = repr({"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                        "fortran_order": False, "shape": (n_frames, *frame_shape)})
    prefix = np.lib.format.magic(1, 0)
    length = _NPY_HEADER_BYTES - len(prefix) - 2
    text = description.ljust(length - 1).encode("latin1") + b"\n"
    return prefix + length.to_bytes(2, "little") + text
