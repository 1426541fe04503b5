"""The ``nlm`` command line: a thin adapter over the library.

Each command reads, calls the library, writes and reports. Heavy modules (Numba, imageio,
scikit-image) are imported inside the commands so that ``nlm --help`` is instant. User errors
become one line on stderr and exit code 1 (a file failed) or 2 (bad usage), with no traceback
unless ``--debug`` is given.
"""

from __future__ import annotations

import enum
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from .formulation import AFFINITIES
from .methods import METHODS

AffinityName = enum.Enum("AffinityName", {name: name for name in AFFINITIES}, type=str)
MethodName = enum.Enum("MethodName", {name: name for name in METHODS}, type=str)

app = typer.Typer(
    name="nlm",
    help="Denoise images with non-local means and the non-local operation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

SCALE_NOTE = "On the 0-255 scale for every bit depth (16-bit and float images are scaled)."


def _parse_sigma(value: str) -> float | None:
    if value.strip().lower() == "auto":
        return None
    try:
        sigma = float(value)
    except ValueError:
        raise typer.BadParameter(f"expected 'auto' or a number, got {value!r}") from None
    if not sigma >= 0 or sigma == float("inf"):
        raise typer.BadParameter(f"must be a finite number >= 0, got {value!r}")
    return sigma


def _positive(value: float | None) -> float | None:
    if value is not None and not 0 < value < float("inf"):
        raise typer.BadParameter(f"must be a positive number, got {value}")
    return value


def _odd(value: int | None) -> int | None:
    if value is not None and value % 2 == 0:
        raise typer.BadParameter(f"must be odd, got {value}")
    return value


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"nlm: error: {message}", err=True)
    return typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"nlm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Denoise images with non-local means and the non-local operation."""


@app.command()
def denoise(
    input: Annotated[
        Path, typer.Argument(help="Image to denoise (PNG, JPEG, TIFF, BMP, WebP).",
                             show_default=False)
    ],
    output: Annotated[
        Path, typer.Argument(help="Where to write the result; the format follows its extension.",
                             show_default=False)
    ],
    sigma: Annotated[
        str,
        typer.Option(metavar="auto|FLOAT",
                     help=f"Noise standard deviation. {SCALE_NOTE} 'auto' estimates it "
                          "(scikit-image's estimate_sigma) and prints the estimate."),
    ] = "auto",
    h: Annotated[
        float | None,
        typer.Option("--h", callback=_positive, show_default="from the table in README",
                     help=f"Filtering strength; larger smooths more. {SCALE_NOTE}"),
    ] = None,
    patch_size: Annotated[
        int | None,
        typer.Option(min=1, callback=_odd, show_default="from the table in README",
                     help="Side of the compared patches, in pixels (odd)."),
    ] = None,
    search_window: Annotated[
        int | None,
        typer.Option(min=1, callback=_odd, show_default="from the table in README",
                     help="Side of the search window, in pixels (odd)."),
    ] = None,
    affinity: Annotated[
        AffinityName, typer.Option(help="Pairwise affinity f; 'gaussian' is NL-means.")
    ] = "gaussian",
    method: Annotated[MethodName, typer.Option(help="Denoising method.")] = "classic",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print no summary.")] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an error.")
    ] = False,
) -> None:
    """Denoise one image file and write the result with the same size, channels and bit depth."""
    sigma_255 = _parse_sigma(sigma)
    from .denoising import denoise_with_report, unit_scale
    from .files import ImageFileError, check_output_path, read_picture, write_picture

    try:
        picture = read_picture(input)
        check_output_path(output, source=input, overwrite=overwrite)
        to_image_units = unit_scale(picture.pixels.dtype) / 255.0
        started = time.perf_counter()
        result = denoise_with_report(
            picture.pixels,
            sigma=None if sigma_255 is None else sigma_255 * to_image_units,
            h=None if h is None else h * to_image_units,
            patch_size=patch_size,
            search_window=search_window,
            affinity=affinity.value,
            method=method.value,
            channel_axis=picture.channel_axis,
        )
        seconds = time.perf_counter() - started
        write_picture(output, picture.with_pixels(result.image), source=input,
                      overwrite=overwrite)
    except (ImageFileError, ValueError, TypeError, OSError) as error:
        if debug:
            raise
        message = str(error)
        if not isinstance(error, ImageFileError):
            message = f"{input}: {message}"
        raise _fail(message) from None
    if not quiet:
        for note in picture.notes:
            typer.echo(f"{input}: note: {note}", err=True)
        shape = picture.pixels.shape
        kind = "grey" if picture.pixels.ndim == 2 else f"{shape[2]} channels"
        if picture.alpha is not None:
            kind += " + alpha"
        source = "estimated" if result.sigma_estimated else "given"
        typer.echo(
            f"{input}: {shape[1]}x{shape[0]} {kind} {picture.pixels.dtype}, "
            f"sigma {result.sigma / to_image_units:.2f} ({source}), "
            f"h {result.h / to_image_units:.2f}, patch {result.patch_size}, "
            f"window {result.search_window}, {result.affinity}, {result.method}: "
            f"{seconds:.2f} s -> {output}",
            err=True,
        )


def main() -> None:
    """Run the ``nlm`` command."""
    app(prog_name="nlm")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
