"""The notes a file's summary gives on its noise: a sigma of 0, a fitted Poisson-Gaussian one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..pixels import SMALLEST_READ_SIDE
from ..scales import unit_origin, unit_scale

if TYPE_CHECKING:
    from ..methods import Setting
    from ..noise import PoissonGaussian

__all__ = ["GROWTH_HIDDEN_NOTE", "GROWTH_IN_RESIDUAL_NOTE", "UNREADABLE_SIGMA",
           "black_level_notes", "by_channel_note", "sigma_unreadable", "undetermined_notes",
           "zero_sigma_note"]

#: The note where ``--noise auto`` took the Gaussian path because clipping hid whether the
#: noise grows (:attr:`nlmeans_cli.methods.Setting.growth_hidden`), and the Gaussian path's
#: residual (a still's or a volume's centre, or a clip's sampled frames) did not show it
#: either. On 180x180 validation photographs with photon noise saved in 8 bits,
#: ``poisson-gaussian`` led ``auto`` by 0.73 and 0.95 dB on average at gain 25 with read
#: noise 10 and 15 (0-255 scale) before the residual was asked, by nothing since (every such
#: photograph's residual shows the growth); Gaussian noise of sigma 35 to 75 saved in 8 bits
#: gets the note on 8 to 16 of 40, rightly on the Gaussian path.
GROWTH_HIDDEN_NOTE = ("clipping at black and white leaves too few levels of this image to "
                      "tell whether its noise grows with the signal, so --noise auto took the "
                      "Gaussian path; for photon noise (a camera's or a microscope's counts) "
                      "--noise poisson-gaussian may do better")

#: The note where clipping hid the growth from the levels but the Gaussian path's residual
#: showed it, so ``--noise auto`` took the transform
#: (:func:`nlmeans_cli.residual_growth.residual_shows_growth`).
GROWTH_IN_RESIDUAL_NOTE = ("clipping at black and white leaves too few levels of this image "
                           "to show that its noise grows with the signal, but the Gaussian "
                           "path's residual showed it, so --noise auto took the "
                           "Poisson-Gaussian path (--noise gaussian keeps one sigma)")


#: What an image under :data:`nlmeans_cli.pixels.SMALLEST_READ_SIDE` pixels across gets in
#: place of a sigma (which reads 0 whatever the noise).
UNREADABLE_SIGMA = (f"sigma cannot be read from an image under {SMALLEST_READ_SIDE} pixels "
                    "across (too few to tell noise from signal)")


def sigma_unreadable(shape: tuple[int, ...]) -> bool:
    """Tell whether an image of *shape* (rows, columns first) is too small to read sigma."""
    return min(shape[:2]) < SMALLEST_READ_SIDE


def zero_sigma_note(setting: Setting, shape: tuple[int, int]) -> str:
    """Return the note for a still denoised at sigma 0: no noise, or too small to read it.

    Parameters
    ----------
    setting : nlmeans_cli.methods.Setting
        What the still was denoised with.
    shape : tuple of 2 int
        Its rows and columns.

    Returns
    -------
    str
        Under :data:`nlmeans_cli.pixels.SMALLEST_READ_SIDE` pixels across, an estimated
        sigma reads 0 whatever the noise (a line scan of pure noise said there was none).
    """
    if setting.sigma_estimated and sigma_unreadable(shape):
        return f"{UNREADABLE_SIGMA}: the result equals the input; give --sigma to denoise it"
    return ("sigma is 0: there is no noise to remove, so the result equals the input (up to "
            "rounding)")


def undetermined_notes(models: Sequence[PoissonGaussian], numbers: Sequence[int],
                       given: Sequence[str] = ()) -> list[str]:
    """Return the note for a fitted read noise the image cannot pin down (nothing otherwise).

    Parameters
    ----------
    models : sequence of PoissonGaussian
        One per channel denoised.
    numbers : sequence of int
        Their channels as the file counts them (from 1).
    given : sequence of str
        The parameters given (:attr:`nlmeans_cli.stabiliser.Stabiliser.given`).

    Returns
    -------
    list of str
        One note, or none. A channel with a fitted black level has its own note
        (:func:`black_level_notes`), which says why.
    """
    loose = [(number, model) for number, model in zip(numbers, models, strict=True)
             if not model.read_noise_determined
             and (model.black_level is None or "black level" in given)]
    if not loose:
        return []
    ranges = ", ".join(f"{255.0 * model.read_noise_range[0]:.3g}"
                       + (" (less would show the photon counts' lattice)"
                          if model.read_noise_floor > 0 else "")
                       + f" to {255.0 * model.read_noise_range[1]:.3g}"
                       + _channel_label(number, numbers) for number, model in loose)
    return [f"the read noise is not determined by this image: anything from {ranges} fits it "
            "as well (its darkest unclipped levels carry too much photon noise to show it); "
            "give --read-noise if it is known (a dark frame's sigma: nlm noise DARK)"]


def black_level_notes(models: Sequence[PoissonGaussian], numbers: Sequence[int],
                      dtype: str | None, given: Sequence[str] = ()) -> list[str]:
    """Return the note for a fit that found a black level (nothing otherwise, nor given).

    Parameters
    ----------
    models, numbers, given
        As for :func:`undetermined_notes`.
    dtype : str or None
        The pixels' type's name: for ``"uint16"`` and ``"int16"`` the level in the file's
        values too.

    Returns
    -------
    list of str
        One note, or none.
    """
    found = [(number, model.black_level) for number, model in zip(numbers, models, strict=True)
             if model.black_level is not None]
    if not found or "black level" in given:
        return []
    levels = ", ".join(f"{255.0 * level:.3g}" + _in_the_file(level, dtype)
                       + _channel_label(number, numbers) for number, level in found)
    return [f"the image carries a black level (a camera's offset), where its photon counts "
            f"start: {levels}; the noise model takes it (variance gain * (x - black level) "
            "+ read noise^2), and where the photon counts' lattice does not show, the read "
            "noise is the least the data allow and the black level the least that goes with it"]


def _in_the_file(level: float, dtype: str | None) -> str:
    """Return a 16-bit file's value of a unit-scale *level*, in brackets (else nothing)."""
    if dtype not in ("uint16", "int16"):
        return ""
    value = level * unit_scale(dtype) + unit_origin(dtype)
    return (f" ({value:.0f} of 65535)" if dtype == "uint16"
            else f" ({value:.0f} in the file's values)")


def _channel_label(number: int, numbers: Sequence[int]) -> str:
    """Return " (channel N)" where the image's channels are more than one, else nothing."""
    return f" (channel {number})" if len(numbers) > 1 or numbers[0] > 1 else ""


def by_channel_note(models: Sequence[PoissonGaussian], numbers: Sequence[int] | None) -> str:
    """Return the note giving each channel's fitted Poisson-Gaussian parameters.

    Parameters
    ----------
    models : sequence of PoissonGaussian
        One per channel denoised.
    numbers : sequence of int or None
        Where some channels were not denoised (constant, or copies), those the models are
        of, as the file counts them (from 1), which the note names; ``None`` otherwise.

    Returns
    -------
    str
        The gains, read noises and (where any) black levels, 0-255 scale.
    """
    which = "by channel" if numbers is None else f"of channels {', '.join(map(str, numbers))}"
    blacks = [model.black_level or 0.0 for model in models]
    return (f"poisson-gaussian {which}: gain "
            + ", ".join(f"{255.0 * model.gain:.3g}" for model in models) + "; read noise "
            + ", ".join(f"{255.0 * model.read_noise:.3g}" for model in models)
            + ("; black level " + ", ".join(f"{255.0 * black:.3g}" for black in blacks)
               if any(blacks) else ""))
