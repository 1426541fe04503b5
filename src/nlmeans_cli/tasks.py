"""One file in, one file out: the unit of work of ``nlm denoise`` and ``nlm batch``.

:func:`denoise_file` reads an image, denoises it and writes the result atomically, and returns a
:class:`FileOutcome` instead of raising for anything that is wrong with the file, so that a batch
can carry on past it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DenoiseOptions", "FileOutcome", "denoise_file"]


@dataclass(frozen=True)
class DenoiseOptions:
    """The denoising options shared by ``nlm denoise`` and ``nlm batch``.

    ``sigma`` and ``h`` are on the 0-255 scale whatever the bit depth; ``None`` means estimate
    (sigma) or take the default table (h, patch size, search window). ``max_pixels`` bounds
    the images read (``None``: :data:`nlmeans_cli.files.DEFAULT_MAX_PIXELS`).
    """

    sigma: float | None = None
    h: float | None = None
    patch_size: int | None = None
    search_window: int | None = None
    affinity: str = "gaussian"
    method: str = "classic"
    max_pixels: int | None = None


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
        Size, channels and pixel type, for summaries.
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

    @property
    def ok(self) -> bool:
        """True unless the file failed."""
        return self.status != "failed"


def denoise_file(source: str | os.PathLike, target: str | os.PathLike,
                 options: DenoiseOptions | None = None, *, overwrite: bool = False,
                 skip_existing: bool = False, reraise: bool = False, tile: int | None = None,
                 client=None) -> FileOutcome:
    """Denoise one image file into another.

    Parameters
    ----------
    source : path-like
        The image to read; it is never written.
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

    Returns
    -------
    FileOutcome
        ``"failed"`` with a one-line error for anything wrong with the file or the options
        (unreadable, unsupported, bad parameter, output exists, disk error).

    Notes
    -----
    Cost: that of :func:`nlmeans_cli.denoise` plus decoding and encoding.
    """
    from .denoising import denoise_with_report, unit_scale
    from .files import (
        DEFAULT_MAX_PIXELS,
        ImageFileError,
        check_output_path,
        read_picture,
        write_picture,
    )

    options = options or DenoiseOptions()
    started = time.perf_counter()
    outcome = FileOutcome(str(source), str(target), "failed")
    try:
        if skip_existing and Path(target).exists():
            outcome.status = "skipped"
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
            result = denoise_with_report(picture.pixels, **parameters)
        else:
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
