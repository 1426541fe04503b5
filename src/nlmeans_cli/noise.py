"""Signal-dependent noise: the Poisson-Gaussian model, its fit from one image, the registry.

Cameras and fluorescence microscopes count photons: a pixel of mean ``x`` has the variance
``gain * x + read_noise**2`` (a Poisson count scaled by ``gain``, plus Gaussian read noise),
or ``gain * (x - black_level) + read_noise**2`` where the camera adds an offset. The
generalised Anscombe transform (:mod:`nlmeans_cli.anscombe`) turns such data into data of
variance 1, which the Gaussian path denoises. Every value here is on the unit scale (0-1 for
the full scale), as the rest of the package works.

References
----------
.. [1] A. Foi, M. Trimeche, V. Katkovnik and K. Egiazarian, "Practical Poissonian-Gaussian
   noise modeling and fitting for single-image raw-data", IEEE TIP 17(10), 2008.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from .clipped_levels import clear_range, clipped_ends, fit_clear_of_clipping
from .formulation import lookup
from .noise_details import DETAIL_SUPPORT, detail_statistics, fit_blocks
from .noise_levels import (
    black_level_line,
    intercept_error,
    intercept_for,
    slope_for,
    smoothest_line,
    variance_floor,
)
from .photon_counts import LatticeSearch, faint_photon_lattice, search_photon_lattice

__all__ = ["NOISE_MODELS", "SIGNAL_DEPENDENT_GROWTH", "NoiseModel", "PoissonGaussian",
           "fit_poisson_gaussian", "fit_positions", "lookup_noise"]


@dataclass(frozen=True)
class PoissonGaussian:
    """The parameters of ``variance(x) = gain * (x - black_level) + read_noise**2``, unit scale.

    Attributes
    ----------
    gain : float
        The Poisson part's scale (the value of one photon), >= 0.
    read_noise : float
        The Gaussian part's standard deviation, >= 0.
    read_noise_range : tuple of 2 float, or None
        Where the read noise was fitted from the levels' line: the read noise of every
        intercept within two of its standard errors (a line whose levels are all far
        brighter than the read noise leaves it undetermined), at least
        :attr:`read_noise_floor`. ``None`` where it was given or read off the photon counts'
        lattice. Not compared.
    read_noise_floor : float
        Where the photon counts' lattice was looked for and none came near showing, the
        least read noise that hides it at the fitted gain
        (:meth:`nlmeans_cli.photon_counts.LatticeSearch.least_read_noise`): the read noise
        is at least this. 0 otherwise. Not compared.
    black_level : float or None
        The value of no photons (a camera's offset, a pedestal), where the data carry one:
        the variance is then ``gain * (x - black_level) + read_noise**2``. Fitted where the
        levels' line clearly reaches no variance above black
        (:func:`nlmeans_cli.noise_levels.black_level_line`): the line is taken as it is, and
        since variances tell only ``read_noise**2 - gain * black_level``, the read noise is
        taken as the least the data allow (0 or :attr:`read_noise_floor`) and the black
        level as the least that goes with it; where the photon counts' lattice shows, its
        spacing, spread and phase place all three. ``None``: 0.
    clip_bound : bool
        Whether clipping reaches every level the gain was fitted on (each within three
        standard deviations of a clipped end) and no photon lattice showed: the line may be
        bent by the clipping, and ``noise="auto"`` does not take it. Not compared.
    measured_levels : tuple of 2 float, or None
        Where the parameters come from the levels' line, the least and greatest level it was
        fitted on; ``None`` where they were given or read off the photon counts' lattice.
        Not compared.
    clipped : tuple of 2 (float or None)
        Where fitted, the values at which the data clipped, low and high, ``None`` where they
        did not (:func:`nlmeans_cli.clipped_levels.clipped_ends`). Not compared.
    """

    gain: float
    read_noise: float
    read_noise_range: tuple[float, float] | None = field(default=None, compare=False)
    read_noise_floor: float = field(default=0.0, compare=False)
    black_level: float | None = None
    clip_bound: bool = field(default=False, compare=False)
    measured_levels: tuple[float, float] | None = field(default=None, compare=False)
    clipped: tuple[float | None, float | None] = field(default=(None, None), compare=False)

    @property
    def read_noise_determined(self) -> bool:
        """Tell whether the fit pins the read noise down: its range excludes 0 and the floor.

        That is, whether the levels' line alone tells it from none (its square's standard
        error at most half the fitted square) and from the least read noise that hides the
        photon counts' lattice; or the line falls short of that floor, which then stands.
        """
        if self.read_noise_range is None:
            return True
        low, high = self.read_noise_range
        return low > self.read_noise_floor or low >= high

    @property
    def variance_at_zero(self) -> float:
        """Return the variance at level 0: ``read_noise**2 - gain * black_level``.

        Below 0 where a black level lifts the level of no photons above 0.
        """
        return self.read_noise**2 - self.gain * (self.black_level or 0.0)

    def std(self, x: np.ndarray | float) -> np.ndarray | float:
        """Return the noise standard deviation at mean level *x*."""
        return np.sqrt(np.maximum(self.gain * np.asarray(x) + self.variance_at_zero, 0.0))

    def levels_clear_of(self, ends: tuple[float | None, float | None],
                        deviations: float) -> tuple[float, float]:
        """Return the least and greatest levels *deviations* standard deviations from *ends*.

        As :func:`nlmeans_cli.clipped_levels.clear_range` for this model's noise.
        """
        return clear_range(self.gain, self.variance_at_zero, ends, deviations)

    def signal_dependent(self, low: float, high: float) -> bool:
        """Tell whether the noise grows by :data:`SIGNAL_DEPENDENT_GROWTH` or more over a range.

        The standard deviation at *high* against that at *low*. Below that the Gaussian path,
        at one sigma, serves as well.
        """
        low_std, high_std = float(self.std(low)), float(self.std(high))
        return high_std >= SIGNAL_DEPENDENT_GROWTH * max(low_std, 1e-12)


#: How much the fitted noise must grow across an image's levels (0.1st to 99.9th percentile,
#: the 2nd to 98th when measured) for ``noise="auto"`` to stabilise it. Measured on 60
#: training images of train400 (never the validation split): with Gaussian noise of sigma 15,
#: 25 and 50 the fit's growth passes 1.5 on 7 %, 0 % and 0 % of them (texture read as a
#: slope; 1.1 passed on 23 %, 20 % and 17 %), with Poisson-Gaussian noise (gain 4, or a peak
#: of 20 photons; read noise 2) on all.
SIGNAL_DEPENDENT_GROWTH = 1.5


def fit_poisson_gaussian(image: np.ndarray, *, top: float = 1.0, gain: float | None = None,
                         read_noise: float | None = None, black_level: float | None = None
                         ) -> PoissonGaussian:
    """Fit ``variance(x) = gain * x + read_noise**2`` to one grey image (or volume).

    Parameters
    ----------
    image : numpy.ndarray
        2-D or 3-D, unit scale, float.
    top : float
        The value at which the sensor clips (1 for integer images); positions whose 3x3
        neighbourhood touches 0 or *top* are left out, since clipping shrinks their variance.
    gain, read_noise : float, optional
        A parameter known beforehand (a camera's gain, a dark frame's read noise): kept,
        and the other fitted with it held.
    black_level : float, optional
        The value of no photons where it is known (a camera's offset; 0 for none): the
        values are fitted above it, and no other is looked for. ``None``: looked for
        (:attr:`PoissonGaussian.black_level`).

    Returns
    -------
    PoissonGaussian
        The fitted parameters (gain and read noise at least 0), the known ones as given; a
        read noise fitted from the levels' line comes with its range
        (:attr:`PoissonGaussian.read_noise_range`).

    Notes
    -----
    After Foi et al. (reference 1). At every position a 3x3 neighbourhood gives a local mean
    and a detail, the product of second differences along both axes (scaled to the noise's
    variance), which cancels every quadratic and leaves half the texture a Haar detail
    would; positions on edges and texture (the roughest 40 %) are left out; the rest are
    grouped into levels of equal local mean (over 13x13 neighbourhoods, without the
    position's own pixels), where the noise variance is the details' mean square without
    their largest 0.1 %; a line through (mean, variance), weighted by the levels' counts
    and then by their precision (generalised least squares), with iterated outlier
    rejection, gives the two parameters. Where the smoothest positions' levels span under a
    tenth of the positions' (bright cells on a dark background), the smoothest 60 % of each
    level are taken instead. Where that noise grows across the levels, the
    roughest 40 % is measured again in units of the fitted noise, and the line fitted
    again. Planes are read in cache-sized bands of rows, and at most
    :data:`nlmeans_cli.noise_details.FIT_PIXELS` of them in all (larger planes in square
    blocks spread over them, :func:`nlmeans_cli.noise_details.fit_blocks`). Where the line
    puts the read noise under twice the gain (or two of its intercept's standard errors
    below it do), the photon counts' lattice is looked for near its gain, and where the
    image clips at every gain of 4 to 1024 photons across its values
    (:func:`nlmeans_cli.photon_counts.search_photon_lattice`, on up to a megapixel of
    values, and near the line's gain too where that finds nothing or a lattice whose
    variances overshoot the levels' tenfold); found, its spacing and spread are the
    parameters. Where the line reads photon noise, a
    lattice too faint for that search is looked for within 6 % of its gain, its phase known
    (:func:`nlmeans_cli.photon_counts.faint_photon_lattice`). Where none comes near
    showing, the read noise is at least what hides it
    (:attr:`PoissonGaussian.read_noise_floor`): the model's counts are whole photons; a line
    whose intercept lies below that floor is fitted again through it (unless the intercept
    lies clearly below 0). Where the levels' line clearly reaches 0 above black, a black
    level (a camera's offset) is taken into the model, the line kept as it is, and the
    lattice looked for at any phase (:attr:`PoissonGaussian.black_level`); a known one is
    subtracted first. Data whose counts are not on a
    lattice (interpolated, resampled, or multiplied by an electron-multiplying register)
    may have less read noise than that floor, which is at most about half the gain (counts
    with no read noise, their lattice hidden by a 3 % spread of the pixels' gains: +0.02 dB
    against the true 0, on 15 training images). ``O(N)`` for ``N`` up to that many pixels
    per plane, plus one or two linear-time (radix) sorts.
    """
    if black_level:
        # Known: the values above it are fitted as the model's, their counts starting at 0
        # (the clipped ends read off the values themselves, exactly).
        values = np.asarray(image, np.float32)
        above = fit_poisson_gaussian(values - np.float32(black_level), top=top - black_level,
                                     gain=gain, read_noise=read_noise, black_level=0.0)
        ends = clipped_ends(values if values.ndim == 3 else values[np.newaxis], top)
        return _raised(above, float(black_level), ends)
    if gain is not None and read_noise is not None:
        return PoissonGaussian(float(gain), float(read_noise))
    # float32 per position (half the memory traffic of float64); the levels' sums in float64.
    planes = np.asarray(image, np.float32)
    if planes.ndim == 2:
        planes = planes[np.newaxis]
    # The clipped ends, as the positions' and the values' filters take them.
    ends = clipped_ends(planes, top)
    clip_low, clip_high = (end is not None for end in ends)
    read = fit_positions(planes, ends)
    if read is None:
        return PoissonGaussian(float(gain or 0.0), float(read_noise or 0.0))
    (mean, detail, rough, local), span = read
    # The smoothest 60 %: there the detail is noise.
    xs, ys, weights, slope, offset = smoothest_line(mean, detail, local, rough, span)
    if xs.size and PoissonGaussian(slope, np.sqrt(max(offset, 0.0))).signal_dependent(
            max(float(xs.min()), 0.0), float(xs.max())):
        # The roughness holds the noise too, which here grows with the level: the smoothest
        # positions of an image whose most are dark background would all be background, and
        # the few bright levels left would not set the slope (a disc on a black field nine
        # times its size: the gain 0.68-0.95 of the truth, 0.96-1.01 so). Chosen again on
        # the roughness in units of the fitted noise, the levels are fitted again.
        calm = rough / np.sqrt(np.maximum(slope * local + offset, variance_floor(ys)))
        calmer = smoothest_line(mean, detail, local, calm, span)
        # Spots on a dark background: their slopes stay rough in units of the noise, and
        # the levels chosen again can shrink to the background's, which set no slope; the
        # first choice then stands (spots over 5 to 15 % of a field: the gain within 20 % on
        # 91 against 86 % of 76 fields; never on the 360 training photographs at gain 4, in
        # float and 8 bits, 2 or 1, or 20 photons, nor on the stacks).
        if calmer[0].size and np.ptp(calmer[0]) >= _LEAST_CALMER_SPAN * np.ptp(xs):
            xs, ys, weights, slope, offset = calmer
    kept, bent = np.ones(xs.size, bool), False
    if clip_low or clip_high:
        xs, ys, weights, slope, offset, kept, bent = fit_clear_of_clipping(
            (xs, ys, weights), (slope, offset), (mean, detail, local, rough), ends, span)
    # Where the counts' lattice shows, its spacing and spread measure both parameters far
    # better than the levels' line (whose intercept, the read noise, is an extrapolation).
    # It shows only where the read noise is under about half the gain: looked for near the
    # line's gain (or the known one) where the line puts the read noise under twice the
    # gain, and over every gain where clipping may have misled the line.
    clipped = clip_low or clip_high
    # A camera's offset lifts the level of no photons above 0: the line bound at 0 then
    # fits the gain low (a third to a half of the truth at offsets of 500 of 65535), and
    # says nothing of the read noise.
    black_line = (black_level_line(xs[kept], ys[kept], weights[kept], gain)
                  if read_noise is None and black_level is None and kept.sum() >= 3 else None)
    line_slope = slope if black_line is None else black_line[0]
    near_line = 0 < line_slope and (black_line is not None or offset < (2 * slope) ** 2)
    # The intercept is an extrapolation: levels far brighter than the read noise (a dark
    # background left out where it clipped at black) can leave read noise under twice the
    # gain within two of its errors, and the lattice is looked for there too (a faint one
    # not: the bar a faint one clears, cleared by chance, would set the read noise).
    may_be_near = near_line or (0 < line_slope and kept.sum() >= 2 and offset - 2 * (
        intercept_error(xs[kept], weights[kept], slope, offset, variance_floor(ys[kept]),
                        slope_fitted=gain is None)) < (2 * slope) ** 2)
    search = LatticeSearch(None)
    if clipped or may_be_near:
        values = _lattice_values(planes, *ends)
        centre = line_slope if gain is None else gain
        around = (centre / _LATTICE_BAND, centre * _LATTICE_BAND)
        # Where a black level shows, the lattice's points may lie anywhere.
        any_phase = black_line is not None
        if clipped:
            span = float(values.max() - values.min()) if values.size else 0.0
            search = search_photon_lattice(values, span / _MOST_LATTICE_PHOTONS,
                                           span / _FEWEST_LATTICE_PHOTONS, any_phase=any_phase)
            if _overshoots(search.found, xs[kept], ys[kept]):
                # Not photons: values gathered in a few narrow clumps (a few flat objects)
                # that a wide spacing happens to fit.
                search = LatticeSearch(None)
            if search.found is None and may_be_near:
                # Near the line's gain the lattice may lie beyond the wide search (more
                # photons across the range than it tries); where the widest spacings'
                # histogram shape stood out, the wide search learns no least read noise,
                # which is asked there too.
                near = search_photon_lattice(values, *around, any_phase=any_phase)
                if near.found is not None or search.searched is None:
                    search = near
        else:
            search = search_photon_lattice(values, *around, any_phase=any_phase)
        # Too faint to find blind, a lattice may still stand out near the line's gain, its
        # phase known (not where a black level shows).
        faint = (None if search.found or not near_line or any_phase
                 else faint_photon_lattice(values, centre))
        if faint is not None:
            search = LatticeSearch(faint)
    lattice = search.found
    if lattice is not None:
        slope, offset, bent = lattice[0], lattice[1] ** 2, False
    elif gain is not None and kept.any():
        # Held at the known gain, the line's intercept is far better placed than the joint
        # fit's, which trades one against the other (on 90 training photographs with the
        # true gain given, the read noise within 30 % on 14 and 37 % of them at gain 4 and 2
        # with read noise 2, and 64 % at gain 1 with read noise 3, against 6, 20 and 33 %).
        offset = intercept_for(xs[kept], ys[kept], weights[kept], gain)
    elif read_noise is not None and kept.any():
        slope = slope_for(xs[kept], ys[kept], weights[kept], read_noise**2, slope)
    slope, offset, spread, black = (slope if gain is None else gain), max(offset, 0.0), None, None
    below_zero = False
    if lattice is not None and kept.sum() >= 3:
        # The lattice's spacing and spread are the gain and the read noise wherever the
        # counts start; the levels' line at that gain tells where they start.
        black_line = black_level_line(xs[kept], ys[kept], weights[kept], slope)
        if black_line is not None:
            # The lattice's points lie a whole number of photons above black.
            black = (offset - black_line[1]) / slope
            black = search.start + slope * round((black - search.start) / slope)
    # Counts on a lattice (the model's whole photons) that none came near showing have read
    # noise enough to hide it; the line's intercept, an extrapolation, often says less (on
    # 120 training photographs at gain 4 and read noise 2, 0 on half of them).
    floor = 0.0 if read_noise is not None else search.least_read_noise(slope)
    if lattice is None and read_noise is None and kept.sum() >= 2 and (slope > 0 or offset > 0):
        # The levels' variances scatter by sqrt(2 / count) of themselves; where the darkest
        # are far above the read noise's variance, the intercept's error is far larger than
        # it (on the validation photographs at gain 4, read noise 2, a median 5.6 times).
        error = intercept_error(xs[kept], weights[kept], slope, offset,
                                variance_floor(ys[kept]), slope_fitted=gain is None)
        spread = (float(np.sqrt(max(offset - 2 * error, 0.0))), float(np.sqrt(offset + 2 * error)))
        # An intercept clearly below 0 is not the floor's to lift (below), though the levels
        # may scatter too much to take it for a black level.
        below_zero = intercept_for(xs[kept], ys[kept], weights[kept],
                                   slope) + _BELOW_ZERO_ERRORS * error < 0
        if black_line is not None:
            # Variances tell read_noise^2 - gain * black only: the read noise is taken as the
            # least the data allow, the black level as the least that goes with it.
            slope, below = black_line
            floor = search.least_read_noise(slope)
            black, offset = (floor**2 - below) / slope, floor**2
    if gain is None and not below_zero and offset < floor**2 and kept.any():
        # The line's intercept below the floor traded read noise for gain: the line is fitted
        # again through the floor (the fit under that bound), whose gain moves the floor.
        # Not where the intercept lies clearly below 0: there the line is a black level's,
        # or texture's whose contrast grows with the level, not the read noise's.
        # (On 120 training photographs the gain within 20 % on 94, 93 and 88 % against 92,
        # 92 and 83 % at gain 4, the same saved as 8 bits, and gain 2.)
        for _ in range(_FLOOR_ROUNDS):
            slope = slope_for(xs[kept], ys[kept], weights[kept], floor**2, slope)
            floor = search.least_read_noise(slope)
    if spread is not None:
        spread = (max(spread[0], floor), max(spread[1], floor))
    return PoissonGaussian(float(slope),
                           float(max(np.sqrt(offset), floor) if read_noise is None
                                 else read_noise),
                           read_noise_range=spread, read_noise_floor=floor, black_level=black,
                           clip_bound=bool(bent and gain is None),
                           measured_levels=(float(xs[kept].min()), float(xs[kept].max()))
                           if lattice is None and kept.any() else None, clipped=ends)


def _overshoots(lattice: tuple[float, float] | None, xs: np.ndarray, ys: np.ndarray) -> bool:
    """Return whether a lattice's model puts the levels' variances far above their own."""
    if lattice is None or xs.size == 0:
        return False
    modelled = lattice[0] * xs + lattice[1] ** 2
    return bool(np.median(modelled / np.maximum(ys, variance_floor(ys))) > _LATTICE_EXCESS)


def _raised(model: PoissonGaussian, black_level: float,
            clipped: tuple[float | None, float | None]) -> PoissonGaussian:
    """Return *model*, fitted on values less *black_level*, for the values (clipped there)."""
    levels = model.measured_levels
    return replace(model, black_level=black_level, clipped=clipped,
                   measured_levels=None if levels is None else (levels[0] + black_level,
                                                                levels[1] + black_level))


def fit_positions(planes: np.ndarray, ends: tuple[float | None, float | None], *,
                  dtype: type = np.float32) -> tuple[tuple[np.ndarray, ...], float] | None:
    """Return every position the fit reads of some planes, and the span of their levels.

    Parameters
    ----------
    planes : numpy.ndarray
        3-D, float, unit scale: one channel's planes.
    ends : tuple of 2 (float or None)
        The values at which the data clipped (:func:`nlmeans_cli.clipped_levels.clipped_ends`).
    dtype : type
        The precision each block is read in (converted block by block, so that a stack's
        channel is never copied whole).

    Returns
    -------
    tuple or None
        The positions' 3x3 means, details, roughness and level keys
        (:func:`nlmeans_cli.noise_details.detail_statistics`, over the fit's blocks,
        :func:`nlmeans_cli.noise_details.fit_blocks`), and the range of levels they span
        (0.1st to 99.9th percentile: cells a few percent of the image count), which the
        levels fitted should cover. ``None`` with too few positions to fit.

    Notes
    -----
    ``O(N)`` for ``N`` up to :data:`nlmeans_cli.noise_details.FIT_PIXELS` pixels.
    """
    parts = [detail_statistics(np.asarray(block, dtype), *ends)
             for index, plane in enumerate(planes)
             for block in fit_blocks(plane, planes.shape[0], index)]
    parts = [part for part in parts if part is not None]
    if not parts or sum(part[0].size for part in parts) < 64 * DETAIL_SUPPORT:
        return None
    positions = tuple(np.concatenate(values) for values in zip(*parts, strict=True))
    levels_low, levels_high = np.quantile(positions[0], [0.001, 0.999])
    return positions, float(levels_high - levels_low)


def _lattice_values(planes: np.ndarray, clip_low: float | None, clip_high: float | None
                    ) -> np.ndarray:
    """Return at most :data:`_LATTICE_VALUES` of the planes' values, strided, unclipped."""
    flat = planes.ravel()[:: max(1, planes.size // _LATTICE_VALUES)]
    for bound in (clip_low, clip_high):
        if bound is not None:
            flat = flat[flat != bound]
    return flat


#: How far from the line's gain the counts' lattice is looked for (a factor either way).
_LATTICE_BAND = 1.35

#: Where clipping may have misled the line, lattices of this many photons across the values'
#: range (from the most to the fewest) are looked for. With 4 (it was 10), 8-bit images at a
#: peak of 5 to 9 photons, where clipping takes the line's gain to a third or two thirds of
#: the truth, are fitted exactly; no false lattice in 2552 searches on 3200 8-bit training
#: images (Gaussian noise or none, clipped, stretched) nor in 981 on 1200 16-bit ones.
_MOST_LATTICE_PHOTONS, _FEWEST_LATTICE_PHOTONS = 1024, 4

#: The most values the counts' lattice is looked for in (its power grows with their number;
#: a megapixel finds a lattice up to read noise of about half the gain, 180x180 to 0.4).
_LATTICE_VALUES = 1 << 20

#: How many times the variances the levels measure a found lattice's model may put them at
#: (the median over the levels) before it is taken for chance. A lattice's counts have the
#: levels' variances, but clipping takes the line's gain to a third of the truth at most (8-bit
#: images at a peak of 5 photons, above); a 16-bit stack of a few flat discs on a dark
#: background clipped at black fitted a lattice 135 times the gain, its variances 100 times
#: and more the levels'.
_LATTICE_EXCESS = 10.0

#: How often the line is fitted again through the lattice's floor, which moves with its gain
#: (by a few percent at most after the first).
_FLOOR_ROUNDS = 3

#: How many of its standard errors the levels' intercept must lie below 0 for the line not
#: to be fitted again through the lattice's floor. (With 3, of 200 training photographs at
#: gains 4, 2 and 1, read noise 2, 2 and 3, 1, 0 and 1 were so, none at a peak of 20 photons
#: nor saved as 8 bits.)
_BELOW_ZERO_ERRORS = 3.0


#: The least share of the first choice's span of levels that the levels chosen again on the
#: roughness in units of the fitted noise must span to replace it.
_LEAST_CALMER_SPAN = 0.3


@dataclass(frozen=True)
class NoiseModel:
    """A registered noise model, as ``--noise`` and ``denoise(noise=...)`` name it.

    Attributes
    ----------
    name : str
        The registry key.
    description : str
        For ``--help``.
    stabilises : callable
        ``stabilises(model, low, high) -> bool``: whether to go through the Anscombe
        transform for a fitted *model* and an image spanning the levels *low* to *high*.
    confirms : bool
        Whether a fitted model must also be confirmed by the transformed image's own noise:
        measured, at least :data:`nlmeans_cli.stabiliser.CONFIRMING_SHARE` of the sigma the
        transform promises.
    """

    name: str
    description: str
    stabilises: Callable[[PoissonGaussian, float, float], bool]
    confirms: bool = False


#: The noise models, by name.
NOISE_MODELS: dict[str, NoiseModel] = {
    "gaussian": NoiseModel("gaussian", "white Gaussian noise of one sigma",
                           lambda model, low, high: False),
    "poisson-gaussian": NoiseModel(
        "poisson-gaussian", "variance gain * x + read_noise^2 (photon counts plus read "
        "noise), denoised through the generalised Anscombe transform",
        lambda model, low, high: model.gain > 0 or model.read_noise > 0),
    "auto": NoiseModel(
        "auto", "poisson-gaussian where the fitted noise grows by half or more across the "
        "image's levels and the transformed image shows it, else gaussian",
        lambda model, low, high: (model.gain > 0 and not model.clip_bound
                                  and model.signal_dependent(low, high)),
        confirms=True),
}


def lookup_noise(name: str) -> NoiseModel:
    """Return the registered noise model *name*.

    Raises
    ------
    ValueError
        If *name* is not registered; the message lists the known ones.
    """
    return lookup(NOISE_MODELS, name, "noise model")
