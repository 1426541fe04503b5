"""The noise of an image's bulk and of its brightest parts, each measured on its own.

A field of cells or spots on a background holds nearly all its positions in the background
and too few in the cells to form levels of their own, so the levels' line
(:func:`nlmeans_cli.noise.fit_poisson_gaussian`) is fitted on the background alone, or on the
cells' flanks where clipping at black takes the background out. Measured apart, the
background's noise and the cells' tell whether the noise grows with the signal:
:func:`bulk_noise` reads the background's pixels (clipped at black or not) and
:func:`bright_noise` the details of the cells' interiors.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from .noise_levels import (
    CHI2_MEDIAN,
    fit_blocks,
    local_mean,
    second_differences,
    touches_clipped,
)

__all__ = ["BULK_QUANTILES", "bright_noise", "bulk_noise"]

#: The band of positions, by their neighbours' mean, that make the image's bulk: the middle
#: fifth (the background of a field of cells; on a photograph a band of its mid-tones).
BULK_QUANTILES = (0.4, 0.6)

#: The most of the bulk's pixels that may sit on the clipped black for its noise to be read
#: from the rest (from the upper quantiles, which clipping leaves as they were).
_MOST_CLIPPED_BULK = 0.7

#: How much more variance the bulk's pixels may spread with than its details show for the
#: bulk to count as flat: more is texture or a band of levels (a photograph's mid-tones),
#: whose pixels' spread is not noise. Fields clipped at black read 1.5 to 1.6 (the details
#: clear of the clipping lose their lower tail); photographs' mid-tones far more.
_FLAT_SPREAD = 2.0

#: The fewest of the bulk's positions clear of clipping for its details to be read, and the
#: least share of its positions they must make (under heavy clipping those left are few and
#: lack their lower tail, and the bulk is taken as flat).
_FEWEST_CLEAR_BULK = 200
_LEAST_CLEAR_SHARE = 0.25

#: The most pixels of a plane the bulk is read from (larger planes in blocks spread over it).
_BULK_PIXELS = 1 << 18

#: The side of the tiles the bright parts are looked for in, and the pixels read around one
#: (those its positions' details and 3x3 means of 3x3 means reach).
_BRIGHT_TILE = 64
_TILE_HALO = 4

#: The fewest pixels the bulk's noise is read from.
_FEWEST_BULK_PIXELS = 500

#: Of the pixels' values on a lattice (8 or 16 bits), how many are looked at to find its
#: spacing.
_LATTICE_SAMPLE = 4096


def bulk_noise(plane: np.ndarray, clip_low: float | None) -> tuple[float, float] | None:
    """Return the level and noise variance of an image's bulk, where the bulk is flat.

    Parameters
    ----------
    plane : numpy.ndarray
        2-D, float, unit scale.
    clip_low : float or None
        The value at which the sensor clipped at black, if it did.

    Returns
    -------
    tuple of 2 float or None
        The level (which may lie below *clip_low* where most of the bulk is clipped) and the
        variance; ``None`` where the bulk is too small, too clipped
        (:data:`_MOST_CLIPPED_BULK`), or not flat (:data:`_FLAT_SPREAD`).

    Notes
    -----
    The bulk is the pixels whose 24 neighbours' mean (5x5 less the pixel itself, so that
    the choice does not bias the pixel's own noise) lies in :data:`BULK_QUANTILES`. Their
    values are taken as normal: the level and standard deviation come from two quantiles
    above the clipped share (the median and the 90th percentile where nothing clips), which
    clipping at black leaves as they were. Values on a lattice (integers) are spread
    uniformly over their step first, a fixed pseudo-random dither, so that the quantiles are
    not rounded to it; the lattice's own variance (a twelfth of the step squared) stays, as
    it stays in the details. Flat: the variance of the details (tensor second differences)
    of the bulk's positions clear of clipping must be at least 1 / :data:`_FLAT_SPREAD` of
    the pixels' own. Planes over :data:`_BULK_PIXELS` are read in blocks spread over them
    (:func:`nlmeans_cli.noise_levels.fit_blocks`). ``O(N)`` and a few quantiles.
    """
    parts = [_bulk_part(np.asarray(part, np.float64), clip_low)
             for part in fit_blocks(plane, 1, pixels=_BULK_PIXELS)]
    parts = [part for part in parts if part is not None]
    if not parts:
        return None
    neighbours, values, details, clear = (np.concatenate(arrays) for arrays in zip(*parts,
                                                                                  strict=True))
    lowest, highest = np.quantile(neighbours, BULK_QUANTILES)
    band = (neighbours >= lowest) & (neighbours <= highest)
    values, clear = values[band], clear[band]
    if values.size < _FEWEST_BULK_PIXELS:
        return None
    clipped = float(np.mean(values <= clip_low)) if clip_low is not None else 0.0
    if clipped > _MOST_CLIPPED_BULK:
        return None
    step = _lattice_step(values)
    if step > 0:
        values = values + (np.random.default_rng(0).random(values.size) - 0.5) * step
    lower = max(0.5, clipped + 0.1)
    upper = max(0.9, min(lower + 0.2, 0.97))
    first, second = np.quantile(values, [lower, upper])
    normal = NormalDist()
    deviation = float(second - first) / (normal.inv_cdf(upper) - normal.inv_cdf(lower))
    variance = deviation * deviation
    if clear.sum() >= max(_FEWEST_CLEAR_BULK, _LEAST_CLEAR_SHARE * values.size):
        # Flat where the details, clear of clipping, hold the pixels' spread.
        flat = float(np.median(details[band][clear] ** 2)) / CHI2_MEDIAN
        if variance > _FLAT_SPREAD * flat:
            return None
    return float(first) - normal.inv_cdf(lower) * deviation, variance


def _bulk_part(part: np.ndarray, clip_low: float | None) -> tuple[np.ndarray, ...] | None:
    """Return neighbours' mean, value, detail and clearness per position 2 in from the edges."""
    if min(part.shape) < 5:
        return None
    neighbours = (local_mean(part, 2) * 25 - part) / 24
    inner = (slice(2, -2), slice(2, -2))
    clear = ~touches_clipped(part, clip_low, None)[1:-1, 1:-1]
    return (neighbours[inner].ravel(), part[inner].ravel(),
            second_differences(part)[1:-1, 1:-1].ravel(), clear.ravel())


def bright_noise(planes: np.ndarray, cut: float, ends: tuple[float | None, float | None]
                 ) -> tuple[float, float, float, int]:
    """Return the level and noise variance of the positions well inside the bright parts.

    Parameters
    ----------
    planes : numpy.ndarray
        3-D (planes of one channel), float, unit scale.
    cut : float
        The level above which a position's 3x3 mean is bright.
    ends : tuple of 2 (float or None)
        The clipped values; positions touching one are left out.

    Returns
    -------
    level, variance, coarse : float
        The positions' mean level, their details' variance (median square, robust to the
        few an edge or texture reaches), and the same of details of every other pixel
        (step 2), which texture inflates and white noise does not. ``nan`` where no
        position is bright.
    count : int
        How many positions they are.

    Notes
    -----
    Inside: every 3x3 mean of the position's 3x3 neighbourhood passes *cut*, so that the
    details do not straddle the bright parts' edges. Only tiles of :data:`_BRIGHT_TILE`
    pixels that hold a pixel above *cut* are read (with the pixels around them their
    positions need), so that the cost follows the bright parts' area; positions within 2
    pixels of a plane's edge are left out. ``O(N)`` to find the tiles.
    """
    levels, fine, coarse = [], [], []
    for plane in planes:
        above = np.asarray(plane) >= cut
        height, width = plane.shape
        for top in range(0, height, _BRIGHT_TILE):
            columns = above[top:top + _BRIGHT_TILE].any(axis=0)
            for left in range(0, width, _BRIGHT_TILE):
                if not columns[left:left + _BRIGHT_TILE].any():
                    continue
                part = _bright_part(plane, top, left, cut, ends)
                for store, values in zip((levels, fine, coarse), part, strict=True):
                    store.append(values)
    if not levels:
        return np.nan, np.nan, np.nan, 0
    level, fine_details, coarse_details = (np.concatenate(parts)
                                           for parts in (levels, fine, coarse))
    if not level.size:
        return np.nan, np.nan, np.nan, 0
    return (float(level.mean()), float(np.median(fine_details**2)) / CHI2_MEDIAN,
            float(np.median(coarse_details**2)) / CHI2_MEDIAN, int(level.size))


def _bright_part(plane: np.ndarray, top: int, left: int, cut: float,
                 ends: tuple[float | None, float | None]) -> tuple[np.ndarray, ...]:
    """Return the levels and details of a tile's bright positions (read with a halo)."""
    height, width = plane.shape
    first_row, first_column = max(top - _TILE_HALO, 0), max(left - _TILE_HALO, 0)
    part = np.asarray(plane[first_row:min(top + _BRIGHT_TILE + _TILE_HALO, height),
                            first_column:min(left + _BRIGHT_TILE + _TILE_HALO, width)],
                      np.float64)
    if min(part.shape) < 5:
        return np.empty(0), np.empty(0), np.empty(0)
    means = local_mean(part, 1)
    inside = local_mean((means >= cut).astype(np.float64), 1) > 1 - 1e-9
    keep = inside[2:-2, 2:-2] & ~touches_clipped(part, *ends)[1:-1, 1:-1]
    # The tile's own positions only (its neighbours' are theirs).
    rows = np.arange(first_row + 2, first_row + part.shape[0] - 2)
    columns = np.arange(first_column + 2, first_column + part.shape[1] - 2)
    keep &= ((rows >= top) & (rows < top + _BRIGHT_TILE))[:, np.newaxis]
    keep &= ((columns >= left) & (columns < left + _BRIGHT_TILE))[np.newaxis, :]
    return (means[2:-2, 2:-2][keep], second_differences(part)[1:-1, 1:-1][keep],
            second_differences(part, 2)[keep])


def _lattice_step(values: np.ndarray) -> float:
    """Return the spacing of the lattice *values* lie on (0 where they do not)."""
    sample = np.unique(values[:: max(1, values.size // _LATTICE_SAMPLE)])
    if sample.size < 2:
        return 0.0
    step = float(np.min(np.diff(sample)))
    offsets = (sample - sample[0]) / step
    return step if np.allclose(offsets, np.round(offsets), atol=1e-6) else 0.0
