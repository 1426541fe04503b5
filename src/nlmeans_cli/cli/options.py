"""The options the commands share, as ``Annotated`` aliases, and their parsers.

Choices come from the registries (:data:`~nlmeans_cli.formulation.AFFINITIES`,
:data:`~nlmeans_cli.methods.METHODS`); numbers on the command line are on the 0-255 scale and
are converted to the unit scale once, in :func:`request`.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from ..formulation import AFFINITIES, PATCH_KERNELS, affinity_help
from ..methods import METHODS
from ..methods.learned import DEFAULT_LEARNED_AFFINITY
from ..noise import NOISE_MODELS
from ..parameters import DEFAULT_NOISE, Request

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "SCALE_NOTE",
    "AffinityName",
    "MethodName",
    "PatchKernelName",
    "odd",
    "parse_h",
    "parse_sigma",
    "request",
]

NoiseName = enum.Enum("NoiseName", {name: name for name in NOISE_MODELS}, type=str)
AffinityName = enum.Enum("AffinityName", {name: name for name in AFFINITIES}, type=str)
MethodName = enum.Enum("MethodName", {name: name for name in METHODS}, type=str)
PatchKernelName = enum.Enum("PatchKernelName", {name: name for name in PATCH_KERNELS}, type=str)

# Kept equal to nlmeans_cli.io.stills.DEFAULT_MAX_PIXELS (a test holds them equal); importing
# that module here would slow down `nlm --help`.
#: The affinity nlm train gives a network unless told otherwise (the best in the ablation).
DEFAULT_TRAINED_AFFINITY = AffinityName(DEFAULT_LEARNED_AFFINITY)

DEFAULT_MAX_PIXELS = 2**27

SCALE_NOTE = "On the 0-255 scale for every bit depth (16-bit and float images are scaled)."


def _auto_or_number(value: str, *, zero: bool) -> float | None:
    """``None`` for ``auto``, else a finite number (> 0, or >= 0 with *zero*)."""
    if value.strip().lower() == "auto":
        return None
    try:
        number = float(value)
    except ValueError:
        raise typer.BadParameter(f"expected 'auto' or a number, got {value!r}") from None
    if not (number >= 0 if zero else number > 0) or number == float("inf"):
        raise typer.BadParameter(f"must be a {'finite number >= 0' if zero else 'positive number'}"
                                 f", got {value!r}")
    return number


def check_sigma(value: str) -> str:
    """Typer callback: refuse a ``--sigma`` that is neither ``auto`` nor a number >= 0."""
    parse_sigma(value)
    return value


def parse_sigma(value: str) -> float | None:
    """Return ``--sigma`` as a number (0-255 scale), or ``None`` for ``auto``."""
    return _auto_or_number(value, zero=True)


def check_h(value: str) -> str:
    """Typer callback: refuse an ``--h`` that is neither ``auto`` nor a positive number."""
    parse_h(value)
    return value


def parse_h(value: str) -> float | None:
    """Return ``--h`` as a number (0-255 scale), or ``None`` for ``auto``."""
    return _auto_or_number(value, zero=False)


def positive(value: float | None) -> float | None:
    """Typer callback: refuse a number that is not positive and finite."""
    if value is not None and not 0 < value < float("inf"):
        raise typer.BadParameter(f"must be a positive number, got {value}")
    return value


def parse_spacing(value: str | None) -> tuple[float, float, float] | None:
    """Typer callback and parser: ``--spacing Z,Y,X`` as three positive numbers."""
    if value is None:
        return None
    from ..parameters import voxel_spacing

    try:
        return voxel_spacing(value.replace("x", ",").split(","))
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def odd(value: int | None) -> int | None:
    """Typer callback: refuse an even size."""
    if value is not None and value % 2 == 0:
        raise typer.BadParameter(f"must be odd, got {value}")
    return value


def request(sigma: str, h: str, patch_size: int | None, search_window: int | None,
            affinity: AffinityName | None, method: MethodName, model: Path | None,
            patch_kernel: PatchKernelName | None = None,
            h_chroma: float | None = None, spacing: str | None = None,
            noise: NoiseName | None = None, gain: float | None = None,
            read_noise: float | None = None, black_level: float | None = None,
            bands: bool = False) -> Request:
    """Turn the denoising options (0-255 scale) into a request on the unit scale."""
    sigma_255, h_255 = parse_sigma(sigma), parse_h(h)
    chosen_noise = DEFAULT_NOISE if noise is None else str(getattr(noise, "value", noise))
    if chosen_noise == "poisson-gaussian" and (sigma_255 is not None or h_255 is not None
                                               or h_chroma is not None):
        raise typer.BadParameter("--sigma, --h and --h-chroma cannot be given with "
                                 "--noise poisson-gaussian (give --gain and --read-noise)",
                                 param_hint="--noise")
    if (method.value == "classic" and affinity is not None
            and not AFFINITIES[affinity.value].compares_patches):
        raise typer.BadParameter(
            f"{affinity.value} does not compare patches on raw pixels, so --method classic "
            "with it makes the image worse; use it with --method learned (or --affinity "
            "gaussian)", param_hint="--affinity")
    return Request(sigma_unit=None if sigma_255 is None else sigma_255 / 255.0,
                   h_unit=None if h_255 is None else h_255 / 255.0,
                   h_chroma_unit=None if h_chroma is None else h_chroma / 255.0,
                   patch_size=patch_size,
                   search_window=search_window,
                   affinity=None if affinity is None else affinity.value, method=method.value,
                   model=None if model is None else str(model),
                   patch_kernel=None if patch_kernel is None else patch_kernel.value,
                   spacing=parse_spacing(spacing),
                   noise=chosen_noise,
                   gain_unit=None if gain is None else gain / 255.0,
                   read_noise_unit=None if read_noise is None else read_noise / 255.0,
                   black_level_unit=None if black_level is None else black_level / 255.0,
                   colour=not bands)


# Options shared by the commands that denoise.
SigmaOption = Annotated[
    str,
    typer.Option(metavar="auto|FLOAT", callback=check_sigma,
                 help=f"Noise standard deviation. {SCALE_NOTE} 'auto' estimates it "
                      "(from the calmest positions' details) and prints the estimate."),
]
HOption = Annotated[
    str,
    typer.Option("--h", metavar="auto|FLOAT", callback=check_h,
                 help=f"Filtering strength; larger smooths more. {SCALE_NOTE} 'auto' chooses "
                      "it per image by SURE (an unbiased estimate of the error) around the "
                      "default table's value, and a still's estimate then takes a second "
                      "look at itself (refined); clips take the table's, each frame then "
                      "refined over the frames either side. Given, NL-means runs alone."),
]
HChromaOption = Annotated[
    float | None,
    typer.Option("--h-chroma", callback=positive, metavar="FLOAT",
                 show_default="2 x h",
                 help=f"Colour images: strength for the chroma channels (opponent colours; "
                      f"the patch distances stay those over all channels). {SCALE_NOTE}"),
]
PatchOption = Annotated[
    int | None,
    typer.Option(min=1, callback=odd,
                 show_default="5 to 11 as sigma grows, then chosen per image by SURE",
                 help="Side of the compared patches, in pixels (odd)."),
]
WindowOption = Annotated[
    int | None,
    typer.Option(min=1, callback=odd,
                 show_default="7 to 15 as sigma grows, then chosen per image by SURE",
                 help="Side of the search window, in pixels (odd)."),
]
SpacingOption = Annotated[
    str | None,
    typer.Option(metavar="Z,Y,X", show_default="from ImageJ or OME metadata, else isotropic",
                 help="With --volume: the voxel spacing (any one unit). Patch and window sides "
                      "then hold along the finest axis and shrink along coarser ones, and the "
                      "default sizes grow to keep as many voxels."),
]
NoiseOption = Annotated[
    NoiseName,
    typer.Option(help="The noise model: " + "; ".join(
        f"'{m.name}': {m.description}" for m in NOISE_MODELS.values()) + "."),
]
GainOption = Annotated[
    float | None,
    typer.Option(min=0, metavar="FLOAT", show_default="fitted from the image",
                 help=f"Poisson-Gaussian noise: the value of one photon. {SCALE_NOTE}"),
]
ReadNoiseOption = Annotated[
    float | None,
    typer.Option(min=0, metavar="FLOAT", show_default="fitted from the image",
                 help=f"Poisson-Gaussian noise: the read noise's standard deviation. "
                      f"{SCALE_NOTE}"),
]
BlackLevelOption = Annotated[
    float | None,
    typer.Option(min=0, metavar="FLOAT",
                 show_default="fitted where the image shows one; 0 with --gain and --read-noise;"
                              " a signed file's 0",
                 help="Poisson-Gaussian noise: the value of no photons, a camera's offset "
                      "(for a 16-bit file, its value / 257; for a signed 16-bit file, "
                      f"(its value + 32768) / 257). {SCALE_NOTE}"),
]
StripMetadataOption = Annotated[
    bool,
    typer.Option("--strip-metadata",
                 help="Write the pixels only: drop the ICC profile, EXIF, resolution, text, "
                      "ImageJ/OME metadata and video tags that are otherwise carried over."),
]
PatchKernelOption = Annotated[
    PatchKernelName | None,
    typer.Option(show_default="gaussian",
                 help="How the patch distance weighs the patch: " + "; ".join(
                     f"'{k.name}': {k.formula}" for k in PATCH_KERNELS.values()) + "."),
]
AffinityOption = Annotated[
    AffinityName | None,
    typer.Option(show_default="gaussian (NL-means) for classic, embedded-gaussian for learned",
                 help=f"Pairwise affinity f. {affinity_help()}."),
]
MethodOption = Annotated[
    MethodName, typer.Option(help="Denoising method: " + "; ".join(
        f"'{m.name}': {m.description}" for m in METHODS.values()) + ".")
]
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
    typer.Option(metavar="PATH", show_default="the shipped network for the affinity and sigma",
                 help="--method learned: a model file written by 'nlm train'."),
]
TemporalWindowOption = Annotated[
    int,
    typer.Option(min=0, metavar="T",
                 help="Clips and stacks: frames either side searched for similar patches "
                      "(2 T + 1 frames in all; with --method learned, by the classic "
                      "method whose result is mixed with the network's); 0 denoises frame "
                      "by frame."),
]
BandsOption = Annotated[
    bool,
    typer.Option("--bands",
                 help="Take three channels as bands or stains (a fluorescence composite), not "
                      "red, green and blue: denoised as other channel counts are (together, "
                      "or each alone where SURE finds that better), not in opponent colours."),
]
VolumeOption = Annotated[
    bool,
    typer.Option("--volume",
                 help="Treat multi-page TIFFs and .npy arrays as 3-D volumes (3-D patches "
                      "and window) instead of frames in time; with --method learned, each "
                      "slice's network result is mixed with the classic 3-D one."),
]
