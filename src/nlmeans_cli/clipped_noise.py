"""Whether a clipped image's noise grows with its level, judged with the clipping modelled.

Heavy noise saved in a file that clips at black and white (photon noise at a few tens of
photons in 8 bits) leaves few levels far enough from both ends for the clipping not to
shrink their variance; the levels' line (:func:`nlmeans_cli.noise.fit_poisson_gaussian`)
keeps only those, and on so narrow a band its growth tells little. The clipping itself is
known, though: a position whose 3x3 neighbourhood holds no clipped value has each pixel's
noise truncated at the two ends, so its level's mean and variance are those of a truncated
normal. :func:`clipped_preference` fits every level so, once with one sigma and once with
noise that grows with the level, and says how much better the latter explains them (for
``noise="auto"``, :func:`nlmeans_cli.stabiliser.plan_stabiliser`). Where the band is so
narrow that the line shows no growth at all, the growing noise that explains them best is
the model (:func:`clipped_levels_model`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .clipped_levels import CLIPPED_END_DEVIATIONS, truncated_moments
from .noise import PoissonGaussian, fit_positions
from .noise_levels import smoothest_line

__all__ = ["CLIPPED_IMPROVEMENT", "CLIPPED_PREFERENCE", "ClippedFit", "clipped_growth_shown",
           "clipped_levels_model", "clipped_preference", "clipping_hides_growth",
           "golden_minimum"]


#: How many times better noise that grows with the level must explain a clipped channel's
#: levels than one sigma (:func:`clipped_preference`), where only the clipping hides its
#: growth, for the levels to count as growing (:func:`_prefers_growth`). On 60 training images
#: saved as 8 bits: 1.47 at most under Gaussian noise of sigma 35 and 50 (1.0 at the
#: median); under photon noise at gain 8 to 25 with read noise 4 to 10 (0-255 scale) 1.75 to
#: 6.4 at the median, and at gain 8 over 2 on 56 to 58 of 60. Texture that brightens with
#: the level passes it now and then under lighter Gaussian noise (sigma 15 to 25: on 2 of
#: 60 at sigma 20); asking the best growing noise to grow by 2 as well kept only one of
#: those out, and 13 of 21 validation images at gain 25 and read noise 10 too.
CLIPPED_PREFERENCE = 2.0

#: The least improvement, in the levels' chi-square, that growing noise must make on one
#: sigma besides (:data:`CLIPPED_PREFERENCE`): Gaussian noise of sigma 75 in 8 bits leaves
#: 4 to 10 levels clear of clipping, where two parameters fit by chance (preferences of 1.6
#: to 8.4 on 11 of 120 training images, improvements of 0.2 to 1.9; 7 stabilised, -0.14 to
#: -2.35 dB). Photon noise at gain 16 and read noise 8 leaves 14 to 37 levels, improved by
#: 4.7 to 29.5.
CLIPPED_IMPROVEMENT = 4.0

#: The most share of the image's levels that the levels clear of its clipped ends may span
#: for the clipping alone to hide the noise's growth (:func:`clipped_growth_shown`):
#: photon noise at gain 8 in 8 bits leaves 0.28 to 0.60 of them, Gaussian noise of sigma 5
#: nearly all.
_MOST_CLEAR_SHARE = 0.5

#: The same where the model's noise does not grow (:func:`clipped_levels_model`: its gain 0,
#: or its growth under
#: :data:`nlmeans_cli.noise.SIGNAL_DEPENDENT_GROWTH`): a band that wide would have shown
#: photon noise's growth. On 120 training images saved as 8 bits, photon noise at gain 10
#: to 16 with read noise 5 to 8 (0-255 scale) whose line showed no growth left bands of
#: -0.05 to 0.24 of the levels; Gaussian noise of sigma 25 0.32 to 0.45, where texture
#: that brightens with the level passed the clipped levels' check on one (0.34).
_MOST_FLAT_CLEAR_SHARE = 0.3


class ClippedFit(NamedTuple):
    """How a clipped channel's levels are explained, the clipping modelled.

    Attributes
    ----------
    preference : float
        The levels' least misfit under one sigma over their least misfit under growing
        noise: 1 where growing noise explains them no better, more the clearer the growth.
    improvement : float
        The least misfits' difference, in the levels' chi-square (each level's relative
        squared error over its sampling variance, ``2 / weight``): a handful of levels,
        all a heavily clipped image may leave, can prefer growing noise by chance.
    gain, read_noise : float
        The growing noise that explains them best, ``variance = gain * x + read_noise**2``
        (unit scale; under the normal approximation, which at a few photons puts the gain
        low and the read noise high).
    """

    preference: float
    improvement: float
    gain: float
    read_noise: float

#: The true levels at which the truncated moments are tabulated, on the unit scale: the
#: levels' means lie between the clipped ends, and a true level well outside them still
#: leaves a truncated mean inside.
_TRUE_LEVELS = np.linspace(-0.6, 1.6, 601)

#: The least share of a true level's noise that must fall between the ends for its moments
#: to be tabulated (fewer, and no position at that level escapes the clipping).
_LEAST_INSIDE = 1e-3

#: The gains tried, as multiples of the levels' median variance (at a mid-grey of 0.5, the
#: photon variance from a twentieth of it to four times it; a gain of none is the one sigma,
#: fitted first), and the golden-section steps that place each one's read noise and the one
#: sigma.
_GAIN_MULTIPLES = np.geomspace(0.1, 8.0, 25)
_GOLDEN_STEPS = 30


def _misfit(xs: np.ndarray, ys: np.ndarray, weights: np.ndarray, std: np.ndarray,
            low: float, high: float) -> float:
    """Return the levels' weighted relative misfit to noise of *std* at each true level."""
    mean, variance, inside = truncated_moments(_TRUE_LEVELS, std, low, high)
    kept = inside > _LEAST_INSIDE
    mean, variance = mean[kept], variance[kept]
    if mean.size < 2:
        return np.inf
    order = np.argsort(mean)
    predicted = np.interp(xs, mean[order], variance[order])
    relative = (ys - predicted) / np.maximum(predicted, 1e-300)
    # A level's variance scatters by sqrt(2 / weight) of itself.
    return float(np.sum(weights / 2 * relative**2))


def golden_minimum(cost, lowest: float, highest: float, steps: int = _GOLDEN_STEPS
                   ) -> tuple[float, float]:
    """Return the argument in [*lowest*, *highest*] where *cost* is least, and that cost.

    Golden-section search over *steps* steps (*cost* unimodal there); ``steps + 2`` calls.
    """
    ratio = (np.sqrt(5.0) - 1) / 2
    a, b = lowest, highest
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    cost_c, cost_d = cost(c), cost(d)
    for _ in range(steps):
        if cost_c <= cost_d:
            b, d, cost_d = d, c, cost_c
            c = b - ratio * (b - a)
            cost_c = cost(c)
        else:
            a, c, cost_c = c, d, cost_d
            d = a + ratio * (b - a)
            cost_d = cost(d)
    return (c, cost_c) if cost_c <= cost_d else (d, cost_d)


def clipped_preference(planes: np.ndarray, ends: tuple[float | None, float | None]
                       ) -> ClippedFit | None:
    """Return how much better growing noise explains a clipped channel's levels than one sigma.

    Parameters
    ----------
    planes : numpy.ndarray
        One channel's pixels, unit scale: a plane, or planes along the first axes.
    ends : tuple of 2 (float or None)
        The values at which the data clipped, low and high
        (:func:`nlmeans_cli.clipped_levels.clipped_ends`); one at least is not ``None``.

    Returns
    -------
    ClippedFit or None
        The levels' least misfit under one sigma against their least misfit under
        ``variance = gain * x + read_noise**2``, each with the clipping modelled (their
        ratio and difference), and the latter's parameters. ``None`` with too few positions
        or levels.

    Notes
    -----
    The levels are the fit's before it sets aside those near the clipped ends
    (:func:`nlmeans_cli.noise.fit_positions`, :func:`nlmeans_cli.noise_levels.smoothest_line`:
    the smoothest positions untouched by clipping), all of them. At each a position's pixels
    are kept between the ends, so its 3x3 mean and detail see truncated noise
    (:func:`truncated_moments`); the misfit is each level's relative squared error weighted
    by its count. ``O(N)`` for the levels, then ``O(G L)`` for ``G``
    noises tried over ``L`` tabulated levels (some tens of milliseconds).
    """
    read = fit_positions(np.reshape(planes, (-1, *np.shape(planes)[-2:])), ends,
                         dtype=np.float64)
    if read is None:
        return None
    (mean, detail, rough, local), span = read
    xs, ys, weights, _, _ = smoothest_line(mean, detail, local, rough, span)
    if xs.size < 3 or not np.all(ys > 0):
        return None
    low = -np.inf if ends[0] is None else float(ends[0])
    high = np.inf if ends[1] is None else float(ends[1])
    typical = float(np.median(ys))
    log_sigma = np.log(np.sqrt(typical))
    log_one_sigma, one_sigma = golden_minimum(
        lambda s: _misfit(xs, ys, weights, np.full(_TRUE_LEVELS.shape, np.exp(s)), low, high),
        log_sigma - np.log(5.0), log_sigma + np.log(5.0))
    # Growing noise of no gain is the one sigma: its best is never worse.
    best = (one_sigma, 0.0, float(np.exp(log_one_sigma)))
    for multiple in _GAIN_MULTIPLES:
        gain = multiple * typical
        photons = gain * np.maximum(_TRUE_LEVELS, 0.0)
        read, cost = golden_minimum(
            lambda r, photons=photons: _misfit(
                xs, ys, weights, np.sqrt(photons + typical * r**2 + 1e-12), low, high),
            0.0, 2.0)
        if cost < best[0]:
            best = (cost, gain, float(read * np.sqrt(typical)))
    return ClippedFit(one_sigma / max(best[0], 1e-300), one_sigma - best[0], best[1], best[2])


def clipped_levels_model(values: np.ndarray, model: PoissonGaussian, low: float, high: float
                         ) -> PoissonGaussian | None:
    """Return the noise a channel's clipped levels show, where its levels' line cannot.

    Parameters
    ----------
    values : numpy.ndarray
        One channel's pixels, unit scale.
    model : PoissonGaussian
        Its fitted model (:func:`nlmeans_cli.noise.fit_poisson_gaussian`).
    low, high : float
        The image's levels (:func:`nlmeans_cli.noise_levels.image_levels`).

    Returns
    -------
    PoissonGaussian or None
        The growing noise that best explains every level, the clipping modelled
        (:func:`clipped_preference`), where the line's noise does not grow by
        :data:`nlmeans_cli.noise.SIGNAL_DEPENDENT_GROWTH` across the levels, its levels
        clear of the clipped ends span under :data:`_MOST_FLAT_CLEAR_SHARE` of the image's
        (:func:`_clipping_hides`), and the levels prefer growing noise
        (:func:`_prefers_growth`); ``None`` otherwise.

    Notes
    -----
    Heavy photon noise in a file that clips at both ends (gain 16 and read noise 8 in 8
    bits) can leave so narrow a band of levels clear of clipping that the line through
    them has no slope: its gain 0, the Gaussian path taken, up to 3.4 dB below the
    transform on validation photographs (9.4 dB on scikit-image's colour wheel).
    The clipped levels' model puts the gain low and the read noise high (at a few photons
    the truncated normal is an approximation), but transformed with it such images came
    within 0.1 to 0.2 dB of the true parameters. ``O(N)`` over the fit's positions where
    asked (some tens of milliseconds), nothing otherwise.
    """
    if _grows(model, low, high) or not _clipping_hides(model, low, high,
                                                        _MOST_FLAT_CLEAR_SHARE):
        return None
    fit = clipped_preference(values, model.clipped)
    if not _prefers_growth(fit):
        return None
    return PoissonGaussian(fit.gain, fit.read_noise, clipped=model.clipped)


def clipped_growth_shown(values: np.ndarray, model: PoissonGaussian) -> bool:
    """Tell whether a channel's clipped levels show the growth its line's model promises.

    Asked where clipping may hide that growth (:func:`clipping_hides_growth`).

    Parameters
    ----------
    values : numpy.ndarray
        One channel's pixels, unit scale.
    model : PoissonGaussian
        Its fitted model, refused on the levels it could judge.

    Returns
    -------
    bool
        Whether the levels, the clipping modelled, prefer growing noise
        (:func:`_prefers_growth`).

    Notes
    -----
    ``O(N)`` over the fit's positions (some tens of milliseconds).
    """
    return _prefers_growth(clipped_preference(values, model.clipped))


def clipping_hides_growth(model: PoissonGaussian, low: float, high: float) -> bool:
    """Tell whether clipping alone may hide the growth a channel's line's model promises.

    Parameters
    ----------
    model : PoissonGaussian
        Its fitted model.
    low, high : float
        The image's levels (:func:`nlmeans_cli.noise_levels.image_levels`).

    Returns
    -------
    bool
        Whether the model's noise grows by :data:`nlmeans_cli.noise.SIGNAL_DEPENDENT_GROWTH`
        across the levels and its levels clear of the clipped ends span under
        :data:`_MOST_CLEAR_SHARE` of the image's (:func:`_clipping_hides`): where
        :func:`clipped_growth_shown` asks the clipped levels.

    Notes
    -----
    ``O(1)``.
    """
    return _grows(model, low, high) and _clipping_hides(model, low, high, _MOST_CLEAR_SHARE)


def _prefers_growth(fit: ClippedFit | None) -> bool:
    """Tell whether clipped levels clearly prefer growing noise to one sigma.

    That is, :data:`CLIPPED_PREFERENCE` times, improving their chi-square by
    :data:`CLIPPED_IMPROVEMENT`.
    """
    return (fit is not None and fit.preference >= CLIPPED_PREFERENCE
            and fit.improvement >= CLIPPED_IMPROVEMENT)


def _grows(model: PoissonGaussian, low: float, high: float) -> bool:
    """Tell whether a model's noise grows by half across the levels *low* (at least 0) to *high*.

    :data:`nlmeans_cli.noise.SIGNAL_DEPENDENT_GROWTH`.
    """
    return model.signal_dependent(max(low, 0.0), high)


def _clipping_hides(model: PoissonGaussian, low: float, high: float, most: float) -> bool:
    """Tell whether a channel's growth may be hidden by its clipping alone.

    That is, where its model came from the levels' line, the data clipped, and the levels
    clear of the clipped ends (:data:`nlmeans_cli.clipped_levels.CLIPPED_END_DEVIATIONS` of
    the model's deviations) span under *most* of the image's levels (*low* to *high*).
    """
    low = max(low, 0.0)
    if model.read_noise_range is None or model.clipped == (None, None) or high <= low:
        return False
    least, greatest = np.clip(model.levels_clear_of(model.clipped, CLIPPED_END_DEVIATIONS),
                              low, high)
    return greatest - least < most * (high - low)
