"""Default NL-means parameters, chosen from the noise level.

The table was calibrated with ``benchmarks/calibrate.py`` on scikit-image's bundled colour
photographs converted to grey (astronaut, chelsea, coffee, rocket, motorcycle), with Gaussian
noise added in float: for each noise level, the patch size, search window and ``h / sigma``
with the best mean PSNR, preferring the cheaper setting when two are within 0.05 dB. The
grey images that the quality benchmark reports on were not used.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULTS_2D", "DEFAULTS_3D", "Defaults", "default_parameters"]


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
    """

    sigma_max: float
    patch_size: int
    search_window: int
    h_factor: float


# Images (2-D, grey or colour): rows by increasing noise level, 0-255 scale.
DEFAULTS_2D = (
    Defaults(10.0, 5, 15, 0.60),
    Defaults(20.0, 5, 21, 0.55),
    Defaults(35.0, 7, 21, 0.50),
    Defaults(55.0, 9, 21, 0.45),
    Defaults(float("inf"), 9, 21, 0.45),
)

# Volumes: a 3-D window holds (window / 3)^2 times more candidates than a 2-D one of the
# same side, so smaller windows and patches suffice.
DEFAULTS_3D = (
    Defaults(20.0, 3, 7, 0.55),
    Defaults(40.0, 3, 7, 0.50),
    Defaults(float("inf"), 5, 7, 0.45),
)


def default_parameters(sigma_255: float, ndim: int) -> Defaults:
    """Look up the default parameters for a noise level.

    Parameters
    ----------
    sigma_255 : float
        Noise standard deviation on the 0-255 scale.
    ndim : int
        Number of spatial dimensions, 2 or 3.

    Returns
    -------
    Defaults
        The first row whose ``sigma_max`` is at least *sigma_255*.
    """
    table = DEFAULTS_3D if ndim == 3 else DEFAULTS_2D
    return next(row for row in table if sigma_255 <= row.sigma_max)
