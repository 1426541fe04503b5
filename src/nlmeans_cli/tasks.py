"""One file in, one file out: the unit of work of ``nlm denoise`` and ``nlm batch``.

:func:`denoise_file` reads an image, denoises it and writes the result atomically, and returns a
:class:`FileOutcome` instead of raising for anything that is wrong with the file, so that a batch
can carry on past it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .parameters import DEFAULT_TEMPORAL_WINDOW

__all__ = ["DenoiseOptions", "FileOutcome", "denoise_file"]


@dataclass(frozen=True)
class DenoiseOptions:
    """The denoising options shared by ``nlm denoise`` and ``nlm batch``.

    ``sigma`` and ``h`` are on the 0-255 scale whatever the bit depth; ``None`` means estimate
    (sigma) or take the default table (h, patch size, search window). ``max_pixels`` bounds
    the images (the frames of a sequence) read (``None``:
    :data:`nlmeans_cli.files.DEFAULT_MAX_PIXELS`). ``temporal_window`` is the number of frames
    either side searched in a clip or stack; ``volume`` makes multi-page TIFFs and ``.npy``
    arrays 3-D volumes instead. ``model`` is the learned method's model file (``None``: the
    shipped one).
    """

    sigma: float | None = None
    h: float | None = None
    patch_size: int | None = None
    search_window: int | None = None
    affinity: str = "gaussian"
    method: str = "classic"
    max_pixels: int | None = None
    temporal_window: int = DEFAULT_TEMPORAL_WINDOW
    volume: bool = False
    model: str | None = None


@dataclass
class FileOutcome:
    """What happened to one file.

    Attributes
    ----------
    input, output : str
        The paths.
    status : str
        ``"done"``, ``"skipped"`` (the output existed and skipping was asked) or ``"failed"``.
    sigma : float or None
        The noise level used, on the 0-255 scale.
    sigma_estimated : bool
        Whether *sigma* was estimated.
    h : float or None
        The filtering strength used, on the 0-255 scale.
    patch_size, search_window : int or None
        The sizes used.
    seconds : float
        Wall time for the file, reading and writing included.
    error : str
        One line naming the file and the problem, for a failed file.
    notes : list of str
        Conversions made while reading (palette, 1-bit, ...).
    description : str
        Size, channels and pixel type (and frame count), for summaries.
    frames : int or None
        Frames written, for a sequence.
    temporal_window : int or None
        Frames either side searched, for a clip (``None`` for a still image or a volume).
    """

    input: str
    output: str
    status: str
    sigma: float | None = None
    sigma_estimated: bool = False
    h: float | None = None
    patch_size: int | None = None
    search_window: int | None = None
    seconds: float = 0.0
    error: str = ""
    notes: list[str] = field(default_factory=list)
    description: str = ""
    frames: int | None = None
    temporal_window: int | None = None

    @property
    def ok(self) -> bool:
        """True unless the file failed."""
        return self.status != "failed"


def denoise_file(source: str | os.PathLike, target: str | os.PathLike,
                 options: DenoiseOptions | None = None, *, overwrite: bool = False,
                 skip_existing: bool = False, reraise: bool = False, tile: int | None = None,
                 client=None, progress: Callable[[int, int | None], None] | None = None
                 ) -> FileOutcome:
    """Denoise one image file into another, or one clip, stack or volume into another.

    Parameters
    ----------
    source : path-like
        The image to read; it is never written. Videos, GIFs, multi-page TIFFs and ``.npy``
        arrays are sequences (:mod:`nlmeans_cli.media`): denoised frame by frame with a
        spacetime window, or as a volume with ``options.volume`` (TIFF and ``.npy``).
    target : path-like
        Where to write; the format follows the extension. Written to a temporary file and
        renamed, so it is either complete or absent.
    options : DenoiseOptions, optional
        Denoising options (0-255 scale); by default every option's default.
    overwrite : bool
        Replace an existing *target*.
    skip_existing : bool
        Leave an existing *target* alone and report the file as skipped.
    reraise : bool
        Let errors propagate instead of turning them into a failed outcome (``--debug``).
    tile : int, optional
        Denoise in overlapping tiles of this side (:func:`nlmeans_cli.cluster.denoise_tiled`);
        the result is the same.
    client : distributed.Client, optional
        With *tile*, run the tiles on this Dask cluster.
    progress : callable, optional
        For a clip, called as ``progress(frames_done, frames_total)`` after each frame
        (``frames_total`` may be ``None``).

    Returns
    -------
    FileOutcome
        ``"failed"`` with a one-line error for anything wrong with the file or the options
        (unreadable, unsupported, bad parameter, output exists, disk error).

    Notes
    -----
    Cost: that of :func:`nlmeans_cli.denoise` (or :func:`nlmeans_cli.spacetime.denoise_frames`)
    plus decoding and encoding; a clip whose sigma is estimated is decoded twice.
    """
    from .denoising import denoise_with_report, unit_scale
    from .files import (
        DEFAULT_MAX_PIXELS,
        ImageFileError,
        check_output_path,
        read_picture,
        write_picture,
    )
    from .media import is_sequence

    options = options or DenoiseOptions()
    started = time.perf_counter()
    outcome = FileOutcome(str(source), str(target), "failed")
    try:
        if skip_existing and Path(target).exists():
            outcome.status = "skipped"
            return outcome
        if is_sequence(source):
            _denoise_sequence(source, target, options, outcome, overwrite, progress)
            return outcome
        check_output_path(target, source=source, overwrite=overwrite)
        picture = read_picture(source, max_pixels=options.max_pixels or DEFAULT_MAX_PIXELS)
        outcome.notes = list(picture.notes)
        outcome.description = _describe(picture)
        to_image_units = unit_scale(picture.pixels.dtype) / 255.0
        parameters = dict(
            sigma=None if options.sigma is None else options.sigma * to_image_units,
            h=None if options.h is None else options.h * to_image_units,
            patch_size=options.patch_size,
            search_window=options.search_window,
            affinity=options.affinity,
            method=options.method,
            channel_axis=picture.channel_axis,
        )
        if tile is None:
            result = denoise_with_report(picture.pixels, model=options.model, **parameters)
        else:
            if options.model is not None:
                raise ValueError("--model does not combine with --tile")
            from .cluster import denoise_tiled_with_report

            result = denoise_tiled_with_report(picture.pixels, tile=tile, client=client,
                                               **parameters)
        outcome.sigma = result.sigma / to_image_units
        outcome.sigma_estimated = result.sigma_estimated
        outcome.h = result.h / to_image_units
        outcome.patch_size = result.patch_size
        outcome.search_window = result.search_window
        write_picture(target, picture.with_pixels(result.image), source=source,
                      overwrite=overwrite)
        outcome.status = "done"
    except (ImageFileError, ValueError, TypeError, MemoryError, OSError) as error:
        if reraise:
            raise
        _record_failure(outcome, error, source, skip_existing)
    finally:
        outcome.seconds = time.perf_counter() - started
    return outcome


def _denoise_sequence(source, target, options, outcome, overwrite, progress):
    """Denoise a clip, stack or volume for :func:`denoise_file`, filling in *outcome*."""
    from .denoising import denoise_with_report, unit_scale
    from .files import DEFAULT_MAX_PIXELS
    from .media import check_sequence_output, open_sequence, write_sequence
    from .spacetime import clip_parameters, denoise_frames, estimate_frames_noise

    sequence = open_sequence(source, max_pixels=options.max_pixels or DEFAULT_MAX_PIXELS)
    check_sequence_output(target, source=source, overwrite=overwrite, dtype=sequence.dtype)
    outcome.notes = list(sequence.notes)
    to_image_units = unit_scale(sequence.dtype) / 255.0
    h = None if options.h is None else options.h * to_image_units
    as_volume = options.volume and sequence.kind in ("tiff", "array")
    outcome.description = _describe_sequence(sequence, as_volume)
    if as_volume:
        volume = sequence.read_all()
        result = denoise_with_report(
            volume, sigma=None if options.sigma is None else options.sigma * to_image_units,
            h=h, patch_size=options.patch_size, search_window=options.search_window,
            affinity=options.affinity, method=options.method,
            channel_axis=None if volume.ndim == 3 else -1, model=options.model)
        sigma, sigma_estimated = result.sigma, result.sigma_estimated
        h, patch_size, search_window = result.h, result.patch_size, result.search_window
        outcome.frames = write_sequence(target, iter(result.image), sequence, source=source,
                                        overwrite=overwrite)
    else:
        sigma_estimated = options.sigma is None
        if sigma_estimated:
            sigma = estimate_frames_noise(sequence.frames(), channel_axis=sequence.channel_axis,
                                          n_frames=sequence.n_frames)
        else:
            sigma = options.sigma * to_image_units
        h, patch_size, search_window = clip_parameters(
            sigma, h=h, patch_size=options.patch_size, search_window=options.search_window,
            dtype=sequence.dtype)
        denoised = denoise_frames(
            sequence.frames(), sigma=sigma, h=h, patch_size=patch_size,
            search_window=search_window, temporal_window=options.temporal_window,
            affinity=options.affinity, method=options.method,
            channel_axis=sequence.channel_axis, model=options.model)
        outcome.temporal_window = options.temporal_window
        outcome.frames = write_sequence(target, _counted(denoised, sequence.n_frames, progress),
                                        sequence, source=source, overwrite=overwrite)
    outcome.sigma = sigma / to_image_units
    outcome.sigma_estimated = sigma_estimated
    outcome.h = h / to_image_units
    outcome.patch_size = patch_size
    outcome.search_window = search_window
    outcome.status = "done"


def _counted(frames, total, progress):
    for done, frame in enumerate(frames, start=1):
        yield frame
        if progress is not None:
            progress(done, total)


def _describe_sequence(sequence, as_volume) -> str:
    shape = sequence.frame_shape
    kind = "grey" if len(shape) == 2 else f"{shape[2]} channels"
    count = "?" if sequence.n_frames is None else sequence.n_frames
    if as_volume:
        return f"volume of {count} slices {shape[1]}x{shape[0]} {kind} {sequence.dtype}"
    rate = f" at {sequence.fps:.3g} fps" if sequence.fps else ""
    return f"{count} frames {shape[1]}x{shape[0]} {kind} {sequence.dtype}{rate}"


def _record_failure(outcome, error, source, skip_existing):
    from .files import ImageFileError, OutputExistsError

    if isinstance(error, OutputExistsError):
        if skip_existing:
            # Another run wrote it meanwhile; it is complete, as every output is.
            outcome.status = "skipped"
        else:
            outcome.error = str(error)
    elif isinstance(error, ImageFileError):
        outcome.error = str(error)
    elif isinstance(error, MemoryError):
        outcome.error = f"{source}: not enough memory to denoise this image"
    elif isinstance(error, OSError):
        outcome.error = f"{source}: {error.strerror or error}"
    else:
        outcome.error = f"{source}: {error}"


def _describe(picture) -> str:
    shape = picture.pixels.shape
    kind = "grey" if picture.pixels.ndim == 2 else f"{shape[2]} channels"
    if picture.alpha is not None:
        kind += " + alpha"
    return f"{shape[1]}x{shape[0]} {kind} {picture.pixels.dtype}"
