"""The noise of a clip: sigma estimated, or Poisson-Gaussian noise fitted, over sampled frames.

A clip is read as it decodes, so its noise is measured on a sample of frames spread evenly
over it (:data:`NOISE_SAMPLE_FRAMES` for sigma, :data:`FIT_SAMPLE_FRAMES` for the
Poisson-Gaussian fit): a scene that changes moves the estimate little.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from itertools import chain

import numpy as np

from .colour_noise import BALANCED_WEIGHT, colour_sigma, luminance_sigma
from .denoising import pilot_setting, residual_grows, stabiliser_for
from .noise import fit_poisson_gaussian
from .parameters import Request
from .pixels import (
    ChannelPlan,
    channel_plan,
    channels_equal,
    channels_last,
    counts_zero,
    estimate_sigma_unit,
    plan_channels,
    varying_mask,
)
from .scales import check_dtype, check_finite, to_unit, unit_scale
from .stabiliser import StabiliserPlan

__all__ = ["FIT_SAMPLE_FRAMES", "NOISE_SAMPLE_FRAMES", "check_frame", "estimate_frames_noise",
           "estimate_frames_sigma_unit", "plan_frames_channels", "plan_frames_from_residual",
           "plan_frames_stabiliser"]

#: Frames the noise estimate of a clip looks at, spread evenly over it.
NOISE_SAMPLE_FRAMES = 16

#: Frames the Poisson-Gaussian fit of a clip reads, spread evenly over it.
FIT_SAMPLE_FRAMES = 8


def estimate_frames_noise(frames: Iterable[np.ndarray], *, channel_axis: int | None = None,
                          n_frames: int | None = None, samples: int | None = None,
                          model: str = "gaussian", colour: bool = True
                          ) -> float | tuple[float, float]:
    """Estimate the noise of a clip from frames spread over it.

    Parameters
    ----------
    frames : iterable of numpy.ndarray
        The clip's frames, read once.
    channel_axis : int, optional
        The channel axis of a frame.
    n_frames : int, optional
        The number of frames, when known: the estimate then looks at *samples* frames spread
        evenly over the clip. Otherwise at the first *samples* frames.
    samples : int, optional
        How many frames to estimate on: by default :data:`NOISE_SAMPLE_FRAMES` for sigma,
        :data:`FIT_SAMPLE_FRAMES` for the Poisson-Gaussian fit (as
        :func:`nlmeans_cli.spacetime.denoise_clip`).
    model : str
        ``"gaussian"`` or ``"poisson-gaussian"``, as for :func:`nlmeans_cli.estimate_noise`.
    colour : bool
        Whether three channels are red, green and blue, as for :func:`nlmeans_cli.denoise`.

    Returns
    -------
    float or tuple of 2 float
        The median over the sampled frames of :func:`nlmeans_cli.estimate_noise`, in the
        frames' value units (a scene with a different texture moves the median little); or
        ``(gain, read_noise)`` fitted over the sampled frames together (per channel, then
        their mean), what :func:`nlmeans_cli.spacetime.denoise_clip` fits. Both over the
        channels it denoises (constant ones, and copies of another, left out).

    Raises
    ------
    TypeError, ValueError
        For an unsupported frame, a clip without frames or an unknown *model*.

    Notes
    -----
    ``O(samples * N)``; every frame is read (decoding is sequential), only the samples are
    analysed.
    """
    if model not in ("gaussian", "poisson-gaussian"):
        raise ValueError(f"unknown noise model {model!r}; known: gaussian, poisson-gaussian")
    if model == "gaussian":
        frames = iter(frames)
        first = next(frames, None)
        if first is None:
            raise ValueError("the clip has no frames")
        sigma_unit, _ = estimate_frames_sigma_unit(
            chain([first], frames), channel_axis=channel_axis, n_frames=n_frames,
            samples=samples or NOISE_SAMPLE_FRAMES, colour=colour)
        return sigma_unit * unit_scale(np.asarray(first).dtype)
    sampled, dtype = _sampled_frames(frames, channel_axis, n_frames,
                                     samples or FIT_SAMPLE_FRAMES)
    # As denoise_clip, which denoises neither constant channels nor copies.
    plan = channel_plan(sampled)
    zero = counts_zero(sampled, dtype)
    fits = [fit_poisson_gaussian(sampled[..., c], black_level=zero)
            for c in (range(sampled.shape[-1]) if plan is None else plan.denoised)]
    return (float(np.mean([fit.gain for fit in fits])) * unit_scale(dtype),
            float(np.mean([fit.read_noise for fit in fits])) * unit_scale(dtype))


def estimate_frames_sigma_unit(frames: Iterable[np.ndarray], *,
                               channel_axis: int | None = None, n_frames: int | None = None,
                               samples: int = NOISE_SAMPLE_FRAMES,
                               plan: ChannelPlan | None = None, planned: bool = False,
                               luminance_weight: float = BALANCED_WEIGHT,
                               colour: bool = True) -> tuple[float, ChannelPlan | None]:
    """Estimate a clip's noise as :func:`estimate_frames_noise` does, on the unit scale.

    Parameters
    ----------
    frames, channel_axis, n_frames, samples
        As for :func:`estimate_frames_noise`.
    plan : ChannelPlan, optional
        With *planned*, the channels already planned (``None``: all), estimated on.
    planned : bool
        Whether *plan* was decided already; else the sampled frames decide it (channels
        constant, or equal to others, throughout them are not denoised).
    luminance_weight : float
        As for :func:`nlmeans_cli.pixels.estimate_sigma_unit`.
    colour : bool
        Whether three channels are red, green and blue (else bands: their channels' sigma,
        not a luminance's).

    Returns
    -------
    sigma_unit : float
        Sigma on the unit scale, over the channels denoised.
    plan : ChannelPlan or None
        As :func:`nlmeans_cli.pixels.channel_plan` for the sampled frames together.

    Raises
    ------
    TypeError, ValueError
        As for :func:`estimate_frames_noise`.
    """
    sigmas, luminances, tally = [], [], _ChannelTally()
    for last in _frames_sampled(frames, channel_axis, n_frames, samples):
        # Per channel, so that the channels to denoise can be chosen once all are seen.
        sigmas.append([estimate_sigma_unit(last[..., [c]]) for c in range(last.shape[-1])])
        luminances.append(luminance_sigma(last) if last.shape[-1] == 3 else 0.0)
        tally.add(last)
    if not sigmas:
        raise ValueError("the clip has no frames")
    if not planned:
        plan = tally.plan()
    kept = list(range(len(sigmas[0]))) if plan is None else list(plan.denoised)
    frame_sigmas = np.array(sigmas)[:, kept].mean(axis=1)
    if colour and plan is None and len(kept) == 3:
        # As a still's: the noise red, green and blue share, read on the luminance.
        frame_sigmas = [colour_sigma(float(sigma), luminance, weight=luminance_weight)
                        for sigma, luminance in zip(frame_sigmas, luminances, strict=True)]
    return float(np.median(frame_sigmas)), plan


def plan_frames_stabiliser(frames: Iterable[np.ndarray], request: Request, *,
                           channel_axis: int | None = None, n_frames: int | None = None,
                           samples: int | None = None, top: float = 1.0
                           ) -> tuple[StabiliserPlan, ChannelPlan | None]:
    """Fit a clip's Poisson-Gaussian noise over frames spread across it, as sigma is.

    Parameters
    ----------
    frames : iterable of numpy.ndarray
        The clip's frames (read once, up to the last sampled one).
    request : Request
        Its ``noise``, ``gain_unit`` and ``read_noise_unit`` say what to fit.
    channel_axis : int, optional
        The channel axis of a frame.
    n_frames : int, optional
        The clip's length, to spread the samples; ``None`` takes the first frames.
    samples : int, optional
        Frames the fit reads (:data:`FIT_SAMPLE_FRAMES` by default).
    top : float
        The top of the frames' range, unit scale: 1, or a float clip's level
        (:func:`nlmeans_cli.parameters.reference_level`).

    Returns
    -------
    stabiliser : StabiliserPlan
        As :func:`nlmeans_cli.denoising.stabiliser_for` gives it for the sampled frames.
    plan : ChannelPlan or None
        Where some channels are constant or copies of others over the sampled frames (an
        empty channel of a fluorescence time-lapse saved in colour, a grey clip saved in
        colour), the channels denoised, whose stabiliser it is
        (:func:`nlmeans_cli.pixels.channel_plan`). ``None`` otherwise, and for Gaussian
        noise (no frame is read).

    Notes
    -----
    ``O(samples * N)`` for frames of ``N`` pixels.
    """
    if request.noise == "gaussian":
        return StabiliserPlan(None), None
    sampled, dtype = _sampled_frames(frames, channel_axis, n_frames,
                                     samples or FIT_SAMPLE_FRAMES)
    request = request.counting_from(counts_zero(sampled, dtype))
    plan = channel_plan(sampled)
    if plan is None:
        return stabiliser_for(request, sampled, top), None
    return stabiliser_for(request, plan.denoised_of(sampled), top), plan


def plan_frames_from_residual(frames: Iterable[np.ndarray], request: Request, *,
                              channel_plan: ChannelPlan | None = None,
                              channel_axis: int | None = None, n_frames: int | None = None,
                              samples: int | None = None, top: float = 1.0
                              ) -> StabiliserPlan:
    """Let the residual of frames spread over a clip decide where clipping hid the growth.

    Where clipping hid from the levels whether a clip's noise grows with the signal
    (:attr:`nlmeans_cli.stabiliser.StabiliserPlan.growth_hidden`), the frames the fit read
    are each resolved and denoised by the pilot as a still is
    (:func:`nlmeans_cli.denoising.pilot_setting`), and their residuals judged together.

    Parameters
    ----------
    frames : iterable of numpy.ndarray
        The clip's frames (read once, up to the last sampled one).
    request : Request
        The clip's request (its method and the parameters given).
    channel_plan : ChannelPlan, optional
        The clip's channels to denoise, where not all.
    channel_axis, n_frames, samples, top
        As for :func:`plan_frames_stabiliser`.

    Returns
    -------
    StabiliserPlan
        ``growth_hidden`` set; where :func:`nlmeans_cli.denoising.residual_grows` says the
        sampled frames' residual shows the growth, the stabiliser that
        ``noise="poisson-gaussian"`` fits on the same frames, else none.

    Raises
    ------
    TypeError, ValueError
        As for :func:`estimate_frames_noise`.

    Notes
    -----
    Each frame's own sigma and a still's parameters rather than the clip's: the residual's
    bar was set on stills, and a clip's sigma (the frames' median) or its smaller window
    changed the reading by up to a factor of 3 on a 96x96 corner of the shipped camera
    sample. ``O(samples * N)`` to read the frames and their sigmas, SURE on at most four
    96x96 crops of each, :func:`nlmeans_cli.denoising.residual_grows` (the frames' centres,
    512x512 pixels in all, denoised once) and, where it shows the growth, the fit.
    """
    sampled, dtype = _sampled_frames(frames, channel_axis, n_frames,
                                     samples or FIT_SAMPLE_FRAMES)
    request = request.counting_from(counts_zero(sampled, dtype))
    if channel_plan is not None:
        sampled = channel_plan.denoised_of(sampled)
    settings = [pilot_setting(request, frame, level=top) for frame in sampled]
    if not residual_grows(sampled, settings, top=top):
        return StabiliserPlan(None, growth_hidden=True)
    photons = stabiliser_for(replace(request, noise="poisson-gaussian"), sampled, top)
    return replace(photons, growth_hidden=True)


def plan_frames_channels(frames: Iterable[np.ndarray], *, channel_axis: int | None = None,
                         n_frames: int | None = None, samples: int = NOISE_SAMPLE_FRAMES
                         ) -> ChannelPlan | None:
    """Return which of a clip's channels to denoise, from frames spread over it.

    Parameters
    ----------
    frames, channel_axis, n_frames, samples
        As for :func:`estimate_frames_noise` (*samples* frames looked at).

    Returns
    -------
    ChannelPlan or None
        As :func:`nlmeans_cli.pixels.channel_plan` for the sampled frames together: a
        channel is left out where it is constant, or equal to another, throughout them (a
        grey title before colour footage decides nothing on its own).

    Raises
    ------
    TypeError, ValueError
        As for :func:`estimate_frames_noise`.

    Notes
    -----
    ``O(samples * N)`` at most: one comparison per pair of channels (most photographs'
    channels differ within their first pixels) and one pass per channel for whether it varies.
    """
    tally = _ChannelTally()
    for last in _frames_sampled(frames, channel_axis, n_frames, samples):
        tally.add(last)
    return tally.plan()


class _ChannelTally:
    """What frames sampled from a clip tell of its channels: which vary, which equal others."""

    def __init__(self) -> None:
        self.varies: np.ndarray | None = None
        self.firsts: np.ndarray | None = None
        self.equal: np.ndarray | None = None

    def add(self, last: np.ndarray) -> None:
        """Take in one frame's channels-last pixels."""
        count = last.shape[-1]
        within = varying_mask(last)
        values = last.reshape(-1, count)[0]
        pairs = np.array([[source < channel and channels_equal(last, channel, source)
                           for source in range(count)] for channel in range(count)])
        if self.varies is None:
            self.varies, self.firsts, self.equal = within, values, pairs
        else:  # a channel constant in each frame varies if its value moves between them
            self.varies = self.varies | within | (values != self.firsts)
            self.equal = self.equal & pairs

    def plan(self) -> ChannelPlan | None:
        """Return the :class:`ChannelPlan` of the frames taken in (raise for none)."""
        if self.varies is None:
            raise ValueError("the clip has no frames")
        equal = self.equal
        return plan_channels(self.varies, lambda channel, source: bool(equal[channel, source]))


def _frames_sampled(frames, channel_axis, n_frames, samples):
    """Yield at most *samples* frames spread over the clip, channels last on the unit scale.

    With *n_frames* unknown, the first ones. Frames after the last sample are not read.
    """
    step = max(1, -(-n_frames // samples)) if n_frames else 1
    taken = 0
    for k, frame in enumerate(frames):
        if k % step:
            continue
        frame = check_frame(np.asarray(frame), None, channel_axis, k)
        yield to_unit(channels_last(frame, channel_axis))
        taken += 1
        if taken >= samples:
            return


def _sampled_frames(frames, channel_axis, n_frames, samples) -> tuple[np.ndarray, np.dtype]:
    """Return the sampled frames stacked, channels last on the unit scale, and their dtype."""
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError("the clip has no frames")
    dtype = np.asarray(first).dtype
    return np.stack(list(_frames_sampled(chain([first], frames), channel_axis, n_frames,
                                         samples))), dtype


def check_frame(frame, first, channel_axis: int | None, index: int) -> np.ndarray:
    """Check frame *index* of a clip: its dtype, dimensions and values, or its likeness.

    Parameters
    ----------
    frame : array-like
        The frame.
    first : object or None
        ``None`` for the first frame (its dtype and dimensions are checked); else anything
        with the first frame's ``shape`` and ``dtype``, which this one must share.
    channel_axis : int, optional
        The channel axis of a frame.
    index : int
        The frame's place in the clip, for messages.

    Returns
    -------
    numpy.ndarray
        The frame as an array.

    Raises
    ------
    TypeError, ValueError
        For an unsupported dtype, a frame unlike the first, or NaN or infinite values.
    """
    frame = np.asarray(frame)
    if first is None:
        check_dtype(frame.dtype, "frame")
        expected = 2 if channel_axis is None else 3
        if frame.ndim != expected:
            raise ValueError(f"frame {index}: expected a {expected}-D frame, got shape "
                             f"{frame.shape}")
    elif frame.shape != first.shape or frame.dtype != first.dtype:
        raise ValueError(f"frame {index} is {frame.shape} {frame.dtype}, unlike the first "
                         f"frame's {first.shape} {first.dtype}")
    check_finite(frame, f"frame {index}")
    return frame
