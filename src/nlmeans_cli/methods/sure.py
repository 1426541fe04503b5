r"""Choosing a parameter per image by Stein's unbiased risk estimate (SURE).

For Gaussian noise of known ``sigma`` and any weakly differentiable denoiser ``f``,

.. math::

    \mathrm{SURE} = \frac{\lVert y - f(y)\rVert^2}{N} - \sigma^2
                    + \frac{2\sigma^2}{N}\,\mathrm{div}\, f(y)

is an unbiased estimate of the mean squared error ``|f(y) - x|^2 / N`` against the unknown clean
image ``x``. The divergence is estimated by Monte Carlo with one perturbed run (Ramani, Blu and
Unser): ``div f(y) ~ b^T (f(y + eps b) - f(y)) / eps`` for a fixed standard normal ``b``. So the
parameter with the lowest SURE can be chosen from the noisy image alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")

__all__ = ["SURE_CROP", "SURE_CROPS", "choose_by_sure", "perturb", "risk", "sample_crops",
           "sure"]

#: Side of the crops SURE is computed on when an image is larger, and how many are taken.
SURE_CROP = 96
SURE_CROPS = 4

# The perturbation, relative to sigma: small for a local derivative, large enough that a
# float32 denoiser's rounding does not drown the difference.
_EPSILON = 0.05

# The Monte-Carlo probe, fixed so that the choice is deterministic.
_PROBE_SEED = 20090701


def sure(denoiser: Callable[[np.ndarray], np.ndarray], noisy: np.ndarray,
         sigma: float) -> float:
    """Estimate the mean squared error of ``denoiser(noisy)`` without the clean image.

    Parameters
    ----------
    denoiser : callable
        Maps an array to an array of the same shape (deterministic, weakly differentiable).
    noisy : numpy.ndarray
        The noisy array, Gaussian noise of standard deviation *sigma*.
    sigma : float
        The noise level, in the array's units (> 0).

    Returns
    -------
    float
        SURE, in the array's units squared.

    Notes
    -----
    Two calls of *denoiser*.

    References
    ----------
    .. [1] C. Stein, "Estimation of the mean of a multivariate normal distribution", Annals of
       Statistics 9 (1981).
    .. [2] S. Ramani, T. Blu, M. Unser, "Monte-Carlo SURE: a black-box optimization of
       regularization parameters for general denoising algorithms", IEEE TIP 17 (2008).
    """
    probe, epsilon, perturbed = perturb(noisy, sigma)
    return risk(noisy, denoiser(noisy), denoiser(perturbed), probe, epsilon, sigma)


def perturb(noisy: np.ndarray, sigma: float) -> tuple[np.ndarray, float, np.ndarray]:
    """Return the Monte-Carlo probe, its step and the perturbed input ``noisy + eps * b``.

    Parameters
    ----------
    noisy : numpy.ndarray
        The noisy array.
    sigma : float
        The noise level, in the array's units.

    Returns
    -------
    probe : numpy.ndarray
        ``b``, standard normal, fixed by a seed (so a choice is deterministic).
    epsilon : float
        The step ``eps``.
    perturbed : numpy.ndarray
        ``noisy + eps * b``, in *noisy*'s dtype.
    """
    probe = np.random.default_rng(_PROBE_SEED).standard_normal(noisy.shape).astype(noisy.dtype)
    epsilon = _EPSILON * sigma
    return probe, epsilon, noisy + np.asarray(epsilon * probe, noisy.dtype)


def risk(noisy: np.ndarray, estimate: np.ndarray, perturbed_estimate: np.ndarray,
         probe: np.ndarray, epsilon: float, sigma: float) -> float:
    """SURE from the two runs of a denoiser: on *noisy* and on its :func:`perturb`-ation.

    Parameters
    ----------
    noisy, estimate, perturbed_estimate : numpy.ndarray
        The input and the denoiser's outputs for it and for the perturbed input.
    probe, epsilon : numpy.ndarray and float
        As returned by :func:`perturb`.
    sigma : float
        The noise level.

    Returns
    -------
    float
        SURE, in the array's units squared.
    """
    estimate = np.asarray(estimate, np.float64)
    divergence = float(np.sum(probe * (np.asarray(perturbed_estimate, np.float64)
                                       - estimate))) / epsilon
    size = noisy.size
    residual = float(np.sum((noisy - estimate) ** 2)) / size
    return residual - sigma**2 + 2.0 * sigma**2 * divergence / size


def sample_crops(image: np.ndarray, *, side: int = SURE_CROP,
                 count: int = SURE_CROPS) -> list[np.ndarray]:
    """Return the image itself if small, else *count* crops spread over it.

    Parameters
    ----------
    image : numpy.ndarray
        ``(rows, columns, ...)``.
    side : int
        The crops' side.
    count : int
        How many crops (on a diagonal-ish grid of the image).

    Returns
    -------
    list of numpy.ndarray
        Contiguous arrays, all of one shape: ``side`` square, or for an image narrower than
        *side* (a strip, a line scan, a kymograph) its whole width by as much of its length
        as makes the same area.

    Notes
    -----
    SURE then costs about the same on any image larger than the crops (a 20000x50 image
    was measured whole: 12 times a square megapixel's time).
    """
    rows, columns = image.shape[:2]
    if rows * columns <= count * side * side:
        return [np.ascontiguousarray(image)]
    short = min(rows, columns)
    length = min(max(rows, columns), -(-side * side // short))
    crop_rows, crop_columns = (side, side) if short >= side else (
        (short, length) if rows == short else (length, short))
    crops = []
    for k in range(count):
        # A low-discrepancy spread: row and column positions in different orders.
        r0 = int((rows - crop_rows) * (k + 0.5) / count)
        c0 = int((columns - crop_columns) * (((k * 3) % count) + 0.5) / count)
        crops.append(np.ascontiguousarray(image[r0 : r0 + crop_rows, c0 : c0 + crop_columns]))
    return crops


def choose_by_sure(candidates: Sequence[T],
                   denoiser: Callable[[list[np.ndarray], list[T]], list[list[np.ndarray]]],
                   crops: Sequence[np.ndarray], sigma: float,
                   memo: dict | None = None, *,
                   probes: Sequence[tuple[np.ndarray, float, np.ndarray]] | None = None) -> T:
    """Return the candidate whose denoising has the lowest SURE summed over *crops*.

    Parameters
    ----------
    candidates : sequence
        The parameter values (or settings) tried.
    denoiser : callable
        ``denoiser(arrays, values) -> outputs``: for each value of the list *values*, in
        order, the list of every array of *arrays* denoised with that value (each array on
        its own), so that a denoiser may run them all in few calls and share work between
        values.
    crops : sequence of numpy.ndarray
        Where SURE is measured (see :func:`sample_crops`).
    sigma : float
        The noise level, in the arrays' units.
    memo : dict, optional
        Risks already measured, by candidate (hashable candidates); filled in, so that a
        search that carries its best candidate into the next round measures it once.
    probes : sequence of tuple, optional
        :func:`perturb` of each crop at *sigma*, drawn here when not given (a search of
        several rounds on the same crops draws them once).

    Returns
    -------
    object
        The chosen candidate (the first of equals).

    Raises
    ------
    ValueError
        If *denoiser* returns outputs for a different number of values than it was given.

    Notes
    -----
    One call of *denoiser*, with the candidates not in *memo*, on ``2 * len(crops)`` arrays:
    each crop and its perturbation.
    """
    memo = {} if memo is None else memo
    pending = list(dict.fromkeys(value for value in candidates if value not in memo))
    if pending:
        if probes is None:
            probes = [perturb(crop, sigma) for crop in crops]
        inputs = [*crops, *(perturbed for _, _, perturbed in probes)]
        for value, outputs in zip(pending, denoiser(inputs, pending), strict=True):
            memo[value] = sum(
                risk(crop, outputs[k], outputs[len(crops) + k], probe, epsilon, sigma)
                * crop.size
                for k, (crop, (probe, epsilon, _)) in enumerate(zip(crops, probes,
                                                                    strict=True)))
    return candidates[int(np.argmin([memo[value] for value in candidates]))]
