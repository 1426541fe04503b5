"""Whether the residual of a denoised image shows noise that grows with the level.

Where heavy noise clips at black and white, the levels of an image's smooth positions may
leave too narrow a band clear of the clipping to show whether the noise grows with the
level (:func:`nlmeans_cli.clipped_noise.clipping_hides_growth`). The Gaussian path's
estimate gives every pixel a level, though, the clipped ones included: the noisy pixels
about it, each clipped one counted as the chance of falling beyond its end (a censored
likelihood), are explained by one sigma or by noise that grows with the level, and
:func:`residual_growth` says how much better the latter does, per pixel.
"""

from __future__ import annotations

import numpy as np

from .clipped_levels import normal_cdf
from .clipped_noise import golden_minimum

__all__ = ["PILOT_SIDE", "PILOT_STRENGTH", "RESIDUAL_GROWTH_BAR", "pilot_centres",
           "residual_growth", "residual_shows_growth"]

#: The least gain in log-likelihood per pixel (nats) by which growing noise must explain the
#: residual of a pilot (:data:`PILOT_STRENGTH`) better than one sigma for
#: :func:`residual_shows_growth`, for stills (2 spatial axes) and volumes (3). Stills': chosen
#: on 180x180 training photographs saved in 8 bits where clipping hid the growth from the
#: levels (every 10th from the 4th with seeds 700 + image, from the 7th with 1700 + image):
#: under Gaussian noise of sigma 25 to 100 (63 photographs) the statistic stayed under
#: 5.2e-3, under photon noise at gain 15 to 50 with read noise 10 to 15 (0-255 scale; 133)
#: it read 4.9e-3 and 5.2e-3 on two and over 6.4e-3 on the rest. Volumes': chosen on 16-slice
#: volumes of the same training photographs, panned a pixel a slice across (16x180x164, the
#: 4th's) or down and across (16x164x164, the 7th's, seeds 3700 + image), in 8 bits, with the
#: volumes' calibrated table: where the growth was hidden, under Gaussian noise of sigma 50
#: and 75 (46 volumes) the statistic stayed under 1.9e-3, under photon noise at gain 35 and 50
#: with read noise 15 (90) it read under 2.5e-3 on 6 and 2.9e-3 to 3.8e-3 on 6 more.
RESIDUAL_GROWTH_BAR = {2: 6e-3, 3: 2.5e-3}

#: How many times the classic method's h (chosen for the image, by SURE for a still) the
#: pilot takes. At the Gaussian path's own h, photon noise left in the bright parts hid the
#: growth from the residual (a 180x180 photograph of a bright sky read 0, where the transform
#: gained 4.9 dB); on the training photographs above, the statistic at once the h missed 15
#: of the 133 under photon noise at the bar it had then (2.5e-3) and passed 2 of the 63 under
#: Gaussian noise, at 1.5 times it missed 2 and passed none, and at twice it missed 4 and
#: passed 3 (one at 14.6e-3 under sigma 25: texture smoothed away). Chosen among 1, 1.5, 2
#: and 3.
PILOT_STRENGTH = 1.5

#: The most pixels along each axis of a still (of a volume) whose residual is judged: the
#: image's centre beyond. Several images (a clip's sampled frames) share them out.
PILOT_SIDE = {2: 512, 3: 64}

#: The shares of the variance at the mean level that grows with the level, tried; 0 is one
#: sigma.
_GROWTH_SHARES = np.linspace(0.05, 0.95, 10)

#: The share of positions judged apart as calm: those where the estimate's 3x3 range is
#: least. An edge blurred by the Gaussian path leaves a residual of its own, which on a
#: 96x96 corner of the shipped camera sample at gain 30 and read noise 15 (0-255 scale) hid
#: the growth (0 against 2.6e-3 to 5.9e-3 with the edges left out).
_CALM_SHARE = 0.6

#: The most pixels the likelihood is summed over (evenly strided beyond).
_MOST_PIXELS = 1 << 16

#: The golden-section steps that place the variance's scale, and its range about the
#: residual's variance (a factor each way).
_SCALE_STEPS = 24
_SCALE_RANGE = 25.0


def residual_growth(noisy: np.ndarray, estimate: np.ndarray,
                    ends: tuple[float | None, float | None]) -> float:
    """Return how much better noise growing with the level explains a residual than one sigma.

    Parameters
    ----------
    noisy : numpy.ndarray
        One channel's pixels, unit scale, as the file holds them (clipped at *ends*).
    estimate : numpy.ndarray
        The same channel denoised (the Gaussian path's estimate), same shape.
    ends : tuple of 2 (float or None)
        The values at which the data clipped, low and high
        (:func:`nlmeans_cli.clipped_levels.clipped_ends`); ``None`` where it did not.

    Returns
    -------
    float
        The greatest log-likelihood of the noisy pixels about the estimate under
        ``variance = V * ((1 - s) + s * x / m)`` (``x`` the estimate, at least 0, ``m`` its
        mean, ``0 < s < 1``) less the greatest under one sigma, per pixel (nats, at least 0),
        over every position or over the calm ones alone (:data:`_CALM_SHARE` where the
        estimate's 3x3 range is least), whichever is more. A pixel at a clipped end counts
        as the normal's tail beyond it. 0 where the residual is 0.

    Raises
    ------
    ValueError
        If the shapes differ.

    Notes
    -----
    The estimate stands for the true levels: its own error adds a little variance where it
    is least smooth, and under photon noise the Gaussian path leaves some noise in the
    bright parts, so the growth read is less than the noise's. ``O(N)`` to gather at most
    :data:`_MOST_PIXELS` pixels, then ``O(S K P)`` for ``S`` shares tried, ``K`` steps
    placing each one's variance and ``P`` pixels, twice (about 0.2 s on 180x180).

    References
    ----------
    .. [1] J. Tobin, "Estimation of relationships for limited dependent variables",
       Econometrica 26 (1958): the censored normal likelihood.
    """
    noisy, estimate = np.asarray(noisy), np.asarray(estimate)
    if noisy.shape != estimate.shape:
        raise ValueError(f"noisy and estimate differ in shape: {noisy.shape} and "
                         f"{estimate.shape}")
    # Every position, and the calm ones alone: an edge the Gaussian path blurred leaves a
    # residual of its own, while leaving the edges out may leave out the levels that show
    # the growth.
    calm = _calm_positions(estimate.astype(np.float64)).ravel()
    values, levels = noisy.ravel(), estimate.ravel()
    return max(_likelihood_gain(values, levels, ends),
               _likelihood_gain(values[calm], levels[calm], ends))


def _likelihood_gain(values: np.ndarray, levels: np.ndarray,
                     ends: tuple[float | None, float | None]) -> float:
    """Return :func:`residual_growth` over the given pixels (flat arrays)."""
    stride = max(1, -(-values.size // _MOST_PIXELS))
    values = values[::stride].astype(np.float64)
    levels = np.maximum(levels[::stride].astype(np.float64), 0.0)
    residual = values - levels
    spread = float(np.mean(residual**2))
    if not spread > 0:
        return 0.0
    below = np.zeros(values.shape, bool) if ends[0] is None else values <= ends[0]
    above = np.zeros(values.shape, bool) if ends[1] is None else values >= ends[1]
    inside = ~(below | above)
    relative = levels / max(float(levels.mean()), 1e-12)

    def log_likelihood(share: float, log_scale: float) -> float:
        std = np.sqrt(np.exp(log_scale) * ((1.0 - share) + share * relative))
        z = residual / std
        total = -float(np.sum(0.5 * z[inside] ** 2 + np.log(std[inside])))
        # A clipped pixel: the chance that noise took it to its end or beyond.
        total += float(np.sum(np.log(np.maximum(normal_cdf(z[below]), 1e-300))))
        total += float(np.sum(np.log(np.maximum(normal_cdf(-z[above]), 1e-300))))
        return total

    centre = np.log(spread)
    lowest, highest = centre - np.log(_SCALE_RANGE), centre + np.log(_SCALE_RANGE)

    def best(share: float) -> float:
        _, cost = golden_minimum(lambda log_scale: -log_likelihood(share, log_scale),
                                 lowest, highest, steps=_SCALE_STEPS)
        return -cost

    one_sigma = best(0.0)
    growing = max(best(float(share)) for share in _GROWTH_SHARES)
    return max(growing - one_sigma, 0.0) / values.size


def _calm_positions(estimate: np.ndarray) -> np.ndarray:
    """Return where the estimate's 3x3 range (over its last two axes) is among the least.

    :data:`_CALM_SHARE` of the positions; where the range ties at the bar, all the tied.
    """
    if estimate.ndim < 2:
        return np.ones(estimate.shape, bool)
    padding = [(0, 0)] * (estimate.ndim - 2) + [(1, 1), (1, 1)]
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(estimate, padding, mode="edge"),
                                                       (3, 3), axis=(-2, -1))
    spread = windows.max(axis=(-2, -1)) - windows.min(axis=(-2, -1))
    return spread <= np.quantile(spread, _CALM_SHARE)


def residual_shows_growth(noisy: np.ndarray, estimate: np.ndarray,
                          ends: tuple[float | None, float | None], *,
                          spatial_axes: int = 2) -> bool:
    """Tell whether a Gaussian path's residual clearly shows noise that grows with the level.

    Parameters
    ----------
    noisy, estimate, ends
        As for :func:`residual_growth`.
    spatial_axes : int
        2 for stills and a clip's frames, 3 for a volume's slices: which bar applies.

    Returns
    -------
    bool
        Whether :func:`residual_growth` reaches :data:`RESIDUAL_GROWTH_BAR` for
        *spatial_axes*.

    Raises
    ------
    ValueError
        As for :func:`residual_growth`, or if *spatial_axes* is neither 2 nor 3.

    Notes
    -----
    As :func:`residual_growth`.
    """
    if spatial_axes not in RESIDUAL_GROWTH_BAR:
        raise ValueError(f"spatial_axes must be one of {sorted(RESIDUAL_GROWTH_BAR)}, got "
                         f"{spatial_axes}")
    return residual_growth(noisy, estimate, ends) >= RESIDUAL_GROWTH_BAR[spatial_axes]


def pilot_centres(images: np.ndarray) -> np.ndarray:
    """Return the centres of stacked images whose residual is judged, as one array.

    Parameters
    ----------
    images : numpy.ndarray
        Channels-last stills (volumes) stacked on a first axis.

    Returns
    -------
    numpy.ndarray
        Each image's centre, contiguous: :data:`PILOT_SIDE` pixels along each axis for one
        image (the whole image where smaller), that side divided by the square (cube) root
        of their number for several, so that as many pixels in all are judged.

    Notes
    -----
    ``O(P)`` for the ``P`` pixels kept.
    """
    spatial = images.shape[1:-1]
    side = int(PILOT_SIDE[len(spatial)] / len(images) ** (1 / len(spatial)))
    sizes = [max(1, min(length, side)) for length in spatial]
    return np.ascontiguousarray(images[(slice(None),) + tuple(
        slice((length - size) // 2, (length - size) // 2 + size)
        for length, size in zip(spatial, sizes, strict=True))])
