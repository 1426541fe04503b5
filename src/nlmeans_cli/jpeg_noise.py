"""Noise that JPEG compression hid from the finest details, read through its quantization.

JPEG quantizes each 8x8 block's cosine coefficients, the fine ones coarsely: noise of a few
levels is rounded away there and survives only in the coarse ones, as blotches. The calmest
positions' finest details (:func:`nlmeans_cli.noise_details.calm_sigma`) then read next to
nothing, and an image whose noise is plain to the eye was left as it was (sigma 10 saved at
quality 75: read as 1). The quantization steps are read off the coefficients of the image
itself (they sit on multiples of them). Pure noise passed through the same quantization and
read by the same estimator, on the image and on the image binned 2x2, turns those readings
back into the noise before compression.

References
----------
.. [1] G. K. Wallace, "The JPEG still picture compression standard", IEEE Transactions on
   Consumer Electronics 38(1), 1992 (the 8x8 cosine transform and its quantization).
.. [2] ITU-T Recommendation T.81 (1992), Annex K: the example luminance quantization table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .clipped_levels import clipped_ends
from .noise_details import LEAST_DETAIL, calm_sigma

__all__ = ["JpegQuantization", "jpeg_hidden_sigma", "jpeg_quantization", "on_eight_bit_levels",
           "still_jpeg_sigma"]

#: The side of JPEG's blocks.
BLOCK = 8

#: Annex K's luminance table, which encoders scale by their quality setting: it fills in the
#: steps an image's coefficients do not show (every one of them rounded to 0).
_ANNEX_K_LUMINANCE = np.array([
    [16, 11, 10, 16, 24, 40, 51, 61],
    [12, 12, 14, 19, 26, 58, 60, 55],
    [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62],
    [18, 22, 37, 56, 68, 109, 103, 77],
    [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101],
    [72, 92, 95, 98, 112, 100, 103, 99]], np.float64)


def _dct_matrix() -> np.ndarray:
    """Return the orthonormal 8-point DCT-II matrix (JPEG's transform along each axis)."""
    k, n = np.meshgrid(np.arange(BLOCK), np.arange(BLOCK), indexing="ij")
    matrix = np.sqrt(2 / BLOCK) * np.cos(np.pi * (2 * n + 1) * k / (2 * BLOCK))
    matrix[0] /= np.sqrt(2)
    return matrix


_DCT = _dct_matrix()


@dataclass(frozen=True)
class JpegQuantization:
    """The quantization steps an 8-bit plane's 8x8 blocks show, one per cosine frequency.

    Attributes
    ----------
    steps : numpy.ndarray
        8x8, float64: every step on the 0-255 scale, those the coefficients do not show
        filled in from Annex K's table scaled to those they do.
    measured : numpy.ndarray
        8x8, bool: the steps the coefficients showed (the others filled in).
    """

    steps: np.ndarray
    measured: np.ndarray


def _block_coefficients(plane: np.ndarray, stride: int = 1) -> np.ndarray:
    """Return the cosine coefficients of a plane's whole 8x8 blocks, shape ``(blocks, 8, 8)``.

    Every *stride*-th block along each axis.
    """
    rows, cols = plane.shape[0] // BLOCK * BLOCK, plane.shape[1] // BLOCK * BLOCK
    grid = plane[:rows, :cols].reshape(rows // BLOCK, BLOCK, cols // BLOCK, BLOCK)
    blocks = np.asarray(grid[::stride, :, ::stride], np.float64)
    blocks = blocks.transpose(0, 2, 1, 3).reshape(-1, BLOCK, BLOCK)
    return np.einsum("ij,bjk,lk->bil", _DCT, blocks, _DCT, optimize=True)


def _blocks_clipped(pixels: np.ndarray, stride: int) -> np.ndarray:
    """Return, per block as :func:`_block_coefficients` orders them, whether a pixel clipped."""
    rows, cols = pixels.shape[0] // BLOCK * BLOCK, pixels.shape[1] // BLOCK * BLOCK
    grid = pixels[:rows, :cols].reshape(rows // BLOCK, BLOCK, cols // BLOCK, BLOCK, -1)
    sampled = grid[::stride, :, ::stride]
    return ((sampled <= 0) | (sampled >= 1)).any(axis=(1, 3, 4)).reshape(-1)


def _blocks_to_plane(coefficients: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Return the plane whose whole 8x8 blocks have these cosine coefficients."""
    blocks = np.einsum("ji,bjk,kl->bil", _DCT, coefficients, _DCT, optimize=True)
    rows, cols = shape
    return (blocks.reshape(rows // BLOCK, cols // BLOCK, BLOCK, BLOCK)
            .transpose(0, 2, 1, 3).reshape(rows, cols))


def _shown_step(values: np.ndarray) -> float | None:
    """Return the largest step whose multiples one frequency's coefficients sit on.

    ``None`` where too few leave the zero cell to tell; 1 where they show no step.
    """
    steps = np.arange(_LARGEST_STEP, 1, -1, dtype=np.float64)
    magnitude = np.abs(values)
    away = magnitude[np.newaxis, :] > 0.5 * steps[:, np.newaxis]
    counts = away.sum(axis=1)
    phases = np.cos(2 * np.pi * values[np.newaxis, :] / steps[:, np.newaxis])
    scores = np.where(away, phases, 0.0).sum(axis=1) / np.maximum(counts, 1)
    scores = np.where(counts >= _LEAST_AWAY, scores, -1.0)
    best = float(scores.max())
    if best > _LATTICE_SCORE:
        # A step's divisors fit its multiples as well, a step a little off them nearly as
        # well: the largest of those that fit as well as the best is the step or just over
        # it, and names each coefficient's multiple, whose ratio sets the step.
        near = float(steps[np.argmax(scores >= best - _SCORE_TIE)])
        away = values[magnitude > 0.5 * near]
        multiples = np.abs(np.rint(away / near))
        return float(np.rint(np.median(np.abs(away) / multiples)))
    return None if np.count_nonzero(magnitude > 1.5) < _LEAST_AWAY else 1.0


def jpeg_quantization(plane: np.ndarray, pixels: np.ndarray | None = None, *,
                      scale: float = 1.0) -> JpegQuantization | None:
    """Return the JPEG quantization an 8-bit plane's blocks show, if they show one.

    Parameters
    ----------
    plane : numpy.ndarray
        2-D, on the 0-255 scale once times *scale* (whole values where it was decoded from
        a JPEG).
    pixels : numpy.ndarray, optional
        The unit-scale pixels the plane was made from (its shape, channels last): blocks
        where one is clipped at 0 or 1 after decoding are left out, their coefficients
        moved off the steps' multiples.
    scale : float
        What the plane's values are multiplied by to be on the 0-255 scale (255 for the
        unit scale; only the blocks read are scaled).

    Returns
    -------
    JpegQuantization or None
        ``None`` where the plane is under 32x32, or where, on JPEG's grid from the top left
        corner and on the grid its block edges show (a JPEG cropped since), fewer than
        :data:`_LEAST_SHOWN` AC frequencies show a step or fewer than
        :data:`_SHOWN_SHARE` of those that can tell show one over 1 (an image never
        compressed: its coefficients are spread evenly).

    Notes
    -----
    Each AC frequency's coefficients, where enough leave the zero cell, are tried against
    every step from :data:`_LARGEST_STEP` down to 2, scored by the mean cosine of their
    phase: where the best scores over :data:`_LATTICE_SCORE`, the largest step scoring
    within :data:`_SCORE_TIE` of it (its divisors score as well) names each coefficient's
    multiple, and the median ratio of coefficient to multiple is the step. The block edges
    are where neighbouring pixels differ most on average, by row and column modulo 8.
    ``O(N)`` for the edges and the transform and ``O(N)`` per step tried, on at most
    :data:`_MOST_BLOCKS` blocks.
    """
    if min(plane.shape) < 4 * BLOCK:
        return None
    found = _quantization_on_grid(plane, pixels, scale)
    if found is not None:
        return found
    row, col = _block_edges(plane)
    if (row, col) == (0, 0):
        return None
    return _quantization_on_grid(plane[row:, col:], None if pixels is None else pixels[row:, col:],
                                 scale)


def _block_edges(plane: np.ndarray) -> tuple[int, int]:
    """Return the row and column, modulo 8, where a plane's block edges lie (first in a block)."""
    offsets = []
    for axis in (0, 1):
        steps = np.abs(np.diff(plane[::_EDGE_STRIDE] if axis else plane[:, ::_EDGE_STRIDE],
                               axis=axis))
        profile = steps.mean(axis=1 - axis)
        by_phase = [float(profile[phase::BLOCK].mean()) for phase in range(BLOCK)]
        # A jump between pixel k and k + 1 starts a block at k + 1.
        offsets.append((int(np.argmax(by_phase)) + 1) % BLOCK)
    return offsets[0], offsets[1]


def _quantization_on_grid(plane: np.ndarray, pixels: np.ndarray | None, scale: float
                          ) -> JpegQuantization | None:
    """Return the quantization a plane's blocks show, on the grid from its top left corner."""
    # A spread sample of the blocks tells the steps as well as all of a large image's.
    count = (plane.shape[0] // BLOCK) * (plane.shape[1] // BLOCK)
    stride = max(1, int(np.ceil(np.sqrt(count / _MOST_BLOCKS))))
    # (The DC coefficient, which JPEG's level shift moves, is not read.)
    coefficients = _block_coefficients(plane, stride) * scale
    if pixels is not None:
        coefficients = coefficients[~_blocks_clipped(pixels, stride)]
    steps = np.full((BLOCK, BLOCK), np.nan)
    # Coarse frequencies first: an image never compressed shows no step at any, and is
    # told after a few.
    unshown = 0
    for u, v in sorted(((u, v) for u in range(BLOCK) for v in range(BLOCK) if u or v),
                       key=sum):
        shown = _shown_step(coefficients[:, u, v])
        if shown is not None:
            steps[u, v] = shown
            unshown += shown == 1
            if unshown > (1 - _SHOWN_SHARE) * (BLOCK * BLOCK - 1):
                return None
    told = np.isfinite(steps)
    quantized = told & (steps > 1)
    if quantized.sum() < _LEAST_SHOWN or quantized.sum() < _SHOWN_SHARE * told.sum():
        return None
    # The steps not shown (every coefficient rounded to 0) follow the table the encoder
    # scaled: Annex K's, at the scale of those shown.
    table_scale = float(np.median(steps[quantized] / _ANNEX_K_LUMINANCE[quantized]))
    filled = np.where(quantized, steps,
                      np.maximum(np.rint(_ANNEX_K_LUMINANCE * table_scale), 1.0))
    filled[0, 0] = max(float(np.rint(_ANNEX_K_LUMINANCE[0, 0] * table_scale)), 1.0)
    return JpegQuantization(filled, quantized)


def jpeg_hidden_sigma(plane: np.ndarray, quantization: JpegQuantization, fine_sigma: float,
                      *, noise_share: float = 1.0) -> float:
    """Return the noise before compression where a JPEG's quantization hid it from *fine_sigma*.

    Parameters
    ----------
    plane : numpy.ndarray
        2-D, unit scale: 8-bit pixels (whole levels), or the luma of 8-bit colour pixels.
    quantization : JpegQuantization
        The steps its blocks show (:func:`jpeg_quantization`).
    fine_sigma : float
        The calmest finest details' sigma (:func:`nlmeans_cli.noise_details.calm_sigma`),
        unit scale.
    noise_share : float
        The plane's share of the noise a pixel's channel carries (1 for a grey plane; a
        colour still's luma carries less): the binned reading's floor is scaled by it.

    Returns
    -------
    float
        The largest of *fine_sigma* and two
        readings undone: the noise that, passed through that quantization, reads as the
        plane's finest details do, where they read :data:`_FINE_FLOOR` levels or more
        (under it they read the quantization's flat blocks, not the noise) and at least
        :data:`_LEAST_FINE_SHARE` of that noise; and the
        noise whose details binned 2x2, so quantized, read as the plane's do, where those
        read over :data:`_HIDDEN_RATIO` times the finest and :data:`_LEAST_HIDDEN` levels
        (times *noise_share*), where the quantization would take most of that noise from
        the finest details (they would read under :data:`_LEAST_FINE_SHARE` of it), and
        noise of :data:`_CHECKED_SHARE` of it would leave them about as calm as the
        plane's (:data:`_FINE_MARGIN`; else texture lifted the binned reading).

    Notes
    -----
    Pure noise on mid-grey (a fixed draw of 192x192) is quantized with the plane's steps
    and read by the same estimator, and the noise level is searched by bisection
    (:data:`_SEARCH_ROUNDS` rounds); the estimator's own shrinking under quantization
    is so undone. A clean photograph saved at a high quality has texture in its binned
    details but would show noise of that size in its finest too; where strong
    quantization hides noise of the binned details' size altogether the two are not told
    apart (a clean, textured photograph at quality 60 to 75 is denoised as if its texture
    were such noise). Cost: the binned plane's
    :func:`nlmeans_cli.noise_details.calm_sigma`, and a reading of the simulated plane per
    round (some tens of milliseconds in all).
    """
    fine = fine_sigma * 255.0
    noise = np.random.default_rng(_SIMULATION_SEED).standard_normal((_SIMULATED, _SIMULATED))

    def fine_reading(sigma: float) -> float:
        return _fine_reading(_quantized_noise(noise, sigma, quantization))

    def binned_reading(sigma: float) -> float:
        return _binned_reading(_quantized_noise(noise, sigma, quantization))

    found = [fine]
    if fine >= _FINE_FLOOR:
        sigma = _level_reading(fine_reading, fine, fine / _WIDEST_SEARCH, _WIDEST_SEARCH * fine)
        # Where the quantization takes most of the noise from the finest details, their
        # reading falls off a cliff: any texture's reading there names the cliff's level.
        if sigma is not None and fine >= _LEAST_FINE_SHARE * sigma:
            found.append(sigma)
    binned = _binned_reading(plane)
    if binned > max(_HIDDEN_RATIO * fine, _LEAST_HIDDEN * noise_share):
        sigma = _level_reading(binned_reading, binned, binned, _WIDEST_SEARCH * binned)
        # Only where the quantization would take most of such noise from the finest
        # details (elsewhere they read it, above); and checked a little under the level
        # found: near the cliff their reading swings from a level to several with a small
        # change of the noise.
        if (sigma is not None and fine_reading(sigma) < _LEAST_FINE_SHARE * sigma
                and fine_reading(_CHECKED_SHARE * sigma) <= _FINE_MARGIN * fine + _FINE_SLACK):
            found.append(sigma)
    return max(found) / 255.0


def still_jpeg_sigma(still: np.ndarray, sigma: float) -> float:
    """Return *sigma*, or the noise a JPEG's quantization hid from it, for a still.

    Parameters
    ----------
    still : numpy.ndarray
        Channels last, float, unit scale.
    sigma : float
        The still's noise as its calmest finest details read it, unit scale (the mean over
        channels).

    Returns
    -------
    float
        *sigma* unless the still is 2-D, grey or red, green and blue, its values whole
        8-bit levels (:func:`on_eight_bit_levels`), and its blocks show a JPEG
        quantization; then as :func:`jpeg_hidden_sigma` finds it: on a grey still's plane,
        or on a colour one's luma (JPEG's Y, whose blocks were quantized), carried back to
        each channel's as white noise alike in every channel would be
        (:data:`_LUMA_NOISE_SHARE`), where that is more than *sigma* (chroma subsampling
        takes most of the noise out of the channels' differences, and their details
        read about the luma's noise alone: 0.6 to 0.8 of the noise before compression on
        scikit-image's colour photographs at quality 95).

    Notes
    -----
    ``O(N)`` for the levels' check and the luma, then :func:`jpeg_hidden_sigma`'s cost.
    """
    if still.ndim != 3 or still.shape[-1] not in (1, 3) or not on_eight_bit_levels(still):
        return sigma
    grey = still.shape[-1] == 1
    plane = np.ascontiguousarray(still[..., 0] if grey else still @ _JPEG_LUMA.astype(still.dtype))
    quantization = jpeg_quantization(plane, still, scale=255.0)
    if quantization is None:
        return sigma
    if grey:
        return jpeg_hidden_sigma(plane, quantization, sigma)
    fine = calm_sigma(plane[np.newaxis], *clipped_ends(plane[np.newaxis]),
                      least=LEAST_DETAIL) or 0.0
    hidden = jpeg_hidden_sigma(plane, quantization, fine, noise_share=_LUMA_NOISE_SHARE)
    return max(sigma, hidden / _LUMA_NOISE_SHARE)


def on_eight_bit_levels(pixels: np.ndarray) -> bool:
    """Tell whether unit-scale pixels are all whole 8-bit levels (as a JPEG decodes them).

    Parameters
    ----------
    pixels : numpy.ndarray
        Unit scale, float.

    Returns
    -------
    bool
        Whether every value times 255 is within :data:`_LEVEL_TOLERANCE` of a whole number,
        over rows spread through the image holding up to :data:`_LEVEL_SAMPLE` values (a
        decoded JPEG's are whole throughout; other data are not, in any rows).

    Notes
    -----
    ``O(N)`` up to that many values, in bands of rows (no image-sized temporary).
    """
    step = max(1, int(np.ceil(pixels.size / _LEVEL_SAMPLE)))
    sampled = pixels[::step]
    for start in range(0, sampled.shape[0], _LEVEL_ROWS):
        levels = sampled[start:start + _LEVEL_ROWS].astype(np.float64) * 255.0
        if np.abs(levels - np.rint(levels)).max(initial=0.0) > _LEVEL_TOLERANCE:
            return False
    return True


def _level_reading(reading, target: float, low: float, high: float) -> float | None:
    """Return the noise level in *low* to *high* whose *reading* is *target*, by bisection.

    ``None`` where even *high* reads under *target*.
    """
    if reading(high) < target:
        return None
    for _ in range(_SEARCH_ROUNDS):
        middle = 0.5 * (low + high)
        if reading(middle) < target:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def _fine_reading(unit: np.ndarray) -> float:
    """Return white noise's sigma (0-255) read from a unit-scale plane's calmest finest details."""
    sigma = calm_sigma(unit[np.newaxis], None, None, least=LEAST_DETAIL)
    return 0.0 if sigma is None else sigma * 255.0


def _binned_reading(unit: np.ndarray) -> float:
    """Return white noise's sigma (0-255) read from a unit-scale plane binned 2x2.

    Twice the binned plane's reading.
    """
    rows, cols = unit.shape[0] // 2 * 2, unit.shape[1] // 2 * 2
    binned = unit[:rows, :cols].reshape(rows // 2, 2, cols // 2, 2).mean(axis=(1, 3))
    sigma = calm_sigma(binned[np.newaxis], None, None, least=LEAST_DETAIL)
    return 0.0 if sigma is None else 2.0 * sigma * 255.0


def _quantized_noise(noise: np.ndarray, sigma: float, quantization: JpegQuantization
                     ) -> np.ndarray:
    """Return mid-grey with *sigma* (0-255) times *noise*, quantized as a JPEG with those steps.

    On the unit scale.
    """
    plane = np.clip(np.rint(128.0 + sigma * noise), 0, 255)
    coefficients = _block_coefficients(plane - 128.0)
    steps = quantization.steps
    coefficients = np.rint(coefficients / steps) * steps
    return np.clip(np.rint(_blocks_to_plane(coefficients, plane.shape) + 128.0), 0, 255) / 255.0


#: How far from a whole 8-bit level (0-255 scale) a unit-scale float32 value may lie and
#: still be one (float32 holds k / 255 to about 3e-5 of a level).
_LEVEL_TOLERANCE = 1e-3

#: The most values checked for whole 8-bit levels.
_LEVEL_SAMPLE = 1 << 21

#: Rows per band when checking for whole 8-bit levels.
_LEVEL_ROWS = 256

#: JPEG's luma (JFIF's Y) from red, green and blue.
_JPEG_LUMA = np.array([0.299, 0.587, 0.114])

#: The luma's share of white noise alike in red, green and blue (its standard deviation's).
_LUMA_NOISE_SHARE = float(np.sqrt(np.sum(_JPEG_LUMA**2)))

#: The largest quantization step looked for (Annex K's largest at quality 50 is 121).
_LARGEST_STEP = 64

#: Every this many rows (columns) are read for the block edges.
_EDGE_STRIDE = 4

#: The most blocks whose coefficients are read for the steps.
_MOST_BLOCKS = 2048

#: The least number of coefficients out of the zero cell for a step to be judged.
_LEAST_AWAY = 32

#: The mean cosine of the coefficients' phase over a step that shows it (continuous
#: coefficients: about 0, within a few hundredths for hundreds of blocks).
_LATTICE_SCORE = 0.6

#: Steps whose score is this close to the best fit as well as it.
_SCORE_TIE = 0.05

#: The least number of AC frequencies that must show a step over 1.
_LEAST_SHOWN = 6

#: The least share of the AC frequencies that can tell that must show a step over 1.
_SHOWN_SHARE = 0.8

#: The binned details must read more than this many times the finest for the quantization
#: to be asked whether it hid the noise.
_HIDDEN_RATIO = 2.0

#: The least binned reading (0-255) taken for noise the quantization hid: a clean
#: photograph's texture reads up to about this much (train400 saved at quality 95: a median
#: 1.7), and noise under it is hidden at any quality.
_LEAST_HIDDEN = 3.0

#: The least finest reading (0-255) that reads the noise, not the quantization's flat blocks
#: (pure noise so quantized reads 0.2 to 0.5 once hidden, from the rounding to levels).
_FINE_FLOOR = 1.0

#: The least share of the noise found from the finest details that they must read: where
#: quantization leaves them less, their reading falls steeply with the noise (from 8 to 2
#: levels as noise falls from 10 to 8 at quality 85), and a texture's reading of a level or
#: two named noise of 8 on clean photographs.
_LEAST_FINE_SHARE = 0.5

#: The share of the binned reading's noise at which the finest details' calm is checked.
_CHECKED_SHARE = 0.8

#: The side of the simulated plane.
_SIMULATED = 192

#: The simulated noise's seed (the result must not change from run to run).
_SIMULATION_SEED = 0

#: The noise before compression is looked for up to this many times the binned reading.
_WIDEST_SEARCH = 4.0

#: Bisection rounds (the search's width over 2 to this power).
_SEARCH_ROUNDS = 10

#: The simulated noise's finest details may read up to this many times what the plane's
#: finest read, plus :data:`_FINE_SLACK` levels: more, and noise of the binned details' size
#: would have shown in the plane's finest details (it is texture).
_FINE_MARGIN = 2.0
_FINE_SLACK = 0.5

