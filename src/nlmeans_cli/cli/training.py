"""``nlm train``: train a learned network on clean images (JAX, the extra ``train``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from .commands import fail
from .options import (
    DEFAULT_TRAINED_AFFINITY,
    SCALE_NOTE,
    AffinityName,
    DebugOption,
    OverwriteOption,
    odd,
)
from .output import TrainingProgress

__all__ = ["train_command"]


def train_command(
    context: typer.Context,
    clean: Annotated[
        list[str],
        typer.Argument(metavar="CLEAN...", show_default=False,
                       help="Clean training images: files, folders (read in sorted order), or "
                            "bundled samples 'skimage:NAME' / 'pywt:NAME'. Colour is "
                            "converted to grey."),
    ],
    out: Annotated[Path, typer.Option(metavar="PATH", help="Where to write the model (.npz).")],
    sigma: Annotated[float, typer.Option(min=0.5, max=150,
                                         help=f"Noise level to train for. {SCALE_NOTE}")] = 25.0,
    affinity: Annotated[AffinityName, typer.Option(
        help="The non-local block's affinity f (its normaliser C is the paper's pairing).")
    ] = DEFAULT_TRAINED_AFFINITY,
    val: Annotated[
        list[str] | None,
        typer.Option(metavar="CLEAN", show_default=False,
                     help="Held-back validation images (same forms as CLEAN); repeatable."),
    ] = None,
    hold_out_every: Annotated[int, typer.Option(
        min=0, metavar="N", help="Hold back every N-th image of CLEAN for validation (10: "
                                 "the 10th, 20th, ...); 0 holds none back.")] = 0,
    block: Annotated[bool, typer.Option(
        "--block/--no-block", help="Whether the network has its non-local block (--no-block: "
                                   "the plain CNN, for ablations).")] = True,
    features: Annotated[int, typer.Option(min=1, max=256, help="Feature maps F of the 3x3 "
                                          "convolutions.")] = 32,
    embed: Annotated[int, typer.Option(min=1, max=256, help="Channels K of theta, phi and "
                                       "g.")] = 16,
    before: Annotated[int, typer.Option(min=0, max=20, help="3x3 layers between the first "
                                        "layer and the block.")] = 3,
    after: Annotated[int, typer.Option(min=0, max=20, help="3x3 layers between the block and "
                                       "the last layer.")] = 3,
    search_window: Annotated[int, typer.Option(min=1, max=31, callback=odd,
                                               help="Side of the block's search window "
                                                    "(odd).")] = 9,
    steps: Annotated[int, typer.Option(min=1, help="Adam steps.")] = 12000,
    crop: Annotated[int, typer.Option(min=8, help="Side of the random crops.")] = 40,
    batch_size: Annotated[int, typer.Option("--batch", min=1, help="Crops per step.")] = 16,
    learning_rate: Annotated[float, typer.Option(
        min=1e-6, max=1.0, help="Adam's step size at the start of the cosine schedule.")] = 1e-3,
    every: Annotated[int, typer.Option(min=1, help="Steps between validations.")] = 250,
    start: Annotated[Path | None, typer.Option(
        "--init", metavar="PATH", show_default=False,
        help="Start from this model's layers (fine-tune it to another --sigma); with "
             "fewer 3x3 layers than --before/--after ask for, identity layers are added "
             "(the same network, deeper).")] = None,
    checkpoint: Annotated[Path | None, typer.Option(
        metavar="PATH", show_default=False,
        help="Every --every steps, write the network so far here (replaced each time); "
             "take a stopped run up again with --init PATH.")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the start, crops and noise.")] = 0,
    overwrite: OverwriteOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    debug: DebugOption = False,
) -> None:
    """Train a learned network (3x3 convolutions and a non-local block) on clean images.

    Gaussian noise is added to random crops; JAX computes the gradients and Adam steps. It
    needs JAX and optax, the optional extra named train. The same command and seed give the
    same model on the same machine.
    """
    from ..io.atomic import ImageFileError
    from ..methods.model_files import load_model, model_path, save_model
    from ..methods.training import (
        TrainingSettings,
        check_training_images,
        load_training_images,
        train_network,
    )

    out = model_path(out)
    if out.exists() and not overwrite:
        raise fail(f"{out}: already exists (use --overwrite to replace it)")
    settings = TrainingSettings(
        sigma=sigma, affinity=affinity.value, block=block, features=features, embed=embed,
        before=before, after=after, window=search_window, steps=steps, crop=crop,
        batch=batch_size, learning_rate=learning_rate, seed=seed, every=every)
    started = time.perf_counter()
    try:
        initial = None if start is None else load_model(start)
        images, names, held, held_names = load_training_images(clean,
                                                               hold_out_every=hold_out_every)
        extra, extra_names, _, _ = load_training_images(val or [])
        validation, val_names = held + extra, held_names + extra_names
        check_training_images(images, validation, settings)  # before the bar shows
        info = {"command": _invocation(context, out=out.name),
                "images": names, "validation_images": val_names}
        with TrainingProgress(steps, quiet) as progress:
            model = train_network(
                images, settings, validation=validation, progress=progress, info=info,
                start=initial,
                checkpoint=None if checkpoint is None else (
                    lambda network: save_model(network, checkpoint, overwrite=True)))
        written = save_model(model, out, overwrite=overwrite)
    except (ImageFileError, ValueError, OSError, ImportError) as error:
        if debug:
            raise
        raise fail(str(error)) from None
    psnr = model.info.get("validation_psnr")
    parts = [f"{len(images)} images, {affinity.value if block else 'no block'}, "
             f"sigma {sigma:g}, {model.parameters} parameters",
             f"validation PSNR {psnr:.2f} dB on {len(validation)} images" if psnr else "",
             f"{time.perf_counter() - started:.1f} s -> {written}"]
    typer.echo("nlm train: " + "; ".join(part for part in parts if part), err=True)


def _invocation(context: typer.Context, **resolved) -> str:
    """Rebuild the running command's line from its parsed parameters, for the record.

    Every parameter is written out (so defaults that change later do not change what the
    line means), *resolved* replacing values the command worked out; output switches (quiet,
    debug, overwrite) are left out.
    """
    import shlex

    parts = ["nlm", context.info_name]
    for param in context.command.params:
        if param.name in ("quiet", "debug", "overwrite"):
            continue
        value = resolved.get(param.name, context.params.get(param.name))
        values = value if isinstance(value, list | tuple) else [value]
        if param.param_type_name == "argument":
            parts += [str(v) for v in values]
            continue
        flag = max(param.opts, key=len)
        if getattr(param, "is_flag", False):
            parts += [flag] if value else []
            continue
        for item in values:
            if item is not None:
                item = getattr(item, "value", item)  # choices are enums
                parts.append(f"{flag}={item:g}" if isinstance(item, float) else f"{flag}={item}")
    return " ".join(shlex.quote(part) for part in parts)
