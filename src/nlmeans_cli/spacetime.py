"""Clips and image sequences: every frame denoised with a spacetime search window.

A frame ``k`` is estimated from the patches of frames ``k - T .. k + T`` (``T`` the temporal
window): the non-local operation over space and time, with 2-D patches and a window of
``search_window x search_window`` positions in each of the ``2 T + 1`` frames. On the engine's
grid a stack of frames is laid out as ``(channels, rows, frames, columns)``: time takes the axis
that a still image leaves at length 1, and each engine call estimates a run of consecutive
frames (its ``targets``), the frames either side serving as candidates; the sums of the pairs
between one call's frames and the next call's are handed on to that call
(:class:`~nlmeans_cli.engine.FrameCarry`), so every pair of patches is compared once.

Frames stream through: :func:`denoise_frames` holds at most :data:`FRAMES_PER_CALL` ``+ 3 T``
input frames, so a long clip needs the memory of a few frames. At either end of a clip the
window is reflected, as the image is at its borders.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from functools import partial
from typing import NamedTuple

import numpy as np

from .clip_noise import (
    check_frame,
    estimate_frames_sigma_unit,
    plan_frames_channels,
    plan_frames_from_residual,
    plan_frames_stabiliser,
)
from .denoising import denoise_with
from .methods import Method, Setting, method_named
from .noise import lookup_noise
from .parameters import (
    DEFAULT_NOISE,
    DEFAULT_TEMPORAL_WINDOW,
    Request,
    reference_level,
    request_for,
)
from .pixels import channels_last, fill_channels, restore_channels
from .scales import check_dtype, from_unit, to_unit

__all__ = [
    "DEFAULT_TEMPORAL_WINDOW",
    "denoise_clip",
    "denoise_frames",
    "resolve_clip",
    "resolve_frames",
    "stream_frames",
]

#: Frames denoised by one engine call of the spacetime path, at most; and the values
#: (pixels times channels) those frames may hold together, so that 4K colour goes one frame
#: at a time, 720p colour twelve and 720p grey sixteen. The result does not depend on either.
#: A call hands the sums of the pairs between its last frames and the next call's on to that
#: call (:class:`~nlmeans_cli.engine.FrameCarry`), so no pair is computed twice; more frames a
#: call then save only the calls' overhead.
FRAMES_PER_CALL = 16
VALUES_PER_CALL = 2**25


def denoise_frames(
    frames: Iterable[np.ndarray],
    *,
    sigma: float | None = None,
    h: float | None = None,
    patch_size: int | None = None,
    search_window: int | None = None,
    temporal_window: int = DEFAULT_TEMPORAL_WINDOW,
    affinity: str | None = None,
    method: str = "classic",
    channel_axis: int | None = None,
    model: str | None = None,
    patch_kernel: str | None = None,
    noise: str = "gaussian",
    gain: float | None = None,
    read_noise: float | None = None,
    black_level: float | None = None,
    colour: bool = True,
) -> Iterator[np.ndarray]:
    """Denoise a stream of frames with a spacetime search window, one frame out per frame in.

    Parameters
    ----------
    frames : iterable of numpy.ndarray
        2-D frames (with a channel axis for colour), all of one shape and dtype (uint8,
        uint16, int16, float16, float32 or float64). Read lazily: a generator over a file streams.
    sigma : float
        Noise standard deviation in the frames' value units (see
        :func:`nlmeans_cli.clip_noise.estimate_frames_noise`); needed for Gaussian noise,
        refused with ``noise="poisson-gaussian"``.
    h, patch_size, search_window, patch_kernel : optional
        As for :func:`nlmeans_cli.denoise`; the window's side applies to both spatial axes.
    temporal_window : int
        Frames either side of each frame that are searched; 0 denoises frame by frame (the
        result is then exactly :func:`nlmeans_cli.denoise` of each frame).
    affinity, method : str
        As for :func:`nlmeans_cli.denoise`.
    channel_axis : int, optional
        The channel axis of a frame, ``None`` for grey.
    model : path-like, optional
        As for :func:`nlmeans_cli.denoise`; the learned models denoise each frame alone.
    noise : str
        ``"gaussian"`` (with *sigma*) or ``"poisson-gaussian"`` (with *gain* and
        *read_noise*, in the frames' value units): a stream is read once, so nothing is
        fitted; :func:`denoise_clip` fits them (and its default, ``"auto"``, chooses).
    gain, read_noise : float, optional
        The Poisson-Gaussian parameters (``variance = gain * x + read_noise ** 2``).
    black_level : float, optional
        With them, the value of no photons (a camera's offset; ``None``: 0), as for
        :func:`nlmeans_cli.denoise`.
    colour : bool
        Whether three channels are red, green and blue, as for :func:`nlmeans_cli.denoise`.

    Yields
    ------
    numpy.ndarray
        The denoised frames in order, each of the input frames' shape and dtype.

    Raises
    ------
    TypeError
        If a frame's dtype is not supported.
    ValueError
        For a frame that differs from the first in shape or dtype, non-finite pixels, a bad
        parameter or an unknown name.

    Notes
    -----
    Cost ``O(N * C * S^2 * (2 T + 1))`` per frame of ``N`` pixels and ``C`` channels with a
    window of side ``S``, about what a still image's symmetric search costs per candidate:
    each pair of patches is compared once, for both of its frames. Memory:
    :data:`FRAMES_PER_CALL` ``+ 3 T`` input frames (fewer for large frames) plus a float32
    copy of them, padded. A stream is read once, so its first frame tells which channels are
    constant or copies of another (:func:`nlmeans_cli.pixels.channel_plan`), left out of the
    denoising; a later frame where such a channel differs keeps it as it holds it (noisy).
    :func:`denoise_clip` decides on frames spread over the clip.

    References
    ----------
    .. [1] A. Buades, B. Coll, J.-M. Morel, "Denoising image sequences does not require motion
       estimation", AVSS 2005.
    .. [2] X. Wang et al., "Non-local Neural Networks", CVPR 2018 (the spacetime operation).
    """
    temporal_window = _non_negative_int(temporal_window, "temporal_window")
    noise = lookup_noise(noise).name
    if noise == "auto" or (noise == "gaussian" and sigma is None):
        raise ValueError("a stream of frames is read once, so its noise cannot be fitted: "
                         "give sigma (Gaussian noise), or gain and read_noise with "
                         "noise='poisson-gaussian'; denoise_clip fits them")
    if noise == "poisson-gaussian" and (gain is None or read_noise is None):
        raise ValueError("noise='poisson-gaussian' on a stream of frames needs both gain and "
                         "read_noise (denoise_clip fits them)")
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        return
    request = request_for(check_dtype(np.asarray(first).dtype, "frame"), sigma=sigma, h=h,
                          patch_size=patch_size, search_window=search_window,
                          affinity=affinity, method=method, model=model,
                          patch_kernel=patch_kernel, noise=noise, gain=gain,
                          read_noise=read_noise, black_level=black_level, colour=colour)
    # Nothing is fitted (both parameters given, or sigma): the transform needs only the first
    # frame's range.
    setting = resolve_clip(partial(iter, (first,)), request, np.shape(first),
                           channel_axis=channel_axis, n_frames=1,
                           dtype=np.asarray(first).dtype, temporal_window=temporal_window)
    chained = _chain(first, frames)
    del first
    yield from stream_frames(chained, setting, temporal_window=temporal_window,
                             channel_axis=channel_axis)


def resolve_frames(request: Request, frame_shape: tuple[int, ...], *,
                   channel_axis: int | None = None,
                   table_sigma_unit: float | None = None, level: float = 1.0,
                   temporal_window: int = 0) -> Setting:
    """Resolve a request whose sigma is known for the frames of a clip.

    Parameters
    ----------
    request : Request
        With ``sigma_unit`` set (see :func:`nlmeans_cli.clip_noise.estimate_frames_sigma_unit`).
    frame_shape : tuple of int
        The shape of one frame (2-D, with *channel_axis* for colour).
    channel_axis : int, optional
        The channel axis of a frame.
    table_sigma_unit : float, optional
        Where the method reads its default parameters, if not at sigma (a stabilised
        clip's untransformed noise).
    level : float
        The level the frames' noise is read against, unit scale
        (:func:`nlmeans_cli.parameters.reference_level`).
    temporal_window : int
        The frames either side each frame is denoised with (with some, the classic method
        takes the clips' table: :data:`nlmeans_cli.parameters.DEFAULTS_CLIP`).

    Returns
    -------
    Setting
        The method's 2-D parameters, for every frame of the clip.

    Raises
    ------
    ValueError
        If sigma is missing, or as the method's resolution.
    """
    if request.sigma_unit is None:
        raise ValueError("a clip's sigma is estimated over its frames before resolving")
    shape = list(frame_shape)
    channels = 1 if channel_axis is None else shape.pop(channel_axis)
    return method_named(request.method).resolve(
        request, request.sigma_unit, sigma_estimated=False, spatial=tuple(shape),
        channels=channels, table_sigma_unit=table_sigma_unit, level=level, frames=True,
        temporal_window=temporal_window)


def resolve_clip(frames: Callable[[], Iterable[np.ndarray]], request: Request,
                 frame_shape: tuple[int, ...], *, channel_axis: int | None = None,
                 n_frames: int | None = None, dtype: np.dtype | None = None,
                 temporal_window: int = 0) -> Setting:
    """Resolve a request for a clip: its noise fitted or estimated over frames spread across it.

    Parameters
    ----------
    frames : callable
        Returns an iterable of the clip's frames, afresh each call (a file is read again).
    request : Request
        As the user gave it (unit scale).
    frame_shape : tuple of int
        The shape of one frame (2-D, with *channel_axis* for colour).
    channel_axis : int, optional
        The channel axis of a frame.
    n_frames : int, optional
        The clip's length, to spread the sampled frames; ``None`` samples the first ones.
    dtype : numpy.dtype, optional
        The frames' pixel type, where known before reading one: an integer clip's level is
        full scale, and no frame is read for it.
    temporal_window : int
        The frames either side each frame is denoised with (:func:`resolve_frames`).

    Returns
    -------
    Setting
        The method's parameters for every frame: stabilised where the request's noise model
        (:func:`nlmeans_cli.clip_noise.plan_frames_stabiliser`) takes Poisson-Gaussian
        noise, or where clipping hid its growth from ``auto`` and the Gaussian path's
        residual shows it (``growth_hidden`` then set), else at the given sigma or one
        estimated by :func:`nlmeans_cli.clip_noise.estimate_frames_sigma_unit`. Where some
        channels are constant or copies of others over the frames sampled, the setting is
        the others' and ``channel_plan`` names them (the constant ones come back as each
        frame holds them, copies of others take their results, where a frame holds them
        equal).

    Raises
    ------
    TypeError, ValueError
        As for :func:`denoise_frames`.

    Notes
    -----
    Reads the clip's first frame for its level
    (:func:`nlmeans_cli.parameters.reference_level`) unless *dtype* is an integer type, up
    to its last sampled frame once for the noise model and, on the Gaussian path without a
    sigma, once more for the estimate: ``O(samples * N)``. With ``noise="auto"``, where
    clipping hid from the levels whether the noise grows, once more to denoise the sampled
    frames' centres (512x512 pixels in all) by the pilot, the classic method's Gaussian path
    at 1.5 times its h, judge the residual and, where it shows the growth, fit the noise
    (:func:`nlmeans_cli.clip_noise.plan_frames_from_residual`).
    """
    level = (1.0 if dtype is not None and np.dtype(dtype).kind != "f"
             else _first_frame_level(frames()))
    stabiliser_plan, plan = plan_frames_stabiliser(frames(), request, channel_axis=channel_axis,
                                                   n_frames=n_frames, top=level)
    if stabiliser_plan.growth_hidden:
        # Clipping hid the growth from the levels: the sampled frames' residual decides, and
        # where it shows the growth the clip is stabilised as poisson-gaussian would be.
        stabiliser_plan = plan_frames_from_residual(frames(), request, channel_plan=plan,
                                                    channel_axis=channel_axis,
                                                    n_frames=n_frames, top=level)
    stabiliser = stabiliser_plan.stabiliser
    estimated = stabiliser is None and request.sigma_unit is None
    sigma_unit = request.sigma_unit
    if stabiliser is not None:
        sigma_unit = stabiliser.sigma_unit
    elif estimated:
        sigma_unit, plan = estimate_frames_sigma_unit(
            frames(), channel_axis=channel_axis, n_frames=n_frames, plan=plan,
            planned=request.noise != "gaussian",
            luminance_weight=method_named(request.method).luminance_weight,
            colour=request.colour)
    elif request.noise == "gaussian" and channel_axis is not None:
        # Nothing was sampled: frames spread over the clip tell the constant channels and the
        # copies (a grey title alone would have made every frame after it grey).
        plan = plan_frames_channels(frames(), channel_axis=channel_axis, n_frames=n_frames)
    denoised_shape = frame_shape
    if plan is not None:
        # The setting is the denoised channels' (as a still's).
        denoised_shape = tuple(len(plan.denoised) if axis == channel_axis % len(frame_shape)
                               else size for axis, size in enumerate(frame_shape))
    if plan is not None:  # fewer than three left, or three of more: not colours
        request = replace(request, colour=False)
    if stabiliser is None:
        table_sigma, frames_level = None, level
    else:  # the transformed frames' level is 1
        table_sigma, frames_level = stabiliser.table_sigma(level), 1.0
    return replace(resolve_frames(replace(request, sigma_unit=sigma_unit), denoised_shape,
                                  channel_axis=channel_axis, table_sigma_unit=table_sigma,
                                  level=frames_level, temporal_window=temporal_window),
                   stabiliser=stabiliser, sigma_estimated=estimated, channel_plan=plan,
                   growth_hidden=stabiliser_plan.growth_hidden)


def _first_frame_level(frames: Iterable[np.ndarray]) -> float:
    """Return :func:`nlmeans_cli.parameters.reference_level` of a clip's first frame (or 1)."""
    first = next(iter(frames), None)
    if first is None:
        return 1.0
    first = np.asarray(first)
    return reference_level(first, first.dtype)


def stream_frames(frames: Iterable[np.ndarray], setting: Setting, *,
                  temporal_window: int = DEFAULT_TEMPORAL_WINDOW,
                  channel_axis: int | None = None) -> Iterator[np.ndarray]:
    """Denoise a stream of frames with a resolved setting, as :func:`denoise_frames` does.

    Parameters
    ----------
    frames : iterable of numpy.ndarray
        As for :func:`denoise_frames`.
    setting : Setting
        From :func:`resolve_frames`.
    temporal_window : int
        Frames either side searched (spacetime methods); 0 denoises frame by frame.
    channel_axis : int, optional
        The channel axis of a frame.

    Yields
    ------
    numpy.ndarray
        The denoised frames in order.

    Raises
    ------
    TypeError, ValueError
        As for :func:`denoise_frames`.
    """
    runner = method_named(setting.method)
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        return
    first = check_frame(first, None, channel_axis, 0)
    # Frames are checked against the first one's layout, not the first frame itself: holding
    # on to it would keep one frame more than the window alive for the whole clip.
    layout = _Layout(first.shape, first.dtype, first.ndim)
    if temporal_window == 0 or not runner.spacetime:
        yield denoise_with(first, setting, channel_axis=channel_axis)
        del first
        for k, frame in enumerate(frames, start=1):
            yield denoise_with(check_frame(frame, layout, channel_axis, k), setting,
                               channel_axis=channel_axis)
        return
    plan = setting.channel_plan
    varying = None if plan is None else list(plan.denoised)
    # The frames whose constant channels are still to be filled, in order (the method's
    # second look may hand a frame out a few frames after its estimate).
    waiting: deque[np.ndarray] = deque()
    estimates = _spacetime_estimates(_chain(first, frames), runner, setting, layout,
                                     temporal_window, channel_axis, varying, waiting)
    del first
    for estimate in runner.second_look_frames(estimates, setting):
        # (channels, rows, columns) -> the frame's channels-last layout.
        estimate = np.moveaxis(estimate, 0, -1)
        if setting.stabiliser is not None:
            estimate = setting.stabiliser.inverse(estimate)
        if varying is None:
            yield from_unit(restore_channels(estimate, channel_axis, layout.ndim), layout.dtype)
            continue
        # The constant channels as the frame holds them, in its own type.
        frame = waiting.popleft()
        fill_channels(channels_last(frame, channel_axis), from_unit(estimate, layout.dtype),
                      plan)
        yield frame


def _spacetime_estimates(frames: Iterator[np.ndarray], runner: Method, setting: Setting,
                         layout: _Layout, temporal_window: int, channel_axis: int | None,
                         varying: list[int] | None, waiting: deque
                         ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield each frame's spacetime estimate and noisy pixels, as the method's grid holds them.

    Both ``(channels, rows, columns)`` float32 on the unit scale (transformed where the
    setting stabilises the noise). With *varying*, a copy of each frame goes on *waiting*
    as its estimate is yielded.
    """
    from .engine import FrameCarry

    held: deque[np.ndarray] = deque([next(frames)])  # checked by the caller
    # Several frames per engine call: the distance between two of them is then computed once
    # (the engine's halved offsets) instead of once from each side. The pairs between one
    # call's frames and the next's are computed once too: the engine hands their sums on,
    # which takes frames up to twice the window ahead (and, for the reflection at the clip's
    # end, one window behind).
    per_call = int(max(1, min(FRAMES_PER_CALL, VALUES_PER_CALL // max(held[0].size, 1))))
    carry = FrameCarry()
    start = 0  # index of held[0] in the clip
    exhausted = False
    k = 0
    while True:
        while not exhausted and start + len(held) <= k + per_call - 1 + 2 * temporal_window:
            frame = next(frames, None)
            if frame is None:
                exhausted = True
            else:
                held.append(check_frame(frame, layout, channel_axis, start + len(held)))
                del frame
        if k >= start + len(held):
            return
        while start < k - temporal_window:
            held.popleft()
            start += 1
        end = min(k + per_call, start + len(held))
        grid = _window_grid(held, channel_axis, setting.stabiliser, varying)
        estimates = runner.run(grid, setting, axes=(1, 0, 1), temporal_window=temporal_window,
                               targets=(k - start, end - start), carry=carry)
        for f in range(end - k):
            if varying is not None:
                waiting.append(np.array(held[k + f - start], copy=True))
            # Copies: a method that holds a few frames for its second look holds no grid.
            yield (np.ascontiguousarray(estimates[:, :, f, :]),
                   np.ascontiguousarray(grid[:, :, k + f - start, :]))
        del estimates, grid
        k = end


def denoise_clip(
    clip: np.ndarray,
    *,
    sigma: float | None = None,
    h: float | None = None,
    patch_size: int | None = None,
    search_window: int | None = None,
    temporal_window: int = DEFAULT_TEMPORAL_WINDOW,
    affinity: str | None = None,
    method: str = "classic",
    channel_axis: int | None = None,
    model: str | None = None,
    patch_kernel: str | None = None,
    noise: str = DEFAULT_NOISE,
    gain: float | None = None,
    read_noise: float | None = None,
    black_level: float | None = None,
    colour: bool = True,
) -> np.ndarray:
    """Denoise a clip held in memory, frames along the first axis.

    Parameters
    ----------
    clip : numpy.ndarray
        ``(frames, rows, columns)``, or with a channel axis for colour.
    sigma : float, optional
        In the clip's value units; ``None`` estimates it over frames spread across the clip
        (:func:`nlmeans_cli.clip_noise.estimate_frames_noise`).
    h, patch_size, search_window, temporal_window, affinity, method, model, patch_kernel
    colour
        As for :func:`denoise_frames`.
    channel_axis : int, optional
        The channel axis *of the clip* (``-1`` for ``(frames, rows, columns, channels)``).
    noise, gain, read_noise, black_level
        As for :func:`nlmeans_cli.denoise` (``"auto"`` by default); the Poisson-Gaussian
        parameters not given are fitted over frames spread across the clip, as
        ``nlm denoise`` does.

    Returns
    -------
    numpy.ndarray
        The denoised clip, same shape and dtype.

    Raises
    ------
    TypeError, ValueError
        As for :func:`denoise_frames`; also for a clip without frames.

    Notes
    -----
    Cost as :func:`denoise_frames`; memory the clip twice (input and output).
    """
    clip = np.asarray(clip)
    frame_axis = None
    if channel_axis is not None:
        if clip.ndim != 4:
            raise ValueError(f"a colour clip must be 4-D (frames first), got shape {clip.shape}")
        frame_axis = (channel_axis % 4) - 1
        if frame_axis < 0:
            raise ValueError("channel_axis cannot be the frame axis (0)")
    elif clip.ndim != 3:
        raise ValueError(f"a grey clip must be 3-D (frames first), got shape {clip.shape}")
    if clip.shape[0] == 0:
        raise ValueError("the clip has no frames")
    temporal_window = _non_negative_int(temporal_window, "temporal_window")
    request = request_for(check_dtype(clip.dtype, "frame"), sigma=sigma, h=h,
                          patch_size=patch_size, search_window=search_window,
                          affinity=affinity, method=method, model=model,
                          patch_kernel=patch_kernel, noise=noise, gain=gain,
                          read_noise=read_noise, black_level=black_level, colour=colour)
    setting = resolve_clip(lambda: clip, request, clip.shape[1:], channel_axis=frame_axis,
                           n_frames=len(clip), dtype=clip.dtype,
                           temporal_window=temporal_window)
    out = np.empty_like(clip)
    denoised = stream_frames(clip, setting, temporal_window=temporal_window,
                             channel_axis=frame_axis)
    for k, frame in enumerate(denoised):
        out[k] = frame
    return out


class _Layout(NamedTuple):
    shape: tuple[int, ...]
    dtype: np.dtype
    ndim: int


def _chain(first, rest):
    # The first frame is handed on, not kept: a streamed clip holds only its window.
    held = [first]
    del first
    yield held.pop()
    yield from rest


def _window_grid(held: deque, channel_axis: int | None, stabiliser=None,
                 varying: list[int] | None = None) -> np.ndarray:
    """Stack the held frames as the unit-scale grid ``(channels, rows, frames, columns)``.

    With a *stabiliser* (Poisson-Gaussian noise) each frame is transformed first; with
    *varying*, only those channels are taken.
    """
    first = channels_last(held[0], channel_axis)
    rows, columns, channels = first.shape
    if varying is not None:
        channels = len(varying)
    grid = np.empty((channels, rows, len(held), columns), np.float32)
    for f, frame in enumerate(held):
        last = channels_last(frame, channel_axis)
        if varying is not None:
            last = last[..., varying]
        if stabiliser is not None:
            grid[:, :, f, :] = np.moveaxis(stabiliser.forward(to_unit(last)), -1, 0)
            continue
        to_unit(np.moveaxis(last, -1, 0), out=grid[:, :, f, :])
    return grid


def _non_negative_int(value, name):
    if int(value) != value or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value}")
    return int(value)
