"""NumPy ``.npy`` files holding one image: a 2-D grey array or ``(rows, columns, 3)`` colour.

A ``.npy`` file of any other rank is a stack (:mod:`nlmeans_cli.io.sequences`): 3-D arrays are
``(frames, rows, columns)`` unless their last axis holds two to four values, since a frame
that few pixels wide is not a frame anyone denoises, while an RGB image saved from NumPy is
common, and an RGBA one too (Matplotlib's ``imread`` of a PNG): its alpha, last, is passed
through as a PNG's is (grey and alpha for two values).
Arrays are read without pickles and written as plain version 1.0 files.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .atomic import ImageFileError, reason

__all__ = ["ALPHA_NOTE", "array_shape", "encode_array", "holds_still", "map_array",
           "read_array"]


#: The note for an array whose last channel is taken for alpha: a ``.npy`` file says nothing
#: of what its channels are.
ALPHA_NOTE = ("the array's last channel taken for alpha (a .npy says nothing of its channels) "
              "and passed through untouched; to denoise every channel, save them apart")


def holds_still(shape: tuple[int, ...]) -> bool:
    """Tell whether an array of *shape* is one image (grey or RGB) rather than a stack.

    Parameters
    ----------
    shape : tuple of int
        The array's shape.

    Returns
    -------
    bool
        True for ``(rows, columns)`` and ``(rows, columns, C)``, ``C`` 2 (grey and alpha),
        3 (RGB) or 4 (RGBA).
    """
    return len(shape) == 2 or (len(shape) == 3 and shape[-1] in (2, 3, 4))


def map_array(path: str | Path) -> np.ndarray:
    """Memory-map a ``.npy`` file, refusing pickled objects.

    Parameters
    ----------
    path : path-like
        The file.

    Returns
    -------
    numpy.ndarray
        A read-only memory map: only the header is read.

    Raises
    ------
    Exception
        NumPy's, for a file that is not a plain ``.npy`` array.
    """
    return np.load(path, mmap_mode="r", allow_pickle=False)


def array_shape(path: str | Path) -> tuple[int, ...] | None:
    """Return the shape a ``.npy`` file's header gives, or ``None`` when it cannot be read.

    Parameters
    ----------
    path : path-like
        The file.

    Returns
    -------
    tuple of int or None

    Notes
    -----
    Reads the header only (a memory map), whatever the array's size.
    """
    try:
        return tuple(int(n) for n in map_array(path).shape)
    except Exception:  # the reader that opens it says what is wrong
        return None


def read_array(path: Path, *, max_pixels: int) -> np.ndarray:
    """Read a ``.npy`` file holding one image.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    max_pixels : int
        Refuse arrays with more pixels than this, before reading them.

    Returns
    -------
    numpy.ndarray
        The array, in memory and contiguous.

    Raises
    ------
    ImageFileError
        If the file is not a plain ``.npy`` array (pickled objects included), is not one
        image's shape, or holds more than *max_pixels* pixels.

    Notes
    -----
    Memory: the array once.
    """
    try:
        mapped = map_array(path)
    except Exception as error:
        raise ImageFileError(f"{path}: not a readable NumPy array file ({reason(error)})"
                             ) from None
    if not holds_still(mapped.shape):
        raise ImageFileError(f"{path}: expected a 2-D array (rows, columns) or 3-D with 2 to 4 "
                             f"channels last, got shape {mapped.shape}")
    rows, columns = mapped.shape[:2]
    if rows * columns > max_pixels:
        raise ImageFileError(
            f"{path}: {columns}x{rows} is {rows * columns} pixels, more than the limit of "
            f"{max_pixels} (raise it with --max-pixels)")
    try:
        return np.ascontiguousarray(mapped)
    except Exception as error:  # a file cut short maps, then fails when read
        raise ImageFileError(f"{path}: corrupt or truncated NumPy array ({reason(error)})"
                             ) from None


def encode_array(data: np.ndarray) -> bytes:
    """Return *data* as the bytes of a ``.npy`` file.

    Parameters
    ----------
    data : numpy.ndarray
        The pixels, alpha included where there is one.

    Returns
    -------
    bytes

    Notes
    -----
    Memory: one copy of *data*.
    """
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(data), allow_pickle=False)
    return buffer.getvalue()
