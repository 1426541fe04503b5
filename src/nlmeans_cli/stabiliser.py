"""The noise-stabilising transform of one image's channels, and the choice to take it.

:func:`plan_stabiliser` fits each channel's Poisson-Gaussian noise
(:func:`nlmeans_cli.noise.fit_poisson_gaussian`), decides by the registered noise model
(:data:`nlmeans_cli.noise.NOISE_MODELS`) whether the image goes through the generalised
Anscombe transform, and returns a :class:`StabiliserPlan`: the :class:`Stabiliser` that takes
it there and back, or the Gaussian path and, where ``auto`` could not tell, why. Every value
here is on the unit scale.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .anscombe import anscombe, inverse_anscombe
from .clipped_levels import CLIPPED_END_DEVIATIONS
from .clipped_noise import clipped_growth_shown, clipped_levels_model, clipping_hides_growth
from .colour_noise import colour_sigma
from .detail_slopes import slopes_at_two_scales
from .field_noise import FieldGrowth, field_growth, field_planes, growth_shown, misses_field
from .noise import PoissonGaussian, fit_poisson_gaussian, lookup_noise
from .noise_details import (
    TEXTURE_SCALE_RATIO,
    calm_median,
    calm_noise_share,
    calm_statistics_by_mask,
    calm_whiteness,
    fit_blocks,
    local_mean,
    touches_clipped,
)
from .noise_levels import image_levels, level_sample

__all__ = ["CONFIRMING_SHARE", "Stabiliser", "StabiliserPlan", "plan_stabiliser"]


#: The least share of the sigma the transform promises that the transformed image's own
#: noise must show, measured at its calmest positions (:func:`_measured_sigmas`), for
#: ``noise="auto"`` to take a fitted model: on a clean photograph the fit reads texture as
#: noise. On 120 training images that reach the check: clean as 8 bits a median of 0.43;
#: with Poisson-Gaussian noise (gain 0.5 to 4, a peak of 20 photons, float and 8-bit) 0.68
#: at least, the 5th percentiles 0.79 to 0.98; scikit-image's camera as whole photon counts
#: (8 bits, no read noise) 0.72 to 0.87. (Over every detail, where texture lifts it, the bar
#: was 0.75.) Only the noise's share of the calmest details' variance counts
#: (:func:`nlmeans_cli.noise_details.calm_noise_share`, as ``--sigma auto``): on 360
#: training photographs under Gaussian noise of sigma 2, fine texture had lifted it to 0.68
#: of the promise where the stabilised path lost 2 to 6.5 dB (docs/poisson-gaussian.md).
CONFIRMING_SHARE = 0.65


@dataclass(frozen=True)
class Stabiliser:
    """The Anscombe transform of one image's channels, to a unit range where sigma is fixed.

    Attributes
    ----------
    models : tuple of PoissonGaussian
        One per channel (channels last).
    scale : float
        The transform is divided by this, so that the image's top level maps to about 1.
    given : tuple of str
        The parameters given rather than fitted: of ``"gain"``, ``"read noise"`` and
        ``"black level"``.
    equivalent_sigma : float or None
        The untransformed noise's mean standard deviation over the image's pixels (unit
        scale): the noise level the transformed image's content sees, where the default
        parameters are read (:func:`nlmeans_cli.parameters.default_parameters`). ``None``:
        :attr:`sigma_unit`.
    measured_share : float
        The transformed noise's standard deviation as ``noise="auto"`` measured it, clear of
        fine texture, against the transform's promise (``1 / scale``): the image is denoised
        at it where it is under 1 (a fit that texture lifted promises more noise than there
        is), never under :data:`CONFIRMING_SHARE`. 1 where the model is taken at its word.
    luminance_sigma : float or None
        Red, green and blue: the transformed luminance's noise (noise the channels share
        stays shared through the transform). ``None``: not read.
    luminance_weight : float
        Its weight in :attr:`sigma_unit` where the channels share their noise: the method's
        (:func:`nlmeans_cli.colour_noise.colour_sigma`).
    """

    models: tuple[PoissonGaussian, ...]
    scale: float
    given: tuple[str, ...] = ()
    equivalent_sigma: float | None = None
    measured_share: float = 1.0
    luminance_sigma: float | None = None
    luminance_weight: float = 0.0

    @property
    def fitted(self) -> bool:
        """Whether the models were fitted (not both the gain and the read noise given)."""
        return not {"gain", "read noise"} <= set(self.given)

    @property
    def channels_sigma_unit(self) -> float:
        """Each channel's noise in :meth:`forward`'s output (as measured, if less)."""
        return self.measured_share / self.scale

    @property
    def sigma_unit(self) -> float:
        """:attr:`channels_sigma_unit`, weighed towards the luminance's where it is shared."""
        if self.luminance_sigma is None:
            return self.channels_sigma_unit
        return colour_sigma(self.channels_sigma_unit, self.luminance_sigma,
                            weight=self.luminance_weight)

    def table_sigma(self, level: float) -> float | None:
        """Return :attr:`equivalent_sigma` against an untransformed image's *level*.

        Where a method reads its default parameters for the transformed image (whose own
        level is 1, the transform putting the range's top there); *level* as
        :func:`nlmeans_cli.parameters.reference_level` gives it. Noise the channels share
        raises it as it raises :attr:`sigma_unit`.
        """
        if self.equivalent_sigma is None:
            return None
        return self.equivalent_sigma * self.sigma_unit / self.channels_sigma_unit / level

    def forward(self, unit: np.ndarray) -> np.ndarray:
        """Transform channels-last unit-scale pixels: noise of variance ``sigma_unit ** 2``."""
        out = np.empty(unit.shape, np.float32)
        for channel in range(len(self.models)):
            out[..., channel] = self.forward_channel(unit[..., channel], channel)
        return out

    def forward_channel(self, values: np.ndarray, channel: int) -> np.ndarray:
        """Transform unit-scale values of one channel (any part of it), as :meth:`forward`."""
        return anscombe(values, self.models[channel]) / np.float32(self.scale)

    def inverse(self, estimate: np.ndarray) -> np.ndarray:
        """Bring a denoised :meth:`forward` output back to the unit scale, unbiased."""
        out = np.empty(estimate.shape, np.float32)
        for channel, model in enumerate(self.models):
            out[..., channel] = inverse_anscombe(estimate[..., channel] * self.scale, model)
        return out


@dataclass(frozen=True)
class StabiliserPlan:
    """What :func:`plan_stabiliser` decided for an image.

    Attributes
    ----------
    stabiliser : Stabiliser or None
        The transform; ``None`` for the Gaussian path.
    growth_hidden : bool
        ``noise="auto"`` took the Gaussian path because clipping at black and white left a
        channel too few levels clear of it to show whether its noise grows with the signal,
        and its clipped levels did not show it either: heavy photon noise saved in 8 bits
        (at gain 25 and read noise 10, 0-255 scale, on 21 of 40 validation photographs of
        180x180) and heavy Gaussian noise alike (sigma 35 to 75: 8 to 16 of 40).
    """

    stabiliser: Stabiliser | None
    growth_hidden: bool = False


def plan_stabiliser(unit: np.ndarray, noise: str, *, gain: float | None = None,
                    read_noise: float | None = None, black_level: float | None = None,
                    top: float = 1.0) -> StabiliserPlan:
    """Decide whether, and how, to stabilise an image's noise before denoising it.

    Parameters
    ----------
    unit : numpy.ndarray
        Channels-last pixels on the unit scale (a still, a volume, or frames sampled from a
        clip stacked along the first axis).
    noise : str
        A name in :data:`NOISE_MODELS`.
    gain, read_noise, black_level : float, optional
        The model's parameters on the unit scale; ``None`` fits them (per channel), the
        others held where some are given (a black level not given is looked for).
    top : float
        The top of the range (1 for integer images; a float image's maximum when higher).

    Returns
    -------
    StabiliserPlan
        Its stabiliser ``None`` for the Gaussian path (asked for, or chosen by ``auto``).

    Raises
    ------
    ValueError
        If *noise* is unknown, a given gain, read noise or black level is negative, or the
        gain and read noise are given and leave no noise (both 0, or too small to count).

    Notes
    -----
    Cost ``O(N)`` for a fit, and for ``auto`` one pass over up to a quarter of the fit's
    pixels at two scales and one more over the transformed image (its confirmation, whose
    calmest details are ranked twice: some tens of milliseconds on 512x512); where the
    fit's levels leave out a field's bulk or bright parts, a quarter megapixel of the bulk
    and the tiles holding the bright parts (:func:`field_growth`) instead; where the model
    was refused and clipping alone may hide its growth, the levels fitted with the clipping
    modelled (:func:`nlmeans_cli.clipped_noise.clipped_growth_shown`); nothing when the gain
    and read noise are given.

    ``auto`` denoises a fitted model at the noise the transformed image shows where that is
    under the promise by more than :data:`_SHARE_ERROR` (:attr:`Stabiliser.measured_share`,
    measured with the confirmation, :func:`_measured_sigmas`).

    A channel whose levels' line shows no growth, where clipping alone may hide it, is
    transformed with the model its clipped levels fit where they clearly prefer growing
    noise (:func:`nlmeans_cli.clipped_noise.clipped_levels_model`; for ``auto`` and
    ``poisson-gaussian`` alike, every parameter fitted and no black level).
    """
    choice = lookup_noise(noise)
    if choice.name == "gaussian":
        return StabiliserPlan(None)
    parameters = {"gain": gain, "read noise": read_noise, "black level": black_level}
    for name, value in parameters.items():
        if value is not None and not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    brightest = float(unit.max())
    ceiling = max(top, brightest)
    models = [_resolvable(fit_poisson_gaussian(unit[..., channel], top=top, gain=gain,
                                               read_noise=read_noise, black_level=black_level),
                          ceiling) for channel in range(unit.shape[-1])]
    low, high = image_levels(unit)
    # Every channel must be one the transform can take, and one at least must count photons
    # (the others, read noise alone, are scaled to the same variance: an empty channel of a
    # fluorescence image saved in colour), unless both parameters were given: read noise
    # alone is then Gaussian noise of that sigma, which the transform scales to sigma_unit.
    both_given = gain is not None and read_noise is not None
    if both_given and not any(model.gain > 0 or model.read_noise > 0 for model in models):
        raise ValueError("the gain and read noise given leave no noise to remove (both 0, "
                         "or too small to count)")
    darkest = float(unit.min())
    ends = (darkest if darkest <= 0 else None, brightest if brightest >= top else None)
    # A field of cells on a background: the bright cells' own noise, where the fit's levels
    # left them (or the background) out, decides (None: not judged so). Each channel's field
    # is measured at most once (here, or below where the checks refuse its model).
    fields: dict[int, FieldGrowth | None] = {}
    shown: list[bool | None] = [None] * len(models)
    verdicts, hidden = [], False
    for channel, model in enumerate(models):
        if choice.confirms and gain is None:
            planes = field_planes(unit[..., channel], model)
            if planes is not None and misses_field(planes, model):
                fields[channel] = field_growth(planes, ends)
                shown[channel] = growth_shown(model, fields[channel])
        verdict = (choice.stabilises(model, *_judged_levels(model, low, high))
                   if shown[channel] is None else shown[channel])
        # Heavy noise in a file that clips at both ends: the levels far enough from them to
        # judge are too narrow a band to show the growth; the clipping modelled, every
        # level shows it or not (and the checks below, on positions clear of clipping, are
        # no fairer). A line that shows no growth there is not the noise's: the clipped
        # levels' own model replaces it (for poisson-gaussian too).
        if gain is None and read_noise is None and model.black_level is None and not shown[
                channel]:
            clipped = clipped_levels_model(unit[..., channel], model, low, high)
            if clipped is not None:
                models[channel], verdict = _resolvable(clipped, ceiling), True
                shown[channel] = True
        if (choice.confirms and gain is None and not verdict
                and clipping_hides_growth(model, low, high)):
            verdict = shown[channel] = clipped_growth_shown(unit[..., channel], model)
            hidden = hidden or not verdict
        verdicts.append(verdict)
    if not (all(verdicts) and (both_given or any(model.gain > 0 for model in models))):
        return StabiliserPlan(None, growth_hidden=hidden)
    scale = max(float(anscombe(np.array([ceiling]), model)[0]) for model in models)
    given = tuple(name for name, value in parameters.items() if value is not None)
    stabiliser = Stabiliser(tuple(models), scale, given=given)
    if choice.confirms and stabiliser.fitted and not all(shown):
        planes = _channel_planes(unit)
        whiteness = _calm_whiteness_by_channel(stabiliser, planes)
        refused = _slope_not_noise(stabiliser, planes, whiteness)
        if not refused:
            measured, settled = _measured_sigmas(stabiliser, planes, ends)
            # Fine texture in the calmest details lifts the measure as the fit's slope was
            # lifted: only the noise's share of it confirms the model.
            root_share = float(np.sqrt(np.mean([calm_noise_share(value)
                                                for value in whiteness])))
            refused = (measured is not None
                       and measured * root_share < CONFIRMING_SHARE * stabiliser.sigma_unit)
            # Confirmed, the model may still promise more noise than the transformed image
            # shows (texture that brightens with the level lifted the fit): denoised at what
            # it shows, where the transform and clipping leave that measure fair.
            # (Never under the share that confirms it: on the training photographs the least
            # measured was 0.66.)
            share_shown = None if settled is None else settled * root_share * stabiliser.scale
            if not refused and share_shown is not None and share_shown < 1 - _SHARE_ERROR:
                stabiliser = replace(stabiliser,
                                     measured_share=max(share_shown, CONFIRMING_SHARE))
        # A field whose cells' own noise clearly grows keeps the transform though its model
        # failed the checks (fitted at several times the gain on three discs; the model's
        # transform still beat the Gaussian path by 7 to 9 dB).
        if refused and not all(_clearly_grows(unit[..., channel], model, ends, fields, channel)
                               for channel, model in enumerate(models)):
            return StabiliserPlan(None)
    # The transform compresses the bright levels' contrast as it shrinks their noise, so the
    # transformed image's content sees the noise the untransformed pixels have; sigma_unit
    # is fixed by the range's top, whatever the image holds (the default table read there
    # chose patches of 5 to 7 where 9 or 11 served a peak of 20 photons better).
    sample = level_sample(unit)
    equivalent = float(np.mean([np.mean(model.std(np.maximum(sample[:, channel], 0.0)))
                                for channel, model in enumerate(models)]))
    equivalent *= stabiliser.measured_share
    return StabiliserPlan(replace(stabiliser,
                                  equivalent_sigma=equivalent if equivalent > 0 else None))


def _resolvable(model: PoissonGaussian, ceiling: float) -> PoissonGaussian:
    """Return *model*, its gain taken as 0 where its photon noise is too small to transform.

    That is, where the photon noise's variance at *ceiling*, the range's top, is under
    :data:`_LEAST_PHOTON_SHARE` of the read noise's; or where the transform of a zero count,
    ``2 sqrt(3/8 + (read_noise / gain)^2)`` in units of the transformed noise, passes
    :data:`_RESOLVED_ZERO`; or under :data:`_LEAST_GAIN`, where its reciprocal overflows
    float32. Photon noise that small is read noise alone to every purpose, and transformed
    it lifted the image onto a pedestal float32 could not resolve its noise on (a gain of
    1e-9 against a read noise of 0.1 left the image as noise). Read noise under
    :data:`_LEAST_READ_NOISE`, which a channel without photons would be divided by, is none.
    """
    gain, read_noise = model.gain, model.read_noise
    if 0 < gain and (gain < _LEAST_GAIN or gain * _RESOLVED_ZERO < 2 * read_noise
                     or gain * ceiling < _LEAST_PHOTON_SHARE * read_noise**2):
        gain = 0.0
    if read_noise < _LEAST_READ_NOISE:
        read_noise = 0.0
    return replace(model, gain=gain, read_noise=read_noise)


def _judged_levels(model: PoissonGaussian, low: float, high: float) -> tuple[float, float]:
    """Return the levels, within *low* to *high*, over which a channel's model is judged.

    Only where the model's read noise was fitted from the levels' line (not read off the
    photon counts' lattice, nor given); then no further than :data:`_MOST_EXTRAPOLATION`
    times the span of the levels the line was fitted on beyond them, either way: a line
    fitted on a narrow band of levels has a slope of little meaning far from it (a spot of
    50 pixels on a flat field with Gaussian noise: the background's levels spanned 1.3 of
    255, and their slope, carried to the spot's top, read as photon noise). And where the
    channel clipped, only over levels clear of the clipped ends by
    :data:`nlmeans_cli.clipped_levels.CLIPPED_END_DEVIATIONS` of the model's standard
    deviations, those the fit kept: nearer, the line is bent by the clipping it could not
    see (Gaussian noise of sigma 35 saved as 8 bits: the variance shrinks towards black,
    and the line rose by 1.8 across the image). An empty range (low above high) is judged
    as no growth.
    """
    low = max(low, 0.0)
    if model.read_noise_range is None:
        return low, high
    if model.measured_levels is not None:
        first, last = model.measured_levels
        reach = _MOST_EXTRAPOLATION * (last - first)
        low, high = max(low, first - reach), min(high, last + reach)
    if model.clipped == (None, None):
        return low, high
    least, greatest = model.levels_clear_of(model.clipped, CLIPPED_END_DEVIATIONS)
    return max(low, least), min(high, greatest)


def _clearly_grows(values: np.ndarray, model: PoissonGaussian,
                   ends: tuple[float | None, float | None],
                   fields: dict[int, FieldGrowth | None], channel: int) -> bool:
    """Tell whether a channel's field shows its noise clearly growing, whatever its levels.

    For a model the other checks refused (:attr:`nlmeans_cli.field_noise.FieldGrowth.clear`).
    The field is measured here unless *fields* holds it already (and stored there).
    """
    planes = field_planes(values, model)
    if planes is None:
        return False
    if channel not in fields:
        fields[channel] = field_growth(planes, ends)
    growth = fields[channel]
    return growth is not None and growth.clear


def _calm_whiteness_by_channel(stabiliser: Stabiliser, planes: tuple[np.ndarray, int]
                               ) -> list[float | None]:
    """Return each channel's calmest details' whiteness, where its gain is judged.

    :func:`nlmeans_cli.noise_details.calm_whiteness` over about :data:`_SCALE_PIXELS`
    pixels, for a gain fitted from the levels' line (``None`` for the others: a gain given,
    read off the photon counts' lattice, or none). *planes* as :func:`_channel_planes`
    gives them.
    """
    raws, per_channel = planes
    return [calm_whiteness(raws[channel * per_channel:(channel + 1) * per_channel],
                           *model.clipped, pixels=_SCALE_PIXELS)
            if _judged(stabiliser, model) else None
            for channel, model in enumerate(stabiliser.models)]


def _judged(stabiliser: Stabiliser, model: PoissonGaussian) -> bool:
    """Tell whether a channel's gain came from the levels' line (what the checks judge)."""
    return not (model.gain <= 0 or model.read_noise_range is None
                or model.measured_levels is None or "gain" in stabiliser.given)


def _slope_not_noise(stabiliser: Stabiliser, planes: tuple[np.ndarray, int],
                     whiteness: list[float | None]) -> bool:
    """Tell whether a channel's fitted slope fails to show as white noise's at two scales.

    The levels' slope is measured again
    (:func:`nlmeans_cli.detail_slopes.slopes_at_two_scales`) in details of neighbouring
    pixels and of every other pixel. White noise has the same variance in both;
    texture has :data:`nlmeans_cli.noise_details.TEXTURE_SCALE_RATIO` times as much in the
    latter, so the two slopes split into the noise's and the texture's. The slope fails
    where the noise's part is under :data:`_LEAST_WHITE_SHARE` of the fitted gain (textured
    bright levels left by clipped highlights; a fit whose slope the details do not show), or
    where the slope itself is under :data:`_SLOPE_ERRORS` of its standard errors (a narrow
    band of levels under strong Gaussian noise). Those two are judged where the levels
    measured here span :data:`_LEAST_SCALE_SPAN` of those the line was fitted on: a few
    cells on a dark field leave only the background's levels among the smoothest positions
    (the fit takes the smoothest of each level there), whose slopes say nothing. The slope
    fails too wherever the calmest positions' details are not white (*whiteness*, from
    :func:`_calm_whiteness_by_channel`, over :data:`_MOST_CALM_WHITENESS`): texture fills
    even those, and the fit read it (fine fibres or grain whose contrast grows with
    brightness, under light noise). All judged only for a gain fitted from the levels' line
    (not given, nor read off the photon counts' lattice).
    """
    if any(value is not None and value > _MOST_CALM_WHITENESS for value in whiteness):
        return True
    raws, per_channel = planes
    for channel, model in enumerate(stabiliser.models):
        if not _judged(stabiliser, model):
            continue
        first = channel * per_channel
        slopes = slopes_at_two_scales(raws[first:first + per_channel], model.clipped,
                                      len(raws), first, pixels=_SCALE_PIXELS)
        if slopes is None:
            continue
        fine, coarse, span, fine_error = slopes
        least, greatest = model.measured_levels
        if span < _LEAST_SCALE_SPAN * (greatest - least):
            continue
        white = fine - (coarse - fine) / (TEXTURE_SCALE_RATIO - 1)
        if fine < _SLOPE_ERRORS * fine_error or white < _LEAST_WHITE_SHARE * model.gain:
            return True
    return False


def _channel_planes(unit: np.ndarray) -> tuple[np.ndarray, int]:
    """Return channels-last pixels as planes, channel by channel, and the planes per channel.

    A still has one plane per channel, a volume or a clip's frames one per slice or frame.
    """
    height, width = unit.shape[-3:-1]
    raws = np.moveaxis(unit, -1, 0).reshape(-1, height, width)
    return raws, len(raws) // unit.shape[-1]


def _measured_sigmas(stabiliser: Stabiliser, planes: tuple[np.ndarray, int],
                     ends: tuple[float | None, float | None]
                     ) -> tuple[float | None, float | None]:
    """Return the transformed image's noise sigma, from its calmest details' median, twice.

    Robust to the texture that can mislead a fit of variances: the calmest positions'
    details are noise alone (:func:`nlmeans_cli.noise_details.calm_median`). Only positions
    the transform stabilises count (a local mean of :data:`_STABLE_COUNTS` photons or more,
    read noise included: below, the transformed noise is less than promised); positions
    touching a clipped value (whose noise clipping removed: *ends*, the clipped low and high
    values or ``None``) are left out; large planes are read in blocks as the fit reads them.
    The second sigma is measured where that measure is fair to the model as well as to its
    refusal: at :data:`_SETTLED_COUNTS` photons or more, and at levels
    :data:`nlmeans_cli.clipped_levels.CLIPPED_END_DEVIATIONS` of the model's standard
    deviations from a clipped end (nearer, the noise of positions clear of clipped values
    is cut short all the same). Each is ``None`` when fewer than :data:`_FEWEST_MEASURED`
    positions are left.
    """
    # Every channel's planes (*planes*, as :func:`_channel_planes` gives them), at most a
    # fit's worth in all; only the blocks read are transformed.
    raws, per_channel = planes
    if min(raws.shape[1:]) < 3:
        return None, None
    # The transform of a count c (plus the read noise's share) is 2 sqrt(c + 3/8), scaled.
    stable, settled = (2 * np.sqrt(counts + 0.375) / stabiliser.scale
                       for counts in (_STABLE_COUNTS, _SETTLED_COUNTS))
    clear_levels = [model.levels_clear_of(ends, CLIPPED_END_DEVIATIONS)
                    for model in stabiliser.models]
    parts: tuple[list, list] = ([], [])
    for index, raw in enumerate(raws):
        channel = index // per_channel
        least, greatest = clear_levels[channel]
        for raw_block in fit_blocks(raw, len(raws), index):
            block = stabiliser.forward_channel(raw_block, channel)
            transformed_means = local_mean(block, 3)[1:-1, 1:-1]
            usable = ~touches_clipped(raw_block, *ends) & (transformed_means >= stable)
            levels = local_mean(raw_block, 1)[1:-1, 1:-1]
            fair = (usable & (transformed_means >= settled)
                    & (levels >= least) & (levels <= greatest))
            for found, statistics in zip(parts, calm_statistics_by_mask(
                    np.asarray(block, np.float64), (usable, fair)), strict=True):
                if statistics is not None:
                    found.append(statistics)
    measured, fair_measured = (calm_median(found)
                               if sum(part[0].size for part in found) >= _FEWEST_MEASURED
                               else None for found in parts)
    return measured, fair_measured


#: How far beyond the levels its line was fitted on (in their span) a model is judged. On
#: 108 fields of 1 to 10 Gaussian spots with Gaussian noise (sigma 5, 15, 25), ``auto``
#: stabilised 6 (mean -0.09 dB against ``gaussian``, -5.1 dB at worst) judged over the whole
#: 0.1st to 99.9th percentile, 1 with this (-1.37 dB), none with 2; on 120 training
#: photographs with photon noise (gain 4, 2, 0.5, float) the same ones as before with this,
#: with 2 one to two more on the Gaussian path (-0.008 dB at gain 0.5).
_MOST_EXTRAPOLATION = 3.0

#: The least share of the read noise's variance that the photon noise's must reach at the
#: range's top for a model to count photons. Below it the noise's standard deviation grows
#: by under 0.5 % across the range (``auto`` asks for 50 %), and the transform puts a zero
#: count more than 200 times the range's span above 0; at a share of 1e-3, 2000 times, SURE
#: on the transformed image chose h at 1.68 sigma where the Gaussian path chose 1.05.
_LEAST_PHOTON_SHARE = 0.01

#: The largest transform of a zero count, in units of the transformed noise, that a model is
#: transformed with: float32's spacing there is 6e-3 of the noise's sigma.
_RESOLVED_ZERO = 1e5

#: The least gain a model is transformed with (unit scale): its photon noise is then under
#: 1e-15 of the range, and ``2 / gain`` stays far from float32's overflow.
_LEAST_GAIN = 1e-30
#: The least read noise a model is taken to have (unit scale), as little as that gain's.
_LEAST_READ_NOISE = 1e-15

#: The fewest photons (read noise included) a position's level must hold for its transformed
#: noise to be measured: the transform's variance is within a few percent of 1 from there up,
#: and below it falls (to 0.72 at one photon).
_STABLE_COUNTS = 5

#: The fewest photons a position's level must hold for the transformed noise measured there
#: to set the sigma ``auto`` denoises at (where under the promise): between 5 and 20 the
#: transform's variance is still a few percent short of 1. On 120 training photographs (seed
#: 9000) with 5, a peak of 20 photons saved as 8 bits lost 0.019 dB against the promise;
#: with 20 nothing, and the other photon cases kept their gains within 0.008 dB.
_SETTLED_COUNTS = 20

#: How far under the promise the transformed noise must measure for ``auto`` to denoise at
#: it: about two of the measure's standard errors on a photograph of 180x180 (pure photon
#: noise on a smooth clip of 15 thousand pixels read 0.98 to 0.99). In the training
#: photographs' measures between 0.97 and 1 denoising at them moved no case by more than
#: 0.005 dB; above, ``auto`` is the transform exactly.
_SHARE_ERROR = 0.03

#: The least share of the fitted gain that the white noise's part of the measured slope must
#: reach for ``auto`` to take it (of the gain, it also turns away fits whose slope the
#: details do not show at all). First chosen at 0.25 among 0, 0.25 and 0.5 of the measured
#: slope; with :data:`_MOST_CALM_WHITENESS` 0.5, chosen among 0.25, 0.4, 0.5, 0.6 and 0.7 on
#: 120 training photographs (docs/poisson-gaussian.md, "the calmest details' whiteness").
_LEAST_WHITE_SHARE = 0.5

#: The most the calmest positions' details may grow from neighbouring pixels to every other
#: pixel (:func:`nlmeans_cli.noise_details.calm_whiteness`; white noise 1) for ``auto`` to
#: take a fitted model. With photon noise (gain 0.5 to 4, a peak of 20 photons, read noise 0
#: to 5, float and 8 bits) on 120 training photographs the ratio's median was 1.05 and its
#: 99th percentile 1.53; where fine texture filled the calmest positions under light
#: Gaussian noise, 1.4 to 2.2, where the stabilised path lost 1 to 8 dB. Chosen among 1.3 to
#: 1.8 with :data:`_LEAST_WHITE_SHARE`: the mean of ``auto`` against ``gaussian`` over 19
#: Gaussian cases (float sigma 1 to 50, 8-bit 2 to 50, clean 8-bit) went from -0.046 to
#: -0.003 dB (the worst case from -0.211 to -0.014), over 10 photon cases from +1.479 to
#: +1.489 dB (none lower).
_MOST_CALM_WHITENESS = 1.5

#: The least share of the span of the levels the fit's line was fitted on that the levels
#: measured at two scales must span to be judged.
_LEAST_SCALE_SPAN = 0.5

#: About how many pixels the slopes at two scales, and the calmest details' whiteness, are
#: read from (larger planes in blocks): a 512x512 plane read whole added 33 ms to
#: ``plan_stabiliser``'s 38 ms, in these blocks 7. (The whiteness's bar was chosen on
#: photographs of 32 thousand pixels, which it reads whole.)
_SCALE_PIXELS = 1 << 16

#: How many of its standard errors the slope at neighbouring pixels must reach for
#: ``auto``: on 20 training photographs with photon noise (gain 4 in 8 bits, gain 1 and read
#: noise 3 in float) it reached 4.0 to 23, where the fit of Gaussian noise on low-contrast
#: images (scikit-image's microaneurysms at sigma 25 and 50, moon at 15) read a slope 1.1 to
#: 2.7 times its error (and lost up to 5.3 dB stabilised). Weak photon noise over a narrow
#: band of levels falls short too: 1 and 2 of 120 training photographs at gain 1 (read noise
#: 3) and 0.5, turned to the Gaussian path.
_SLOPE_ERRORS = 3.0

#: The fewest positions the transformed noise is measured on; with fewer it is not measured.
_FEWEST_MEASURED = 4096
