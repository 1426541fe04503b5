"""What a caller asks for (:class:`Request`), and the classic method's default parameters.

A public function's keyword arguments become a request on the unit scale in
:func:`request_for`.

The defaults are read at the noise against a full scale of 1, or against a float image's own
level where it lies far from it (:func:`reference_level`).

The 2-D table was calibrated with ``benchmarks/calibrate.py`` on train400, the denoising
literature's standard training set (60 of its 360 training images, whole, Gaussian noise added
in float): for each noise level the patch kernel, patch size, search window and ``h / sigma``
with the best mean PSNR, preferring the cheaper setting when it is within 0.03 dB of the best.
Every 10th image of train400 is the validation split that ``benchmarks/quality.py`` reports
on; it was never used here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .noise import lookup_noise
from .scales import check_dtype, unit_origin, unit_scale

__all__ = [
    "DEFAULTS_2D",
    "DEFAULTS_CLIP",
    "DEFAULTS_3D",
    "CHROMA_FACTOR",
    "DEFAULT_NOISE",
    "DEFAULT_TEMPORAL_WINDOW",
    "Defaults",
    "Request",
    "default_parameters",
    "non_negative",
    "odd_size",
    "reference_level",
    "request_for",
    "spaced_radius",
    "spaced_side",
    "voxel_spacing",
]

#: Frames either side of the frame being denoised in a clip: 5 frames in all, OpenCV's usual
#: ``temporalWindowSize``. On a panned natural-image clip at sigma 25 it gains 1.7 dB over
#: frame by frame; 3 gains 0.13 dB more for 40 % more time (``benchmarks/clips.py``).
DEFAULT_TEMPORAL_WINDOW = 2

#: The noise model when none is named: ``auto`` fits a Poisson-Gaussian model and takes the
#: Gaussian path unless the noise grows with the signal. Measured on the validation split of
#: train400 (benchmarks/poisson.py): on Gaussian noise +0.000, +0.007 and +0.000 dB over
#: ``gaussian`` at sigma 15, 25 and 50; on Poisson-Gaussian noise (gain 4, and a peak of 20
#: photons) the stabilised path, +0.73 and +0.96 dB over the Gaussian path at its best single
#: sigma.
DEFAULT_NOISE = "auto"


#: Colour images: the chroma channels' strength as a multiple of h, when not given. Chroma
#: carries two thirds of the noise of an RGB image and little detail of a photograph, so it
#: is smoothed more (``benchmarks/colour.py`` measured it).
CHROMA_FACTOR = 2.0


@dataclass(frozen=True)
class Defaults:
    """One row of a default-parameter table.

    Attributes
    ----------
    sigma_max : float
        The row applies to noise levels up to this value (0-255 scale).
    patch_size : int
        Side of the patch (odd).
    search_window : int
        Side of the search window (odd).
    h_factor : float
        ``h = h_factor * sigma``.
    patch_kernel : str
        Name in :data:`nlmeans_cli.formulation.PATCH_KERNELS`.
    """

    sigma_max: float
    patch_size: int
    search_window: int
    h_factor: float
    patch_kernel: str = "box"


# Images (2-D, grey or colour): rows by increasing noise level, 0-255 scale. Calibrated on
# train400 (benchmarks/calibrate.py: 60 training images, never the validation split) at sigma
# 5, 10, 15, 20, 25, 35, 50 and 75; each row's limit lies midway to the next level; rows whose
# best settings agreed within 0.01 dB are merged. h is the centre of SURE's search.
DEFAULTS_2D = (
    Defaults(7.5, 5, 7, 1.40, "gaussian"),
    Defaults(22.5, 5, 9, 1.25, "gaussian"),
    Defaults(30.0, 7, 9, 1.00, "gaussian"),
    Defaults(42.5, 9, 11, 0.80, "gaussian"),
    Defaults(62.5, 11, 11, 0.70, "gaussian"),
    Defaults(float("inf"), 11, 15, 0.60, "gaussian"),
)

# Volumes (3-D patches and windows): rows as the images', calibrated the same way
# (benchmarks/calibrate.py --volumes) at sigma 2, 5, 10, 15, 20, 25, 35 and 50 on 18 volumes:
# 12 training photographs' centres (96x96) panned a pixel a slice across them (or down and
# across) over 16 slices, and 6 synthetic fluorescence-like volumes (blurred cells). The box
# kernel led at every level. The window is kept at 7: a window of 9 (twice the candidates in
# 3-D) led by at most 0.09 dB (sigma 2 and 50), 0.03 dB or less elsewhere.
DEFAULTS_3D = (
    Defaults(3.5, 3, 7, 1.10),
    Defaults(7.5, 3, 7, 0.90),
    Defaults(17.5, 5, 7, 0.70),
    Defaults(30.0, 5, 7, 0.60),
    Defaults(42.5, 7, 7, 0.50),
    Defaults(float("inf"), 7, 7, 0.45),
)


# A clip's frames denoised over the frames either side, then refined over them too (the
# classic method's second look): the images' rows with patches 4 larger and a lower h. On 20
# clips panned across training images of train400 (8 frames of 140x150, temporal window 2),
# against the images' rows at 0.85 of their h: +0.33, +0.74, +0.76, +0.39, +0.28 and +0.31 dB
# at sigma 5, 10, 15, 25, 35 and 50. Patches 2 larger did 0.0 to 0.3 dB worse, 6 larger 0.1
# dB worse but at sigma 15 (+0.08); h at 0.65 of the images' led up to sigma 25, at 0.75
# above (the rows' h factors here). The patch stops at 13, the planar kernel's longest
# (nlmeans_cli.engine.planar.PLANAR_TAPS): 15 took the general kernel, compiled on its first
# use, at twice the time, for 0.14 dB more at sigma 50.
DEFAULTS_CLIP = (
    Defaults(7.5, 9, 7, 0.91, "gaussian"),
    Defaults(22.5, 9, 9, 0.81, "gaussian"),
    Defaults(30.0, 11, 9, 0.65, "gaussian"),
    Defaults(42.5, 13, 11, 0.60, "gaussian"),
    Defaults(62.5, 13, 11, 0.53, "gaussian"),
    Defaults(float("inf"), 13, 15, 0.45, "gaussian"),
)


def default_parameters(sigma_255: float, ndim: int, *, frames: bool = False) -> Defaults:
    """Look up the default parameters for a noise level.

    Parameters
    ----------
    sigma_255 : float
        Noise standard deviation on the 0-255 scale.
    ndim : int
        Number of spatial dimensions, 2 or 3.
    frames : bool
        A clip's frames, denoised with the frames either side and refined over them
        (:data:`DEFAULTS_CLIP`); 2-D only.

    Returns
    -------
    Defaults
        The first row whose ``sigma_max`` is at least *sigma_255*.
    """
    table = DEFAULTS_3D if ndim == 3 else DEFAULTS_CLIP if frames else DEFAULTS_2D
    return next(row for row in table if sigma_255 <= row.sigma_max)


@dataclass(frozen=True)
class Request:
    """What a caller asks for, before a method resolves it; sigma and h on the unit scale.

    Every public array function turns its keyword arguments into one of these at its boundary
    (``sigma`` and ``h`` divided by the image's full scale), and the command line turns its
    0-255 options into one (divided by 255). ``None`` leaves the choice to the method (sigma:
    estimated from the image).

    Attributes
    ----------
    sigma_unit : float or None
        Noise standard deviation, unit scale.
    h_unit : float or None
        Filtering strength, unit scale (classic method).
    h_chroma_unit : float or None
        Colour images: the chroma channels' strength, unit scale (classic method).
    patch_size, search_window : int or None
        Odd sides (classic method).
    patch_kernel : str or None
        Name in :data:`nlmeans_cli.formulation.PATCH_KERNELS` (classic method).
    affinity : str or None
        Name in :data:`nlmeans_cli.formulation.AFFINITIES`; ``None``: the method's own
        (``"gaussian"``, NL-means, for the classic method; the shipped networks' for the
        learned method).
    method : str
        Name in :data:`nlmeans_cli.methods.METHODS`.
    model : str or None
        Learned method: a model file; ``None`` takes the shipped one.
    spacing : tuple of 3 float or None
        A volume's voxel spacing along its three axes (any one unit); the classic method's
        patch and window are then given along the finest axis and shrink along the coarser
        ones. ``None``: isotropic.
    noise : str
        A name in :data:`nlmeans_cli.noise.NOISE_MODELS`.
    gain_unit, read_noise_unit, black_level_unit : float or None
        The Poisson-Gaussian model's parameters, unit scale; ``None`` fits them.
    colour : bool
        Whether three channels are red, green and blue (``False``: a multispectral image's
        bands, stains); other channel counts are never colour.
    """

    sigma_unit: float | None = None
    h_unit: float | None = None
    patch_size: int | None = None
    search_window: int | None = None
    affinity: str | None = None
    method: str = "classic"
    model: str | None = None
    patch_kernel: str | None = None
    h_chroma_unit: float | None = None
    spacing: tuple[float, float, float] | None = None
    noise: str = DEFAULT_NOISE
    gain_unit: float | None = None
    read_noise_unit: float | None = None
    black_level_unit: float | None = None
    colour: bool = True

    def is_colour(self, channels: int) -> bool:
        """Tell whether *channels* channels are red, green and blue: three, and :attr:`colour`."""
        return channels == 3 and self.colour

    def __post_init__(self):
        if self.sigma_unit is not None:
            object.__setattr__(self, "sigma_unit", non_negative(self.sigma_unit, "sigma"))
        for name in ("h_unit", "h_chroma_unit"):
            value = getattr(self, name)
            if value is not None:
                label = name.removesuffix("_unit")
                value = non_negative(value, label)
                if value == 0:
                    raise ValueError(f"{label} must be positive")
                object.__setattr__(self, name, value)
        for name in ("patch_size", "search_window"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, odd_size(value, name))
        if self.model is not None:
            object.__setattr__(self, "model", str(self.model))
        if self.spacing is not None:
            object.__setattr__(self, "spacing", voxel_spacing(self.spacing))
        for name in ("gain_unit", "read_noise_unit", "black_level_unit"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, non_negative(value, name.removesuffix("_unit")
                                                            .replace("_", " ")))

    def counting_from(self, zero_unit: float | None) -> Request:
        """Return the request with *zero_unit* its black level where it may fit photon noise.

        Parameters
        ----------
        zero_unit : float or None
            Where the pixels' 0 lies on the unit scale: a signed image's
            (:func:`nlmeans_cli.scales.unit_zero`), whose photon counts start there unless
            the request gives a black level. ``None`` leaves the request as it is.

        Returns
        -------
        Request
            Itself where *zero_unit* is ``None``, a black level is given or the noise is
            Gaussian.
        """
        if zero_unit is None or self.black_level_unit is not None or self.noise == "gaussian":
            return self
        return replace(self, black_level_unit=float(zero_unit))


def voxel_spacing(spacing) -> tuple[float, float, float]:
    """Return *spacing* as three positive finite floats.

    Raises
    ------
    ValueError
        If it is not three positive finite numbers.
    """
    try:
        values = tuple(float(value) for value in spacing)
    except (TypeError, ValueError):
        raise ValueError(f"spacing must be three numbers (Z, Y, X), got {spacing!r}") from None
    if len(values) != 3 or not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"spacing must be three positive numbers (Z, Y, X), got {spacing!r}")
    return values


def spaced_side(side: int, spacing: tuple[float, float, float] | None) -> int:
    """Return the side, along the finest axis, of a spaced box as large as an isotropic one.

    Parameters
    ----------
    side : int
        An isotropic default's odd side (patch or window).
    spacing : tuple of 3 float or None
        The voxel spacing.

    Returns
    -------
    int
        The smallest odd side at least *side* whose spaced box
        (:func:`spaced_radius` per axis) holds at least ``side ** 3`` voxels: the default
        patch compares as many voxels, and the default window offers as many candidates, as
        on an isotropic volume, over the same physical extent along every axis.
    """
    if spacing is None:
        return side
    candidate = side
    while True:
        count = 1
        for radius in spaced_radius(candidate // 2, spacing):
            count *= 2 * radius + 1
        if count >= side**3:
            return candidate
        candidate += 2


def spaced_radius(radius: int, spacing: tuple[float, float, float] | None
                  ) -> tuple[int, int, int]:
    """Return the per-axis radii of a radius given along a volume's finest axis.

    Parameters
    ----------
    radius : int
        The radius along the finest axis, in voxels.
    spacing : tuple of 3 float or None
        The voxel spacing; ``None`` is isotropic.

    Returns
    -------
    tuple of 3 int
        ``radius * finest / spacing`` per axis, rounded half up: the same physical reach
        along every axis, so that a coarse axis (a z step 4 times the xy step) does not
        compare or average slices far apart.
    """
    if spacing is None:
        return (radius, radius, radius)
    finest = min(spacing)
    return tuple(int(radius * finest / step + 0.5) for step in spacing)


def non_negative(value: float, name: str) -> float:
    """Return *value* as a float if it is finite and at least 0.

    Raises
    ------
    ValueError
        Otherwise, naming *name*.
    """
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return value


def odd_size(value: int, name: str) -> int:
    """Return *value* as an int if it is a positive odd integer.

    Raises
    ------
    ValueError
        Otherwise, naming *name*.
    """
    if int(value) != value or value < 1 or value % 2 == 0:
        raise ValueError(f"{name} must be a positive odd integer, got {value}")
    return int(value)


def reference_level(unit: np.ndarray, dtype: np.dtype) -> float:
    """Return the level, on the unit scale, that an image's noise is read against.

    Parameters
    ----------
    unit : numpy.ndarray
        The image on the unit scale (:func:`nlmeans_cli.scales.to_unit`), or a sample of it.
    dtype : numpy.dtype
        The image's own pixel type.

    Returns
    -------
    float
        1, full scale, for integer images, constant ones, and float images whose largest
        magnitude is from :data:`_DARKEST_FULL_SCALE` to :data:`_BRIGHTEST_FULL_SCALE` (the
        unit scale's convention, noise and highlights above 1 included: a dark float
        photograph is read as its 8-bit self would be). For other float images (counts
        saved as floats, 0 to 4095; physical units, 1e-10) the 99.9th percentile of their
        magnitudes (of a megapixel or so spread over them), or the largest where that is 0.

    Raises
    ------
    ValueError
        For a float image, not constant, whose largest magnitude lies outside
        :data:`_FLOAT_MAGNITUDES`.

    Notes
    -----
    ``O(N)`` for a float image, ``O(1)`` otherwise. Default parameters are tabled against
    the noise on a full scale of 1: read against 1, the noise of an image of 1e-10 chose h
    a million times its sigma (8 dB lost on a photograph), and of one in counts the largest
    patches and windows. On 12 training photographs of train400 at sigma 0.05, 0.1 and 0.2
    of their range, saved as floats times 4095 and times 1e-3, the percentile comes within
    0.006 dB of the photographs on the unit scale; the largest magnitude, noise included,
    within 0.06 dB, and the power of two above it within 0.12 dB.
    """
    if np.dtype(dtype).kind != "f" or unit.size == 0:
        return 1.0
    top, bottom = float(unit.max()), float(unit.min())
    largest = max(top, -bottom)
    if top == bottom or _DARKEST_FULL_SCALE <= largest <= _BRIGHTEST_FULL_SCALE:
        return 1.0
    least, greatest = _FLOAT_MAGNITUDES
    if not least <= largest <= greatest:
        raise ValueError(f"pixel values reach {largest:.3g}, outside {least:g} to {greatest:g}, "
                         "the range over which float32 arithmetic is known to carry their "
                         "noise; scale the image into it first")
    values = unit.reshape(-1)
    sample = np.abs(values[::max(1, values.size // _LEVEL_SAMPLE)])
    return float(np.quantile(sample, _LEVEL_QUANTILE)) or largest


#: The least largest magnitude of a float image read on the unit scale as it stands (one
#: 8-bit level); a float image darker than that is read against its own level.
_DARKEST_FULL_SCALE = 1 / 256
#: The greatest largest magnitude of a float image read on the unit scale as it stands:
#: noise takes an image of 0 to 1 past 1 (to 1.6 at sigma 0.2), and light an HDR one.
_BRIGHTEST_FULL_SCALE = 4.0
#: The largest magnitudes a float image may reach, least and greatest: the noise fit and the
#: kernels square differences of the values in float32 (whose normal range is 1.2e-38 to
#: 3.4e38). Denoised, the results held to those at the unit scale from 1e-17 to 1e18, but
#: the fit of photon noise strayed at 1e-14 and at 1e17 (an overflow was warned of at 1e-18).
_FLOAT_MAGNITUDES = (1e-12, 1e12)
#: The quantile of the magnitudes of another float image read as its full scale.
_LEVEL_QUANTILE = 0.999
#: How many values, spread evenly over the image, the quantile is taken of.
_LEVEL_SAMPLE = 1 << 20


#: The largest sigma, h, gain or read noise taken, in full scales: the kernels and the noise
#: transform square them in float32, whose range ends near 3e38 (a sigma of 1e30 overflowed,
#: and a gain of 1e20 came out NaN).
_LARGEST_UNIT = 1e15


def request_for(dtype: np.dtype, *, sigma: float | None = None, h: float | None = None,
                patch_size: int | None = None, search_window: int | None = None,
                affinity: str | None = None, method: str = "classic",
                model: str | None = None, patch_kernel: str | None = None,
                h_chroma: float | None = None,
                spacing: tuple[float, float, float] | None = None,
                noise: str = DEFAULT_NOISE, gain: float | None = None,
                read_noise: float | None = None, black_level: float | None = None,
                colour: bool = True) -> Request:
    """Turn :func:`nlmeans_cli.denoise`'s keyword arguments into a request on the unit scale.

    Parameters
    ----------
    dtype : numpy.dtype
        The pixels' type, whose full scale the values are divided by.
    sigma, h, patch_size, search_window, affinity, method, model, patch_kernel, h_chroma, \
spacing, noise, gain, read_noise, black_level, colour
        As for :func:`nlmeans_cli.denoise`, in the pixels' value units.

    Returns
    -------
    Request
        Sigma, h, h_chroma, gain, read noise and black level divided by the full scale (the
        black level, a value, from the type's least: :func:`nlmeans_cli.scales.to_unit`).

    Raises
    ------
    TypeError
        For an unsupported *dtype*.
    ValueError
        For a negative value, one over :data:`_LARGEST_UNIT` times the full scale, or an
        unknown noise model.

    Notes
    -----
    ``O(1)``.
    """
    full_scale = unit_scale(check_dtype(dtype))

    def scaled(value, name):
        if value is None:
            return None
        unit = non_negative(value, name) / full_scale
        if unit > _LARGEST_UNIT:
            raise ValueError(f"{name} must be at most {_LARGEST_UNIT * full_scale:g}, got "
                             f"{float(value):g}")
        return unit

    origin = unit_origin(dtype)

    def level(value, name):  # a value, not a difference: counted from the type's least
        if value is None or not origin:
            return scaled(value, name)
        if not float(value) >= origin:
            raise ValueError(f"{name} must be at least {origin:g} for {np.dtype(dtype)}, got "
                             f"{float(value):g}")
        return scaled(float(value) - origin, name)

    return Request(sigma_unit=scaled(sigma, "sigma"), h_unit=scaled(h, "h"),
                   patch_size=patch_size, search_window=search_window, affinity=affinity,
                   method=method, model=model, patch_kernel=patch_kernel,
                   h_chroma_unit=scaled(h_chroma, "h_chroma"), spacing=spacing,
                   noise=lookup_noise(noise).name, gain_unit=scaled(gain, "gain"),
                   read_noise_unit=scaled(read_noise, "read noise"),
                   black_level_unit=level(black_level, "black level"), colour=colour)
