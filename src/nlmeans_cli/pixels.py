"""Pixels: array layouts, the channels denoised and the noise estimate.

Values are on the unit scale (:mod:`nlmeans_cli.scales`). Layouts: a public function takes
channels anywhere (``channel_axis``); inside, images are channels-last, and the engine takes
planar grids ``(channels, n0, n1, n2)`` where a 2-D image is ``(C, rows, 1, columns)``
(:func:`to_grid`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import NamedTuple

import numpy as np

from .clipped_levels import clipped_ends
from .colour_noise import BALANCED_WEIGHT, colour_sigma, luminance_sigma, shared_noise_note
from .jpeg_noise import still_jpeg_sigma
from .missing import measured_part
from .noise_details import calm_sigma
from .noise_levels import image_levels
from .scales import check_dtype, check_finite, to_unit, unit_scale, unit_zero

__all__ = [
    "COUNTS_DEPTH",
    "OPPONENT",
    "SMALLEST_READ_SIDE",
    "ChannelPlan",
    "SigmaReading",
    "channel_plan",
    "channels_equal",
    "channels_last",
    "counts_zero",
    "estimate_noise",
    "estimate_sigma_unit",
    "fill_channels",
    "from_grid",
    "plan_channels",
    "read_sigma_unit",
    "to_grid",
    "unit_pixels",
    "varying_channels",
    "varying_mask",
]

#: Orthonormal opponent colours: rows are luminance-like, red-green and blue-yellow. Being
#: orthonormal, the transform keeps distances (and noise) as they are in RGB.
OPPONENT = np.array([[1, 1, 1], [1, 0, -1], [1, -2, 1]], np.float64) / np.sqrt(
    [[3.0], [2.0], [6.0]])


#: How many times as tall as wide a still is turned for the classic method (the engine sweeps
#: rows in parallel): with every default, 20000x50 0.72 s, turned 0.41; 60000x7 1.21 and
#: 0.43 s; 4000x250 (16 times) 0.33 and 0.28 s.
TURNED_ASPECT = 4


def rows_columns_swapped(image: np.ndarray, channel_axis: int | None) -> np.ndarray:
    """Return a view of a still with its rows and columns swapped (its own inverse).

    Parameters
    ----------
    image : numpy.ndarray
        2-D, or 3-D with *channel_axis*.
    channel_axis : int or None
        The axis holding the channels.

    Returns
    -------
    numpy.ndarray
        The view: the channel axis where it was.
    """
    return np.swapaxes(image, *_spatial_axes(image, channel_axis))


def _spatial_axes(image: np.ndarray, channel_axis: int | None) -> list[int]:
    return [axis for axis in range(image.ndim)
            if channel_axis is None or axis != channel_axis % image.ndim]


def turned_still(image: np.ndarray, channel_axis: int | None, method: str
                 ) -> tuple[np.ndarray, bool]:
    """Return a still turned rows for columns where the classic method runs it so, and whether.

    Parameters
    ----------
    image : numpy.ndarray
        As :func:`nlmeans_cli.denoise` takes it.
    channel_axis : int or None
        Its channel axis.
    method : str
        The method's name: only ``"classic"`` turns.

    Returns
    -------
    image : numpy.ndarray
        :func:`rows_columns_swapped`'s view for a still :data:`TURNED_ASPECT` times as
        tall as wide or more; else *image*.
    turned : bool
        Whether it was turned.

    Notes
    -----
    NL-means gives the same result turned (to float rounding: the window's offsets are
    summed in another order), and the engine sweeps long rows faster. ``O(1)``: a view.
    """
    if method != "classic" or image.ndim != 2 + (channel_axis is not None):
        return image, False
    rows, columns = (image.shape[axis] for axis in _spatial_axes(image, channel_axis))
    if rows < TURNED_ASPECT * columns:
        return image, False
    return rows_columns_swapped(image, channel_axis), True


def channels_last(image: np.ndarray, channel_axis: int | None) -> np.ndarray:
    """Return a view of *image* with its channels last (a length-1 axis for grey).

    Parameters
    ----------
    image : numpy.ndarray
        2-D or 3-D without *channel_axis*; 3-D or 4-D with it.
    channel_axis : int or None
        The axis holding the channels.

    Returns
    -------
    numpy.ndarray
        ``(*spatial, channels)``.

    Raises
    ------
    ValueError
        For a number of dimensions that does not fit, or an axis out of range.
    """
    if channel_axis is None:
        if image.ndim not in (2, 3):
            raise ValueError(
                f"expected a 2-D image or a 3-D volume, got shape {image.shape}; "
                "pass channel_axis for colour"
            )
        return image[..., np.newaxis]
    if image.ndim not in (3, 4):
        raise ValueError(
            f"with channel_axis, expected 2-D or 3-D images with channels, got shape {image.shape}"
        )
    try:
        return np.moveaxis(image, channel_axis, -1)
    except np.exceptions.AxisError:
        raise ValueError(f"channel_axis {channel_axis} is out of range for shape {image.shape}"
                         ) from None


def restore_channels(last: np.ndarray, channel_axis: int | None, ndim: int) -> np.ndarray:
    """Undo :func:`channels_last`: put the channels back at *channel_axis* of an *ndim* array."""
    if channel_axis is None:
        return last[..., 0]
    return np.moveaxis(last, -1, channel_axis % ndim)


def to_grid(last: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Lay a channels-last array out as the engine's planar grid.

    Parameters
    ----------
    last : numpy.ndarray
        ``(rows, columns, C)`` or ``(n0, n1, n2, C)``.

    Returns
    -------
    grid : numpy.ndarray
        Contiguous ``(C, n0, n1, n2)``; a 2-D image becomes ``(C, rows, 1, columns)``.
    axes : tuple of 3 int
        1 for a real grid axis, 0 for the dummy axis of a 2-D image.
    """
    planar = np.moveaxis(last, -1, 0)
    if planar.ndim == 3:
        return np.ascontiguousarray(planar[:, :, np.newaxis, :]), (1, 0, 1)
    return np.ascontiguousarray(planar), (1, 1, 1)


def from_grid(grid: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Undo :func:`to_grid` for a channels-last *shape*."""
    return np.moveaxis(grid, 0, -1).reshape(shape)


#: How many units in the last place of a channel's largest value a wavelet detail may be
#: and still be rounding (the db2 filter's taps sum to 0 only to a few of them).
_ROUNDING_ULPS = 16


def varying_mask(last: np.ndarray) -> np.ndarray:
    """Tell, per channel, whether its values are not all one value.

    Parameters
    ----------
    last : numpy.ndarray
        Channels-last pixels.

    Returns
    -------
    numpy.ndarray
        bool, one per channel.

    Notes
    -----
    The first :data:`_VARYING_BLOCK` pixels settle most images (a photograph's channels all
    vary there: about 1 ms at 12 megapixels); the channels they leave are read whole, one at
    a time (about 30 ms a channel at 12 megapixels). ``O(N)`` at most.
    """
    flat = last.reshape(-1, last.shape[-1])
    if flat.shape[0] == 0:
        return np.zeros(last.shape[-1], bool)
    varies = (flat[:_VARYING_BLOCK] != flat[0]).any(axis=0)
    for channel in np.flatnonzero(~varies):
        varies[channel] = np.any(flat[:, channel] != flat[0, channel])
    return varies


def varying_channels(last: np.ndarray) -> tuple[int, ...]:
    """Return the indices of the channels that vary, in order (:func:`varying_mask`)."""
    return tuple(np.flatnonzero(varying_mask(last)).tolist())


class ChannelPlan(NamedTuple):
    """Which of an image's channels are denoised; the others are constant, or copies.

    Attributes
    ----------
    count : int
        The image's channels.
    denoised : tuple of int
        The channels denoised, as an image of their own (one channel: a grey image).
    copies : tuple of (int, int)
        ``(channel, source)``: a channel equal to the denoised channel *source* (a grey
        image saved in colour) takes its result. Every other channel is constant (an empty
        channel of a fluorescence image saved in colour: it has no noise) and comes back as
        it is.
    """

    count: int
    denoised: tuple[int, ...]
    copies: tuple[tuple[int, int], ...] = ()

    @property
    def constant(self) -> tuple[int, ...]:
        """The channels neither denoised nor copied: constant, they come back as they are."""
        taken = set(self.denoised) | {channel for channel, _ in self.copies}
        return tuple(channel for channel in range(self.count) if channel not in taken)

    def denoised_of(self, last: np.ndarray) -> np.ndarray:
        """Return the denoised channels of channels-last pixels (a copy)."""
        return last[..., list(self.denoised)]


def channel_plan(last: np.ndarray) -> ChannelPlan | None:
    """Return which channels to denoise where some are constant or copies of others.

    Parameters
    ----------
    last : numpy.ndarray
        Channels-last pixels.

    Returns
    -------
    ChannelPlan or None
        ``None`` where every channel is denoised: all vary and differ, or none varies (the
        image is then constant).

    Notes
    -----
    As :func:`varying_mask`, and one comparison per pair of varying channels (the
    first :data:`_VARYING_BLOCK` pixels tell a photograph's apart: ``O(N)`` at most).
    """
    return plan_channels(varying_mask(last), partial(channels_equal, last))


def plan_channels(varies: Sequence[bool], equal: Callable[[int, int], bool]
                  ) -> ChannelPlan | None:
    """Return the :class:`ChannelPlan` of channels that vary or not and equal others or not.

    Parameters
    ----------
    varies : sequence of bool
        Per channel, whether it varies.
    equal : callable
        ``equal(channel, source)``: whether a channel equals an earlier one; asked only of
        channels that vary, about earlier ones that vary and copy none.

    Returns
    -------
    ChannelPlan or None
        As :func:`channel_plan`.
    """
    denoised: list[int] = []
    copies: list[tuple[int, int]] = []
    for channel in np.flatnonzero(varies).tolist():
        source = next((earlier for earlier in denoised if equal(channel, earlier)), None)
        if source is None:
            denoised.append(channel)
        else:
            copies.append((channel, source))
    if not denoised or len(denoised) == len(varies):
        return None
    return ChannelPlan(len(varies), tuple(denoised), tuple(copies))


def fill_channels(last: np.ndarray, denoised: np.ndarray, plan: ChannelPlan) -> None:
    """Write the denoised channels of *plan* into channels-last pixels, and their copies.

    Parameters
    ----------
    last : numpy.ndarray
        Channels-last pixels holding the image (its constant channels stay as they are);
        written in place.
    denoised : numpy.ndarray
        The plan's denoised channels, channels last, in *last*'s type.
    plan : ChannelPlan
        Which channels those are, and which copy them.

    Notes
    -----
    A channel the plan takes for a copy takes its source's result only where *last* holds
    it equal to its source: a clip's plan comes from frames sampled from it, and a frame
    whose colour the samples did not show keeps that channel as it holds it (noisy) rather
    than lose it. ``O(N)``.
    """
    copied = [(channel, source) for channel, source in plan.copies
              if channels_equal(last, channel, source)]
    last[..., list(plan.denoised)] = denoised
    for channel, source in copied:
        last[..., channel] = last[..., source]


def channels_equal(last: np.ndarray, first: int, second: int) -> bool:
    """Tell whether two channels of channels-last pixels are equal throughout.

    The first :data:`_VARYING_BLOCK` pixels tell most apart; ``O(N)`` at most.
    """
    flat = last.reshape(-1, last.shape[-1])
    head = flat[:_VARYING_BLOCK]
    return bool(np.array_equal(head[:, first], head[:, second])
                and np.array_equal(flat[:, first], flat[:, second]))


#: The pixels :func:`varying_mask` compares in all channels at once.
_VARYING_BLOCK = 1 << 16


class SigmaReading(NamedTuple):
    """An estimated sigma (unit scale) and, where it was not read as usual, a note why."""

    sigma_unit: float
    note: str = ""


#: The fewest pixels across that sigma is read from (a volume's slices count, not their
#: number): a smaller image's details cannot tell noise from signal, and its sigma reads 0.
SMALLEST_READ_SIDE = 4


def estimate_sigma_unit(last: np.ndarray, *, luminance_weight: float = BALANCED_WEIGHT,
                        colour: bool = True) -> float:
    """Return :func:`read_sigma_unit`'s sigma (unit scale), without its note."""
    return read_sigma_unit(last, luminance_weight=luminance_weight, colour=colour).sigma_unit


def read_sigma_unit(last: np.ndarray, *,
                    luminance_weight: float = BALANCED_WEIGHT, colour: bool = True
                    ) -> SigmaReading:
    """White noise's sigma from the details of the calmest positions, averaged over channels.

    Parameters
    ----------
    last : numpy.ndarray
        A channels-last image on the unit scale (a volume's slices are its planes).
    luminance_weight : float
        Red, green and blue sharing their noise: the luminance's weight in the sigma
        (:func:`nlmeans_cli.colour_noise.colour_sigma`), the method's.
    colour : bool
        Whether three channels are red, green and blue (else bands, read as any others).

    Returns
    -------
    SigmaReading
        Sigma on the unit scale; 0 for an image (a volume's slices) under 4 pixels across
        (too small to tell noise from signal) or without details (constant). Its note says where the
        luminance or a JPEG's quantization set it, with the channels' own reading.

    Notes
    -----
    :func:`nlmeans_cli.noise_details.calm_sigma` on each channel (fine texture's share of
    the calmest details taken out), leaving out the neighbourhoods that touch a clipped end
    (:func:`nlmeans_cli.clipped_levels.clipped_ends`) and the details of flat regions, which
    the filter's taps leave as rounding residues instead of zeros (a constant image of 90
    gave a sigma of 8e-14). It replaced Donoho's
    wavelet estimator (scikit-image's ``estimate_sigma``), whose median over every finest
    detail takes texture for noise: on 120 training photographs at sigma 5 it read 1.31
    times the truth on the median one (1.78 at the 90th percentile), this 1.08 (1.34), and
    the classic method lost 0.93 dB against 0.20 to its PSNR at the true sigma (0.06 with
    the texture's share out). Red, green and blue: where the noise the luminance holds is
    more than theirs, the channels share it and it is taken
    (:func:`nlmeans_cli.colour_noise.colour_sigma`). For an 8-bit still (grey or colour)
    whose 8x8 blocks show a JPEG quantization, the calmest details read the quantization's
    flat blocks: the noise it hid is found instead
    (:func:`nlmeans_cli.jpeg_noise.still_jpeg_sigma`, some tens of milliseconds more).
    ``O(N)`` for ``N`` up to
    :data:`nlmeans_cli.noise_details.FIT_PIXELS` pixels a channel.
    """
    if min(last.shape[-3:-1]) < SMALLEST_READ_SIDE:  # a plane's (a volume's slices)
        return SigmaReading(0.0)
    sigmas = []
    for channel in np.moveaxis(last, -1, 0):
        # One colour channel copied together (a grey one is already) serves the passes over
        # every value below three times as fast as the interleaved view: 12 megapixels of
        # colour in 0.2 s against 0.6 s.
        channel = np.ascontiguousarray(channel)
        planes = channel if channel.ndim == 3 else channel[np.newaxis]
        # The largest magnitude from the extremes: no image-sized temporary of magnitudes.
        largest = max(-float(channel.min()), float(channel.max()))
        rounding = _ROUNDING_ULPS * np.finfo(channel.dtype).eps * largest
        sigmas.append(calm_sigma(planes, *clipped_ends(planes), least=rounding) or 0.0)
    channels = float(np.mean(sigmas))
    sigma, note = channels, ""
    if last.shape[-1] == 3 and colour:
        luminance = luminance_sigma(last)
        sigma = colour_sigma(channels, luminance, weight=luminance_weight)
        note = shared_noise_note(channels, luminance, sigma)
    found = still_jpeg_sigma(last, sigma)
    if found != sigma:
        note = (f"its 8x8 blocks show a JPEG quantization: sigma is the noise it hid "
                f"(the finest details read {sigma * 255:.2f})")
    return SigmaReading(found, note)


#: How far below a signed image's 0, in its noise, its lowest values (the 1st percentile) may
#: lie for its values to be photon counts from 0 (which fall below it by the read noise
#: alone). Where counts were taken to start at every signed image's 0, 3 of the 40 validation
#: photographs in CT numbers (x 12 - 1000: air at -1000) with Gaussian noise of 100 took the
#: transform and lost 4.9 to 14.8 dB against the Gaussian path; their 1st percentiles lay
#: near -830, 8 times the noise below 0.
COUNTS_DEPTH = 3.0

#: Rows the check of a signed image's lowest values reads, spread over it.
_COUNTS_ROWS = 1024


def counts_zero(unit: np.ndarray, dtype: np.dtype) -> float | None:
    """Return where a signed image's photon counts start, its 0, where its values allow it.

    Parameters
    ----------
    unit : numpy.ndarray
        Channels-last pixels on the unit scale (a still, a volume, sampled frames).
    dtype : numpy.dtype
        Their pixel type.

    Returns
    -------
    float or None
        :func:`nlmeans_cli.scales.unit_zero` for a signed image whose lowest values (its 1st
        percentile) lie within :data:`COUNTS_DEPTH` times its noise (the median magnitude of
        neighbours' differences, over sqrt(2) and the normal's 0.674) below its 0; ``None``
        for one whose values reach further below it (CT numbers), and for unsigned and float
        images.

    Notes
    -----
    ``O(N)`` on at most :data:`_COUNTS_ROWS` rows spread over the pixels.
    """
    zero = unit_zero(dtype)
    if zero is None or unit.size == 0:
        return None
    rows = unit.reshape(-1, *unit.shape[-2:])
    rows = rows[::max(1, rows.shape[0] // _COUNTS_ROWS)]
    differences = np.abs(np.diff(rows, axis=1))
    noise = float(np.median(differences)) / (np.sqrt(2.0) * 0.6745) if differences.size else 0.0
    lowest = float(np.percentile(rows, 1))
    return zero if lowest >= zero - COUNTS_DEPTH * noise else None


def unit_pixels(image: np.ndarray, channel_axis: int | None) -> np.ndarray:
    """Check an image and return it channels-last, float32 on the unit scale.

    Parameters
    ----------
    image : numpy.ndarray
        2-D or 3-D, with or without a channel axis.
    channel_axis : int, optional
        The colour axis, if any.

    Returns
    -------
    numpy.ndarray
        Channels last (one channel for a grey image), float32, unit scale.

    Raises
    ------
    TypeError
        For a pixel type outside :data:`SUPPORTED_DTYPES`.
    ValueError
        For an empty axis or a NaN or infinite value.

    Notes
    -----
    One pass for the check and one for the conversion: ``O(N)``.
    """
    check_dtype(image.dtype)
    last = channels_last(image, channel_axis)
    if min(last.shape[:-1]) < 1:
        raise ValueError(f"image has an empty axis: shape {image.shape}")
    check_finite(image)
    return to_unit(last)


def estimate_noise(image: np.ndarray, *, model: str = "gaussian",
                   channel_axis: int | None = None, colour: bool = True
                   ) -> float | tuple[float, float]:
    """Estimate the noise as :func:`nlmeans_cli.denoise` does.

    Parameters
    ----------
    image : numpy.ndarray
        As for :func:`nlmeans_cli.denoise`.
    model : str
        ``"gaussian"``: one standard deviation; ``"poisson-gaussian"``: the parameters of
        ``variance(x) = gain * x + read_noise ** 2`` (for a signed image, ``x`` counts from
        its 0, as :func:`nlmeans_cli.denoise` takes it).
    channel_axis : int, optional
        As for :func:`nlmeans_cli.denoise`.
    colour : bool
        As for :func:`nlmeans_cli.denoise`: three bands' sigma is read on their channels.

    Returns
    -------
    float or tuple of 2 float
        Sigma in the image's value units (passing it to :func:`nlmeans_cli.denoise` as
        *sigma* gives the same result as leaving *sigma* out; with ``method="learned"``
        too, but for red, green and blue that share their noise, whose luminance's noise
        that method takes whole: :func:`nlmeans_cli.colour_noise.colour_sigma`); or
        ``(gain, read_noise)`` in the image's value units, the mean over channels (each
        channel is fitted on its own).
        Over the channels :func:`nlmeans_cli.denoise` denoises: constant channels, and
        copies of another channel, are left out (:func:`channel_plan`), and so are missing
        (NaN or infinite) pixels (:func:`nlmeans_cli.missing.measured_part`).

    Raises
    ------
    TypeError, ValueError
        As for :func:`nlmeans_cli.denoise`, or for an unknown *model*.

    Notes
    -----
    Gaussian: the median magnitude of the calmest positions' details, less the share of fine
    texture in them (:func:`estimate_sigma_unit`), averaged over channels; for an 8-bit
    still whose 8x8 blocks show a JPEG quantization, the noise that quantization hid from
    those details (:func:`nlmeans_cli.jpeg_noise.still_jpeg_sigma`). Poisson-Gaussian:
    Foi et al.'s fit of local means and variances of smooth regions
    (:func:`nlmeans_cli.noise.fit_poisson_gaussian`); the read noise is identified only
    where the image has dark regions, or where the photon counts' lattice shows (read noise
    under about 0.4 of the gain, or half of it near the line's gain on a few hundred
    thousand values: then both parameters to a few percent or better). Where the image
    carries a camera's black level (:attr:`nlmeans_cli.noise.PoissonGaussian.black_level`),
    the read noise is the least the data allow unless that lattice shows. Where
    clipping at both ends leaves the line too few levels to show the noise's growth, the
    clipped levels' own fit (:func:`nlmeans_cli.clipped_noise.clipped_levels_model`), as
    denoise takes it. ``O(N)``.

    References
    ----------
    .. [1] D. L. Donoho, I. M. Johnstone, "Ideal spatial adaptation by wavelet shrinkage",
       Biometrika 81 (1994).
    .. [2] A. Foi, M. Trimeche, V. Katkovnik and K. Egiazarian, "Practical
       Poissonian-Gaussian noise modeling and fitting for single-image raw-data", IEEE TIP
       17(10), 2008.
    """
    from .clipped_noise import clipped_levels_model
    from .noise import fit_poisson_gaussian

    if model not in ("gaussian", "poisson-gaussian"):
        raise ValueError(f"unknown noise model {model!r}; known: gaussian, poisson-gaussian")
    image = np.asarray(image)
    unit = unit_pixels(measured_part(image, channel_axis), channel_axis)
    scale = unit_scale(image.dtype)
    plan = channel_plan(unit)
    if plan is not None:  # as denoise, which denoises neither constant channels nor copies
        unit = plan.denoised_of(unit)
    if model == "gaussian":  # three left of more are not red, green and blue
        return estimate_sigma_unit(unit, colour=colour and plan is None) * scale
    low, high = image_levels(unit)
    # A signed image's photon counts start at its 0, as denoise takes them.
    zero = counts_zero(unit, image.dtype)
    fits = [fit_poisson_gaussian(unit[..., c], black_level=zero) for c in range(unit.shape[-1])]
    if zero is None:
        # Where clipping hid the growth from the levels' line, denoise transforms with the
        # clipped levels' own model (where no black level is given).
        fits = [clipped_levels_model(unit[..., c], fit, low, high) or fit
                for c, fit in enumerate(fits)]
    return (float(np.mean([fit.gain for fit in fits])) * scale,
            float(np.mean([fit.read_noise for fit in fits])) * scale)
