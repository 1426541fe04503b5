"""The generalised Anscombe transform of Poisson-Gaussian data, and its unbiased inverse.

The transform turns data whose variance is ``gain * (x - black_level) + read_noise**2``
(:class:`nlmeans_cli.noise.PoissonGaussian`) into data of variance 1, which the Gaussian
path denoises; Makitalo and Foi's closed-form approximation of the exact unbiased inverse
brings the estimate back. Every value here is on the unit scale.

References
----------
.. [1] M. Makitalo and A. Foi, "Optimal inversion of the generalized Anscombe transformation
   for Poisson-Gaussian noise", IEEE TIP 22(1), 2013.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .noise import PoissonGaussian

__all__ = ["anscombe", "inverse_anscombe"]


def anscombe(z: np.ndarray, model: PoissonGaussian) -> np.ndarray:
    """Apply the generalised Anscombe transform: Poisson-Gaussian data to variance 1.

    Parameters
    ----------
    z : numpy.ndarray
        Noisy values, unit scale.
    model : PoissonGaussian
        Their noise: ``gain`` > 0, or ``gain`` 0 and ``read_noise`` > 0 (a channel of read
        noise alone, such as an empty channel of a colour image).

    Returns
    -------
    numpy.ndarray
        float32 ``2 / gain * sqrt(max(gain * (z - black_level) + 3/8 gain^2 + read_noise^2,
        0))``, or ``z / read_noise`` where the gain is 0.

    Notes
    -----
    ``O(N)``, in float32, a few rows at a time.
    """
    gain = float(model.gain)
    if gain <= 0:
        return np.divide(z, np.float32(model.read_noise), dtype=np.float32)
    return _by_rows(_forward_rows, z, gain, model.variance_at_zero)


def _forward_rows(z: np.ndarray, out: np.ndarray, gain: float, variance_at_zero: float
                  ) -> None:
    """Write :func:`anscombe` of some rows of values into *out* (gain > 0)."""
    np.multiply(z, np.float32(gain), out=out, dtype=np.float32)
    out += np.float32(0.375 * gain * gain + variance_at_zero)
    np.maximum(out, 0.0, out=out)
    np.sqrt(out, out=out)
    out *= np.float32(2.0 / gain)


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
        float32 estimates of the mean, unit scale, never below the black level (``d *
        read_noise``, as it comes, where the gain is 0).

    Notes
    -----
    Makitalo and Foi's approximation of the exact unbiased inverse (reference 1): unlike the
    algebraic inverse it carries no bias at low counts. ``O(N)``, in float32 (within 1e-6
    of float64, relative to the estimate), a few rows at a time.
    """
    if model.gain <= 0:
        return np.multiply(d, np.float32(model.read_noise), dtype=np.float32)
    return _by_rows(_inverse_rows, d, float(model.gain), float(model.read_noise / model.gain),
                    float(model.black_level or 0.0))


def _inverse_rows(d: np.ndarray, out: np.ndarray, gain: float, sigma: float, black: float
                  ) -> None:
    """Write :func:`inverse_anscombe` of some rows into *out* (gain > 0, sigma read / gain)."""
    root = np.sqrt(1.5)
    # Below the transform of a zero count (2 sqrt(3/8)) the mean is 0; the series, made for
    # larger values, would blow up there (its terms in 1/d^3).
    floor = np.float32(2.0 * np.sqrt(0.375))
    safe = np.maximum(d, floor, dtype=np.float32)
    # d^2 / 4 + sqrt(3/2) / (4 d) - 11 / (8 d^2) + 5 sqrt(3/2) / (8 d^3) - 1/8 - sigma^2, its
    # powers of 1 / d by Horner's rule.
    reciprocal = np.divide(np.float32(1.0), safe)
    np.multiply(reciprocal, np.float32(0.625 * root), out=out)
    out -= np.float32(1.375)
    out *= reciprocal
    out += np.float32(0.25 * root)
    out *= reciprocal
    np.square(safe, out=safe)
    safe *= np.float32(0.25)
    out += safe
    out -= np.float32(0.125 + sigma * sigma)
    out[d < floor] = 0.0
    np.maximum(out, 0.0, out=out)
    out *= np.float32(gain)
    if black:
        out += np.float32(black)


def _by_rows(rows_into: Callable[..., None], values: np.ndarray, *parameters: float
             ) -> np.ndarray:
    """Return float32 ``rows_into(rows, out, *parameters)`` over *values*, a few rows at a time.

    In float32, a few tens of thousands of values at a time: the temporaries stay in a
    core's cache and in memory already mapped. Whole-image float64 temporaries made the
    transforms of a 12-megapixel image take 1.5 s, twice the time of denoising it; whole
    float32 ones still 0.5 s, most of it the first touch of their fresh pages. float32
    keeps the results within an ulp of float64's, but for values whose square root's
    argument is near 0 (read noise below black), within 1e-5 of the largest (tested).
    """
    values = np.asarray(values)
    out = np.empty(values.shape, np.float32)
    if values.ndim < 2 or values.size == 0:
        rows_into(values, out, *parameters)
        return out
    # A view where the values allow it (a channel of channels-last pixels does).
    rows, out_rows = values.reshape(-1, values.shape[-1]), out.reshape(-1, values.shape[-1])
    step = max(1, _VALUES_AT_A_TIME // rows.shape[1])
    for start in range(0, rows.shape[0], step):
        rows_into(rows[start:start + step], out_rows[start:start + step], *parameters)
    return out


#: How many values the transforms take at a time (see _by_rows).
_VALUES_AT_A_TIME = 1 << 15
