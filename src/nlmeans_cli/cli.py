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
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from .formulation import AFFINITIES
from .methods import METHODS
from .parameters import DEFAULT_TEMPORAL_WINDOW

AffinityName = enum.Enum("AffinityName", {name: name for name in AFFINITIES}, type=str)
MethodName = enum.Enum("MethodName", {name: name for name in METHODS}, type=str)

class _OneLineErrors(TyperGroup):
    """Usage errors as one line, ``nlm: error: ...``, with exit code 2 (not a boxed panel)."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except typer.TyperException as error:
            message = " ".join(error.format_message().split())
            typer.echo(f"nlm: error: {message}", err=True)
            sys.exit(getattr(error, "exit_code", 2))
        except typer.Abort:
            typer.echo("nlm: aborted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    name="nlm",
    help="Denoise images with non-local means and the non-local operation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Kept equal to nlmeans_cli.files.DEFAULT_MAX_PIXELS (a test holds them equal); importing
# that module here would slow down `nlm --help`.
DEFAULT_MAX_PIXELS = 2**27

SCALE_NOTE = "On the 0-255 scale for every bit depth (16-bit and float images are scaled)."


def _check_sigma(value: str) -> str:
    _parse_sigma(value)
    return value


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


# Options shared by the commands that denoise.
SigmaOption = Annotated[
    str,
    typer.Option(metavar="auto|FLOAT", callback=_check_sigma,
                 help=f"Noise standard deviation. {SCALE_NOTE} 'auto' estimates it "
                      "(scikit-image's estimate_sigma) and prints the estimate."),
]
HOption = Annotated[
    float | None,
    typer.Option("--h", callback=_positive, show_default="from the table in README",
                 help=f"Filtering strength; larger smooths more. {SCALE_NOTE}"),
]
PatchOption = Annotated[
    int | None,
    typer.Option(min=1, callback=_odd, show_default="from the table in README",
                 help="Side of the compared patches, in pixels (odd)."),
]
WindowOption = Annotated[
    int | None,
    typer.Option(min=1, callback=_odd, show_default="from the table in README",
                 help="Side of the search window, in pixels (odd)."),
]
AffinityOption = Annotated[
    AffinityName, typer.Option(help="Pairwise affinity f; 'gaussian' is NL-means.")
]
MethodOption = Annotated[MethodName, typer.Option(help="Denoising method.")]
OverwriteOption = Annotated[
    bool, typer.Option("--overwrite", help="Replace outputs that exist.")
]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")]
MaxPixelsOption = Annotated[
    int,
    typer.Option(min=1, metavar="N",
                 help="Refuse images whose header claims more pixels than this, before "
                      "decoding them (decompression bombs)."),
]
ModelOption = Annotated[
    Path | None,
    typer.Option(metavar="PATH", show_default="the shipped model for the affinity and sigma",
                 help="--method learned: a model file written by 'nlm train'."),
]
TemporalWindowOption = Annotated[
    int,
    typer.Option(min=0, metavar="T",
                 help="Clips and stacks: frames either side searched for similar patches "
                      "(2 T + 1 frames in all); 0 denoises frame by frame."),
]
VolumeOption = Annotated[
    bool,
    typer.Option("--volume",
                 help="Treat multi-page TIFFs and .npy arrays as 3-D volumes (3-D patches "
                      "and window) instead of frames in time."),
]


def _options(sigma, h, patch_size, search_window, affinity, method, max_pixels,
             temporal_window=DEFAULT_TEMPORAL_WINDOW, volume=False, model=None):
    from .tasks import DenoiseOptions

    _check_model(model, method.value, affinity.value)
    return DenoiseOptions(sigma=_parse_sigma(sigma), h=h, patch_size=patch_size,
                          search_window=search_window, affinity=affinity.value,
                          method=method.value, max_pixels=max_pixels,
                          temporal_window=temporal_window, volume=volume,
                          model=None if model is None else str(model))


def _check_model(model, method, affinity):
    """Refuse a bad model file (or a missing shipped one) before any image is read."""
    if model is not None and method != "learned":
        raise typer.BadParameter("--model goes with --method learned", param_hint="--model")
    if method != "learned":
        return
    from .learned import cached_model, shipped_model

    try:
        # Loading it here also warms the cache the denoising then reads from.
        if model is not None:
            cached_model(model)
        else:
            shipped_model(affinity, 25.0)
    except ValueError as error:  # ModelFileError, or no shipped model for the affinity
        raise _fail(str(error), code=2) from None


@contextmanager
def _cluster(scheduler: str | None, debug: bool):
    """Yield a Dask client for *scheduler* (closed afterwards), or ``None`` without one."""
    if scheduler is None:
        yield None
        return
    try:
        from .cluster import close, connect

        client = connect(scheduler)
    except (ImportError, OSError, ValueError) as error:
        if debug:
            raise
        raise _fail(str(error), code=2) from None
    try:
        yield client
    finally:
        close(client)


def _summary(outcome, learned: bool = False) -> str:
    source = "estimated" if outcome.sigma_estimated else "given"
    temporal = ("" if outcome.temporal_window is None
                else f", temporal window {outcome.temporal_window}")
    # A learned model brings its own patch and window; NL-means' h plays no part.
    parameters = ("" if learned else f", h {outcome.h:.2f}, patch {outcome.patch_size}, "
                                     f"window {outcome.search_window}")
    return (f"{outcome.input}: {outcome.description}, sigma {outcome.sigma:.2f} ({source})"
            f"{parameters}{temporal}")


@app.command()
def denoise(
    input: Annotated[
        Path, typer.Argument(help="Image to denoise (PNG, JPEG, TIFF, BMP, WebP), or a clip "
                                  "or stack (MP4, MOV, MKV, AVI, animated GIF, multi-page "
                                  "TIFF, NPY).",
                             show_default=False)
    ],
    output: Annotated[
        Path, typer.Argument(help="Where to write the result; the format follows its extension.",
                             show_default=False)
    ],
    sigma: SigmaOption = "auto",
    h: HOption = None,
    patch_size: PatchOption = None,
    search_window: WindowOption = None,
    affinity: AffinityOption = "gaussian",
    method: MethodOption = "classic",
    model: ModelOption = None,
    temporal_window: TemporalWindowOption = DEFAULT_TEMPORAL_WINDOW,
    volume: VolumeOption = False,
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
    options = _options(sigma, h, patch_size, search_window, affinity, method, max_pixels,
                       temporal_window, volume, model)
    if scheduler is not None and tile is None:
        raise typer.BadParameter("--scheduler needs --tile", param_hint="--scheduler")
    from .tasks import denoise_file

    try:
        with _cluster(scheduler, debug) as client, _frame_progress(quiet) as progress:
            outcome = denoise_file(input, output, options, overwrite=overwrite,
                                   reraise=debug, tile=tile, client=client, progress=progress)
    except ImportError as error:
        if debug:
            raise
        raise _fail(str(error), code=2) from None
    if not outcome.ok:
        raise _fail(outcome.error)
    if not quiet:
        for note in outcome.notes:
            typer.echo(f"{input}: note: {note}", err=True)
        learned = options.method == "learned"
        model = f" ({options.model or 'shipped model'})" if learned else ""
        typer.echo(f"{_summary(outcome, learned)}, {options.affinity}, {options.method}{model}: "
                   f"{outcome.seconds:.2f} s -> {output}", err=True)


@app.command()
def batch(
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
    h: HOption = None,
    patch_size: PatchOption = None,
    search_window: WindowOption = None,
    affinity: AffinityOption = "gaussian",
    method: MethodOption = "classic",
    model: ModelOption = None,
    temporal_window: TemporalWindowOption = DEFAULT_TEMPORAL_WINDOW,
    volume: VolumeOption = False,
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
    if report is not None and report.suffix.lower() not in (".csv", ".json"):
        raise typer.BadParameter(f"{report}: the report must be .csv or .json",
                                 param_hint="--report")
    options = _options(sigma, h, patch_size, search_window, affinity, method, max_pixels,
                       temporal_window, volume, model)
    from .batch import DEFAULT_PATTERNS, available_cores, plan_batch, run_batch, write_report

    try:
        items = plan_batch(in_dir, out_dir, patterns=pattern or DEFAULT_PATTERNS,
                           recursive=recursive)
    except (OSError, ValueError) as error:
        if debug:
            raise
        raise _fail(str(error), code=2) from None
    jobs = jobs or available_cores()
    outcomes = []
    started = time.perf_counter()
    stopping = _GracefulStop()
    with _cluster(scheduler, debug) as client:
        try:
            if client is None:
                running = run_batch(items, options, jobs=jobs, overwrite=overwrite,
                                    skip_existing=skip_existing, stop=stopping.requested)
            else:
                from .cluster import run_batch_on_cluster

                running = run_batch_on_cluster(items, client, options, overwrite=overwrite,
                                               skip_existing=skip_existing,
                                               stop=stopping.requested)
            with stopping, _progress(len(items), quiet) as report_outcome:
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
        except OSError as error:
            typer.echo(f"nlm: error: {report}: cannot write the report ({error.strerror})",
                       err=True)
    counts = {status: sum(o.status == status for o in outcomes)
              for status in ("done", "skipped", "failed")}
    missing = len(items) - len(outcomes)
    tail = f", {missing} not started (interrupted)" if interrupted else ""
    typer.echo(f"nlm batch: {counts['done']} processed, {counts['skipped']} skipped, "
               f"{counts['failed']} failed{tail} in {seconds:.1f} s", err=True)
    if interrupted:
        raise typer.Exit(130)
    if counts["failed"]:
        raise typer.Exit(1)


@app.command()
def compare(
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
                     help="Write a PNG: clean | noisy | ours | scikit-image per image, "
                          "labelled, with zoomed crops."),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(metavar="PATH", show_default="the shipped gaussian models",
                     help="The model file of the 'learned' column (from 'nlm train')."),
    ] = None,
    debug: DebugOption = False,
) -> None:
    """Add noise to clean images, denoise with ours and scikit-image, report PSNR, SSIM, time.

    scikit-image's denoise_nl_means (fast mode) runs twice: with our patch, window and h
    ('skimage') and with its recommended h = 0.8 sigma and default sizes
    ('skimage_recommended').
    """
    from .batch import find_images
    from .files import ImageFileError, read_picture

    if model is not None:
        _check_model(model, "learned", "gaussian")
    try:
        paths = []
        for path in clean:
            paths.extend(find_images(path) if path.is_dir() else [path])
        if not paths:
            raise _fail("no images to compare", code=2)
        if noisy is not None and len(paths) != 1:
            raise _fail("--noisy goes with exactly one CLEAN image", code=2)
        cleans = [read_picture(path).pixels for path in paths]
        noisy_pixels = read_picture(noisy).pixels if noisy is not None else None
        from .compare import compare as run_comparison

        comparison = run_comparison(
            list(zip(map(str, paths), cleans, strict=True)),
            sigma=sigma if sigma is not None or noisy is not None else 25.0,
            seed=seed, noisy=noisy_pixels, keep_images=montage is not None,
            model=None if model is None else str(model))
        if montage is not None:
            from .montage import montage as draw_montage

            draw_montage(comparison, cleans, montage)
    except (ImageFileError, ValueError, OSError) as error:
        if debug:
            raise
        raise _fail(str(error)) from None
    if json_output:
        import json

        typer.echo(json.dumps(comparison.to_dict(), indent=1))
        return
    typer.echo(_comparison_table(comparison))
    if montage is not None:
        typer.echo(f"montage -> {montage}", err=True)


def _training_images(sources: list[str], colour: bool) -> tuple[list, list[str]]:
    """Float images from paths, folders, or bundled samples ``skimage:NAME``/``pywt:NAME``.

    Grey when not *colour* (colour converted); RGB when *colour* (grey refused).
    """
    import numpy as np

    from .batch import find_images
    from .denoising import to_unit
    from .files import ImageFileError, read_picture

    images, names = [], []
    for source in sources:
        library, _, name = source.partition(":")
        if library in ("skimage", "pywt") and name:
            if library == "skimage":
                from skimage import data as bundle
            else:
                import pywt.data as bundle
            loader = getattr(bundle, name, None)
            if loader is None or name.startswith("_"):
                raise ImageFileError(f"{source}: no bundled sample image called {name!r}")
            pixels = np.asarray(loader())
            unit = pixels / 255.0 if pixels.dtype == np.uint8 else pixels / pixels.max()
            found = [(source, unit)]
        else:
            path = Path(source)
            paths = find_images(path) if path.is_dir() else [path]
            found = []
            for item in paths:
                picture = read_picture(item)
                found.append((str(item), to_unit(picture.pixels)))
        for label, unit in found:
            if colour and (unit.ndim != 3 or unit.shape[-1] < 3):
                raise ImageFileError(f"{label}: a grey image; --colour trains on colour images")
            if colour:
                unit = unit[..., :3]
            elif unit.ndim == 3:
                from skimage.color import rgb2gray

                unit = rgb2gray(unit[..., :3])
            images.append(np.asarray(unit, np.float64))
            names.append(label)
    return images, names


@app.command()
def train(
    clean: Annotated[
        list[str],
        typer.Argument(metavar="CLEAN...", show_default=False,
                       help="Clean training images: files, folders, or bundled samples "
                            "'skimage:NAME' / 'pywt:NAME'. Colour is converted to grey "
                            "unless --colour."),
    ],
    out: Annotated[Path, typer.Option(metavar="PATH", help="Where to write the model (.npz).")],
    sigma: Annotated[float, typer.Option(min=0.5, max=150,
                                         help=f"Noise level to train for. {SCALE_NOTE}")] = 25.0,
    affinity: AffinityOption = "gaussian",
    val: Annotated[
        list[str] | None,
        typer.Option(metavar="CLEAN", show_default=False,
                     help="Held-back validation images (same forms as CLEAN); repeatable."),
    ] = None,
    stages: Annotated[int, typer.Option(min=1, max=4, help="Stacked non-local blocks; a "
                                        "later one reads the earlier estimate.")] = 2,
    features: Annotated[int, typer.Option(min=1, max=32, help="Embedding size K.")] = 8,
    patch_size: Annotated[int, typer.Option(min=1, max=15, callback=_odd,
                                            help="Side of the embedded patches (odd).")] = 7,
    search_window: Annotated[int, typer.Option(min=3, max=31, callback=_odd,
                                               help="Side of the search window (odd).")] = 15,
    steps: Annotated[int, typer.Option(min=1, help="Adam steps per stage.")] = 150,
    crop: Annotated[int, typer.Option(min=24, help="Side of the random crops.")] = 64,
    batch_size: Annotated[int, typer.Option("--batch", min=1, help="Crops per step.")] = 4,
    learning_rate: Annotated[float | None, typer.Option(
        min=1e-6, max=1.0, show_default=False,
        help="Adam step size. Default: 0.01 gaussian, 0.001 embedded-gaussian, 0.0003 "
             "dot-product and concatenation.")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of crops, noise and start.")] = 0,
    colour: Annotated[bool, typer.Option(
        "--colour", help="Train a colour model (embeddings read all three channels) on "
                         "colour images; used for colour images.")] = False,
    overwrite: OverwriteOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    debug: DebugOption = False,
) -> None:
    """Train a learned model (non-local blocks with learned f and g) on clean images.

    Gaussian noise is added to random crops; gradients are analytic (NumPy), steps are Adam.
    The same command and seed give the same model on the same machine.
    """
    import dataclasses
    import shlex

    from .files import ImageFileError
    from .training import TrainingSettings, train_model
    from .training import learning_rate as rate_of

    if out.exists() and not overwrite:
        raise _fail(f"{out}: already exists (use --overwrite to replace it)")
    settings = TrainingSettings(
        sigma=sigma, affinity=affinity.value, stages=stages, features=features,
        patch_size=patch_size, search_window=search_window, steps=steps, crop=crop,
        batch=batch_size, learning_rate=learning_rate, seed=seed, colour=colour)
    settings = dataclasses.replace(settings, learning_rate=rate_of(settings))
    started = time.perf_counter()
    try:
        images, names = _training_images(clean, colour)
        validation, val_names = _training_images(val or [], colour)
        command = ["nlm", "train", *clean, *[f"--val={v}" for v in val or []],
                   f"--sigma={sigma:g}", f"--affinity={affinity.value}", f"--stages={stages}",
                   f"--features={features}", f"--patch-size={patch_size}",
                   f"--search-window={search_window}", f"--steps={steps}", f"--crop={crop}",
                   f"--batch={batch_size}", f"--learning-rate={settings.learning_rate:g}",
                   f"--seed={seed}", *(["--colour"] if colour else []), f"--out={out.name}"]
        info = {"command": " ".join(shlex.quote(part) for part in command),
                "images": names, "validation_images": val_names,
                "settings": settings.__dict__}
        with _training_progress(stages, steps, quiet) as progress:
            model = train_model(images, settings, validation=validation, progress=progress,
                                info=info)
        from .learned import save_model

        model.info["seconds"] = round(time.perf_counter() - started, 1)
        written = save_model(model, out)
    except (ImageFileError, ValueError, OSError) as error:
        if debug:
            raise
        raise _fail(str(error)) from None
    psnrs = model.info.get("validation_psnr") or []
    detail = ("validation PSNR " + ", ".join(f"stage {k + 1} {p:.2f} dB"
                                             for k, p in enumerate(psnrs))) if psnrs else ""
    parts = [f"{len(images)} {'colour' if colour else 'grey'} images, {affinity.value}, "
             f"sigma {sigma:g}, {stages} stage{'s' if stages > 1 else ''}", detail,
             f"{time.perf_counter() - started:.1f} s -> {written}"]
    typer.echo("nlm train: " + "; ".join(part for part in parts if part), err=True)


class _training_progress:
    """A rich progress bar over all stages' steps with the training and validation loss."""

    def __init__(self, stages: int, steps: int, quiet: bool):
        self.total, self.steps, self.quiet, self.bar = stages * steps, steps, quiet, None
        self.validation = "-"

    def __enter__(self):
        if self.quiet:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn

        self.bar = _rich_bar(TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("stage {task.fields[stage]} loss {task.fields[loss]} "
                                        "val {task.fields[validation]}"))
        self.task = self.bar.add_task("train", total=self.total, stage=1, loss="-",
                                      validation="-")
        return self._advance

    def _advance(self, stage, step, steps, loss, validation):
        if validation is not None:
            self.validation = f"{validation:.4f}"
        self.bar.update(self.task, completed=stage * steps + step, stage=stage + 1,
                        loss=f"{loss:.4f}", validation=self.validation)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


def _comparison_table(comparison) -> str:
    names = list(comparison.mean)
    header = f"{'image':<28} {'noisy':>6} " + " ".join(f"{name:>26}" for name in names)
    sub = f"{'':<28} {'PSNR':>6} " + " ".join(f"{'PSNR  SSIM      s':>26}" for _ in names)
    lines = [f"sigma {comparison.sigma:g}" + (f", seed {comparison.seed}"
                                             if comparison.seed is not None else ""),
             header, sub]

    def cells(methods):
        return " ".join(f"{m['psnr']:>13.2f} {m['ssim']:.3f} {m['seconds']:6.2f}"
                        for m in (methods[name] for name in names))

    for image in comparison.images:
        name = image.path if len(image.path) <= 28 else "..." + image.path[-25:]
        lines.append(f"{name:<28} {image.noisy_psnr:>6.2f} {cells(image.methods)}")
    if len(comparison.images) > 1:
        noisy_mean = sum(i.noisy_psnr for i in comparison.images) / len(comparison.images)
        lines.append(f"{'mean':<28} {noisy_mean:>6.2f} {cells(comparison.mean)}")
    return "\n".join(lines)


class _GracefulStop:
    """Ctrl-C handling for a batch.

    The first Ctrl-C lets the files in progress finish and starts no more; a second one
    interrupts at once.
    """

    def __init__(self):
        self._requested = False

    def requested(self) -> bool:
        return self._requested

    def _on_interrupt(self, signum, frame):
        if self._requested:
            raise KeyboardInterrupt
        self._requested = True
        typer.echo("nlm: interrupted: finishing the files in progress "
                   "(Ctrl-C again to stop at once)", err=True)

    def __enter__(self):
        import signal
        import threading

        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_interrupt)
        return self

    def __exit__(self, *exc):
        import signal

        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def _rich_bar(*columns):
    """Start a rich progress bar on stderr with these columns (the caller exits it)."""
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(*columns, console=Console(stderr=True, highlight=False))
    bar.__enter__()
    return bar


class _progress:
    """A rich progress bar on stderr (files done, rate, time left), or nothing when quiet.

    Entering gives a ``report(outcome)`` callable that advances the bar and prints a failed
    file's error above it.
    """

    def __init__(self, total: int, quiet: bool):
        self.total, self.quiet, self.bar = total, quiet, None

    def __enter__(self):
        if self.quiet:
            return self._report_quietly
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

        self.bar = _rich_bar(TextColumn("denoising"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[rate]}"), TimeRemainingColumn())
        self.task = self.bar.add_task("files", total=self.total, rate="")
        self.started = time.perf_counter()
        return self._report

    def _report(self, outcome) -> None:
        if not outcome.ok:
            self.bar.console.print(f"nlm: error: {outcome.error}", markup=False)
        done = self.bar.tasks[0].completed + 1
        rate = done / max(time.perf_counter() - self.started, 1e-9)
        self.bar.update(self.task, advance=1, rate=f"{rate:.2f} files/s")

    @staticmethod
    def _report_quietly(outcome) -> None:
        if not outcome.ok:
            typer.echo(f"nlm: error: {outcome.error}", err=True)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


class _frame_progress:
    """A rich progress bar counting the frames of a clip; nothing for a still image or quiet.

    Entering gives the ``progress(done, total)`` callable that :func:`denoise_file` calls per
    frame; the bar appears at the first frame.
    """

    def __init__(self, quiet: bool):
        self.quiet, self.bar = quiet, None

    def __enter__(self):
        return None if self.quiet else self._advance

    def _advance(self, done: int, total: int | None) -> None:
        if self.bar is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeRemainingColumn,
            )

            self.bar = _rich_bar(TextColumn("frames"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn())
            self.task = self.bar.add_task("frames", total=total)
        self.bar.update(self.task, completed=done,
                        total=max(total, done) if total is not None else None)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


def main() -> None:
    """Run the ``nlm`` command."""
    app(prog_name="nlm")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
