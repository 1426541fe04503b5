"""The slope of fine details' variance over levels, at two scales of detail.

Where a fit of Poisson-Gaussian noise read a slope (its gain), the slope is measured again in
details of neighbouring pixels and of every other pixel: white noise has the same variance in
both, texture several times as much in the latter, so the two slopes tell the noise's part of
it from the texture's (``noise="auto"``, :func:`nlmeans_cli.stabiliser.plan_stabiliser`).
"""

from __future__ import annotations

import numpy as np

from .noise_details import CHI2_MEDIAN, fit_blocks, local_mean, second_differences

__all__ = ["slopes_at_two_scales"]


#: The levels the details' variance is measured at, at two scales.
_SCALE_LEVELS = 8
#: The fewest positions, and the fewest per level, the slopes at two scales are read from.
_FEWEST_SCALE_POSITIONS = 500
_FEWEST_LEVEL_POSITIONS = 50
#: The relative standard deviation of the median square (:data:`CHI2_MEDIAN`) of n values,
#: times sqrt(n): the sample median's, ``1 / (2 f(m) sqrt(n))`` with f the chi-squared
#: density at the median m, over m.
_MEDIAN_SQUARE_ERROR = 2.33


def slopes_at_two_scales(planes: np.ndarray, clipped: tuple[float | None, float | None],
                         n_planes: int, first_index: int, *, pixels: int
                         ) -> tuple[float, float, float, float] | None:
    """Return the slopes of the details' variance over levels, a step of 1 and of 2 apart.

    Parameters
    ----------
    planes : numpy.ndarray
        3-D: one channel's planes (a still's one plane, a stack's slices or a clip's frames).
    clipped : tuple of 2 (float or None)
        The values at which the data clipped, low and high, if they did.
    n_planes, first_index : int
        How many planes the image has in all, and the index of the first of *planes* among
        them (which blocks :func:`nlmeans_cli.noise_details.fit_blocks` reads of each).
    pixels : int
        About how many pixels are read in all: planes larger are read in blocks spread over
        them.

    Returns
    -------
    tuple of 4 float or None
        The slopes at a step of 1 and of 2, the span of the levels they were measured at,
        and the first slope's standard error; ``None`` with too few positions or levels.

    Notes
    -----
    Positions whose 5x5 neighbourhood holds a clipped value are left out, and the roughest
    40 % (the gradient of their 5x5 means); the rest fall into :data:`_SCALE_LEVELS` levels
    of equal count by their 7x7 means, where each detail's variance is its median square
    (robust to the texture's tails). The slopes are those of unweighted lines; the standard
    error comes from each level's sampling error (a median square's relative standard
    deviation is :data:`_MEDIAN_SQUARE_ERROR` over the root of its count, for Gaussian
    details). ``O(N)`` for ``N`` up to *pixels*.
    """
    means, fine, coarse, roughness = [], [], [], []
    low, high = clipped
    inner = (slice(2, -2), slice(2, -2))
    for offset, plane in enumerate(planes):
        # Blocks as the fit's, fewer: tens of thousands of positions fill the levels, and
        # each pass over a plane in float64 costs.
        parts = ([plane] if plane.size <= pixels
                 else fit_blocks(plane, n_planes, first_index + offset, pixels=pixels))
        for part in parts:
            part = np.asarray(part, np.float64)
            if min(part.shape) < 9:
                continue
            touched = np.zeros(part.shape)
            if low is not None:
                touched += part <= low
            if high is not None:
                touched += part >= high
            keep = local_mean(touched, 2)[inner] == 0
            rows, columns = np.gradient(local_mean(part, 2))
            means.append(local_mean(part, 3)[inner][keep])
            fine.append(second_differences(part)[1:-1, 1:-1][keep])
            coarse.append(second_differences(part, 2)[keep])
            roughness.append(np.hypot(rows, columns)[inner][keep])
    if not means or sum(map(len, means)) < _FEWEST_SCALE_POSITIONS:
        return None
    roughness = np.concatenate(roughness)
    smooth = roughness <= np.quantile(roughness, 0.6)
    means, fine, coarse = (np.concatenate(values)[smooth] for values in (means, fine, coarse))
    edges = np.quantile(means, np.linspace(0, 1, _SCALE_LEVELS + 1))
    levels, fine_variances, coarse_variances, counts = [], [], [], []
    for lowest, highest in zip(edges[:-1], edges[1:], strict=True):
        inside = (means >= lowest) & (means <= highest)
        if np.count_nonzero(inside) < _FEWEST_LEVEL_POSITIONS:
            continue
        counts.append(np.count_nonzero(inside))
        levels.append(float(means[inside].mean()))
        fine_variances.append(float(np.median(fine[inside] ** 2)) / CHI2_MEDIAN)
        coarse_variances.append(float(np.median(coarse[inside] ** 2)) / CHI2_MEDIAN)
    if len(levels) < 3 or levels[-1] <= levels[0]:
        return None
    apart = np.array(levels) - np.mean(levels)
    errors = _MEDIAN_SQUARE_ERROR * np.array(fine_variances) / np.sqrt(counts)
    fine_error = float(np.sqrt(np.sum((apart * errors) ** 2)) / np.sum(apart**2))
    return (float(np.polyfit(levels, fine_variances, 1)[0]),
            float(np.polyfit(levels, coarse_variances, 1)[0]), levels[-1] - levels[0],
            fine_error)
