"""Photon counts on a lattice: the gain and read noise read off the counts' spacing and spread.

A Poisson-Gaussian pixel is ``gain * k + read_noise * n`` with ``k`` a whole number of
photons: its values gather around the multiples of the gain, each spread by the read noise.
Where the read noise is below about half the gain (photon-number-resolving sensors, low
light, simulated counts), that lattice is visible in the image's histogram whatever the
scene, and tells both parameters far more precisely than any fit of variances against
levels: its spacing is the gain, and how far it is smeared is the read noise. Where the read
noise hides it, nothing is found and the level fit stands; but that it hides the lattice from
so many values tells the read noise's least value, which the level fit's intercept (an
extrapolation from levels far brighter than the read noise) often falls below. Near the
levels' line's gain, where only a few dozen spacings are tried and the lattice's phase is
known, a lattice too faint to find blind is still believed (:func:`faint_photon_lattice`).

Every value here is on the unit scale, as the rest of the package works.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

__all__ = ["FAINT_LATTICE_POWER", "LATTICE_POWER", "LatticeSearch", "data_quantum",
           "faint_photon_lattice", "fit_photon_lattice", "search_photon_lattice"]

#: How strong the lattice must be to be believed: ``N |c|^2`` at its spacing, for ``N``
#: values and ``c`` the mean of ``exp(2 pi i value / spacing)``. Without a lattice ``N |c|^2``
#: is about exponentially distributed with mean 1, and the search tries a few thousand
#: spacings: its largest was 2.5 to 5.3 on 40 photographs at gain 4 (read noise half the
#: gain), against 12 000 at a peak of 20 photons (read noise a sixth of the gain). With the
#: checks that follow it, 2565 searches on 3200 8-bit training images with Gaussian noise
#: or none (clipped at black and white, contrast stretched) found no lattice.
LATTICE_POWER = 50.0

#: How strong a lattice found only near the levels' line's gain must be to be believed
#: (:func:`faint_photon_lattice`): a few dozen spacings are tried there, not thousands, and
#: its phase must put a lattice point at 0. With read noise half the gain, a lattice over
#: ``N`` values has a power of ``N exp(-pi^2)``, 8 on a 481x321 photograph and 1.7 on a
#: 180x180 one. Chosen on 120 noise draws over 60 mosaics of six training photographs
#: (481x321, gain 4, read noise 2 of 255): the read noise within 30 % on 87 % of the fits
#: (about 75 % without; a bar of 7 or 8 with a phase within 0.1 turn: 89 and 85 %); the same
#: variances drawn freely, no lattice found in 180 draws; uniform values with Gaussian noise,
#: 9 false lattices in 2100 searches at 64 to 1024 photons across the range (0.9 % at 7).
FAINT_LATTICE_POWER = 7.5

#: How far from the line's gain a faint lattice is looked for (a factor either way): the
#: line's gain on such photographs is mostly within 6 % of the truth, and every spacing
#: tried more is another chance of a false one.
_FAINT_BAND = 1.06

#: The independent frequencies a faint lattice's bar holds for (a photograph's 64 photons
#: across its range, at 6 % either way, try about 8): where the band holds more (more photons
#: across the range), a false lattice has as many more chances, and the bar rises by their
#: logarithm (a 16-bit stack of 2000 photons across its range tries 240: a power of 10.4).
_FAINT_TRIALS = 8.0

#: How far (in turns) a faint lattice's phase may stray from putting a point at 0: its
#: noise is ``1 / (sqrt(2 N) |c|)`` radians, 0.04 turns at the power's bar.
_FAINT_PHASE = 0.05

#: How far (in ``sqrt(N) |c|``) a lattice's amplitude may fall below its own by the values'
#: noise: that noise's part along the lattice's phase has a standard deviation of
#: ``1 / sqrt(2)``, and 3 is over four of them.
_AMPLITUDE_MARGIN = 3.0

#: Where a search reaches spacings of fewer photons across the values' range than this, and
#: finds nothing, the spacings of more photons are searched again on their own.
_FINE_BAND_PHOTONS = 32

#: The least share of a peak's power that the search's frequency grid keeps (a quarter turn
#: at most across the values' range).
_GRID_SHARE = 0.8

#: Histogram bins per smallest spacing searched; their rounding of float values shrinks
#: ``|c|`` by up to 0.6 %, which is divided out (as a uniform spread over one bin would).
_BINS_PER_SPACING = 16

#: The most photons the search's histogram spans (its size and its FFT's grow with them); a
#: wider range of values is cut to its densest stretch of this many.
_MOST_PHOTONS = 8192

#: The most photons the values' range may hold for a stretch of it to be searched: more
#: than a 16-bit file can hold at three levels a photon, 128 times the histogram's span
#: (a smaller spacing is a float image's line reading next to no noise, not photons).
_MOST_RANGE_PHOTONS = 1 << 20

#: Values the data quantum is judged from.
_QUANTUM_SAMPLE = 16384


@dataclass(frozen=True)
class LatticeSearch:
    """What a search for the photon counts' lattice found, or learnt from finding nothing.

    Attributes
    ----------
    found : tuple of 2 float, or None
        ``(gain, read_noise)`` where a lattice stood out (:func:`fit_photon_lattice`).
    searched : tuple of 2 float, or None
        The spacings searched where none came near standing out (every spacing's power
        under :data:`LATTICE_POWER`); ``None`` where one did, or where none could be
        searched (too few values, data quantised too coarsely, too wide a range).
    hidden_share : float
        There, the least read noise that hides a lattice from these values, as a share of
        its spacing: a lattice any less spread would have shown an amplitude
        ``sqrt(N) |c|`` above the strongest seen by three units, over four standard
        deviations of the values' noise. 0 otherwise.
    quantum : float
        The data's own quantisation step (0 for float data).
    start : float
        Where a lattice was found, where its points lie modulo its spacing, from 0 up to
        the spacing: the remainder of the level of no photons (0 but where a search took
        any phase, :func:`search_photon_lattice`).
    """

    found: tuple[float, float] | None
    searched: tuple[float, float] | None = None
    hidden_share: float = 0.0
    quantum: float = 0.0
    start: float = 0.0

    def least_read_noise(self, gain: float) -> float:
        """Return the least read noise that hides a lattice of spacing *gain* (0: none known).

        Notes
        -----
        Below it, a lattice of that spacing would have stood out, so where the counts are
        on one (the model's Poisson counts, whole photons) the read noise is at least this.
        Rounding to the data's quantum ``q`` spreads the lattice as read noise of variance
        ``q^2 / 12`` would, which is taken off. ``O(1)``.
        """
        if self.searched is None or not self.searched[0] <= gain <= self.searched[1]:
            return 0.0
        return float(np.sqrt(max((self.hidden_share * gain) ** 2 - self.quantum**2 / 12, 0.0)))


def fit_photon_lattice(values: np.ndarray, smallest: float, largest: float
                       ) -> tuple[float, float] | None:
    """Find the photon counts' lattice among spacings *smallest* to *largest*.

    Parameters
    ----------
    values, smallest, largest
        As for :func:`search_photon_lattice`.

    Returns
    -------
    tuple of float, or None
        ``(gain, read_noise)``: the lattice's spacing, and the standard deviation of the
        values about its points. ``None`` when no lattice stands out: read noise above
        about 0.4 times the gain (0.5 with a million values), too few values, or data
        quantised too coarsely for one.

    Notes
    -----
    :func:`search_photon_lattice`'s find; its cost.
    """
    return search_photon_lattice(values, smallest, largest).found


def search_photon_lattice(values: np.ndarray, smallest: float, largest: float, *,
                          any_phase: bool = False) -> LatticeSearch:
    """Search for the photon counts' lattice among spacings *smallest* to *largest*.

    Parameters
    ----------
    values : numpy.ndarray
        Noisy values of one channel, unit scale (clipped ones already left out).
    smallest, largest : float
        The spacings (gains) searched.
    any_phase : bool
        Whether the lattice's points may lie anywhere (a black level that is no whole
        number of photons, where the levels' line shows one), their remainder given as
        :attr:`LatticeSearch.start`; else one must lie at 0.

    Returns
    -------
    LatticeSearch
        The lattice's spacing and the standard deviation of the values about its points
        (:attr:`LatticeSearch.found`), where one stands out; where none comes near, the
        least read noise that hides one (:meth:`LatticeSearch.least_read_noise`).

    Notes
    -----
    The mean ``c(f)`` of ``exp(2 pi i f value)`` over the values is, for counts on a
    lattice of spacing ``s`` smeared by Gaussian noise of deviation ``r``,
    ``exp(-2 pi^2 r^2 / s^2)`` at ``f = 1 / s`` and about ``1 / sqrt(N)`` elsewhere; ``|c|``
    at ``2 / s`` is ``|c(1 / s)|^4``. The spacing is the ``f`` of the largest ``|c|`` among
    the search's (spacings of fewer than three of the data's own quantisation steps left
    out: an integer image's levels are a lattice too, not photons), found on the values'
    histogram by one FFT and refined on it. It is accepted when its power ``N |c|^2``
    reaches :data:`LATTICE_POWER`, its phase puts a lattice point at 0 (the model's counts
    start there; unless *any_phase*), no lattice of twice or three times the spacing is stronger
    (this one would be its harmonic), the second harmonic agrees with Gaussian spread, and
    each quarter of the values shows the same ``|c|`` (the read noise is the same at every
    level; a nearly clean histogram's few narrow peaks are not).
    The histogram is tapered (a half cosine over two of the largest spacings at either
    end), so that a range cut short by clipping does not ring; ``N`` is then the weighted
    values' effective number. Values rounded to a quantum ``q`` read a read noise larger by
    ``q^2 / 12`` in variance. Cost: ``O(N)`` for the histogram and the refinement, plus an
    FFT of ``O(M log M)`` for ``M`` = 16 bins per photon over the values' range (at most
    :data:`_MOST_PHOTONS` photons; a wider range is cut to its densest stretch of that many).
    Where nothing is found, the spacings of more than :data:`_FINE_BAND_PHOTONS` photons
    across the range are searched again on their own, under their own, shorter taper (a
    dark background's values, crowded at the histogram's low end, are no longer weighed
    down): the same histogram tapered again, its FFT and refinement again.

    References
    ----------
    .. [1] A. Foi, M. Trimeche, V. Katkovnik and K. Egiazarian, "Practical Poissonian-Gaussian
       noise modeling and fitting for single-image raw-data", IEEE TIP 17(10), 2008 (the
       model).
    """
    histogram = _histogram(values, smallest, largest)
    if histogram is None:
        return LatticeSearch(None)
    search = _search_band(histogram, largest, any_phase)
    finest = histogram.span / _FINE_BAND_PHOTONS
    if search.found is None and histogram.smallest < finest < largest:
        # The taper over two of the widest spacings at either end can weigh most values
        # down (a dark background's at the low end), and the histogram's own shape stands
        # out at the widest spacings: the spacings of many photons across the range are
        # searched again on their own, under their own, shorter taper.
        finer = _search_band(histogram.tapered(finest), finest, any_phase)
        if finer.found is not None:
            return finer
    return search


def _search_band(histogram: _Histogram, largest: float, any_phase: bool) -> LatticeSearch:
    """Search *histogram*'s spacings up to *largest*, as :func:`search_photon_lattice` says."""
    smallest, effective = histogram.smallest, histogram.effective
    phasors, frequencies, step = histogram.grid_phasors()
    searched = np.flatnonzero((frequencies >= 1 / largest) & (frequencies <= 1 / smallest))
    if searched.size == 0:
        return LatticeSearch(None)
    magnitudes = np.abs(phasors[searched])
    peak = int(np.argmax(magnitudes))
    # The grid's nearest frequency keeps at least 0.8 of the peak's power (a quarter turn
    # at most across the range): far below the bar there, nothing is refined.
    strongest = effective * float(magnitudes[peak]) ** 2
    hidden = LatticeSearch(None, (smallest, largest), _hidden_share(effective, strongest),
                           histogram.quantum)
    if strongest < LATTICE_POWER / 2:
        return hidden
    frequency = float(frequencies[searched[peak]])
    for span in (step, step / 8):  # to a 32nd of the grid's step
        candidates = np.linspace(frequency - span, frequency + span, 9)
        frequency = float(candidates[np.argmax([abs(histogram.phasor(f))
                                                for f in candidates])])
    first = histogram.phasor(frequency)
    magnitude = min(abs(first) / histogram.shrink(frequency), 1.0)
    if effective * magnitude**2 < LATTICE_POWER:
        return hidden
    # The phase's noise is about 1 / (|c| sqrt(2 N)) radians, under 0.1 at the power's bar.
    if not any_phase and abs(np.angle(first)) > 2 * np.pi * 0.1:
        return LatticeSearch(None)
    # Where the search stopped short of the counts' own lattice, this is its harmonic.
    if histogram.coarser_lattice_stronger(frequency, magnitude):
        return LatticeSearch(None)
    second = histogram.magnitude(2 * frequency)
    expected = magnitude**4
    if abs(second - expected) > 0.5 * expected + 4 / np.sqrt(effective):
        return LatticeSearch(None)
    # The read noise is the same at every level: so is |c| in each quarter of the values.
    # (A few narrow peaks of a nearly clean histogram can pass the tests above; they sit in
    # one part of the range.) The quarters end halfway between lattice points, a whole
    # number of spacings apart: a cut elsewhere would add its own edge's |c|.
    spacing = 1.0 / frequency
    counts, centres, low = histogram.counts, histogram.centres, histogram.low
    quartiles = centres[np.searchsorted(np.cumsum(counts), counts.sum() * np.arange(1, 4) / 4)]
    between = (np.floor((quartiles + low) / spacing) + 0.5) * spacing - low
    edges = np.unique(np.clip(np.rint(between / histogram.width).astype(np.intp), 1,
                              counts.size - 1))
    for part in np.split(np.arange(counts.size), edges):
        share = counts[part]
        if share.sum() == 0:
            return LatticeSearch(None)
        local = (abs(_mean_phasor(share, centres[part], frequency))
                 / histogram.shrink(frequency))
        number = share.sum() ** 2 / float(np.dot(histogram.raw[part],
                                                 histogram.window[part] ** 2))
        if abs(local - magnitude) > 0.5 * magnitude + 4 / np.sqrt(number):
            return LatticeSearch(None)
    variance = -np.log(max(magnitude, 1e-300)) * spacing**2 / (2 * np.pi**2)
    start = float(np.angle(first) / (2 * np.pi) % 1.0) * spacing if any_phase else 0.0
    return LatticeSearch((spacing, float(np.sqrt(max(variance, 0.0)))), start=start)


def faint_photon_lattice(values: np.ndarray, gain: float) -> tuple[float, float] | None:
    """Find a lattice too faint to find blind, near the spacing the levels' line gives.

    Parameters
    ----------
    values : numpy.ndarray
        Noisy values of one channel, unit scale (clipped ones already left out).
    gain : float
        The levels' line's gain: spacings within 6 % of it are tried.

    Returns
    -------
    tuple of float, or None
        ``(gain, read_noise)`` as :func:`fit_photon_lattice` gives them, or ``None``.

    Notes
    -----
    Read noise of half the gain, common in simulated counts and in scientific cameras'
    16-bit files, smears the lattice to ``|c| = exp(-pi^2 / 2)``, 0.007: over a 481x321
    photograph a power ``N |c|^2`` of about 8, far below what a search over every spacing
    can believe (:data:`LATTICE_POWER`), and the read noise from the levels' line, an
    extrapolation, reads the photograph's own grain as read noise too. Near the line's gain
    only a few dozen spacings are tried, and the lattice's phase at 0 is known: a power of
    :data:`FAINT_LATTICE_POWER` with that phase, where no lattice of twice or three times
    the spacing is stronger, is believed. Its spread then gives the read noise to a few
    percent, whatever the scene. ``O(N)`` for the histogram, plus an FFT of ``O(M log M)``
    for ``M`` = 16 bins per photon over the values' range.
    """
    histogram = _histogram(values, gain / _FAINT_BAND, gain * _FAINT_BAND)
    if histogram is None:
        return None
    phasors, frequencies, step = histogram.grid_phasors()
    searched = np.flatnonzero((frequencies >= 1 / (gain * _FAINT_BAND))
                              & (frequencies <= 1 / histogram.smallest))
    if searched.size == 0:
        return None
    phasors = phasors[searched]

    def at_zero(phasor: np.ndarray | complex) -> np.ndarray:
        return np.abs(np.angle(phasor)) <= 2 * np.pi * _FAINT_PHASE

    on_lattice = at_zero(phasors)
    if not on_lattice.any():
        return None
    frequency = float(frequencies[searched][np.argmax(np.where(on_lattice, np.abs(phasors),
                                                               -1.0))])
    for span in (step, step / 8):  # to a 32nd of the grid's step, with the phase kept at 0
        candidates = np.linspace(frequency - span, frequency + span, 9)
        refined = np.array([histogram.phasor(f) / histogram.shrink(f) for f in candidates])
        kept = at_zero(refined)
        if kept.any():
            frequency = float(candidates[np.argmax(np.where(kept, np.abs(refined), -1.0))])
    first = histogram.phasor(frequency) / histogram.shrink(frequency)
    magnitude = min(abs(first), 1.0)
    # The frequencies tried independently: the band's width over the values' range's own
    # resolution. A false lattice's chance grows with them, and the power asked with it.
    trials = (1 / histogram.smallest - 1 / (gain * _FAINT_BAND)) * histogram.counts.size * (
        histogram.width)
    bar = FAINT_LATTICE_POWER + np.log(max(trials / _FAINT_TRIALS, 1.0))
    if histogram.effective * magnitude**2 < bar or not at_zero(first):
        return None
    if histogram.coarser_lattice_stronger(frequency, magnitude):
        return None
    spacing = 1.0 / frequency
    variance = -np.log(max(magnitude, 1e-300)) * spacing**2 / (2 * np.pi**2)
    return spacing, float(np.sqrt(max(variance, 0.0)))


@dataclass(frozen=True)
class _Histogram:
    """A channel's values binned and tapered for the lattice's phasors.

    ``counts`` are the tapered counts (``raw`` times ``window``) of bins of ``width`` from
    ``low``, whose centres from ``low`` are ``centres`` (the phase from ``low`` is added
    where it matters); ``effective`` is the weighted values' effective number; ``smallest``
    the least spacing searched (three of the data's ``quantum`` at least); ``span`` the
    binned values' range.
    """

    counts: np.ndarray
    raw: np.ndarray
    window: np.ndarray
    centres: np.ndarray
    width: float
    low: float
    quantum: float
    effective: float
    smallest: float
    span: float

    def tapered(self, largest: float) -> _Histogram:
        """Return the same counts tapered for spacings up to *largest* (two at either end)."""
        counts, window, effective = _tapered_counts(self.raw, self.width, largest)
        return replace(self, counts=counts, window=window, effective=effective)

    def coarser_lattice_stronger(self, frequency: float, magnitude: float) -> bool:
        """Tell whether a lattice of twice or three times the spacing has ``|c|`` as large.

        Such a lattice is the counts' own (or a dark population's few counts, whose phasor
        stays near 0 over a wide band), and *frequency* its harmonic.
        """
        return any(self.magnitude(frequency / divisor) >= magnitude for divisor in (2, 3))

    def shrink(self, frequency: float) -> float:
        """Return how much the bins' rounding shrinks ``|c|`` at *frequency*.

        As a uniform spread of one bin would: ``sinc(f width)``. Levels of integer data sit
        on the bins' centres, unrounded.
        """
        return 1.0 if self.quantum > 0 else float(np.sinc(frequency * self.width))

    def phasor(self, frequency: float) -> complex:
        """Return the values' mean ``exp(2 pi i frequency value)`` (the bins' rounding kept)."""
        shifted = _mean_phasor(self.counts, self.centres, frequency)
        return shifted * np.exp(2j * np.pi * frequency * self.low)

    def magnitude(self, frequency: float) -> float:
        """Return ``|c|`` at *frequency*, the bins' rounding undone."""
        return abs(self.phasor(frequency)) / self.shrink(frequency)

    def grid_phasors(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Return the phasors on a grid of frequencies, the grid and its step.

        One FFT of the counts, zero-padded to four times the range: the grid's step,
        ``1 / (4 range)``, keeps every count within a quarter turn of its phase at the
        nearest grid frequency. The bins' rounding is not undone (it varies little across
        a search's band).
        """
        length = 1 << int(np.ceil(np.log2(4 * self.counts.size)))
        spectrum = np.fft.rfft(self.counts, length)  # sum counts exp(-2 pi i f centre)
        step = 1 / (length * self.width)
        frequencies = np.arange(spectrum.size) * step
        phasors = (np.conj(spectrum) * np.exp(2j * np.pi * frequencies * self.low)
                   / self.counts.sum())
        return phasors, frequencies, step


def _histogram(values: np.ndarray, smallest: float, largest: float) -> _Histogram | None:
    """Bin *values* for spacings *smallest* to *largest*; ``None`` where none can be searched.

    Too few values, data quantised too coarsely for a spacing of three of its levels in the
    range, or a range of more than :data:`_MOST_RANGE_PHOTONS` spacings: ``None``. A range of
    more than :data:`_MOST_PHOTONS` spacings is cut to its densest stretch of that many.
    """
    flat = np.asarray(values, np.float64).ravel()
    flat = flat[np.isfinite(flat)]
    if not (0 < smallest <= largest < np.inf) or flat.size < 4 * LATTICE_POWER:
        return None
    low, high = float(flat.min()), float(flat.max())
    # The data's own levels are a lattice too (of no spread): spacings of fewer than three
    # of them are not searched.
    quantum = data_quantum(flat)
    smallest = max(smallest, 3 * quantum)
    if largest < smallest:
        return None
    if (high - low) / smallest > _MOST_RANGE_PHOTONS:
        return None
    if (high - low) / smallest > _MOST_PHOTONS:
        # The lattice is the same at every level: the values of the densest stretch of
        # that many spacings show it as well, at a bounded cost.
        flat = _densest_stretch(flat, low, high, _MOST_PHOTONS * smallest)
        low, high = float(flat.min()), float(flat.max())
    width = smallest / _BINS_PER_SPACING
    if quantum > 0:  # every level on a bin's centre: their rounding to bins would alias
        width = quantum / np.ceil(quantum / width)
    bins = int((high - low) / width) + 2
    raw = np.bincount(((flat - low) / width + 0.5).astype(np.intp), minlength=bins)
    counts, window, effective = _tapered_counts(raw, width, largest)
    return _Histogram(counts, raw, window, np.arange(bins) * width, float(width), low,
                      quantum, effective, float(smallest), high - low)


def _tapered_counts(raw: np.ndarray, width: float, largest: float
                    ) -> tuple[np.ndarray, np.ndarray, float]:
    """Return *raw* counts tapered over two of the *largest* spacings at either end.

    With the window, and the weighted values' effective number ``(sum w)^2 / sum w^2`` (the
    power's ``N``). Where clipped values were left out, the histogram stops at a wall,
    whose own ``|c|`` falls only as ``1 / f``: the taper keeps it from ringing.
    """
    window = _taper(raw.size, int(2 * largest / width))
    counts = raw * window
    return counts, window, float(counts.sum() ** 2 / float(np.dot(raw, window * window)))


def _densest_stretch(flat: np.ndarray, low: float, high: float, length: float
                     ) -> np.ndarray:
    """Return the values of the stretch of *length* (within *low* to *high*) holding most."""
    steps = 64  # the stretch's start is chosen to a 64th of its length
    step = length / steps
    coarse = np.bincount(((flat - low) / step).astype(np.intp))
    held = np.convolve(coarse, np.ones(steps, np.intp), mode="valid") if coarse.size > steps \
        else coarse.sum(keepdims=True)
    start = low + int(np.argmax(held)) * step
    return flat[(flat >= start) & (flat < start + length)]


def _hidden_share(effective: float, strongest: float) -> float:
    """Return the least spread, as a share of the spacing, of a lattice the search would see.

    *strongest* is the largest power on the search's grid, of *effective* values. A lattice
    of amplitude ``a = sqrt(N) |c|`` keeps at least ``sqrt(0.8) (a - margin)`` at its grid
    frequency, so ``a`` is at most ``sqrt(strongest / 0.8) + margin``; with
    ``|c| = exp(-2 pi^2 r^2 / s^2)``, the spread ``r / s`` is at least the share returned.
    """
    amplitude = np.sqrt(strongest / _GRID_SHARE) + _AMPLITUDE_MARGIN
    return float(np.sqrt(max(np.log(effective / amplitude**2), 0.0)) / (2 * np.pi))


def _mean_phasor(counts: np.ndarray, centres: np.ndarray, frequency: float) -> complex:
    """Return the mean of ``exp(2 pi i frequency value)`` over a histogram's values."""
    return complex(np.dot(counts, np.exp(2j * np.pi * frequency * centres)) / counts.sum())


def _taper(length: int, ramp: int) -> np.ndarray:
    """Return a window of *length* ones that rises and falls as a half cosine over *ramp*."""
    ramp = max(1, min(ramp, length // 4))
    window = np.ones(length)
    rise = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)
    window[:ramp] = rise
    window[length - ramp:] = rise[::-1]
    return window


def data_quantum(values: np.ndarray) -> float:
    """Return the step of the data's own quantisation: 0 for float data, else its levels'.

    Values on the grid of an 8- or 16-bit image's levels (unit scale) are integer data: their
    quantum is the smallest step between distinct levels in a sample (one level, or more
    where an image was scaled up from fewer bits). Counts stored as integers with no read
    noise are then not told from such levels, and left to the level fit. Distinct values
    that all round to one level are float data near it (an image of 1e-10 is within 2e-2 of
    16-bit level 0 everywhere).
    """
    sample = values[:: max(1, values.size // _QUANTUM_SAMPLE)]
    for levels, tolerance in ((255, 1e-3), (65535, 2e-2)):
        scaled = sample * levels
        whole = np.rint(scaled)
        if np.all(np.abs(scaled - whole) <= tolerance):
            distinct = np.unique(whole)
            if distinct.size > 1:
                return float(np.min(np.diff(distinct))) / levels
            return np.inf if np.all(sample == sample[0]) else 0.0
    return 0.0
