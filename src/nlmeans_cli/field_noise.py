"""The noise of an image's bulk and of its brightest parts, each measured on its own.

A field of cells or spots on a background holds nearly all its positions in the background
and too few in the cells to form levels of their own, so the levels' line
(:func:`nlmeans_cli.noise.fit_poisson_gaussian`) is fitted on the background alone, or on the
cells' flanks where clipping at black takes the background out. Measured apart, the
background's noise and the cells' tell whether the noise grows with the signal:
:func:`bulk_noise` reads the background's pixels (clipped at black or not) and
:func:`bright_noise` the details of the cells' interiors; :func:`field_growth` measures a
channel's field with both, and :func:`growth_shown` judges a fitted model by it (for
``noise="auto"``, :func:`nlmeans_cli.stabiliser.plan_stabiliser`).
"""

from __future__ import annotations

from statistics import NormalDist
from typing import NamedTuple

import numpy as np

from .noise import SIGNAL_DEPENDENT_GROWTH, PoissonGaussian
from .noise_details import CHI2_MEDIAN, fit_blocks, local_mean, second_differences, touches_clipped
from .photon_counts import data_quantum

__all__ = ["BULK_QUANTILES", "CLEAR_GROWTH", "FieldGrowth", "bright_noise", "bulk_noise",
           "field_growth", "field_planes", "growth_shown", "misses_field"]

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

#: The growth of the noise's variance, from a field's bulk to its bright parts, that counts
#: as clear (its standard deviation doubles): shown, the transform is taken, whatever the
#: model promised (fitted on the cells' flanks, it understated the growth).
CLEAR_GROWTH = 4.0

#: The fewest positions inside the bright parts their noise is read from.
_FEWEST_BRIGHT = 16

#: Where the bright parts' details of every other pixel hold this many times the variance of
#: neighbouring pixels' details, they are texture's (or edges'), and judge only a shortfall
#: (:func:`growth_shown`).
_BRIGHT_TEXTURE_RATIO = 4.0

#: The most pixels of a channel's planes the bright parts are looked for in.
_BRIGHT_PIXELS = 1 << 22

#: The most pixels whose levels tell whether the fit's levels reach the bulk and the bright
#: parts.
_BRIGHT_SAMPLE = 1 << 18

#: Pixels either side of a position that its details reach (step 2).
_BRIGHT_HALO = 4


class FieldGrowth(NamedTuple):
    """A channel's field measured apart (:func:`field_growth`): its bulk and bright parts."""

    #: The bulk's level and the bright parts' (unit scale).
    bulk_level: float
    bright_level: float
    #: The bright parts' noise variance over the bulk's.
    observed: float
    #: Whether the bright parts' details are texture's or edges'
    #: (:data:`_BRIGHT_TEXTURE_RATIO`): their variance then overstates the noise's, and
    #: tells only where it is already under what a model promises.
    textured: bool = False

    @property
    def clear(self) -> bool:
        """Whether the noise clearly grows: :data:`CLEAR_GROWTH` times the bulk's variance.

        Never where the bright parts are textured.
        """
        return self.observed >= CLEAR_GROWTH and not self.textured


def field_planes(values: np.ndarray, model: PoissonGaussian) -> np.ndarray | None:
    """Return up to :data:`_BRIGHT_PIXELS` of a channel's planes, spread over them.

    Parameters
    ----------
    values : numpy.ndarray
        One channel's pixels: a plane, or planes along the first axes.
    model : PoissonGaussian
        The channel's fitted model.

    Returns
    -------
    numpy.ndarray or None
        3-D: the planes (a view where all are taken). ``None`` where the field is not
        judged: a gain not fitted from the levels' line, or planes too narrow for the
        details of every other pixel.
    """
    if model.gain <= 0 or model.measured_levels is None:
        return None
    planes = values.reshape(-1, *values.shape[-2:])
    if min(planes.shape[-2:]) < 2 * _BRIGHT_HALO + 1:
        return None
    count = max(1, min(len(planes), _BRIGHT_PIXELS // planes[0].size))
    if count == len(planes):
        return planes
    return planes[np.unique(np.linspace(0, len(planes) - 1, count).round().astype(int))]


def misses_field(planes: np.ndarray, model: PoissonGaussian) -> bool:
    """Tell whether the fit's levels may leave out a field's bulk or bright parts.

    Parameters
    ----------
    planes : numpy.ndarray
        As :func:`field_planes` returns them.
    model : PoissonGaussian
        The channel's model, fitted on a line of levels.

    Returns
    -------
    bool
        Whether the median of the pixels lies below the levels the line was fitted on, or
        their 99.9th percentile beyond them by more than their span, or clipping may have
        bent the line (:attr:`nlmeans_cli.noise.PoissonGaussian.clip_bound`).

    Notes
    -----
    On a strided sample of :data:`_BRIGHT_SAMPLE` pixels: ``O(S)`` and a quantile.
    """
    first, last = model.measured_levels
    sample = planes.ravel()[:: max(1, planes.size // _BRIGHT_SAMPLE)]
    middle, top = (float(level) for level in np.quantile(sample, [0.5, 0.999]))
    return model.clip_bound or middle < first or top > last + (last - first)


def field_growth(planes: np.ndarray, ends: tuple[float | None, float | None]
                 ) -> FieldGrowth | None:
    """Measure a channel's bulk and bright parts apart.

    Parameters
    ----------
    planes : numpy.ndarray
        The channel's planes (:func:`field_planes`), unit scale.
    ends : tuple of 2 (float or None)
        The clipped values (``None`` where the image does not clip).

    Returns
    -------
    FieldGrowth or None
        ``None`` where the bulk is not flat or too clipped to measure
        (:func:`bulk_noise`), or too few positions lie inside the bright parts
        (:data:`_FEWEST_BRIGHT`). Marked textured where their details are texture's or
        edges' (:data:`_BRIGHT_TEXTURE_RATIO`).

    Notes
    -----
    The bright parts: positions whose 3x3 means lie above the midpoint of the bulk's level
    and the 99.9th percentile. ``O(N)`` over the tiles holding them, a quarter megapixel of
    the bulk and a quantile of the planes.
    """
    bulk = bulk_noise(planes[len(planes) // 2], ends[0])
    if bulk is None:
        return None
    bulk_level, bulk_variance = bulk
    top = float(np.quantile(planes, 0.999))
    level, variance, coarse, count = bright_noise(planes, bulk_level + 0.5 * (top - bulk_level),
                                                  ends)
    if count < _FEWEST_BRIGHT or not bulk_variance > 0 or not variance > 0:
        return None
    return FieldGrowth(bulk_level, level, variance / bulk_variance,
                       textured=bool(coarse > _BRIGHT_TEXTURE_RATIO * variance))


def growth_shown(model: PoissonGaussian, growth: FieldGrowth | None) -> bool | None:
    """Tell whether a field's bright parts show its model's growth of the noise.

    Judged only where the fit's levels leave out the bulk or the bright parts (a field of
    cells or spots on a background), or clipping may have bent its line; there the levels'
    line says little of how the noise grows across the image, and the transformed image's
    noise (the confirmation) is measured mostly on a background the line was not fitted on.

    Parameters
    ----------
    model : PoissonGaussian
        The channel's model, fitted on a line of levels.
    growth : FieldGrowth or None
        Its field, as :func:`field_growth` measured it (``None``: not measurable).

    Returns
    -------
    bool or None
        ``True`` where the bright parts' noise variance is :data:`CLEAR_GROWTH` times the
        bulk's or more, or where the model promises :data:`CLEAR_GROWTH` or more and the
        bright parts show half of it or more (in logarithm); ``False`` where the model
        promises the growth ``auto`` asks for
        (:data:`nlmeans_cli.noise.SIGNAL_DEPENDENT_GROWTH`, squared) or more and they show
        under half of it; ``None`` where it is not judged: the field was not measured, the
        fit's levels reach both, or the model promises less. Textured bright parts (their
        variance overstated by texture or edges, which can feign growth but not hide it)
        judge only ``False``, where even :data:`_FLAT_SPREAD` times their growth (the most a
        flat bulk's spread can understate it by) is under half the promise: a few discs of
        radius 4 to 8 with Gaussian noise, whose edges every detail of every other pixel
        reached, went unjudged, and the line fitted on those edges took the transform, 4.6
        to 10.7 dB below the Gaussian path.

    Notes
    -----
    ``O(1)``.
    """
    if growth is None:
        return None
    first, last = model.measured_levels
    if not (model.clip_bound or growth.bulk_level < first
            or growth.bright_level > last + (last - first)):
        return None
    promised = float(model.std(growth.bright_level)) ** 2 / max(
        float(model.std(max(growth.bulk_level, 0.0))) ** 2, np.finfo(np.float64).tiny)
    if growth.clear:
        return True
    # Texture or edges inflate textured bright parts' variance, and a flat bulk's pixels may
    # spread with up to _FLAT_SPREAD times its noise: the noise's growth is then at most that
    # many times the observed, and only a shortfall beyond it is judged.
    shown = growth.observed * (_FLAT_SPREAD if growth.textured else 1.0)
    if shown * shown < promised and promised >= SIGNAL_DEPENDENT_GROWTH**2:
        return False
    if growth.textured:
        return None
    return True if promised >= CLEAR_GROWTH else None


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
    clipping at black leaves as they were. Integer data's values
    (:func:`nlmeans_cli.photon_counts.data_quantum`) are spread
    uniformly over their step first, a fixed pseudo-random dither, so that the quantiles are
    not rounded to it; the lattice's own variance (a twelfth of the step squared) stays, as
    it stays in the details. Flat: the variance of the details (tensor second differences)
    of the bulk's positions clear of clipping must be at least 1 / :data:`_FLAT_SPREAD` of
    the pixels' own. Planes over :data:`_BULK_PIXELS` are read in blocks spread over them
    (:func:`nlmeans_cli.noise_details.fit_blocks`). ``O(N)`` and a few quantiles.
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
    step = data_quantum(values)
    if 0 < step < np.inf:  # integer data (a constant bulk's step is infinite)
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
    if not sum(map(len, levels)):
        return np.nan, np.nan, np.nan, 0
    level, fine_details, coarse_details = (np.concatenate(parts)
                                           for parts in (levels, fine, coarse))
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

