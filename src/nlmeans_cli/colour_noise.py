"""Noise a colour image's channels share, read on the luminance that is denoised.

The classic and learned methods denoise a colour image in orthonormal opponent colours
(:data:`nlmeans_cli.pixels.OPPONENT`), whose luminance is ``(R + G + B) / sqrt(3)``. White
noise drawn apart in red, green and blue has the same sigma there as in each channel. Noise
the channels share does not: a camera's demosaicking and colour matrix spread one sensel's
noise over all three, and a JPEG's chroma subsampling keeps the luma's noise and averages
the chroma's away. Each channel then reads less noise than its luminance holds (noise alike
in the three: ``sqrt(3)`` times less), and a sigma read per channel leaves the luminance,
where the eye sees the noise, under-smoothed.
"""

from __future__ import annotations

import numpy as np

from .clipped_levels import clipped_ends
from .noise_details import LEAST_DETAIL, calm_sigma

__all__ = ["BALANCED_WEIGHT", "SHARED_NOISE_MARGIN", "colour_sigma", "luminance_sigma",
           "shared_noise_note"]

#: The luminance's sigma counts where it is this many times the channels': noise drawn apart
#: in each channel reads the same on both to a few percent, but light noise over fine texture
#: alike in the channels (most of a photograph's) read up to 1.28 times (1.1 cost 0.1 to 0.6
#: dB on three photographs at sigma 2 and 5).
SHARED_NOISE_MARGIN = 1.3

#: The luminance's weight in the sigma where the channels share their noise: the geometric
#: mean of the channels' and the luminance's sigmas (the classic method's patch distances see
#: the channels' noise, its luminance strength the luminance's).
BALANCED_WEIGHT = 0.5


def luminance_sigma(last: np.ndarray) -> float:
    """Return the sigma of the white noise in a colour image's luminance.

    Parameters
    ----------
    last : numpy.ndarray
        Channels last, three of them (red, green, blue), unit scale; a still's ``(H, W, 3)``
        or a volume's or stack's ``(D, H, W, 3)``.

    Returns
    -------
    float
        Sigma on the unit scale of ``(R + G + B) / sqrt(3)``, read as each channel's is
        (:func:`nlmeans_cli.noise_details.calm_sigma`, the neighbourhoods of clipped levels
        left out); 0 where no detail is left.

    Raises
    ------
    ValueError
        If *last* does not have three channels.

    Notes
    -----
    ``O(N)``: the luminance (a copy of one channel's size) and one more channel's reading.
    """
    if last.shape[-1] != 3:
        raise ValueError(f"the luminance needs 3 channels, not {last.shape[-1]}")
    # A product with the weights: a tenth of the time of a sum over the interleaved axis.
    luminance = last @ np.full(3, 1.0 / np.sqrt(3.0), last.dtype)
    planes = luminance if luminance.ndim == 3 else luminance[np.newaxis]
    return calm_sigma(planes, *clipped_ends(planes), least=LEAST_DETAIL) or 0.0


def colour_sigma(channels_sigma: float, luminance: float, *,
                 weight: float = BALANCED_WEIGHT) -> float:
    """Return the sigma to denoise a colour image at, from its channels' and luminance's.

    Parameters
    ----------
    channels_sigma : float
        The mean of the channels' own sigmas.
    luminance : float
        :func:`luminance_sigma`.
    weight : float
        The luminance's weight, 0 to 1, where the channels share their noise: a method's
        :attr:`nlmeans_cli.methods.Method.luminance_weight`.

    Returns
    -------
    float
        ``channels_sigma ** (1 - weight) * luminance ** weight`` where *luminance* exceeds
        *channels_sigma* by :data:`SHARED_NOISE_MARGIN` (the channels share their noise),
        else *channels_sigma*.

    Notes
    -----
    Chosen on four of scikit-image's colour photographs (384x384 crops of astronaut, coffee,
    chelsea and rocket) with noise alike in the three channels at sigma 5 to 50, half of it
    alike at 10 and 25, and drawn apart then saved as JPEG at quality 95 (chroma subsampled
    2x2) at 5 to 25. The classic method did best at weights of 0.35 to 0.8 and lost at 1
    where the noise was strong (alike at sigma 25: +1.0 dB over the channels' sigma at 0.5,
    -0.5 dB at 1); the learned method, which denoises the luminance at the sigma it is given,
    did best at 1 (alike at 25: +2.8 dB at 0.5, +4.7 dB at 1). ``O(1)``.
    """
    if luminance > SHARED_NOISE_MARGIN * channels_sigma:
        return channels_sigma ** (1.0 - weight) * luminance**weight
    return channels_sigma


def shared_noise_note(channels_sigma: float, luminance: float, sigma: float) -> str:
    """Return a report's note where the channels' shared noise set *sigma*, else ``""``.

    Parameters
    ----------
    channels_sigma, luminance : float
        As for :func:`colour_sigma`.
    sigma : float
        What :func:`colour_sigma` returned for them.

    Returns
    -------
    str
        The luminance's reading and the sigma taken, as multiples of the channels' own.

    Notes
    -----
    ``O(1)``.
    """
    if sigma == channels_sigma:
        return ""
    return (f"the channels share their noise: their luminance reads "
            f"{luminance / channels_sigma:.2f} times their own, denoised at "
            f"{sigma / channels_sigma:.2f} times")
