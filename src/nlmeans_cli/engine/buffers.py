"""The engine's buffers: arrays kept from call to call, a clip's carried sums, reflection.

A caller that runs many operations (a network's bands) keeps its padded maps in one
:class:`Workspace`; a clip cut into calls hands sums on in a :class:`FrameCarry`; maps are
padded by reflection (:func:`reflect_padded`), or written inside a padded array and their
borders reflected after (:func:`reflect_borders`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["FrameCarry", "Workspace", "reflect_borders", "reflect_padded"]


class Workspace:
    """Float32 arrays kept from call to call, by name (for a caller that runs many).

    Memory that a process has just been given faults on its first write, page by page; maps
    of hundreds of MB allocated afresh for every band of an image cost that every time.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def take(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Return a C-contiguous float32 array of *shape* (contents undefined), reused by *name*."""
        size = int(np.prod(shape))
        array = self._arrays.get(name)
        if array is None or array.size < size:
            array = self._arrays[name] = np.empty(size, np.float32)
        return array[:size].reshape(shape)


class FrameCarry:
    """The sums a clip's engine call hands on to the next call of the same stream.

    A clip searched across frames ``s`` either side, cut into calls of consecutive targets:
    each call visits its own frames, and the pairs between its last frames and the next
    call's are visited once, their sums for the next call's first ``2 s`` frames kept here
    (``None`` before the first call and after the last). Pass the same one to every call of
    a stream (see :func:`~.operation.nonlocal_operation`'s *carry*).
    """

    def __init__(self) -> None:
        self.sums: np.ndarray | None = None


def reflect_padded(maps: np.ndarray, pad, out: np.ndarray) -> np.ndarray:
    """Write *maps* padded by reflection (as ``np.pad(mode="reflect")``) into *out*; return it.

    Parameters
    ----------
    maps : numpy.ndarray
        Any shape.
    pad : sequence of (int, int)
        Before and after, per axis.
    out : numpy.ndarray
        The padded shape.

    Returns
    -------
    numpy.ndarray
        *out*.

    Notes
    -----
    Copies by slices, without ``np.pad``'s bookkeeping (which costs a small grid more than
    the copy: 0.3 ms a call); a pad as long as its axis, whose reflections are reflected
    again, is laid out by ``np.pad``. ``O(out.size)``.
    """
    if any(max(a, b) >= n for n, (a, b) in zip(maps.shape, pad, strict=True)):
        out[...] = np.pad(maps, pad, mode="reflect")
        return out
    out[tuple(slice(a, a + n) for n, (a, _) in zip(maps.shape, pad, strict=True))] = maps
    return reflect_borders(out, pad)


def reflect_borders(out: np.ndarray, pad) -> np.ndarray:
    """Fill the borders of *out* by reflecting what lies inside them, in place; return it.

    Parameters
    ----------
    out : numpy.ndarray
        A padded array whose inside (all but *pad* along each axis) is written.
    pad : sequence of (int, int)
        Before and after, per axis, each shorter than the inside along its axis.

    Returns
    -------
    numpy.ndarray
        *out*, as :func:`reflect_padded` lays the inside out: a writer of the inside (a
        network's 1x1 layer) then needs no copy of its own. ``O(border size)``.

    Raises
    ------
    ValueError
        If a pad is as long as the inside along its axis.
    """
    inside = [n - a - b for n, (a, b) in zip(out.shape, pad, strict=True)]
    if any(max(a, b) >= n for n, (a, b) in zip(inside, pad, strict=True)):
        raise ValueError(f"pads {list(pad)} reach past the inside {inside} of {out.shape}")
    # Axis by axis over the full extent of the others, as numpy does: the corners come out
    # as reflections of reflections.
    for axis, ((before, after), n) in enumerate(zip(pad, inside, strict=True)):
        lead = (slice(None),) * axis
        if before:
            out[(*lead, slice(0, before))] = np.flip(
                out[(*lead, slice(before + 1, 2 * before + 1))], axis)
        if after:
            end = before + n
            out[(*lead, slice(end, end + after))] = np.flip(
                out[(*lead, slice(end - 1 - after, end - 1))], axis)
    return out
