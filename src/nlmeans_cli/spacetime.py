"""Clips and image sequences: every frame denoised with a spacetime search window.

A frame ``k`` is estimated from the patches of frames ``k - T .. k + T`` (``T`` the temporal
window): the non-local operation over space and time, with 2-D patches and a window of
``search_window x search_window`` positions in each of the ``2 T + 1`` frames. On the engine's
grid a stack of frames is laid out as ``(channels, rows, frames, columns)``: time takes the axis
that a still image leaves at length 1, and the engine estimates only the frame in the middle
(its ``targets``), the others serving as candidates.

Frames stream through: :func:`denoise_frames` holds at most ``2 T + 1`` input frames, so a long
clip needs the memory of a few frames. At either end of a clip the window is reflected, as the
image is at its borders.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from .denoising import (
    SUPPORTED_DTYPES,
    _back_to_dtype,
    _channels_last,
    _estimate_sigma,
    _resolve_parameters,
    denoise,
    to_unit,
    unit_scale,
)
from .formulation import AFFINITIES, lookup
from .methods import METHODS, Setting
from .parameters import DEFAULT_TEMPORAL_WINDOW

__all__ = [
    "DEFAULT_TEMPORAL_WINDOW",
    "clip_parameters",
    "denoise_clip",
    "denoise_frames",
    "estimate_frames_noise",
]

#: Frames the noise estimate of a clip looks at, spread evenly over it.
NOISE_SAMPLE_FRAMES = 16


def denoise_frames(
    frames: Iterable[np.ndarray],
    *,
    sigma: float,
    h: float | None = None,
    patch_size: int | None = None,
    search_window: int | None = None,
    temporal_window: int = DEFAULT_TEMPORAL_WINDOW,
    affinity: str = "gaussian",
    method: str = "classic",
    channel_axis: int | None = None,
    model: str | None = None,
) -> Iterator[np.ndarray]:
    """Denoise a stream of frames with a spacetime search window, one frame out per frame in.

    Parameters
    ----------
    frames : iterable of numpy.ndarray
        2-D frames (with a channel axis for colour), all of one shape and dtype (uint8,
        uint16, float32 or float64). Read lazily: a generator over a file streams.
    sigma : float
        Noise standard deviation in the frames' value units (see
        :func:`estimate_frames_noise`).
    h, patch_size, search_window : optional
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
    window of side ``S``; every offset is visited (twice the work of a still image's
    symmetric search per candidate). Memory: ``2 T + 1`` input frames plus a float32 copy of
    them, padded.

    References
    ----------
    .. [1] A. Buades, B. Coll, J.-M. Morel, "Denoising image sequences does not require motion
       estimation", AVSS 2005.
    .. [2] X. Wang et al., "Non-local Neural Networks", CVPR 2018 (the spacetime operation).
    """
    temporal_window = _non_negative_int(temporal_window, "temporal_window")
    spec = lookup(AFFINITIES, affinity, "affinity")
    runner = lookup(METHODS, method, "method")
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        return
    first = _check_frame(first, None, channel_axis, 0)
    if temporal_window == 0 or not runner.spacetime:
        yield from _frame_by_frame(first, frames, sigma, h, patch_size, search_window,
                                   affinity, method, channel_axis, model)
        return
    # Frames are checked against the first one's layout, not the first frame itself: holding
    # on to it would keep one frame more than the window alive for the whole clip.
    layout = _Layout(first.shape, first.dtype, first.ndim)
    full_scale = unit_scale(first.dtype)
    sigma_unit, h_unit, patch_size, search_window = _resolve_parameters(
        sigma, h, patch_size, search_window, full_scale=full_scale, ndim=2)
    setting = Setting(
        sigma=sigma_unit,
        h=h_unit,
        patch_radius=(patch_size // 2, 0, patch_size // 2),
        search_radius=(search_window // 2, temporal_window, search_window // 2),
        affinity=spec.name,
        model=None if model is None else str(model),
    )
    held: deque[np.ndarray] = deque([first])
    del first
    start = 0  # index of held[0] in the clip
    exhausted = False
    k = 0
    while True:
        while not exhausted and start + len(held) <= k + temporal_window:
            frame = next(frames, None)
            if frame is None:
                exhausted = True
            else:
                held.append(_check_frame(frame, layout, channel_axis, start + len(held)))
                del frame
        if k >= start + len(held):
            return
        while start < k - temporal_window:
            held.popleft()
            start += 1
        estimate = runner.run(_window_grid(held, channel_axis),
                              replace(setting, targets=(k - start, k - start + 1)))
        # (C, rows, 1, columns) -> the frame's channels-last layout.
        estimate = np.moveaxis(estimate[:, :, 0, :], 0, -1)
        yield _back_to_dtype(estimate, layout.dtype, full_scale, channel_axis, layout.ndim)
        k += 1


def denoise_clip(
    clip: np.ndarray,
    *,
    sigma: float | None = None,
    h: float | None = None,
    patch_size: int | None = None,
    search_window: int | None = None,
    temporal_window: int = DEFAULT_TEMPORAL_WINDOW,
    affinity: str = "gaussian",
    method: str = "classic",
    channel_axis: int | None = None,
    model: str | None = None,
) -> np.ndarray:
    """Denoise a clip held in memory, frames along the first axis.

    Parameters
    ----------
    clip : numpy.ndarray
        ``(frames, rows, columns)``, or with a channel axis for colour.
    sigma : float, optional
        In the clip's value units; ``None`` estimates it with :func:`estimate_frames_noise`.
    h, patch_size, search_window, temporal_window, affinity, method, model
        As for :func:`denoise_frames`.
    channel_axis : int, optional
        The channel axis *of the clip* (``-1`` for ``(frames, rows, columns, channels)``).

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
    if sigma is None:
        sigma = estimate_frames_noise(clip, channel_axis=frame_axis, n_frames=len(clip))
    out = np.empty_like(clip)
    denoised = denoise_frames(clip, sigma=sigma, h=h, patch_size=patch_size,
                              search_window=search_window, temporal_window=temporal_window,
                              affinity=affinity, method=method, channel_axis=frame_axis,
                              model=model)
    for k, frame in enumerate(denoised):
        out[k] = frame
    return out


def estimate_frames_noise(frames: Iterable[np.ndarray], *, channel_axis: int | None = None,
                          n_frames: int | None = None,
                          samples: int = NOISE_SAMPLE_FRAMES) -> float:
    """Estimate the noise standard deviation of a clip from frames spread over it.

    Parameters
    ----------
    frames : iterable of numpy.ndarray
        The clip's frames, read once.
    channel_axis : int, optional
        The channel axis of a frame.
    n_frames : int, optional
        The number of frames, when known: the estimate then looks at *samples* frames spread
        evenly over the clip. Otherwise at the first *samples* frames.
    samples : int
        How many frames to estimate on.

    Returns
    -------
    float
        The median over the sampled frames of :func:`nlmeans_cli.estimate_noise`, in the
        frames' value units; a scene with a different texture moves the median little.

    Raises
    ------
    TypeError, ValueError
        For an unsupported frame or a clip without frames.

    Notes
    -----
    ``O(samples * N)``; every frame is read (decoding is sequential), only the samples are
    analysed.
    """
    step = max(1, -(-n_frames // samples)) if n_frames else 1
    estimates = []
    for k, frame in enumerate(frames):
        if k % step:
            continue
        frame = _check_frame(np.asarray(frame), None, channel_axis, k)
        unit = to_unit(_channels_last(frame, channel_axis))
        estimates.append(_estimate_sigma(unit) * unit_scale(frame.dtype))
        if not n_frames and len(estimates) >= samples:
            break
    if not estimates:
        raise ValueError("the clip has no frames")
    return float(np.median(estimates))


def clip_parameters(sigma: float, *, h: float | None = None, patch_size: int | None = None,
                    search_window: int | None = None, dtype=np.uint8) -> tuple[float, int, int]:
    """Return the h, patch size and window that :func:`denoise_frames` uses for *sigma*.

    Parameters
    ----------
    sigma : float
        Noise standard deviation in the frames' value units.
    h, patch_size, search_window : optional
        As for :func:`denoise_frames`.
    dtype : numpy.dtype
        The frames' pixel type, which sets the value units.

    Returns
    -------
    tuple
        ``(h, patch_size, search_window)``, h in the frames' value units.

    Raises
    ------
    ValueError
        For a parameter out of range.
    """
    full_scale = unit_scale(np.dtype(dtype))
    _, h_unit, patch_size, search_window = _resolve_parameters(
        sigma, h, patch_size, search_window, full_scale=full_scale, ndim=2)
    return h_unit * full_scale, patch_size, search_window


class _Layout(NamedTuple):
    shape: tuple[int, ...]
    dtype: np.dtype
    ndim: int


def _frame_by_frame(first, frames, sigma, h, patch_size, search_window, affinity, method,
                    channel_axis, model):
    parameters = dict(sigma=sigma, h=h, patch_size=patch_size, search_window=search_window,
                      affinity=affinity, method=method, channel_axis=channel_axis, model=model)
    layout = _Layout(first.shape, first.dtype, first.ndim)
    yield denoise(first, **parameters)
    del first
    for k, frame in enumerate(frames, start=1):
        yield denoise(_check_frame(frame, layout, channel_axis, k), **parameters)


def _window_grid(held: deque, channel_axis: int | None) -> np.ndarray:
    """Stack the held frames as the unit-scale grid ``(channels, rows, frames, columns)``."""
    first = _channels_last(held[0], channel_axis)
    rows, columns, channels = first.shape
    grid = np.empty((channels, rows, len(held), columns), np.float32)
    scale = np.float32(unit_scale(held[0].dtype))
    for f, frame in enumerate(held):
        planar = np.moveaxis(_channels_last(frame, channel_axis), -1, 0)
        np.divide(planar, scale, out=grid[:, :, f, :], dtype=np.float32, casting="unsafe")
    return grid


def _check_frame(frame, first, channel_axis, index):
    frame = np.asarray(frame)
    if first is None:
        if frame.dtype not in SUPPORTED_DTYPES:
            raise TypeError(f"unsupported frame dtype {frame.dtype}; expected uint8, uint16, "
                            "float32 or float64")
        expected = 2 if channel_axis is None else 3
        if frame.ndim != expected:
            raise ValueError(f"frame {index}: expected a {expected}-D frame, got shape "
                             f"{frame.shape}")
    elif frame.shape != first.shape or frame.dtype != first.dtype:
        raise ValueError(f"frame {index} is {frame.shape} {frame.dtype}, unlike the first "
                         f"frame's {first.shape} {first.dtype}")
    if frame.dtype.kind == "f" and not np.isfinite(frame).all():
        bad = frame.size - int(np.isfinite(frame).sum())
        raise ValueError(f"frame {index} has {bad} NaN or infinite pixel values")
    return frame


def _non_negative_int(value, name):
    if int(value) != value or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value}")
    return int(value)
