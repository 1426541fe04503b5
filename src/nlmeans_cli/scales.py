"""Scales: the supported pixel types and the unit scale every computation runs on.

Three scales meet in this package, and each value says which it is on:

- the **image's own units** (0-255 for uint8, 0-65535 for uint16, -32768-32767 for int16,
  0-1 for floats): the public array functions take ``sigma`` and ``h`` in them, as
  scikit-image does;
- the **0-255 scale** for every bit depth: the command line's ``--sigma`` and ``--h``, the
  literature's convention (names end in ``_255``);
- the **unit scale** (0 is the type's least value, 1 full scale): everything inside. Images
  are converted to float32 on it once (:func:`to_unit`) and back once (:func:`from_unit`),
  and every parameter object below the public functions holds its values on it. A signed
  image's 0 lies at the middle of it (:func:`unit_zero`), as offset binary.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "SUPPORTED_DTYPES",
    "check_dtype",
    "check_finite",
    "from_unit",
    "to_unit",
    "unit_origin",
    "unit_scale",
    "unit_zero",
]

#: The pixel types every function takes, by name.
SUPPORTED_DTYPES: tuple[str, ...] = ("uint8", "uint16", "int16", "float16", "float32", "float64")


def check_dtype(dtype: np.dtype, what: str = "image") -> np.dtype:
    """Return *dtype* if it is supported.

    Parameters
    ----------
    dtype : numpy.dtype
        The pixel type.
    what : str
        What has it, for the message (``"image"``, ``"frame"``).

    Returns
    -------
    numpy.dtype

    Raises
    ------
    TypeError
        If *dtype* is not one of :data:`SUPPORTED_DTYPES`.
    """
    dtype = np.dtype(dtype)
    if dtype.name not in SUPPORTED_DTYPES:
        *others, last = SUPPORTED_DTYPES
        raise TypeError(f"unsupported {what} dtype {dtype}; expected {', '.join(others)} "
                        f"or {last}")
    return dtype


def check_finite(array: np.ndarray, what: str = "image") -> None:
    """Refuse NaN and infinite values in a float array.

    Parameters
    ----------
    array : numpy.ndarray
        The pixels.
    what : str
        What they are, for the message.

    Raises
    ------
    ValueError
        If any value is NaN or infinite; the message counts them.
    """
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = array.size - int(np.isfinite(array).sum())
        raise ValueError(f"{what} has {bad} NaN or infinite pixel values; replace them "
                         "(for example with numpy.nan_to_num) before denoising")


def unit_scale(dtype: np.dtype) -> float:
    """Return the span of full scale for *dtype*: 255, 65535 (uint16 and int16), or 1 for floats.

    Parameters
    ----------
    dtype : numpy.dtype
        One of the supported image dtypes.

    Returns
    -------
    float
        Dividing a difference of values (sigma, h, a gain) by this puts it on the unit scale,
        where 1 is full scale.
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return float(info.max) - float(info.min)
    return 1.0


def unit_origin(dtype: np.dtype) -> float:
    """Return the value of *dtype* that the unit scale puts at 0: its least for signed integers.

    Parameters
    ----------
    dtype : numpy.dtype
        One of the supported image dtypes.

    Returns
    -------
    float
        -32768 for int16; 0 for unsigned integers and floats.
    """
    dtype = np.dtype(dtype)
    return float(np.iinfo(dtype).min) if dtype.kind == "i" else 0.0


def unit_zero(dtype: np.dtype) -> float | None:
    """Return where a signed image's 0 lies on the unit scale, or ``None`` where it is at 0.

    Parameters
    ----------
    dtype : numpy.dtype
        One of the supported image dtypes.

    Returns
    -------
    float or None
        32768 / 65535 for int16 (its photon counts are taken to start there, as a black
        level); ``None`` for unsigned integers and floats.
    """
    origin = unit_origin(dtype)
    return -origin / unit_scale(dtype) if origin else None


def to_unit(image: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """Return *image* as float32 on the unit scale (integers from their least, over their span).

    Parameters
    ----------
    image : numpy.ndarray
        uint8, uint16, int16, float16, float32 or float64.
    out : numpy.ndarray, optional
        A float32 array of *image*'s shape to write into (a plane of a larger grid), so that
        no float32 copy of the image is made on the way.

    Returns
    -------
    numpy.ndarray
        *out*, or a new float32 array of the same shape.
    """
    image = np.asarray(image)
    origin = unit_origin(image.dtype)
    # One pass: cast to float32 and divide, as astype then /= would (exact for the integers,
    # every int16 value less its least being a float32 integer too).
    if origin:
        unit = np.subtract(image, np.float32(origin), out=out, dtype=np.float32,
                           casting="unsafe")
        unit /= np.float32(unit_scale(image.dtype))
        return unit
    return np.divide(image, np.float32(unit_scale(image.dtype)), out=out, dtype=np.float32,
                     casting="unsafe")


def from_unit(unit: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Convert a unit-scale float32 estimate back to *dtype*.

    Parameters
    ----------
    unit : numpy.ndarray
        float32 on the unit scale; may be modified in place.
    dtype : numpy.dtype
        The target pixel type.

    Returns
    -------
    numpy.ndarray
        Integers rounded and clipped to the dtype's range; floats cast.
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        # In place and in float32 (exact for integers below 2**24): a float64 copy of a large
        # image would be the biggest allocation of the whole call.
        scaled = np.multiply(unit, np.float32(unit_scale(dtype)), dtype=np.float32)
        origin = unit_origin(dtype)
        if origin:
            scaled += np.float32(origin)
        np.rint(scaled, out=scaled)
        np.clip(scaled, info.min, info.max, out=scaled)
        return scaled.astype(dtype)
    return unit.astype(dtype)
