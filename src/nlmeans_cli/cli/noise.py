"""``nlm noise``: read the noise of image files without denoising them."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from .options import DEFAULT_MAX_PIXELS, BandsOption, MaxPixelsOption
from .output import noise_line
from .streams import STREAM

__all__ = ["noise_command"]


def noise_command(
    files: Annotated[
        list[Path],
        typer.Argument(metavar="FILE...", show_default=False,
                       help="Still images, clips or stacks (as nlm denoise reads them), or "
                            "folders of them (not their subfolders); - reads standard input."),
    ],
    noise: Annotated[
        str,
        typer.Option(metavar="gaussian|poisson-gaussian",
                     help="What to read: sigma, or the gain and read noise of "
                          "variance = gain * x + read noise^2 (which nlm denoise's default, "
                          "--noise auto, denoises with where the noise grows with the "
                          "signal)."),
    ] = "gaussian",
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the readings as JSON on stdout.")
    ] = False,
    max_pixels: MaxPixelsOption = DEFAULT_MAX_PIXELS,
    bands: BandsOption = False,
) -> None:
    """Print each file's noise as nlm denoise estimates it, without denoising it.

    Values are the ones --sigma, --gain and --read-noise take: on the 0-255 scale for every
    bit depth (a 16-bit file's own values in brackets too). A dark frame (taken with the
    shutter closed) gives the camera's read noise as its sigma: give it to 'nlm denoise
    --read-noise' where a file's own levels cannot pin the read noise down.
    """
    from ..io.folders import find_images
    from ..jobs.noise_reading import NOISE_READINGS

    if noise not in NOISE_READINGS:
        raise typer.BadParameter(f"{noise!r}: use {' or '.join(NOISE_READINGS)}",
                                 param_hint="--noise")

    if sum(str(path) == STREAM for path in files) > 1:
        raise typer.BadParameter("standard input (-) can be read once", param_hint="FILE")
    paths, empty = [], []
    for path in files:
        if str(path) == STREAM:
            paths.append(path)
            continue
        try:
            found = find_images(path) if path.is_dir() else [path]
        except (OSError, ValueError) as error:
            raise typer.BadParameter(f"{path}: {getattr(error, 'strerror', None) or error}",
                                     param_hint="FILE") from None
        if not found:
            empty.append(path)
            typer.echo(f"nlm: error: {path}: no images in this folder", err=True)
        paths.extend(found)
    readings = []
    for path in paths:
        reading = _read_noise(path, noise, max_pixels, bands)
        readings.append(reading)
        if not reading.ok:
            typer.echo(f"nlm: error: {reading.error}", err=True)
        elif not json_output:
            typer.echo(noise_line(reading))
            for note in reading.notes:
                typer.echo(f"{reading.input}: note: {note}", err=True)
    if json_output:
        typer.echo(json.dumps([asdict(reading) for reading in readings], indent=2))
    if empty or not all(reading.ok for reading in readings):
        raise typer.Exit(1)


def _read_noise(path: Path, noise: str, max_pixels: int, bands: bool):
    """Read one file's noise; ``-`` reads standard input, named ``-`` in what is printed."""
    from dataclasses import replace

    from ..jobs.noise_reading import NoiseReading, read_file_noise
    from .streams import StreamError, standard_streams

    if str(path) != STREAM:
        return read_file_noise(path, noise=noise, max_pixels=max_pixels, bands=bands)
    try:
        with standard_streams(path) as streams:
            reading = read_file_noise(streams.input, noise=noise, max_pixels=max_pixels,
                                      bands=bands)
    except StreamError as error:
        return NoiseReading(STREAM, noise=noise, error=str(error))
    return replace(reading, input=STREAM, error=streams.named(reading.error))
