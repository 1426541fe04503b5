"""Where one image's details are noise: the parts read, the 3x3 means, details and roughness.

Every 3x3 neighbourhood gives a local mean and a detail (the product of second differences
along both axes, which cancels every quadratic); its roughness and its level's key say
whether and where the detail measures the noise. :mod:`nlmeans_cli.noise_levels` groups the
details into levels for the Poisson-Gaussian fit; :func:`calm_sigma` gives white noise's sigma
from the calmest. Every value is on the unit scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["CALM_SHARE", "CHI2_MEDIAN", "DETAIL_SUPPORT", "FIT_PIXELS", "LEAST_DETAIL",
           "NORMAL_QUARTILE",
           "PLANE_FIT_PIXELS", "TEXTURE_SCALE_RATIO", "WHITE_RATIO_MARGIN", "calm_median",
           "calm_noise_share", "calm_sigma", "calm_statistics", "calm_statistics_by_mask",
           "calm_whiteness", "detail_statistics", "fit_blocks", "local_mean",
           "second_differences", "touches_clipped"]


#: The median of a standard normal variable's magnitude (its 0.75 quantile): a median
#: absolute deviation over this estimates a Gaussian's sigma.
NORMAL_QUARTILE = 0.6744897501960817
#: Its square: a normal variable's median square is this times its variance.
CHI2_MEDIAN = NORMAL_QUARTILE**2

#: The most pixels :func:`nlmeans_cli.noise.fit_poisson_gaussian` reads of a stack's or a
#: clip's planes together (larger ones are read in square blocks spread over them): a
#: megapixel. The read noise is the line's intercept, an extrapolation that every position
#: read makes surer: on 20 synthetic 16-bit fluorescence stacks of 24x256x256 its standard
#: deviation came to 0.08 of the truth against 0.13 with a quarter megapixel, and the 8x192x192
#: stacks of ``benchmarks/poisson.py``, now read whole, gave 19 of 20 within 30 % against 18.
#: The fit of a stack costs little beside its denoising.
FIT_PIXELS = 1 << 20

#: The most pixels of one plane the fit reads (a still): a quarter megapixel gives some
#: 150 000 smooth positions. A megapixel found the read noise within 30 % on 68 and 82 %
#: against 64 and 64 % of 22 mosaics of 4x4 training photographs (720x720; gain 4 and read
#: noise 2, gain 1 and read noise 3), but took a 720p photograph's ``denoise`` from 150 to
#: 225 ms.
PLANE_FIT_PIXELS = 1 << 18

#: Rows of positions per band: a band's arrays stay in a core's cache (a 512x512 image is
#: fitted in 18 to 21 ms in bands of 128 rows, 29 to 34 ms whole; 64 and 256 rows did no
#: better).
_FIT_BAND_ROWS = 128

#: How far apart the means compared for the roughness are (one neighbourhood), which is
#: also how far from a band's edge its positions stay.
_ROUGHNESS_STEP = 3

#: The rows a band reads beyond its positions: one for the 3x3 neighbourhood and the
#: roughness's step, so that the bands' positions tile the plane.
_FIT_BAND_HALO = 1 + _ROUGHNESS_STEP

#: The steps of a two-dimensional low-discrepancy sequence (1 / p and 1 / p^2, p the
#: plastic number, the real root of p^3 = p + 1).
_SPREAD_STEPS = np.array([0.7548776662466927, 0.5698402909980532])

#: The pixels under one detail (its 3x3 neighbourhood).
DETAIL_SUPPORT = 9

#: Details of this size (unit scale, float32) or less are a flat region's rounding residue
#: (the filter's taps leave such residues where the values are equal), not noise.
LEAST_DETAIL = 16 * float(np.finfo(np.float32).eps)

#: The radius, in 3x3 means, of the local mean that sorts positions into levels.
_LEVEL_KEY_RADIUS = 6


def fit_blocks(plane: np.ndarray, n_planes: int, index: int = 0, *,
               pixels: int | None = None) -> list[np.ndarray]:
    """Return the parts of a plane the fit reads: bands of all its rows, or blocks spread over it.

    Parameters
    ----------
    plane : numpy.ndarray
        2-D.
    n_planes : int
        How many planes share *pixels* (each reads at most :data:`PLANE_FIT_PIXELS`).
    index : int
        The plane's place among them: each plane of a stack reads other blocks.
    pixels : int, optional
        The most pixels read of the planes together; :data:`FIT_PIXELS` by default.

    Returns
    -------
    list of numpy.ndarray
        Views of the plane.

    Notes
    -----
    A plane within its share is read whole, in bands of
    :data:`_FIT_BAND_ROWS` rows of positions. A larger one is read in square blocks of that
    side, as many as its share holds, placed over the plane by a two-dimensional
    low-discrepancy sequence continued from plane to plane: a few bands of rows of a large
    photograph would all be its sky (its top band alone read, a 12-megapixel photograph
    whose top third is sky was fitted at 0.71 to 0.82 of its gain and 4 to 7 times its read
    noise). Each part reads :data:`_FIT_BAND_HALO` rows and columns beyond its
    positions, so that neighbouring parts' positions tile the plane as the whole plane's
    would (only the levels' local means near a part's edge see its edge repeated instead
    of the pixels beyond it).
    """
    halo, step = _FIT_BAND_HALO, _FIT_BAND_ROWS
    height, width = plane.shape
    row_starts = range(0, max(height - 2 * halo, 1), step)
    share = min(PLANE_FIT_PIXELS, (FIT_PIXELS if pixels is None else pixels) // max(n_planes, 1))
    if len(row_starts) * step * width <= max(share, step * width):
        return [plane[start:start + step + 2 * halo] for start in row_starts]
    wanted = max(1, share // (step * step))
    # Full blocks (those at the far edges overlap their neighbours), so that none is a
    # sliver whose levels' local means would mostly see its edges repeated.
    side = step + 2 * halo
    row_starts, column_starts = (
        np.unique(np.linspace(0, max(extent - side, 0), -(-max(extent - 2 * halo, 1) // step))
                  .round().astype(int)) for extent in (height, width))
    # The plastic number's sequence (Roberts' R2): any run of it covers the unit square
    # evenly, so the blocks of one plane, and those of consecutive planes, spread apart.
    turns = (index * wanted + np.arange(wanted))[:, np.newaxis] * _SPREAD_STEPS + 0.5
    fractions = turns % 1.0
    rows = (fractions[:, 0] * len(row_starts)).astype(int)
    columns = (fractions[:, 1] * len(column_starts)).astype(int)
    blocks = sorted(set(zip(row_starts[rows].tolist(), column_starts[columns].tolist(),
                            strict=True)))
    return [plane[row:row + side, column:column + side] for row, column in blocks]


def second_differences(plane: np.ndarray, step: int = 1) -> np.ndarray:
    """Return the product of second differences along both axes, scaled to the noise.

    Parameters
    ----------
    plane : numpy.ndarray
        2-D, at least ``2 step + 1`` square.
    step : int
        The differences' step: 1 for neighbouring pixels, 2 for every other one.

    Returns
    -------
    numpy.ndarray
        One detail per ``(2 step + 1)`` square neighbourhood (the plane less *step* pixels
        at each border): white noise keeps its variance, and every quadratic cancels.

    Notes
    -----
    ``O(N)``.
    """
    reach = 2 * step
    rows = plane[:-reach] - 2 * plane[step:-step] + plane[reach:]
    # Scaled by 1/6: the 3x3 filter's squared taps sum to 36, so white noise keeps its variance.
    return (rows[:, :-reach] - 2 * rows[:, step:-step] + rows[:, reach:]) / 6


def touches_clipped(plane: np.ndarray, clip_low: float | None, clip_high: float | None
                    ) -> np.ndarray:
    """Tell, per 3x3 neighbourhood, whether it holds a clipped value.

    Parameters
    ----------
    plane : numpy.ndarray
        2-D, at least 3x3.
    clip_low, clip_high : float or None
        The values at which the sensor clipped, if it did.

    Returns
    -------
    numpy.ndarray
        bool, one per neighbourhood (as :func:`second_differences`).

    Notes
    -----
    The neighbourhoods' minimum and maximum, each from two passes of three; ``O(N)``.
    """
    touched = np.zeros((plane.shape[0] - 2, plane.shape[1] - 2), bool)
    for bound, reduce in ((clip_low, np.minimum), (clip_high, np.maximum)):
        if bound is None:
            continue
        along = reduce(reduce(plane[:-2], plane[1:-1]), plane[2:])
        touched |= reduce(reduce(along[:, :-2], along[:, 1:-1]), along[:, 2:]) == bound
    return touched


#: The positions of a neighbourhood's grid (as :func:`second_differences` gives it) that
#: have the roughness's step either side.
_INNER = (slice(_ROUGHNESS_STEP, -_ROUGHNESS_STEP), slice(_ROUGHNESS_STEP, -_ROUGHNESS_STEP))

#: The same positions on the grid of 5x5 neighbourhoods (:func:`second_differences` at a
#: step of 2), which starts one pixel further in.
_WIDE_INNER = (slice(_ROUGHNESS_STEP - 1, 1 - _ROUGHNESS_STEP),) * 2


def _means_and_gradient(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return every 3x3 neighbourhood's mean, and the means' gradient at the inner ones."""
    sums = plane[:-2] + plane[1:-1] + plane[2:]
    mean = (sums[:, :-2] + sums[:, 1:-1] + sums[:, 2:]) / 9
    # The means' own gradient, one neighbourhood apart: large on edges and texture, whose
    # detail holds signal as well as noise. (Means and details of one neighbourhood are
    # uncorrelated under white noise, so choosing on it does not bias the variance.)
    step = _ROUGHNESS_STEP
    gradient = (np.abs(mean[2 * step:, step:-step] - mean[:-2 * step, step:-step])
                + np.abs(mean[step:-step, 2 * step:] - mean[step:-step, :-2 * step]))
    return mean, gradient


def detail_statistics(plane: np.ndarray, clip_low: float | None, clip_high: float | None
                       ) -> tuple[np.ndarray, ...] | None:
    """Return per usable position the 3x3 mean, the detail, the roughness and the level's key.

    Parameters
    ----------
    plane : numpy.ndarray
        2-D, float.
    clip_low, clip_high : float or None
        The values at which the sensor clipped, if it did.

    Returns
    -------
    tuple of 4 numpy.ndarray or None
        Flat arrays; ``None`` when no position is left.

    Notes
    -----
    Positions within :data:`_ROUGHNESS_STEP` of the border, or whose neighbourhood touches
    a clipped end, are left out. The detail is the product of second differences along
    both axes, scaled to the noise's variance (:func:`second_differences`). ``O(N)``.
    """
    # One position needs its neighbourhood and the roughness's step either side.
    if min(plane.shape) < 2 * _FIT_BAND_HALO + 1:
        return None
    detail = second_differences(plane)
    mean, gradient = _means_and_gradient(plane)
    keep = ~touches_clipped(plane, clip_low, clip_high)[_INNER]
    if not keep.any():
        return None
    # Levels are formed on a local mean over 13x13 neighbourhoods that leaves out the
    # position's own 3x3 pixels (each of which weighs 1 / 13^2 in it), so that the key's
    # noise is independent of the detail and mean it sorts: keyed on the noise of those
    # pixels, a large flat region would be split into levels whose means spread with that
    # noise while their variances do not, a flat run that pulls the line's slope towards 0
    # (the gain 20 % low on a fundus photograph that is three quarters black background).
    side = 2 * _LEVEL_KEY_RADIUS + 1
    local = ((side * side * local_mean(mean, _LEVEL_KEY_RADIUS)[_INNER]
              - DETAIL_SUPPORT * mean[_INNER]) / (side * side - DETAIL_SUPPORT))
    if keep.all():
        return mean[_INNER].ravel(), detail[_INNER].ravel(), gradient.ravel(), local.ravel()
    return mean[_INNER][keep], detail[_INNER][keep], gradient[keep], local[keep]


def local_mean(plane: np.ndarray, radius: int) -> np.ndarray:
    """Mean over ``(2 radius + 1)^2`` neighbours, edges repeated, from cumulative sums.

    Parameters
    ----------
    plane : numpy.ndarray
        2-D, float.
    radius : int
        The neighbourhood's radius.

    Returns
    -------
    numpy.ndarray
        The means, float64, the plane's shape.

    Notes
    -----
    scipy.ndimage's ``uniform_filter`` with mode ``"nearest"``: importing scipy.ndimage for it
    would cost every ``nlm denoise`` a tenth of a second. ``O(N)``.
    """
    side = 2 * radius + 1
    padded = np.pad(np.asarray(plane, np.float64), radius, mode="edge")
    # Along rows, then along columns (transposed views): window sums as differences of
    # cumulative sums, written into the result's slices (no index arrays, no copies).
    for _ in range(2):
        sums = np.cumsum(padded, axis=0)
        windows = np.empty((sums.shape[0] - side + 1,) + sums.shape[1:], np.float64)
        windows[0] = sums[side - 1]
        np.subtract(sums[side:], sums[:-side], out=windows[1:])
        padded = windows.T
    return padded / (side * side)


#: The share of positions whose details give white noise's sigma: the calmest, by their
#: means' gradient and their neighbours' details together (:func:`calm_sigma`). On 120
#: training photographs with Gaussian noise of sigma 2, 5, 10, 15, 25 and 50 (0-255 scale,
#: float), the classic method at the estimate came within -0.66, -0.20, -0.07, -0.03, -0.02
#: and -0.01 dB of its PSNR at the true sigma, where at Donoho's wavelet estimate (scikit-image's
#: ``estimate_sigma``, which texture lifts: 1.31 times the truth at sigma 5 on the median
#: photograph) it fell -2.91, -0.93, -0.29, -0.13, -0.04 and -0.01 dB short. A share of 0.2
#: did better at sigma 2 to 15 and worse at 25 and 50; the gradient alone, at 0.3, -1.07,
#: -0.30, -0.09, -0.04, -0.02 and -0.01 dB.
CALM_SHARE = 0.3

#: How much more of a texture's variance details of every other pixel hold than those of
#: neighbouring pixels: the median ratio of the two slopes on the 18 of 120 clean training
#: photographs of train400, saved as 8 bits, whose levels' variance grows (3.3 to 4.9
#: between the quartiles). White noise has the same in both.
TEXTURE_SCALE_RATIO = 4.3

#: How far the calmest details' variance ratio at the two steps (:func:`calm_whiteness`
#: squared) may pass white noise's 1 before :func:`calm_sigma` takes the excess for texture:
#: the ratio's own scatter, and what clipping leaves of it (8-bit photographs under noise of
#: sigma 50 read up to 1.3). Chosen among 0, 0.1, 0.2 and 0.3 on 120 training photographs
#: (docs/poisson-gaussian.md, "the Gaussian sigma clear of fine texture").
WHITE_RATIO_MARGIN = 0.2

#: The least share of the calmest details' variance :func:`calm_sigma` keeps as noise.
_LEAST_NOISE_SHARE = 0.1

#: About how many pixels :func:`calm_sigma` reads the calmest details' whiteness from.
_WHITENESS_PIXELS = 1 << 16


def calm_sigma(planes: np.ndarray, clip_low: float | None, clip_high: float | None, *,
               least: float = 0.0) -> float | None:
    """Return the sigma of white noise in some planes, from their calmest positions' details.

    Parameters
    ----------
    planes : numpy.ndarray
        3-D: one channel's planes (a still's one plane, a volume's or stack's slices).
    clip_low, clip_high : float or None
        The values at which the data clipped, if they did: neighbourhoods touching them
        are left out.
    least : float
        Details of this magnitude or less are left out: a flat region's, whose zeros (and
        rounding residues) are no measure of the noise.

    Returns
    -------
    float or None
        :func:`calm_median` of the planes' positions (planes too small for it: the median
        of all their details), less the share of fine texture in it; ``None`` where no
        detail is left.

    Notes
    -----
    The planes are read as the Poisson-Gaussian fit reads them (:func:`fit_blocks`, at most
    :data:`FIT_PIXELS`). Where fine texture fills even the calmest positions (fibres,
    grain, foliage under light noise), their details are not white: the details of every
    other pixel hold more variance than those of neighbouring pixels, the noise's the same
    and a texture's :data:`TEXTURE_SCALE_RATIO` times as much. The excess of that ratio
    (:func:`calm_whiteness`, squared) over 1 and :data:`WHITE_RATIO_MARGIN` gives the
    texture's share of the variance, which is taken out (at most nine tenths of it). On
    120 training photographs, the classic method at this sigma against its PSNR at the true
    sigma went from -0.66 to -0.09 dB at sigma 2 in float, -0.20 to -0.06 at 5, -0.06 to
    -0.02 at 10; from -0.76 to -0.16 dB at 8-bit sigma 2; unchanged within 0.003 dB at
    sigma 25 and 50. ``O(N)`` for ``N`` up to that many pixels, and a pass over about
    :data:`_WHITENESS_PIXELS` more.

    References
    ----------
    .. [1] D. L. Donoho and I. M. Johnstone, "Ideal spatial adaptation by wavelet
       shrinkage", Biometrika 81(3), 1994 (the median absolute deviation of fine details).
    """
    parts, small = [], []
    for index, plane in enumerate(planes):
        for block in fit_blocks(plane, planes.shape[0], index):
            block = np.asarray(block, np.float64)
            if min(block.shape) < 3:
                continue
            usable = ~touches_clipped(block, clip_low, clip_high)
            statistics = calm_statistics(block, usable, least=least)
            if statistics is not None:
                parts.append(statistics)
            else:
                magnitude = np.abs(second_differences(block))[usable]
                small.append(magnitude[magnitude > least])
    if any(part[0].size for part in parts):
        sigma = calm_median(parts)
        whiteness = calm_whiteness(planes, clip_low, clip_high, least=least,
                                   pixels=_WHITENESS_PIXELS)
        return sigma * float(np.sqrt(calm_noise_share(whiteness)))
    magnitude = np.concatenate(small) if small else np.empty(0)
    return float(np.median(magnitude)) / NORMAL_QUARTILE if magnitude.size else None


def calm_noise_share(whiteness: float | None) -> float:
    """Return the share of the calmest details' variance that is noise, not fine texture.

    Parameters
    ----------
    whiteness : float or None
        :func:`calm_whiteness` of the details; ``None`` (not measured) counts as white.

    Returns
    -------
    float
        Between :data:`_LEAST_NOISE_SHARE` and 1.

    Notes
    -----
    Fine texture's variance grows :data:`TEXTURE_SCALE_RATIO` times from a step of 1 to a
    step of 2, white noise's not at all, so the excess of the whiteness squared over 1 and
    :data:`WHITE_RATIO_MARGIN` gives the texture's share. ``O(1)``.
    """
    if whiteness is None:
        return 1.0
    excess = max(0.0, float(whiteness) ** 2 - 1 - WHITE_RATIO_MARGIN)
    return max(_LEAST_NOISE_SHARE, 1 - excess / (TEXTURE_SCALE_RATIO - 1))


def calm_statistics(block: np.ndarray, usable: np.ndarray, *, least: float | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Return per usable position of a block its detail's magnitude and how calm it is.

    Parameters
    ----------
    block : numpy.ndarray
        2-D, float.
    usable : numpy.ndarray
        bool, one per 3x3 neighbourhood (as :func:`second_differences` gives them): those
        that may measure the noise.
    least : float, optional
        Details of this magnitude or less are left out too (a flat region's zeros, where
        they are no measure of the noise); ``None`` keeps them (a noise-free region shows
        noise absent).

    Returns
    -------
    tuple of 3 numpy.ndarray or None
        Flat, per usable position :data:`_ROUGHNESS_STEP` from the border: the detail's
        magnitude, the gradient of the 3x3 means around it (edges, slopes, coarse texture)
        and the summed magnitudes of the details of the four neighbourhoods that far away
        (fine texture). ``None`` for a block too small to hold one.

    Notes
    -----
    Both measures of calm are independent of the position's own noise, so choosing on them
    does not bias it. ``O(N)``.
    """
    return calm_statistics_by_mask(block, (usable,), least=least)[0]


def calm_statistics_by_mask(block: np.ndarray, masks: Sequence[np.ndarray], *,
                            least: float | None = None
                            ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """Return :func:`calm_statistics` of one block for each of several sets of positions.

    Parameters
    ----------
    block : numpy.ndarray
        2-D, float.
    masks : sequence of numpy.ndarray
        bool, each as :func:`calm_statistics`'s *usable*.
    least : float, optional
        As for :func:`calm_statistics`.

    Returns
    -------
    list of (tuple of 3 numpy.ndarray or None)
        One per mask, each what :func:`calm_statistics` gives for it.

    Notes
    -----
    The details, gradients and neighbours' details are computed once for all the masks.
    ``O(N)`` and ``O(N)`` more per mask.
    """
    calm = _calm_grid(block, np.logical_or.reduce(masks), least)
    if calm is None:
        return [None] * len(masks)
    magnitude, gradient, around, keep = calm
    return [(magnitude[kept], gradient[kept], around[kept])
            for kept in (keep & mask[_INNER] for mask in masks)]


def _calm_grid(block: np.ndarray, usable: np.ndarray, least: float | None
               ) -> tuple[np.ndarray, ...] | None:
    """Return :func:`calm_statistics` over the inner grid, and the mask of those it keeps."""
    if min(block.shape) < 2 * _FIT_BAND_HALO + 1:
        return None
    magnitude = np.abs(second_differences(block))
    _, gradient = _means_and_gradient(block)
    step = _ROUGHNESS_STEP
    around = (magnitude[2 * step:, step:-step] + magnitude[:-2 * step, step:-step]
              + magnitude[step:-step, 2 * step:] + magnitude[step:-step, :-2 * step])
    keep = usable[_INNER]
    if least is not None:
        keep = keep & (magnitude[_INNER] > least)
    return magnitude[_INNER], gradient, around, keep


def calm_median(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> float | None:
    """Return the sigma of white noise from the calmest of some positions' details.

    Parameters
    ----------
    parts : list of tuple of 3 numpy.ndarray
        :func:`calm_statistics` of blocks.

    Returns
    -------
    float or None
        The median magnitude of the :data:`CALM_SHARE` calmest details over
        :data:`NORMAL_QUARTILE`; ``None`` where there is none.

    Notes
    -----
    A position's calm is its means' gradient and its neighbours' details, each over its
    median (where that is 0, as it is), summed. ``O(N)``.
    """
    magnitude, gradient, around = (np.concatenate(values) for values in zip(*parts, strict=True))
    if not magnitude.size:
        return None
    return float(np.median(magnitude[_calmest(gradient, around)])) / NORMAL_QUARTILE


def calm_whiteness(planes: np.ndarray, clip_low: float | None, clip_high: float | None, *,
                   least: float = 0.0, pixels: int | None = None) -> float | None:
    """Return how much larger the calmest positions' details are at every other pixel.

    Parameters
    ----------
    planes : numpy.ndarray
        3-D: one channel's planes, read as :func:`calm_sigma` reads them.
    clip_low, clip_high : float or None
        The values at which the data clipped, if they did: 5x5 neighbourhoods holding
        one are left out.
    least : float
        Details of this magnitude or less are left out (as :func:`calm_sigma` does).
    pixels : int, optional
        The most pixels read (:func:`fit_blocks`); :data:`FIT_PIXELS` by default.

    Returns
    -------
    float or None
        At the :data:`CALM_SHARE` calmest positions (as :func:`calm_median` chooses them),
        the median magnitude of the details of every other pixel (a 5x5 neighbourhood's,
        :func:`second_differences` at a step of 2) over that of neighbouring pixels'. White
        noise gives 1; texture more, as its variance grows with the scale. ``None`` where
        no position is left.

    Notes
    -----
    Where the calmest details are not white, the details a fit of the noise read are
    texture, not noise: its levels' growth may be the texture's (fine fibres or grain
    whose contrast grows with brightness), which the stabilised path would smooth away.
    ``O(N)`` for ``N`` up to *pixels*.
    """
    fine, coarse = _calm_fine_and_wide(planes, clip_low, clip_high, least=least, pixels=pixels)
    if not fine.size:
        return None
    return float(np.median(coarse) / np.median(fine))


def _calm_fine_and_wide(planes: np.ndarray, clip_low: float | None, clip_high: float | None, *,
                        least: float, pixels: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Return the magnitudes of the calmest positions' details, at a step of 1 and of 2.

    Only positions whose whole 5x5 neighbourhood is clear of clipped values: where the 3x3
    pixels alone are, the outer ring's are not held from the clipped end as theirs are,
    and the wider details came out 6 to 15 % larger on 8-bit photographs under noise of
    sigma 50 (clipped at black).
    """
    fine, coarse, gradient, around = [], [], [], []
    for index, plane in enumerate(planes):
        for block in fit_blocks(plane, planes.shape[0], index, pixels=pixels):
            block = np.asarray(block, np.float64)
            if min(block.shape) < 2 * _FIT_BAND_HALO + 1:
                continue
            touched = touches_clipped(block, clip_low, clip_high)
            magnitude, block_gradient, block_around, keep = _calm_grid(block, ~touched, least)
            # Any clipped value in the 5x5 neighbourhood: one in any of the 3x3 ones inside.
            rows = touched[:-2] | touched[1:-1] | touched[2:]
            keep &= ~(rows[:, :-2] | rows[:, 1:-1] | rows[:, 2:])[_WIDE_INNER]
            fine.append(magnitude[keep])
            coarse.append(np.abs(second_differences(block, 2))[_WIDE_INNER][keep])
            gradient.append(block_gradient[keep])
            around.append(block_around[keep])
    if not fine or not sum(part.size for part in fine):
        return np.empty(0), np.empty(0)
    fine, coarse, gradient, around = map(np.concatenate, (fine, coarse, gradient, around))
    calmest = _calmest(gradient, around)
    return fine[calmest], coarse[calmest]


def _calmest(gradient: np.ndarray, around: np.ndarray) -> np.ndarray:
    """Tell which positions are the :data:`CALM_SHARE` calmest (:func:`calm_median`)."""
    calmness = _in_median_units(gradient) + _in_median_units(around)
    return calmness <= np.quantile(calmness, CALM_SHARE)


def _in_median_units(values: np.ndarray) -> np.ndarray:
    """Return *values* over their median (as they are where it is 0)."""
    median = float(np.median(values))
    return values / median if median > 0 else values
