"""One file in, one file out: the unit of work of ``nlm denoise`` and ``nlm batch``.

:func:`denoise_file` reads an image, denoises it and writes the result atomically, and returns a
:class:`FileOutcome` instead of raising for anything that is wrong with the file, so that a batch
can carry on past it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..colour_noise import shared_noise_note
from ..io.atomic import ImageFileError, OutputExistsError
from ..io.stills import DEFAULT_MAX_PIXELS
from ..methods import Setting
from ..parameters import DEFAULT_TEMPORAL_WINDOW, Request
from ..scales import unit_zero
from .channel_notes import channel_notes
from .descriptions import describe_picture, describe_sequence
from .noise_notes import (
    GROWTH_HIDDEN_NOTE,
    GROWTH_IN_RESIDUAL_NOTE,
    black_level_notes,
    by_channel_note,
    undetermined_notes,
    zero_sigma_note,
)

if TYPE_CHECKING:
    from ..noise import PoissonGaussian

__all__ = ["FileOutcome", "JobOptions", "denoise_file"]


@dataclass(frozen=True)
class JobOptions:
    """What ``nlm denoise`` and ``nlm batch`` do with every file.

    Attributes
    ----------
    request : Request
        What to ask of the method (sigma and h on the unit scale; the command line divides
        its 0-255 values by 255).
    max_pixels : int
        Refuse images (frames) whose header claims more pixels.
    temporal_window : int
        Frames either side searched in a clip or stack.
    volume : bool
        Denoise multi-page TIFFs and ``.npy`` arrays as 3-D volumes instead of frames.
    strip_metadata : bool
        Write the pixels only, without what the input carried (profile, EXIF, resolution,
        ImageJ/OME metadata, video tags).
    """

    request: Request = field(default_factory=Request)
    max_pixels: int = DEFAULT_MAX_PIXELS
    temporal_window: int = DEFAULT_TEMPORAL_WINDOW
    volume: bool = False
    strip_metadata: bool = False


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
    method : str
        The method that ran.
    affinity : str
        The affinity it used.
    h : float or None
        The filtering strength used, on the 0-255 scale (classic method).
    patch_size, search_window : int or None
        The sizes used (classic method).
    patch_kernel : str or None
        The patch weights used (classic method).
    h_chosen_by : str or None
        ``"given"``, ``"table"`` or ``"sure"`` (classic method).
    refined : bool
        Whether the classic method's estimate took its second look at itself (a grey still
        whose h was not given).
    h_chroma : float or None
        The chroma strength used for a colour image, 0-255 scale (classic method).
    model : str or None
        The model used (learned method).
    spacing : tuple of 3 float or None
        A volume's voxel spacing used (Z, Y, X), from ``--spacing`` or the file.
    radii : dict or None
        With *spacing*: the patch and window radii per axis.
    noise : str
        ``"gaussian"``, or ``"poisson-gaussian"`` when the noise was stabilised.
    gain, read_noise : float or None
        The Poisson-Gaussian parameters used, 0-255 scale (the mean over channels).
    black_level : float or None
        The black level used (a camera's offset), 0-255 scale, where any: the mean over the
        channels that have one.
    black_level_source : str
        Where it came from: ``"given"``, ``"fitted"``, or ``"the file's 0"`` (a signed
        image's photon counts start there unless one is given); empty without one.
    noise_fitted : bool
        Whether they were fitted from the file.
    noise_given : tuple of str
        Those given rather than fitted (``"gain"``, ``"read noise"``, ``"black level"``).
    measured_share : float
        The stabilised noise as ``auto`` measured it against the fitted model's promise, where
        the image was denoised at that (under 1); the least over the channels.
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
    method: str = ""
    affinity: str = ""
    h: float | None = None
    patch_size: int | None = None
    search_window: int | None = None
    patch_kernel: str | None = None
    h_chosen_by: str | None = None
    refined: bool = False
    h_chroma: float | None = None
    model: str | None = None
    spacing: tuple[float, float, float] | None = None
    radii: dict | None = None
    noise: str = "gaussian"
    gain: float | None = None
    read_noise: float | None = None
    black_level: float | None = None
    black_level_source: str = ""
    noise_fitted: bool = False
    noise_given: tuple[str, ...] = ()
    measured_share: float = 1.0
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

    @classmethod
    def unreadable(cls, item) -> FileOutcome:
        """Return the failed outcome of a batch item that cannot be read (its *problem*)."""
        return cls(str(item.source), str(item.target), "failed", error=item.problem)

    def record(self, settings: Sequence[Setting], *, dtype: str | None = None) -> None:
        """Fill in the parameters the method used, sigma and h on the 0-255 scale.

        One setting per image, or per channel where a stack's channels are denoised apart;
        the summary takes the first's method parameters. Poisson-Gaussian parameters are
        the channels' means, and notes give each channel's noise, a read noise the image
        cannot pin down, and a black level it seems to carry (in the file's values too,
        for a ``"uint16"`` *dtype*, the pixels' type's name).
        """
        setting = settings[0]
        self.sigma = setting.sigma_unit * 255.0
        self.sigma_estimated = setting.sigma_estimated
        self.method = setting.method
        self.affinity = setting.affinity
        used = setting.used()
        self.h = used["h_unit"] * 255.0 if "h_unit" in used else None
        self.patch_size = used.get("patch_size")
        self.search_window = used.get("search_window")
        self.patch_kernel = used.get("patch_kernel")
        self.h_chosen_by = used.get("h_chosen_by")
        self.refined = bool(used.get("refined", False))
        self.h_chroma = used["h_chroma_unit"] * 255.0 if "h_chroma_unit" in used else None
        self.model = used.get("model")
        if "clip_network_share" in used and self.temporal_window:
            looked = " (refined)" if used.get("clip_second_look") else ""
            self.notes.append(
                f"each frame's network result takes {used['clip_network_share']:.0%} of each "
                f"pixel, the classic method's over the temporal window{looked} the rest")
        elif "volume_network_share" in used:
            self.notes.append(
                f"each slice's network result takes {used['volume_network_share']:.0%} of "
                f"each voxel, the classic method's 3-D result the rest")
        elif "network_share" in used:
            self.notes.append(
                f"sigma is below the level the network was trained for: its result takes "
                f"{used['network_share']:.0%} of each pixel, the classic method's the rest")
        self.spacing = used.get("spacing")
        self.radii = used.get("radii")
        self.notes.extend(channel_notes(setting, used))
        self.notes.extend(each.sigma_note for each in settings if each.sigma_note)
        stabilisers = [each.stabiliser for each in settings]
        if all(stabilisers):
            models = [model for stabiliser in stabilisers for model in stabiliser.models]
            self.noise = "poisson-gaussian"
            self.gain = 255.0 * sum(model.gain for model in models) / len(models)
            self.read_noise = 255.0 * sum(model.read_noise for model in models) / len(models)
            self.black_level = _mean_black_level(models)
            self.noise_fitted = any(stabiliser.fitted for stabiliser in stabilisers)
            self.noise_given = stabilisers[0].given
            numbers = [number + 1 for number in (range(len(models))
                                                 if setting.channel_plan is None
                                                 else setting.channel_plan.denoised)]
            if self.noise_fitted and len(models) > 1:
                # The summary line gives the channels' means; a camera's white balance scales
                # each channel's gain differently.
                self.notes.append(by_channel_note(
                    models, None if setting.channel_plan is None else numbers))
            self.notes.extend(undetermined_notes(models, numbers, self.noise_given))
            self.notes.extend(black_level_notes(models, numbers, dtype, self.noise_given))
            first = stabilisers[0]
            shared = shared_noise_note(first.channels_sigma_unit, first.luminance_sigma or 0.0,
                                       first.sigma_unit)
            if shared:
                self.notes.append(shared)
            if any(each.growth_hidden for each in settings):
                self.notes.append(GROWTH_IN_RESIDUAL_NOTE)
            if any(model.clip_bound for model in models):
                self.notes.append("clipping at black or white reaches every level of this "
                                  "image, so its fit may be bent by it (--noise auto takes the "
                                  "transform here only where its bright parts' own noise grows "
                                  "from the background's)")
        elif not any(stabilisers):
            if len(settings) > 1:
                self.notes.append("sigma by channel: " + ", ".join(
                    f"{each.sigma_unit * 255.0:.3g}" for each in settings))
            if any(each.growth_hidden for each in settings):
                self.notes.append(GROWTH_HIDDEN_NOTE)
        else:
            # Some channels' noise grows with the signal and others' does not (noise="auto"):
            # the summary is the first channel's, and a note gives each channel's own.
            if setting.stabiliser is not None:
                self.noise = "poisson-gaussian"
                self.gain = 255.0 * setting.stabiliser.models[0].gain
                self.read_noise = 255.0 * setting.stabiliser.models[0].read_noise
                self.black_level = _mean_black_level(setting.stabiliser.models[:1])
                self.noise_fitted = setting.stabiliser.fitted
                self.noise_given = setting.stabiliser.given
            self.notes.append("noise by channel: " + "; ".join(
                f"gain {255.0 * each.stabiliser.models[0].gain:.3g}, read noise "
                f"{255.0 * each.stabiliser.models[0].read_noise:.3g}"
                if each.stabiliser is not None else f"sigma {each.sigma_unit * 255.0:.3g}"
                for each in settings))
        self.measured_share = min((stabiliser.measured_share for stabiliser in stabilisers
                                   if stabiliser is not None), default=1.0)
        if self.black_level is not None:
            zero = None if dtype is None else unit_zero(dtype)
            self.black_level_source = ("the file's 0" if zero is not None
                                       and abs(self.black_level - 255.0 * zero) < 1e-9
                                       else "given" if "black level" in self.noise_given
                                       else "fitted")


def _mean_black_level(models: Sequence[PoissonGaussian]) -> float | None:
    """Return the models' mean black level on the 0-255 scale, over those with one."""
    levels = [model.black_level for model in models if model.black_level is not None]
    return 255.0 * sum(levels) / len(levels) if levels else None


def denoise_file(source: str | os.PathLike, target: str | os.PathLike,
                 options: JobOptions | None = None, *, overwrite: bool = False,
                 skip_existing: bool = False, reraise: bool = False, tile: int | None = None,
                 client=None, progress: Callable[[int, int | None], None] | None = None
                 ) -> FileOutcome:
    """Denoise one image file into another, or one clip, stack or volume into another.

    Parameters
    ----------
    source : path-like
        The image to read; it is never written. Videos, GIFs, multi-page TIFFs and ``.npy``
        arrays are sequences (:mod:`nlmeans_cli.io.sequences`): denoised frame by frame with
        a spacetime window, or as a volume with ``options.volume`` (TIFF and ``.npy``).
    target : path-like
        Where to write; the format follows the extension. Written to a temporary file and
        renamed, so it is either complete or absent.
    options : JobOptions, optional
        What to ask of the method, and how to read the file; by default every default.
    overwrite : bool
        Replace an existing *target*.
    skip_existing : bool
        Leave an existing *target* alone and report the file as skipped.
    reraise : bool
        Let errors propagate instead of turning them into a failed outcome (``--debug``).
    tile : int, optional
        Denoise in overlapping tiles of this side (:func:`nlmeans_cli.tiling.denoise_tiled`);
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
    from ..io.sequences import is_sequence
    from ..io.stills import check_output_path, read_picture, write_picture

    options = options or JobOptions()
    started = time.perf_counter()
    outcome = FileOutcome(str(source), str(target), "failed")
    try:
        if skip_existing and Path(target).exists():
            outcome.status = "skipped"
            return outcome
        if is_sequence(source):
            _denoise_sequence(source, target, options, outcome, overwrite, progress)
            if tile is not None:
                outcome.notes.append("--tile applies to still images; a clip or stack is "
                                     "denoised a few frames at a time, a volume whole")
            return outcome
        check_output_path(target, source=source, overwrite=overwrite)
        picture = read_picture(source, max_pixels=options.max_pixels)
        # Before any work: what the output format cannot store is refused now, not after.
        check_output_path(target, source=source, overwrite=overwrite,
                          dtype=picture.pixels.dtype, alpha=picture.alpha is not None,
                          bands=picture.pixels.shape[-1] if picture.bands else 0)
        outcome.notes = list(picture.notes)
        if options.volume or options.request.spacing is not None:
            outcome.notes.append("--volume and --spacing apply to stacks and volumes; this is "
                                 "one image, denoised as one")
        outcome.description = describe_picture(picture)
        from ..denoising import denoise_request, resolve_request
        from ..missing import missing_pixels

        missing = missing_pixels(picture.pixels, picture.channel_axis)
        if missing is not None:
            count = int(missing.sum())
            if tile is not None:
                raise ImageFileError(f"{source}: {count} pixels are NaN or infinite; --tile "
                                     "cannot leave them out: denoise it without --tile")
            outcome.notes.append(f"{count} pixels are NaN or infinite: missing values, kept "
                                 "as they are and left out of the others' denoising")
        # A multispectral TIFF's three bands are not red, green and blue.
        request = replace(options.request, colour=options.request.colour and not picture.bands)
        if tile is None:
            image, setting = denoise_request(picture.pixels, request,
                                             channel_axis=picture.channel_axis,
                                             missing=picture.nodata_pixels)
        else:
            from ..tiling import denoise_tiled_with

            if picture.nodata_mask is not None:
                outcome.notes.append("--tile denoises the no-data pixels with the others (they "
                                     "are written back holding the no-data value all the same)")

            setting = resolve_request(picture.pixels, request,
                                      channel_axis=picture.channel_axis)
            image = denoise_tiled_with(picture.pixels, setting, tile=tile, client=client,
                                       channel_axis=picture.channel_axis)
        outcome.record([setting], dtype=str(picture.pixels.dtype))
        outcome.notes.extend(_unstabilised(options.request, [setting]))
        outcome.notes.extend(_chroma_unused(options.request, [setting]))
        if not options.request.colour and picture.pixels.shape[2:] != (3,):
            outcome.notes.append("--bands applies to three channels, which are otherwise "
                                 "taken for red, green and blue; these are not three")
        if setting.sigma_unit == 0:
            outcome.notes.append(zero_sigma_note(setting, picture.pixels.shape[:2]))
        written = picture.with_pixels(image)
        written.notes = []
        write_picture(target, written, source=source, overwrite=overwrite,
                      strip_metadata=options.strip_metadata)
        outcome.notes.extend(written.notes)
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
    import numpy as np

    from ..denoising import denoise_request
    from ..io.sequences import (
        check_sequence_output,
        open_sequence,
        write_sequence,
    )

    sequence = open_sequence(source, max_pixels=options.max_pixels)
    check_sequence_output(target, source=source, overwrite=overwrite, dtype=sequence.dtype,
                          channels=sequence.arrays_only_channels)
    outcome.notes = list(sequence.notes)
    as_volume = options.volume and sequence.kind in ("tiff", "array")
    outcome.description = describe_sequence(sequence, as_volume=as_volume)
    if sequence.depths and not as_volume:
        outcome.notes.append("its pages are a volume's slices (its axes name Z): denoised as "
                             "a clip's frames, each with those either side; --volume "
                             "denoises them as one volume (3-D patches, its voxel spacing)")
    request = replace(options.request, colour=options.request.colour and not sequence.bands)
    if as_volume:
        total = sequence.n_frames * sequence.frame_shape[0] * sequence.frame_shape[1]
        if total > options.max_pixels:
            raise ImageFileError(
                f"{source}: a volume of {total} voxels, more than the limit of "
                f"{options.max_pixels} (raise it with --max-pixels)")
    apart = sequence.frame_shape[-1] if sequence.separate_channels else 0
    if as_volume and request.spacing is None and sequence.spacing is not None:
        request = replace(request, spacing=sequence.spacing)
    if as_volume:
        volume = sequence.read_all()
        if apart:
            channels = [denoise_request(volume[..., c], request) for c in range(apart)]
            denoised = np.stack([image for image, _ in channels], axis=-1)
            settings = [setting for _, setting in channels]
        else:
            channel_axis = None if volume.ndim == 3 else -1
            denoised, setting = denoise_request(volume, request, channel_axis=channel_axis)
            settings = [setting]
        outcome.frames = write_sequence(target, iter(denoised), sequence, source=source,
                                        overwrite=overwrite,
                                        strip_metadata=options.strip_metadata)
    else:
        if apart:
            streams, settings = zip(*(_frame_stream(sequence, request, options, c)
                                      for c in range(apart)), strict=True)
            denoised = (np.stack(frames, axis=-1) for frames in zip(*streams, strict=True))
        else:
            stream, setting = _frame_stream(sequence, request, options, None)
            denoised, settings = stream, [setting]
        # A single frame has no neighbours in time to take.
        outcome.temporal_window = None if sequence.n_frames == 1 else options.temporal_window
        outcome.frames = write_sequence(target, _counted(denoised, sequence.n_frames, progress),
                                        sequence, source=source, overwrite=overwrite,
                                        strip_metadata=options.strip_metadata)
    outcome.notes.extend(_dropped(sequence, target, options.strip_metadata))
    outcome.record(settings, dtype=str(sequence.dtype))
    outcome.notes.extend(_unstabilised(request, settings))
    outcome.notes.extend(_chroma_unused(request, settings))
    outcome.status = "done"


def _dropped(sequence, target, strip_metadata: bool) -> list[str]:
    """Return the notes for what a sequence carries that its output does not hold."""
    from ..io.videos import (
        ATTACHING_CONTAINERS,
        PIXEL_ASPECT_CONTAINERS,
        ROTATING_CONTAINERS,
        VIDEO_CODECS,
        audio_kept,
        rotation_kept,
        subtitles_kept,
        video_bits_kept,
    )

    suffix = Path(target).suffix.lower()
    notes = []
    kept = video_bits_kept(sequence, target) if suffix in VIDEO_CODECS else sequence.depth
    if kept < sequence.depth:
        notes.append(f"{sequence.depth}-bit frames written with {kept} bits: the {suffix} "
                     f"written here (H.264) holds no more; .mkv (lossless FFV1) keeps all "
                     f"{sequence.depth}")
    if sequence.audio and not audio_kept(sequence, target):
        codecs = ", ".join(sorted(set(sequence.audio)))
        notes.append(f"audio dropped: {suffix} cannot hold "
                     + (codecs if suffix in VIDEO_CODECS else "sound"))
    if sequence.subtitles and not subtitles_kept(sequence, target):
        codecs = ", ".join(sorted(set(sequence.subtitles)))
        notes.append(f"subtitles dropped: {suffix} cannot hold "
                     + (codecs if suffix in VIDEO_CODECS else "them"))
    if sequence.attachments and suffix not in ATTACHING_CONTAINERS:
        notes.append(f"attachments dropped: {suffix} cannot hold them "
                     f"({', '.join(sequence.attachments)})")
    if (sequence.transparent and suffix != ".gif") or (
            sequence.alpha and suffix not in (".tif", ".tiff", ".npy")):
        what = "GIF transparency" if sequence.transparent else "the frames' alpha"
        notes.append(f"{what} dropped: {suffix} cannot hold it")
    if sequence.display_matrix is not None and not rotation_kept(target):
        notes.append(f"video rotation dropped: {suffix} cannot hold it (the frames are written "
                     "as decoded, before the turn a player would give them)"
                     if suffix not in ROTATING_CONTAINERS else
                     "video rotation dropped: PyAV 18 or later writes it (pip install -U av)")
    if sequence.pixel_aspect is not None and suffix not in PIXEL_ASPECT_CONTAINERS:
        aspect = sequence.pixel_aspect
        notes.append(f"pixel aspect ratio {aspect.numerator}:{aspect.denominator} dropped: "
                     f"the {suffix} written here cannot hold it (the frames are written "
                     "unstretched)")
    carried = {} if strip_metadata else sequence.carried or {}
    kept_by = {"ImageJ metadata": ("imagej", (".tif", ".tiff")),
               "OME-XML": ("ome", (".tif", ".tiff")),
               "XMP, IPTC and GeoTIFF tags": ("extratags", (".tif", ".tiff")),
               "video tags": ("container", tuple(VIDEO_CODECS))}
    notes.extend(f"{name} dropped: {suffix} cannot hold it"
                 for name, (piece, extensions) in kept_by.items()
                 if carried.get(piece) and suffix not in extensions)
    return notes


def _unstabilised(request, settings) -> list[str]:
    """Return the note for Poisson-Gaussian noise asked for where the Gaussian path was taken."""
    if request.noise != "poisson-gaussian" or all(s.stabiliser for s in settings):
        return []
    gain = "the gain given is 0" if request.gain_unit == 0 else "the fitted gain is 0"
    return [f"poisson-gaussian: no noise grows with the signal ({gain}), so it was denoised "
            "as Gaussian noise"]


def _chroma_unused(request, settings) -> list[str]:
    """Return the note for a chroma strength given where no setting took one."""
    if request.h_chroma_unit is None or any(
            "h_chroma_unit" in setting.used() for setting in settings):
        return []
    return ["--h-chroma applies to colour images (three channels that vary, denoised by the "
            "classic method); this one was denoised without it"]


def _frame_stream(sequence, request, options, channel):
    """Denoised frames of a sequence (of one of its separate channels), and the setting."""
    from ..spacetime import resolve_clip, stream_frames

    def frames():
        for frame in sequence.frames():
            yield frame if channel is None else frame[..., channel]

    channel_axis = None if channel is not None else sequence.channel_axis
    shape = sequence.frame_shape if channel is None else sequence.frame_shape[:2]
    setting = resolve_clip(frames, request, shape, channel_axis=channel_axis,
                           n_frames=sequence.n_frames, dtype=sequence.dtype,
                           temporal_window=options.temporal_window)
    return stream_frames(frames(), setting, temporal_window=options.temporal_window,
                         channel_axis=channel_axis), setting


def _counted(frames, total, progress):
    for done, frame in enumerate(frames, start=1):
        yield frame
        if progress is not None:
            progress(done, total)


def _record_failure(outcome, error, source, skip_existing):
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
