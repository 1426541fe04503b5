"""The public denoising function: validate, convert, pick parameters, run a method."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .formulation import AFFINITIES, lookup
from .methods import METHODS, Setting
from .parameters import default_parameters

__all__ = [
    "Denoised",
    "denoise",
    "denoise_with_report",
    "estimate_noise",
    "to_unit",
    "unit_scale",
]

SUPPORTED_DTYPES = (np.uint8, np.uint16, np.float32, np.float64)


def unit_scale(dtype: np.dtype) -> float:
    """Return the value of full scale for *dtype*: 255, 65535, or 1 for floats.

    Parameters
    ----------
    dtype : numpy.dtype
        One of the supported image dtypes.

    Returns
    -------
    float
        Dividing an image by this puts it on the unit scale, where 1 is full scale.
    """
    dtype = np.dtype(dtype)
    return float(np.iinfo(dtype).max) if dtype.kind == "u" else 1.0


@dataclass(frozen=True)
class Denoised:
    """An estimate together with the parameters that produced it.

    Attributes
    ----------
    image : numpy.ndarray
        The estimate, same shape and dtype as the input.
    sigma, h : float
        In the image's own value units.
    sigma_estimated : bool
        Whether *sigma* was estimated from the image.
    patch_size, search_window : int
    affinity, method : str
    """

    image: np.ndarray
    sigma: float
    sigma_estimated: bool
    h: float
    patch_size: int
    search_window: int
    affinity: str
    method: str


def denoise(
    image: np.ndarray,
    *,
    sigma: float | None = None,
    h: float | None = None,
    patch_size: int | None = None,
    search_window: int | None = None,
    affinity: str = "gaussian",
    method: str = "classic",
    channel_axis: int | None = None,
    model: str | None = None,
) -> np.ndarray:
    """Denoise an image or a volume with the non-local operation.

    Parameters
    ----------
    image : numpy.ndarray
        uint8, uint16, float32 or float64; 2-D, 2-D with a channel axis, or 3-D (a volume).
        Float images are taken to have a nominal range of [0, 1].
    sigma : float, optional
        Noise standard deviation in the image's value units (0-255 for uint8, 0-65535 for
        uint16, 0-1 for floats). ``None`` estimates it with the wavelet estimator of
        :func:`skimage.restoration.estimate_sigma`, averaged over channels.
    h : float, optional
        Filtering parameter in the image's value units; larger smooths more. ``None`` takes
        the default table's ``h_factor * sigma``.
    patch_size : int, optional
        Odd side of the patches that are compared. ``None``: from the default table.
    search_window : int, optional
        Odd side of the search window. ``None``: from the default table.
    affinity : str
        Name in :data:`nlmeans_cli.formulation.AFFINITIES`; ``"gaussian"`` is NL-means.
    method : str
        Name in :data:`nlmeans_cli.methods.METHODS`.
    channel_axis : int, optional
        The axis holding colour channels, which share one set of weights. ``None``: no
        channels, so a 3-D array is a volume.
    model : path-like, optional
        ``method="learned"`` only: a model file from ``nlm train``. ``None`` takes the
        shipped model for *affinity* nearest to sigma. Patch, window and h then come from
        the model.

    Returns
    -------
    numpy.ndarray
        The estimate, same shape and dtype as *image*. Integer results are rounded and
        clipped to the dtype's range.

    Raises
    ------
    TypeError
        If the dtype is not supported.
    ValueError
        For a bad shape, non-finite pixels, an unknown name or a parameter out of range;
        :class:`nlmeans_cli.learned.ModelFileError` (a ``ValueError``) for a model file that
        is missing or not a model.

    Notes
    -----
    Cost ``O(N * C * S)`` for ``N`` pixels, ``C`` channels and ``S`` positions in the search
    window (``search_window ** ndim``), independent of the patch size. Windows and patches are
    clamped to the image: a radius never exceeds the axis length minus one.

    References
    ----------
    .. [1] A. Buades, B. Coll, J.-M. Morel, "Non-Local Means Denoising", Image Processing
       On Line 1 (2011), https://doi.org/10.5201/ipol.2011.bcm_nlm
    .. [2] X. Wang et al., "Non-local Neural Networks", CVPR 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from nlmeans_cli import denoise
    >>> rng = np.random.default_rng(0)
    >>> noisy = np.clip(0.5 + rng.normal(0, 0.1, (32, 32)), 0, 1)
    >>> denoise(noisy, sigma=0.1).std() < noisy.std()
    True
    """
    return denoise_with_report(
        image,
        sigma=sigma,
        h=h,
        patch_size=patch_size,
        search_window=search_window,
        affinity=affinity,
        method=method,
        channel_axis=channel_axis,
        model=model,
    ).image


def denoise_with_report(
    image: np.ndarray,
    *,
    sigma: float | None = None,
    h: float | None = None,
    patch_size: int | None = None,
    search_window: int | None = None,
    affinity: str = "gaussian",
    method: str = "classic",
    channel_axis: int | None = None,
    model: str | None = None,
) -> Denoised:
    """Denoise like :func:`denoise` and also return the parameters used.

    Parameters
    ----------
    image, sigma, h, patch_size, search_window, affinity, method, channel_axis, model
        As for :func:`denoise`.

    Returns
    -------
    Denoised
        The estimate with the sigma (given or estimated), h, patch size and window used.

    Raises
    ------
    TypeError, ValueError
        As for :func:`denoise`.
    """
    image = np.asarray(image)
    if image.dtype not in SUPPORTED_DTYPES:
        raise TypeError(
            f"unsupported image dtype {image.dtype}; expected uint8, uint16, float32 or float64"
        )
    spec = lookup(AFFINITIES, affinity, "affinity")
    runner = lookup(METHODS, method, "method")
    pixels = _channels_last(image, channel_axis)
    spatial = pixels.shape[:-1]
    if min(spatial) < 1:
        raise ValueError(f"image has an empty axis: shape {image.shape}")
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        bad = image.size - int(np.isfinite(image).sum())
        raise ValueError(f"image has {bad} NaN or infinite pixel values; replace them "
                         "(for example with numpy.nan_to_num) before denoising")

    full_scale = unit_scale(image.dtype)
    unit = to_unit(pixels)
    sigma_estimated = sigma is None
    if sigma is None:
        # Through image units, as a given sigma goes: an estimate passed back in as sigma
        # (tiled runs do so) then gives bit-identical results.
        sigma = _estimate_sigma(unit) * full_scale
    sigma_unit, h_unit, patch_size, search_window = _resolve_parameters(
        sigma, h, patch_size, search_window, full_scale=full_scale, ndim=len(spatial))

    planar, axes = _to_grid(unit)
    setting = Setting(
        sigma=sigma_unit,
        h=h_unit,
        patch_radius=_radii(patch_size // 2, axes),
        search_radius=_radii(search_window // 2, axes),
        affinity=spec.name,
        model=None if model is None else str(model),
    )
    estimate = _from_grid(runner.run(planar, setting), unit.shape)
    return Denoised(
        image=_back_to_dtype(estimate, image.dtype, full_scale, channel_axis, image.ndim),
        sigma=float(sigma),
        sigma_estimated=sigma_estimated,
        h=h_unit * full_scale,
        patch_size=patch_size,
        search_window=search_window,
        affinity=spec.name,
        method=runner.name,
    )


def estimate_noise(image: np.ndarray, *, channel_axis: int | None = None) -> float:
    """Estimate the noise standard deviation as :func:`denoise` does when sigma is ``None``.

    Parameters
    ----------
    image : numpy.ndarray
        As for :func:`denoise`.
    channel_axis : int, optional
        As for :func:`denoise`.

    Returns
    -------
    float
        Sigma in the image's value units; passing it to :func:`denoise` as *sigma* gives the
        same result as leaving *sigma* out.

    Raises
    ------
    TypeError, ValueError
        As for :func:`denoise`.

    Notes
    -----
    Donoho's wavelet estimator (as :func:`skimage.restoration.estimate_sigma`), averaged over
    channels; ``O(N)``.
    """
    image = np.asarray(image)
    if image.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"unsupported image dtype {image.dtype}")
    return _estimate_sigma(to_unit(_channels_last(image, channel_axis))) * unit_scale(image.dtype)


def to_unit(image: np.ndarray) -> np.ndarray:
    """Return *image* as float32 on the unit scale (integers divided by their maximum).

    Parameters
    ----------
    image : numpy.ndarray
        uint8, uint16, float32 or float64.

    Returns
    -------
    numpy.ndarray
        A new float32 array of the same shape.
    """
    image = np.asarray(image)
    unit = image.astype(np.float32)
    unit /= np.float32(unit_scale(image.dtype))
    return unit


def _resolve_parameters(sigma, h, patch_size, search_window, *, full_scale, ndim):
    """Check the parameters and fill in the defaults for this sigma.

    *sigma* and *h* are in image units; returns sigma and h on the unit scale, and the patch
    and window sizes.
    """
    sigma_unit = _positive_or_zero(sigma, "sigma") / full_scale
    defaults = default_parameters(sigma_unit * 255.0, ndim)
    patch_size = _odd_size(patch_size, defaults.patch_size, "patch_size")
    search_window = _odd_size(search_window, defaults.search_window, "search_window")
    if h is None:
        # sigma = 0 still needs a positive h; this one keeps only identical patches.
        h_unit = max(defaults.h_factor * sigma_unit, 1e-4)
    else:
        h_unit = _positive_or_zero(h, "h") / full_scale
        if h_unit == 0:
            raise ValueError("h must be positive")
    return sigma_unit, h_unit, patch_size, search_window


def _channels_last(image: np.ndarray, channel_axis: int | None) -> np.ndarray:
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


# The 0.75 quantile of the standard normal: MAD / this estimates a Gaussian's sigma.
_NORMAL_QUARTILE = 0.6744897501960817


def _estimate_sigma(unit: np.ndarray) -> float:
    """Donoho's wavelet estimate, averaged over channels.

    The same estimator as :func:`skimage.restoration.estimate_sigma` (a test holds them
    equal), called through PyWavelets directly: importing ``skimage.restoration`` costs a
    command-line run more than half a second.
    """
    import pywt

    # The estimator needs a few pixels per axis; tiny images are treated as clean.
    if min(unit.shape[:-1]) < 4:
        return 0.0
    sigmas = []
    for channel in np.moveaxis(unit, -1, 0):
        detail = pywt.dwtn(channel, wavelet="db2")["d" * channel.ndim]
        detail = detail[np.nonzero(detail)]
        sigmas.append(np.median(np.abs(detail)) / _NORMAL_QUARTILE if detail.size else 0.0)
    return float(np.mean(sigmas))


def _positive_or_zero(value: float, name: str) -> float:
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def _odd_size(value: int | None, default: int, name: str) -> int:
    if value is None:
        return default
    if int(value) != value or value < 1 or value % 2 == 0:
        raise ValueError(f"{name} must be a positive odd integer, got {value}")
    return int(value)


def _radii(radius: int, axes: tuple[int, ...]) -> tuple[int, int, int]:
    return tuple(radius if axis else 0 for axis in axes)


def _to_grid(unit: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """Planar ``(channels, n0, n1, n2)``; a 2-D image becomes ``(C, H, 1, W)``.

    The second element flags which grid axes are real (1) or the dummy axis (0).
    """
    planar = np.moveaxis(unit, -1, 0)
    if planar.ndim == 3:
        return np.ascontiguousarray(planar[:, :, np.newaxis, :]), (1, 0, 1)
    return np.ascontiguousarray(planar), (1, 1, 1)


def _from_grid(planar: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.moveaxis(planar, 0, -1).reshape(shape)


def _back_to_dtype(estimate, dtype, full_scale, channel_axis, ndim):
    if channel_axis is None:
        estimate = estimate[..., 0]
    else:
        estimate = np.moveaxis(estimate, -1, channel_axis % ndim)
    if dtype.kind == "u":
        # In place and in float32 (exact for integers below 2**24): a float64 copy of a large
        # image would be the biggest allocation of the whole call.
        scaled = np.multiply(estimate, np.float32(full_scale), dtype=np.float32)
        np.rint(scaled, out=scaled)
        np.clip(scaled, 0, full_scale, out=scaled)
        return scaled.astype(dtype)
    return estimate.astype(dtype)
