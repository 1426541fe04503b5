"""The ``nlm`` commands: a thin adapter over the library.

Each command reads, calls the library, writes and reports. Heavy modules (Numba, imageio,
scikit-image) are imported inside the commands so that ``nlm --help`` is instant. User errors
become one line on stderr and exit code 1 (a file failed) or 2 (bad usage), with no traceback
unless ``--debug`` is given.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from ..parameters import DEFAULT_NOISE, DEFAULT_TEMPORAL_WINDOW
from .commands import OneLineErrors, PlainHelp, fail
from .noise import noise_command
from .options import (
    DEFAULT_MAX_PIXELS,
    SCALE_NOTE,
    AffinityOption,
    BandsOption,
    BlackLevelOption,
    DebugOption,
    GainOption,
    HChromaOption,
    HOption,
    MaxPixelsOption,
    MethodOption,
    ModelOption,
    NoiseOption,
    OverwriteOption,
    PatchKernelOption,
    PatchOption,
    ReadNoiseOption,
    SigmaOption,
    SpacingOption,
    StripMetadataOption,
    TemporalWindowOption,
    VolumeOption,
    WindowOption,
    request,
)
from .output import (
    FileProgress,
    FrameProgress,
    GracefulStop,
    StillProgress,
    comparison_table,
    summary,
)
from .process import engine_loaded, own_process
from .training import train_command

__all__ = ["app", "main"]


app = typer.Typer(
    cls=OneLineErrors,
    name="nlm",
    help="Denoise images with non-local means and the non-local operation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

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


def _job_options(sigma, h, patch_size, search_window, affinity, method, max_pixels,
                 temporal_window=DEFAULT_TEMPORAL_WINDOW, volume=False, model=None,
                 patch_kernel=None, h_chroma=None, spacing=None, strip_metadata=False,
                 noise=None, gain=None, read_noise=None, black_level=None, bands=False):
    from ..jobs.file import JobOptions

    _check_model(model, method.value, None if affinity is None else affinity.value)
    try:
        asked = request(sigma, h, patch_size, search_window, affinity, method, model,
                        patch_kernel, h_chroma, spacing, noise, gain, read_noise,
                        black_level, bands)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    return JobOptions(request=asked, max_pixels=max_pixels, temporal_window=temporal_window,
                      volume=volume, strip_metadata=strip_metadata)


def _check_model(model, method, affinity):
    """Refuse a bad model file (or a missing shipped one) before any image is read."""
    if model is not None and method != "learned":
        raise typer.BadParameter("--model goes with --method learned", param_hint="--model")
    if method != "learned":
        return
    from ..methods.learned import DEFAULT_LEARNED_AFFINITY
    from ..methods.model_files import cached_model, shipped_model

    try:
        # Loading it here also warms the cache the denoising then reads from.
        if model is not None:
            cached_model(model)
        else:
            shipped_model(affinity or DEFAULT_LEARNED_AFFINITY, 25.0)
    except ValueError as error:  # ModelFileError, or no shipped model for the affinity
        raise fail(str(error), code=2) from None


def _announce_compiling(quiet: bool, method: str) -> bool:
    """Say so before the one-time compile that follows an install, so a wait is explained.

    Returns whether it said so.
    """
    from ..methods import method_named

    chosen = method_named(method)
    if quiet or chosen.kernels_cached():
        return False
    typer.echo(f"nlm: compiling the engine for the {chosen.name} method, once after "
               "installing (about 5 to 20 s)", err=True)
    return True


def _announcing_versions(silent: bool):
    """Say so before the engine compiles a further version of its kernel.

    Colour images after grey ones, grey after colour, or colour at another chroma strength;
    not when *silent* (quiet, or the install's compile was announced already).
    """
    from contextlib import nullcontext

    from ..engine import announcing_compiles

    if silent:
        return nullcontext()
    return announcing_compiles(lambda what: typer.echo(
        f"nlm: compiling the engine for {what}, once (about 5 to 10 s)",
        err=True))


@contextmanager
def _cluster(scheduler: str | None, debug: bool):
    """Yield a Dask client for *scheduler* (closed afterwards), or ``None`` without one."""
    if scheduler is None:
        yield None
        return
    try:
        from ..jobs.cluster import close, connect

        client = connect(scheduler)
    except (ImportError, OSError, ValueError) as error:
        if debug:
            raise
        raise fail(str(error), code=2) from None
    try:
        yield client
    finally:
        close(client)


@app.command("denoise", cls=PlainHelp)
def denoise_command(
    input: Annotated[
        Path, typer.Argument(help="Image to denoise (PNG, JPEG, TIFF, BMP, WebP, NPY), or a clip "
                                  "or stack (MP4, MOV, MKV, AVI, animated GIF, multi-page "
                                  "TIFF, NPY); - reads standard input.",
                             show_default=False)
    ],
    output: Annotated[
        Path, typer.Argument(help="Where to write the result; the format follows its extension "
                                  "(- writes standard output, in the input's format).",
                             show_default=False)
    ],
    sigma: SigmaOption = "auto",
    h: HOption = "auto",
    h_chroma: HChromaOption = None,
    bands: BandsOption = False,
    patch_size: PatchOption = None,
    search_window: WindowOption = None,
    patch_kernel: PatchKernelOption = None,
    affinity: AffinityOption = None,
    method: MethodOption = "classic",
    model: ModelOption = None,
    temporal_window: TemporalWindowOption = DEFAULT_TEMPORAL_WINDOW,
    volume: VolumeOption = False,
    spacing: SpacingOption = None,
    strip_metadata: StripMetadataOption = False,
    noise: NoiseOption = DEFAULT_NOISE,
    gain: GainOption = None,
    read_noise: ReadNoiseOption = None,
    black_level: BlackLevelOption = None,
    overwrite: OverwriteOption = False,
    max_pixels: MaxPixelsOption = DEFAULT_MAX_PIXELS,
    tile: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", show_default=False,
                     help="Denoise in overlapping N x N tiles (needs the dask extra); the "
                          "result is identical, the memory bounded by the tile."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(metavar="ADDRESS", show_default=False,
                     help="With --tile: run the tiles on this Dask scheduler "
                          "(tcp://HOST:8786), or 'local' for a local cluster."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print no summary.")] = False,
    debug: DebugOption = False,
) -> None:
    """Denoise one image file and write the result with the same size, channels and bit depth.

    A clip or stack is written with the same frame count, size and frame rate; each frame is
    denoised with the frames either side (--temporal-window).
    """
    options = _job_options(sigma, h, patch_size, search_window, affinity, method, max_pixels,
                           temporal_window, volume, model, patch_kernel, h_chroma, spacing,
                           strip_metadata, noise, gain, read_noise, black_level, bands)
    if scheduler is not None and tile is None:
        raise typer.BadParameter("--scheduler needs --tile", param_hint="--scheduler")
    from ..jobs.file import denoise_file
    from .streams import StreamError, standard_streams

    engine_loaded()
    announced = _announce_compiling(quiet, method.value)
    try:
        from ..io.sequences import is_sequence

        with standard_streams(input, output) as streams:
            # A clip's bar counts frames; a still's follows the engine's passes.
            still = StillProgress(quiet or is_sequence(streams.input) or tile is not None)
            with (_cluster(scheduler, debug) as client, FrameProgress(quiet) as progress,
                  still, _announcing_versions(quiet or announced)):
                outcome = denoise_file(streams.input, streams.output, options,
                                       overwrite=overwrite, reraise=debug, tile=tile,
                                       client=client, progress=progress)
            if outcome.ok:
                streams.send()
    except StreamError as error:
        raise fail(str(error)) from None
    except ImportError as error:
        if debug:
            raise
        raise fail(str(error), code=2) from None
    if not outcome.ok:
        raise fail(streams.named(outcome.error))
    if not quiet:
        for note in outcome.notes:
            typer.echo(f"{input}: note: {streams.named(note)}", err=True)
        model = f" ({outcome.model})" if outcome.model is not None else ""
        typer.echo(f"{streams.named(summary(outcome))}, {outcome.affinity}, "
                   f"{outcome.method}{model}: {outcome.seconds:.2f} s -> {output}", err=True)


@app.command("batch", cls=PlainHelp)
def batch_command(
    in_dir: Annotated[
        Path, typer.Argument(help="Folder of images to denoise.", show_default=False)
    ],
    out_dir: Annotated[
        Path, typer.Argument(help="Folder for the results: the same relative paths and names.",
                             show_default=False)
    ],
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Descend into subfolders.")
    ] = False,
    pattern: Annotated[
        list[str] | None,
        typer.Option(metavar="GLOB", show_default="every readable image extension",
                     help="Only files whose names match (case-insensitive); repeatable."),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", min=1, show_default="the number of cores",
                     help="Parallel worker processes; threads per worker are set so that "
                          "together they use the cores once."),
    ] = None,
    skip_existing: Annotated[
        bool, typer.Option("--skip-existing",
                           help="Leave outputs that exist alone (resume an interrupted run).")
    ] = False,
    overwrite: OverwriteOption = False,
    report: Annotated[
        Path | None,
        typer.Option(metavar="PATH", show_default=False,
                     help="Write a per-file report; CSV or JSON by the extension."),
    ] = None,
    sigma: SigmaOption = "auto",
    h: HOption = "auto",
    h_chroma: HChromaOption = None,
    bands: BandsOption = False,
    patch_size: PatchOption = None,
    search_window: WindowOption = None,
    patch_kernel: PatchKernelOption = None,
    affinity: AffinityOption = None,
    method: MethodOption = "classic",
    model: ModelOption = None,
    temporal_window: TemporalWindowOption = DEFAULT_TEMPORAL_WINDOW,
    volume: VolumeOption = False,
    spacing: SpacingOption = None,
    strip_metadata: StripMetadataOption = False,
    noise: NoiseOption = DEFAULT_NOISE,
    gain: GainOption = None,
    read_noise: ReadNoiseOption = None,
    black_level: BlackLevelOption = None,
    max_pixels: MaxPixelsOption = DEFAULT_MAX_PIXELS,
    scheduler: Annotated[
        str | None,
        typer.Option(metavar="ADDRESS",
                     show_default="none: worker processes on this machine",
                     help="Send one task per file to this Dask scheduler (tcp://HOST:8786; "
                          "workers must see the same paths), or 'local' to start a local "
                          "Dask cluster for the run. Needs the dask extra."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no per-file lines.")
    ] = False,
    debug: DebugOption = False,
) -> None:
    """Denoise every image in a folder into another folder, mirroring the tree.

    A bad file is reported and the rest go on. Exit code 0 when every file succeeded (or was
    skipped), 1 when some failed, 2 for bad usage.
    """
    if skip_existing and overwrite:
        raise typer.BadParameter("use either --skip-existing or --overwrite, not both")
    if report is not None and report.is_dir():
        raise typer.BadParameter(f"{report}: is a folder; give the report's file name",
                                 param_hint="--report")
    if report is not None and report.suffix.lower() not in (".csv", ".json"):
        raise typer.BadParameter(f"{report}: the report must be .csv or .json",
                                 param_hint="--report")
    options = _job_options(sigma, h, patch_size, search_window, affinity, method, max_pixels,
                           temporal_window, volume, model, patch_kernel, h_chroma, spacing,
                           strip_metadata, noise, gain, read_noise, black_level, bands)
    from ..io.atomic import ImageFileError
    from ..io.folders import DEFAULT_PATTERNS, plan_batch
    from ..jobs.pool import available_cores, run_batch
    from ..jobs.reports import write_report

    try:
        items = plan_batch(in_dir, out_dir, patterns=pattern or DEFAULT_PATTERNS,
                           recursive=recursive)
    except (OSError, ValueError) as error:
        if debug:
            raise
        raise fail(str(error), code=2) from None
    if not items:
        where = "" if recursive else " (add --recursive to search subfolders)"
        matching = f" matching {' '.join(pattern)}" if pattern else ""
        raise fail(f"{in_dir}: no images{matching} to denoise{where}", code=2)
    jobs = jobs or available_cores()
    _announce_compiling(quiet, method.value)
    if jobs == 1 and scheduler is None:
        engine_loaded()  # the files are denoised in this process
    outcomes = []
    started = time.perf_counter()
    stopping = GracefulStop()
    with _cluster(scheduler, debug) as client:
        try:
            if client is None:
                running = run_batch(items, options, jobs=jobs, overwrite=overwrite,
                                    skip_existing=skip_existing, stop=stopping.requested)
            else:
                from ..jobs.cluster import run_batch_on_cluster

                running = run_batch_on_cluster(items, client, options, overwrite=overwrite,
                                               skip_existing=skip_existing,
                                               stop=stopping.requested)
            with stopping, FileProgress(len(items), quiet) as report_outcome:
                for outcome in running:
                    outcomes.append(outcome)
                    report_outcome(outcome)
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: stop at once; writes in progress clean up after themselves
    interrupted = stopping.requested()
    seconds = time.perf_counter() - started
    if report is not None:
        try:
            write_report(report, outcomes)
        except ImageFileError as error:
            typer.echo(f"nlm: error: {error}", err=True)
    counts = {status: sum(o.status == status for o in outcomes)
              for status in ("done", "skipped", "failed")}
    missing = len(items) - len(outcomes)
    tail = f", {missing} not started (interrupted)" if interrupted else ""
    typer.echo(f"nlm batch: {counts['done']} processed, {counts['skipped']} skipped, "
               f"{counts['failed']} failed{tail} in {seconds:.1f} s", err=True)
    if interrupted:
        raise typer.Exit(stopping.exit_code)
    if counts["failed"]:
        raise typer.Exit(1)


@app.command("compare", cls=PlainHelp)
def compare_command(
    clean: Annotated[
        list[Path], typer.Argument(help="Clean images, or folders of them.", show_default=False)
    ],
    sigma: Annotated[
        float | None,
        typer.Option(min=0, show_default="25, or estimated with --noisy",
                     help=f"Noise added, standard deviation. {SCALE_NOTE}"),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the noise.")] = 0,
    noisy: Annotated[
        Path | None,
        typer.Option(metavar="NOISY", show_default=False,
                     help="An already noisy version of the (single) CLEAN image."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the results as JSON on stdout.")
    ] = False,
    montage: Annotated[
        Path | None,
        typer.Option(metavar="PATH", show_default=False,
                     help="Write a PNG: clean | noisy | ours | learned | scikit-image | BM3D "
                          "(when installed) per image, labelled with PSNR, with zoomed crops."),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(metavar="PATH", show_default="the shipped gaussian models",
                     help="The model file of the 'learned' column (from 'nlm train')."),
    ] = None,
    noise: Annotated[
        str,
        typer.Option(metavar="gaussian|poisson-gaussian",
                     help="The noise added: Gaussian of --sigma, or gain * Poisson(x / gain) "
                          "+ read noise (--gain, --read-noise), with 'ours_poisson' and "
                          "'learned_poisson' columns (and montage panels) that fit and "
                          "stabilise it."),
    ] = "gaussian",
    gain: Annotated[
        float | None,
        typer.Option(min=0, metavar="FLOAT", show_default=False,
                     help=f"Poisson-Gaussian noise: the value of one photon. {SCALE_NOTE}"),
    ] = None,
    read_noise: Annotated[
        float,
        typer.Option(min=0, metavar="FLOAT",
                     help=f"Poisson-Gaussian noise: the read noise. {SCALE_NOTE}"),
    ] = 0.0,
    black_level: Annotated[
        float,
        typer.Option(min=0, metavar="FLOAT",
                     help="Poisson-Gaussian noise: a camera's offset added to every pixel "
                          "(the fitted columns look for it; every result is scored, and "
                          f"shown, with it taken off). {SCALE_NOTE}"),
    ] = 0.0,
    debug: DebugOption = False,
) -> None:
    """Add noise to clean images, denoise with ours and scikit-image, report PSNR, SSIM, time.

    scikit-image's denoise_nl_means (fast mode) runs twice: with our patch, window and h
    ('skimage') and with its recommended h = 0.8 sigma and default sizes
    ('skimage_recommended').
    """
    from ..io.atomic import ImageFileError
    from ..io.folders import find_images
    from ..io.stills import read_picture

    if model is not None:
        _check_model(model, "learned", None)
    if noise not in ("gaussian", "poisson-gaussian"):
        raise typer.BadParameter(f"{noise!r}: use gaussian or poisson-gaussian",
                                 param_hint="--noise")
    if noise == "poisson-gaussian" and (gain is None or gain <= 0 or sigma is not None
                                        or noisy is not None):
        raise typer.BadParameter("poisson-gaussian noise needs --gain (> 0), and neither "
                                 "--sigma nor --noisy", param_hint="--noise")
    if black_level and noise != "poisson-gaussian":
        raise typer.BadParameter("goes with --noise poisson-gaussian",
                                 param_hint="--black-level")
    try:
        paths = []
        for path in clean:
            paths.extend(find_images(path) if path.is_dir() else [path])
        if not paths:
            raise fail("no images to compare", code=2)
        if noisy is not None and len(paths) != 1:
            raise fail("--noisy goes with exactly one CLEAN image", code=2)
        cleans = [read_picture(path).pixels for path in paths]
        noisy_pixels = read_picture(noisy).pixels if noisy is not None else None
        from ..evaluation.compare import compare

        engine_loaded()
        # It runs both methods: the learned one's kernels include the classic one's.
        announced = _announce_compiling(False, "learned")
        with _announcing_versions(announced):
            comparison = compare(
                list(zip(map(str, paths), cleans, strict=True)),
                sigma=sigma if sigma is not None or noisy is not None else 25.0,
                seed=seed, noisy=noisy_pixels, keep_images=montage is not None,
                model=None if model is None else str(model), noise=noise, gain=gain,
                read_noise=read_noise, black_level=black_level)
        if montage is not None:
            from ..evaluation.montage import draw_montage

            draw_montage(comparison, cleans, montage)
    except (ImageFileError, ValueError, OSError) as error:
        if debug:
            raise
        raise fail(str(error)) from None
    if json_output:
        import json

        typer.echo(json.dumps(comparison.to_dict(), indent=1))
        return
    typer.echo(comparison_table(comparison))
    if montage is not None:
        typer.echo(f"montage -> {montage}", err=True)


app.command("noise", cls=PlainHelp)(noise_command)
app.command("train", cls=PlainHelp)(train_command)


def main() -> None:
    """Run the ``nlm`` command."""
    own_process()
    app(prog_name="nlm")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
