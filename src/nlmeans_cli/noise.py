"""Signal-dependent noise: the Poisson-Gaussian model, its fit from one image, its stabilisation.

Cameras and fluorescence microscopes count photons: a pixel of mean ``x`` has the variance
``gain * x + read_noise**2`` (a Poisson count scaled by ``gain``, plus Gaussian read noise).
The generalised Anscombe transform (GAT) turns such data into data of variance 1, which the
Gaussian path denoises; Makitalo and Foi's closed-form approximation of the exact unbiased
inverse brings the estimate back. Every value here is on the unit scale (0-1 for the full
scale), as the rest of the package works.

References
----------
.. [1] A. Foi, M. Trimeche, V. Katkovnik and K. Egiazarian, "Practical Poissonian-Gaussian
   noise modeling and fitting for single-image raw-data", IEEE TIP 17(10), 2008.
.. [2] M. Makitalo and A. Foi, "Optimal inversion of the generalized Anscombe transformation
   for Poisson-Gaussian noise", IEEE TIP 22(1), 2013.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .formulation import lookup
from .photon_counts import fit_photon_lattice

__all__ = ["NOISE_MODELS", "NoiseModel", "PoissonGaussian", "Stabiliser", "anscombe",
           "FIT_PIXELS", "fit_poisson_gaussian", "inverse_anscombe", "local_mean", "lookup_noise",
           "plan_stabiliser"]


@dataclass(frozen=True)
class PoissonGaussian:
    """The parameters of ``variance(x) = gain * x + read_noise**2``, on the unit scale.

    Attributes
    ----------
    gain : float
        The Poisson part's scale (the value of one photon), >= 0.
    read_noise : float
        The Gaussian part's standard deviation, >= 0.
    """

    gain: float
    read_noise: float

    def std(self, x: np.ndarray | float) -> np.ndarray | float:
        """Return the noise standard deviation at mean level *x*."""
        return np.sqrt(np.maximum(self.gain * np.asarray(x) + self.read_noise**2, 0.0))

    def signal_dependent(self, low: float, high: float) -> bool:
        """Tell whether the noise grows by :data:`SIGNAL_DEPENDENT_GROWTH` or more over a range.

        The standard deviation at *high* against that at *low*. Below that the Gaussian path,
        at one sigma, serves as well.
        """
        low_std, high_std = float(self.std(low)), float(self.std(high))
        return high_std >= SIGNAL_DEPENDENT_GROWTH * max(low_std, 1e-12)


#: How much the fitted noise must grow across an image's levels (2nd to 98th percentile) for
#: ``noise="auto"`` to stabilise it. Measured on 60 training images of train400 (never the
#: validation split): with Gaussian noise of sigma 15, 25 and 50 the fit's growth passes 1.5 on
#: 7 %, 0 % and 0 % of them (texture read as a slope; 1.1 passed on 23 %, 20 % and 17 %),
#: with Poisson-Gaussian noise (gain 4, or a peak of 20 photons; read noise 2) on all.
SIGNAL_DEPENDENT_GROWTH = 1.5


def anscombe(z: np.ndarray, model: PoissonGaussian) -> np.ndarray:
    """Apply the generalised Anscombe transform: Poisson-Gaussian data to variance 1.

    Parameters
    ----------
    z : numpy.ndarray
        Noisy values, unit scale.
    model : PoissonGaussian
        Their noise (``gain`` > 0).

    Returns
    -------
    numpy.ndarray
        float32 ``2 / gain * sqrt(max(gain * z + 3/8 gain^2 + read_noise^2, 0))``.

    Notes
    -----
    One pass, ``O(N)``.
    """
    gain = float(model.gain)
    inside = gain * np.asarray(z, np.float64) + 0.375 * gain * gain + model.read_noise**2
    return (2.0 / gain * np.sqrt(np.maximum(inside, 0.0))).astype(np.float32)


def inverse_anscombe(d: np.ndarray, model: PoissonGaussian) -> np.ndarray:
    """Undo :func:`anscombe` for a denoised *d*: the closed-form unbiased inverse.

    Parameters
    ----------
    d : numpy.ndarray
        A denoised transform.
    model : PoissonGaussian
        The noise the transform was made for.

    Returns
    -------
    numpy.ndarray
        float32 estimates of the mean, unit scale, never below 0.

    Notes
    -----
    Makitalo and Foi's approximation of the exact unbiased inverse (reference 2): unlike the
    algebraic inverse it carries no bias at low counts. ``O(N)``.
    """
    d = np.asarray(d, np.float64)
    sigma = model.read_noise / model.gain
    root = np.sqrt(1.5)
    # Below the transform of a zero count (2 sqrt(3/8)) the mean is 0; the series, made for
    # larger values, would blow up there (its terms in 1/d^3).
    floor = 2.0 * np.sqrt(0.375)
    safe = np.maximum(d, floor)
    counts = (0.25 * safe * safe + 0.25 * root / safe - 1.375 / safe**2
              + 0.625 * root / safe**3 - 0.125 - sigma * sigma)
    counts = np.where(d < floor, 0.0, counts)
    return (np.maximum(counts, 0.0) * model.gain).astype(np.float32)


def fit_poisson_gaussian(image: np.ndarray, *, top: float = 1.0) -> PoissonGaussian:
    """Fit ``variance(x) = gain * x + read_noise**2`` to one grey image (or volume).

    Parameters
    ----------
    image : numpy.ndarray
        2-D or 3-D, unit scale, float.
    top : float
        The value at which the sensor clips (1 for integer images); positions whose 3x3
        neighbourhood touches 0 or *top* are left out, since clipping shrinks their variance.

    Returns
    -------
    PoissonGaussian
        The fitted parameters (gain and read noise at least 0).

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
    rejection, gives the two parameters. Where that noise grows across the levels, the
    roughest 40 % is measured again in units of the fitted noise, and the line fitted
    again. Planes are read in cache-sized bands of
    rows, and at most :data:`FIT_PIXELS` of each (evenly spaced bands). Where the line
    puts the read noise under twice the gain, the photon counts' lattice is looked for
    near its gain, and where the image clips at every gain of 10 to 1024 photons across
    its values (:func:`nlmeans_cli.photon_counts.fit_photon_lattice`, on up to a megapixel
    of values); found, its spacing and spread are the parameters. ``O(N)`` for
    ``N`` up to that many pixels per plane, plus one or two linear-time (radix) sorts.
    """
    # float32 per position (half the memory traffic of float64); the levels' sums in float64.
    planes = np.asarray(image, np.float32)
    if planes.ndim == 2:
        planes = planes[np.newaxis]
    # A sensor that clips piles many pixels onto one value; unclipped data (negative values
    # from read noise included) does not, and keeps its darkest positions.
    low, high = float(planes.min()), float(planes.max())
    crowded = max(16, planes.size // 1000)
    clip_low = low <= 0 and np.count_nonzero(planes == low) > crowded
    clip_high = high >= top and np.count_nonzero(planes == high) > crowded
    # The clipped ends, as the positions' and the values' filters take them.
    ends = (low if clip_low else None, high if clip_high else None)
    parts = [_detail_statistics(band, *ends)
             for plane in planes for band in _fit_bands(plane, planes.shape[0])]
    parts = [part for part in parts if part is not None]
    if not parts or sum(part[0].size for part in parts) < 64 * _DETAIL_SUPPORT:
        return PoissonGaussian(0.0, 0.0)
    mean, detail, rough, local = (np.concatenate(values) for values in zip(*parts, strict=True))
    # The smoothest 60 %: there the detail is noise. (Measured on 80 training images: the
    # gain within 20 % on 95 and 100 % of them at gain 4 and at 20 photons, against 89 and
    # 95 % with the 2x2 blocks' Haar detail.)
    smooth = rough <= np.quantile(rough, _SMOOTH_SHARE)
    xs, ys, weights = _level_variances(mean[smooth], detail[smooth], local[smooth])
    gain, offset = _fit_levels(xs, ys, weights)
    if xs.size and PoissonGaussian(gain, np.sqrt(max(offset, 0.0))).signal_dependent(
            max(float(xs.min()), 0.0), float(xs.max())):
        # The roughness holds the noise too, which here grows with the level: the smoothest
        # positions of an image whose most are dark background would all be background, and
        # the few bright levels left would not set the slope (a disc on a black field nine
        # times its size: the gain 0.68-0.95 of the truth, 0.96-1.01 so). Chosen again on
        # the roughness in units of the fitted noise, the levels are fitted again.
        calm = rough / np.sqrt(np.maximum(gain * local + offset, _variance_floor(ys)))
        smooth = calm <= np.quantile(calm, _SMOOTH_SHARE)
        xs, ys, weights = _level_variances(mean[smooth], detail[smooth], local[smooth])
        gain, offset = _fit_levels(xs, ys, weights)
    if clip_low or clip_high:
        # Levels within three standard deviations of a clipped end lose the tail of their
        # noise to the clipping (their variance shrinks): they are left out, and the line
        # fitted again.
        spread = 3 * np.sqrt(np.maximum(gain * xs + offset, 0.0))
        near = np.zeros(xs.size, bool)
        if clip_high:
            near |= xs + spread > high
        if clip_low:
            near |= xs - spread < low
        if near.any() and (~near).sum() >= 3:
            gain, offset = _fit_levels(xs[~near], ys[~near], weights[~near])
    # Where the counts' lattice shows, its spacing and spread measure both parameters far
    # better than the levels' line (whose intercept, the read noise, is an extrapolation).
    # It shows only where the read noise is under about half the gain: looked for near the
    # line's gain where the line puts the read noise under twice the gain, and over every
    # gain where clipping may have misled the line.
    clipped = clip_low or clip_high
    if clipped or (0 < gain and offset < (2 * gain) ** 2):
        values = _lattice_values(planes, *ends)
        if clipped:
            span = float(values.max() - values.min()) if values.size else 0.0
            band = (span / _MOST_LATTICE_PHOTONS, span / _FEWEST_LATTICE_PHOTONS)
        else:
            band = (gain / _LATTICE_BAND, gain * _LATTICE_BAND)
        lattice = fit_photon_lattice(values, *band)
        if lattice is not None:
            return PoissonGaussian(*lattice)
    return PoissonGaussian(float(gain), float(np.sqrt(max(offset, 0.0))))


def _level_variances(mean: np.ndarray, detail: np.ndarray, local: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return each level's mean, noise variance and weight, levels of equal *local* mean."""
    # Ordered on 16-bit keys, which NumPy sorts by radix in linear time; 65536 steps across
    # the image's range split no level that matters.
    span = max(float(local.max() - local.min()), 1e-300)
    order = np.argsort(((local - local.min()) * (65535 / span)).astype(np.uint16), kind="stable")
    mean, detail = mean[order], detail[order]
    levels = max(4, min(80, mean.size // 450))
    xs, ys, weights = [], [], []
    for group_mean, group_detail in zip(np.array_split(mean, levels),
                                        np.array_split(detail, levels), strict=True):
        if group_detail.size < 16:
            continue
        # The plain variance: at a few photons per pixel the noise is too skewed for a
        # median-based estimate, which would miss the rare counts. The 0.1 % largest
        # details (what texture the smoothness test let through) are left out; more
        # would cut the noise's own tails and bias the gain low.
        magnitude = np.abs(group_detail)
        # The elements up to the 99.9th percentile: those at most the order statistic below
        # it (the set np.quantile's interpolated value keeps), found by one partition.
        k = int(0.999 * (magnitude.size - 1))
        kept = group_detail[magnitude <= np.partition(magnitude, k)[k]]
        xs.append(float(np.mean(group_mean, dtype=np.float64)))
        ys.append(float(np.mean(np.square(kept, dtype=np.float64))))
        # Neighbouring details share pixels: a level holds about one independent detail
        # per neighbourhood's worth of positions.
        weights.append(group_detail.size / _DETAIL_SUPPORT)
    return np.array(xs), np.array(ys), np.array(weights, np.float64)


def _lattice_values(planes: np.ndarray, clip_low: float | None, clip_high: float | None
                    ) -> np.ndarray:
    """Return at most :data:`_LATTICE_VALUES` of the planes' values, strided, unclipped."""
    flat = planes.ravel()[:: max(1, planes.size // _LATTICE_VALUES)]
    for bound in (clip_low, clip_high):
        if bound is not None:
            flat = flat[flat != bound]
    return flat


#: The most pixels of one plane :func:`fit_poisson_gaussian` reads (larger planes are read
#: in evenly spaced bands of rows): a quarter megapixel gives some 150 000 smooth positions,
#: far more than the line's two parameters need (on 1024x1024 mosaics of training images
#: the gain came within 4 % with this and with sixteen times as many), and bounds the
#: fit's time and memory.
FIT_PIXELS = 1 << 18

#: How far from the line's gain the counts' lattice is looked for (a factor either way).
_LATTICE_BAND = 1.35

#: Where clipping may have misled the line, lattices of this many photons across the values'
#: range (from the most to the fewest) are looked for; with fewer, a histogram's own peaks
#: (a nearly clean image's flat regions) could pass for one.
_MOST_LATTICE_PHOTONS, _FEWEST_LATTICE_PHOTONS = 1024, 10

#: The most values the counts' lattice is looked for in (its power grows with their number;
#: a megapixel finds a lattice up to read noise of about half the gain, 180x180 to 0.4).
_LATTICE_VALUES = 1 << 20

#: Rows of positions per band: a band's arrays stay in a core's cache (a 512x512 image is
#: fitted in 18 to 21 ms in bands of 128 rows, 29 to 34 ms whole; 64 and 256 rows did no
#: better).
_FIT_BAND_ROWS = 128

#: How far apart the means compared for the roughness are (one neighbourhood), which is
#: also how far from a band's edge its positions stay.
_ROUGHNESS_STEP = 3

#: The rows a band reads beyond its positions: one for the 3x3 neighbourhood and the
#: roughness's step, so that the bands' positions tile the plane.
_FIT_BAND_HALO = 1 + _ROUGHNESS_STEP

#: The pixels under one detail (its 3x3 neighbourhood).
_DETAIL_SUPPORT = 9

#: The radius, in 3x3 means, of the local mean that sorts positions into levels.
_LEVEL_KEY_RADIUS = 6

#: The share of positions, the smoothest, whose details are taken for noise.
_SMOOTH_SHARE = 0.6


def _fit_bands(plane: np.ndarray, n_planes: int) -> list[np.ndarray]:
    """Return bands of the plane's rows: all of them, or evenly spaced ones when it is large.

    Each band holds :data:`_FIT_BAND_ROWS` rows of positions and reads
    :data:`_FIT_BAND_HALO` rows either side, so that consecutive bands' positions tile the
    plane as the whole plane's would (only the levels' local means near a band's edge see
    the band's edge repeated instead of the rows beyond it).
    """
    halo, step = _FIT_BAND_HALO, _FIT_BAND_ROWS
    height = plane.shape[0]
    starts = list(range(0, max(height - 2 * halo, 1), step))
    budget = max(FIT_PIXELS // max(n_planes, 1), step * plane.shape[1])
    wanted = max(1, budget // (step * plane.shape[1]))
    if len(starts) > wanted:
        starts = [starts[int(i)] for i in np.linspace(0, len(starts) - 1, wanted)]
    return [plane[start:min(start + step + 2 * halo, height)] for start in starts]


def _detail_statistics(plane: np.ndarray, clip_low: float | None, clip_high: float | None
                       ) -> tuple[np.ndarray, ...] | None:
    """Per usable position: the 3x3 mean, the detail, the roughness and the level's mean.

    Positions within :data:`_ROUGHNESS_STEP` of the border, or whose neighbourhood touches
    a clipped end, are left out; ``None`` when none is left.
    """
    # One position needs its neighbourhood and the roughness's step either side.
    if min(plane.shape) < 2 * _FIT_BAND_HALO + 1:
        return None
    rows = plane[:-2] - 2 * plane[1:-1] + plane[2:]
    # Scaled by 1/6: the 3x3 filter's squared taps sum to 36, so white noise keeps its variance.
    detail = (rows[:, :-2] - 2 * rows[:, 1:-1] + rows[:, 2:]) / 6
    sums = plane[:-2] + plane[1:-1] + plane[2:]
    mean = (sums[:, :-2] + sums[:, 1:-1] + sums[:, 2:]) / 9
    # The means' own gradient, one neighbourhood apart: large on edges and texture, whose
    # detail holds signal as well as noise. (Means and details of one neighbourhood are
    # uncorrelated under white noise, so choosing on it does not bias the variance.)
    step = _ROUGHNESS_STEP
    inner = (slice(step, -step), slice(step, -step))
    gradient = (np.abs(mean[2 * step:, step:-step] - mean[:-2 * step, step:-step])
                + np.abs(mean[step:-step, 2 * step:] - mean[step:-step, :-2 * step]))
    keep = np.ones(gradient.shape, bool)
    for bound, reduce in ((clip_low, np.minimum), (clip_high, np.maximum)):
        if bound is None:
            continue
        along = reduce(reduce(plane[:-2], plane[1:-1]), plane[2:])
        extreme = reduce(reduce(along[:, :-2], along[:, 1:-1]), along[:, 2:])
        keep &= extreme[inner] != bound
    if not keep.any():
        return None
    # Levels are formed on a local mean over 13x13 neighbourhoods that leaves out the
    # position's own 3x3 pixels (each of which weighs 1 / 13^2 in it), so that the key's
    # noise is independent of the detail and mean it sorts: keyed on the noise of those
    # pixels, a large flat region would be split into levels whose means spread with that
    # noise while their variances do not, a flat run that pulls the line's slope towards 0
    # (the gain 20 % low on a fundus photograph that is three quarters black background).
    side = 2 * _LEVEL_KEY_RADIUS + 1
    local = ((side * side * local_mean(mean, _LEVEL_KEY_RADIUS)[inner]
              - _DETAIL_SUPPORT * mean[inner]) / (side * side - _DETAIL_SUPPORT))
    if keep.all():
        return mean[inner].ravel(), detail[inner].ravel(), gradient.ravel(), local.ravel()
    return mean[inner][keep], detail[inner][keep], gradient[keep], local[keep]


def local_mean(plane: np.ndarray, radius: int) -> np.ndarray:
    """Mean over ``(2 radius + 1)^2`` neighbours, edges repeated, from cumulative sums.

    Parameters
    ----------
    plane : numpy.ndarray
        2-D, float.
    radius : int
        The neighbourhood's radius.

    Returns
    -------
    numpy.ndarray
        The means, float64, the plane's shape.

    Notes
    -----
    scipy.ndimage's ``uniform_filter`` with mode ``"nearest"``: importing scipy.ndimage for it
    would cost every ``nlm denoise`` a tenth of a second. ``O(N)``.
    """
    side = 2 * radius + 1
    padded = np.pad(np.asarray(plane, np.float64), radius, mode="edge")
    # Along rows, then along columns (transposed views): window sums as differences of
    # cumulative sums, written into the result's slices (no index arrays, no copies).
    for _ in range(2):
        sums = np.cumsum(padded, axis=0)
        windows = np.empty((sums.shape[0] - side + 1,) + sums.shape[1:], np.float64)
        windows[0] = sums[side - 1]
        np.subtract(sums[side:], sums[:-side], out=windows[1:])
        padded = windows.T
    return padded / (side * side)


def _fit_levels(xs: np.ndarray, ys: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Slope (gain) and intercept (read noise squared) of the levels' variance line."""
    keep = np.ones(xs.size, bool)
    floor = _variance_floor(ys)
    if floor == 0:  # no level varies: no noise to fit
        return 0.0, 0.0
    gain, offset = 0.0, float(np.median(ys))
    # The line weighted by the levels' counts only starts the one weighted by their
    # precision (count over the fitted variance squared, iterated: generalised least
    # squares), so that the bright levels' large scatter does not set the line. On 20
    # synthetic 16-bit fluorescence-like stacks (benchmarks/poisson.py) the precision
    # weights found the read noise within 30 % on 18 against 13, the gain within 7 % against
    # 13 %; on photographs the gain comes within 20 % on as many as before. A level whose
    # variance is off the line by more than 3.5 of its standard errors (variance *
    # sqrt(2 / n)) is dropped, from the precise line only: dropped from the counts' line,
    # which texture's bright levels can pull above the dark ones, the darkest levels went
    # first and the line walked off to a slope of 0 (scikit-image's camera at a gain of 1).
    if xs.size >= 2:
        gain, offset = _weighted_line(xs, ys, weights)
    for _ in range(8):
        if keep.sum() < 2:
            break
        precision = weights / np.maximum(gain * xs + offset, floor) ** 2
        gain, offset = _weighted_line(xs[keep], ys[keep], precision[keep])
        fitted = np.maximum(gain * xs + offset, floor)
        relative = np.abs(ys - fitted) / fitted * np.sqrt(weights / 2)
        updated = relative <= 3.5
        if not (updated.sum() < max(2, keep.sum() // 2) or np.array_equal(updated, keep)):
            keep = updated
    if xs.size >= 2:
        # The read noise is the variance at no signal: the darkest levels measure it best.
        # The intercept is re-estimated, the slope kept, as the median of every level's
        # (variance - gain * mean) weighted by its precision (counts over variance squared).
        residual = ys - gain * xs
        precision = weights / np.maximum(ys, floor) ** 2
        order = np.argsort(residual)
        cumulative = np.cumsum(precision[order])
        offset = float(residual[order][np.searchsorted(cumulative, cumulative[-1] / 2)])
    if gain < 0:
        gain, offset = 0.0, float(np.average(ys, weights=weights))
    if offset < 0:
        gain = max(float(np.sum(weights * xs * ys) / np.sum(weights * xs * xs)), 0.0)
        offset = 0.0
    return gain, offset


def _variance_floor(variances: np.ndarray) -> float:
    """Return a hundredth of the median positive variance (0 when none is positive).

    No level's weight divides by less: a level of constant pixels (a clean image's flat
    background) has no noise, and dividing by its 0 would send the fit to infinity.
    """
    positive = variances[variances > 0]
    return 1e-2 * float(np.median(positive)) if positive.size else 0.0


def _weighted_line(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of the weighted least-squares line through (x, y)."""
    design = np.stack([x, np.ones_like(x)], axis=1) * np.sqrt(w)[:, np.newaxis]
    (slope, intercept), *_ = np.linalg.lstsq(design, y * np.sqrt(w), rcond=None)
    return float(slope), float(intercept)


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
    """

    name: str
    description: str
    stabilises: Callable[[PoissonGaussian, float, float], bool]


#: The noise models, by name.
NOISE_MODELS: dict[str, NoiseModel] = {
    "gaussian": NoiseModel("gaussian", "white Gaussian noise of one sigma",
                           lambda model, low, high: False),
    "poisson-gaussian": NoiseModel(
        "poisson-gaussian", "variance gain * x + read_noise^2 (photon counts plus read "
        "noise), denoised through the generalised Anscombe transform",
        lambda model, low, high: model.gain > 0),
    "auto": NoiseModel(
        "auto", "poisson-gaussian where the fitted noise grows by half or more across the "
        "image's levels, else gaussian",
        lambda model, low, high: model.gain > 0 and model.signal_dependent(low, high)),
}


def lookup_noise(name: str) -> NoiseModel:
    """Return the registered noise model *name*.

    Raises
    ------
    ValueError
        If *name* is not registered; the message lists the known ones.
    """
    return lookup(NOISE_MODELS, name, "noise model")


@dataclass(frozen=True)
class Stabiliser:
    """The Anscombe transform of one image's channels, to a unit range where sigma is fixed.

    Attributes
    ----------
    models : tuple of PoissonGaussian
        One per channel (channels last).
    scale : float
        The transform is divided by this, so that the image's top level maps to about 1.
    fitted : bool
        Whether the models were fitted (not given).
    """

    models: tuple[PoissonGaussian, ...]
    scale: float
    fitted: bool = True

    @property
    def sigma_unit(self) -> float:
        """The noise standard deviation of :meth:`forward`'s output."""
        return 1.0 / self.scale

    def forward(self, unit: np.ndarray) -> np.ndarray:
        """Transform channels-last unit-scale pixels: noise of variance ``sigma_unit ** 2``."""
        out = np.empty(unit.shape, np.float32)
        for channel, model in enumerate(self.models):
            out[..., channel] = anscombe(unit[..., channel], model) / np.float32(self.scale)
        return out

    def inverse(self, estimate: np.ndarray) -> np.ndarray:
        """Bring a denoised :meth:`forward` output back to the unit scale, unbiased."""
        out = np.empty(estimate.shape, np.float32)
        for channel, model in enumerate(self.models):
            out[..., channel] = inverse_anscombe(estimate[..., channel] * self.scale, model)
        return out


def plan_stabiliser(unit: np.ndarray, noise: str, *, gain: float | None = None,
                    read_noise: float | None = None, top: float = 1.0) -> Stabiliser | None:
    """Decide whether, and how, to stabilise an image's noise before denoising it.

    Parameters
    ----------
    unit : numpy.ndarray
        Channels-last pixels on the unit scale (a still, a volume, or frames sampled from a
        clip stacked along the first axis).
    noise : str
        A name in :data:`NOISE_MODELS`.
    gain, read_noise : float, optional
        The model's parameters on the unit scale; ``None`` fits them (per channel).
    top : float
        The top of the range (1 for integer images; a float image's maximum when higher).

    Returns
    -------
    Stabiliser or None
        ``None`` for the Gaussian path (asked for, or chosen by ``auto``).

    Raises
    ------
    ValueError
        If *noise* is unknown, or a given gain or read noise is negative.

    Notes
    -----
    Cost ``O(N)`` for a fit, nothing when both parameters are given.
    """
    choice = lookup_noise(noise)
    if choice.name == "gaussian":
        return None
    for value, name in ((gain, "gain"), (read_noise, "read noise")):
        if value is not None and not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    models = []
    for channel in range(unit.shape[-1]):
        fitted = (fit_poisson_gaussian(unit[..., channel], top=top)
                  if gain is None or read_noise is None else None)
        models.append(PoissonGaussian(
            fitted.gain if gain is None else float(gain),
            fitted.read_noise if read_noise is None else float(read_noise)))
    low, high = (float(v) for v in np.quantile(unit, [0.02, 0.98]))
    if not all(choice.stabilises(model, max(low, 0.0), high) for model in models):
        return None
    ceiling = max(top, float(unit.max()))
    scale = max(float(anscombe(np.array([ceiling]), model)[0]) for model in models)
    return Stabiliser(tuple(models), scale, fitted=gain is None or read_noise is None)
