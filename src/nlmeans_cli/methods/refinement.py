"""A second look at a first estimate: the non-local operation with the estimate's own weights.

An estimate ``e`` of the clean image (the network's, or NL-means') finds the repeats of a
structure far better than the noisy image ``x`` does: its patches carry little noise. Two
non-local operations take their weights from ``e`` (as BM3D's second step takes its block
matches from its first estimate):

- ``u_i = 1/C sum_j f(e_i, e_j) e_j``: the estimate averaged over its own similar patches;
- ``v_i = 1/C sum_j f(e_i, e_j) x_j``: the noisy image averaged with the same kind of weights
  over a wider window, whose noise is independent of the estimate's errors.

:func:`refine_estimate` mixes them, over a still or over a clip's frames (each frame's
windows reaching the frames either side; :func:`refine_volume` takes a volume's slices so);
:class:`Refinement` holds how, one instance per use (:data:`NETWORK_REFINEMENT`,
:data:`CLASSIC_REFINEMENT`, :data:`CLASSIC_CLIP_REFINEMENT`,
:data:`CLASSIC_VOLUME_REFINEMENT`). :func:`guided_average` is the banded engine call they
use, and the learned method's colour path too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from ..formulation import PATCH_KERNELS

__all__ = ["CLASSIC_CHROMA", "CLASSIC_CLIP_CHROMA", "CLASSIC_CLIP_REFINEMENT", "CLASSIC_REFINEMENT",
           "CLASSIC_VOLUME_REFINEMENT", "GUIDED_BAND_PIXELS", "NETWORK_CHROMA",
           "NETWORK_REFINEMENT", "VOLUME_SLAB_VOXELS", "ChromaGuide", "Refinement", "bands",
           "guided_average", "guided_chroma", "keeping", "refine_estimate", "refine_volume",
           "second_look_still"]

#: About how many pixels a guided average hands the engine at once (a megapixel in one go).
GUIDED_BAND_PIXELS = 2**20


@dataclass(frozen=True)
class Refinement:
    """How :func:`refine_estimate` refines an estimate.

    Attributes
    ----------
    search_radius : int
        The first average's window radius.
    h : float
        The first average's strength, in units of sigma.
    estimate_share : float
        The share of the estimate kept beside the first average: ``r = (1 - s) u + s e``.
    noisy_h : float
        The second average's strength at sigma 25 (0-255 scale), in units of sigma; at
        another sigma it is ``noisy_h (25 / sigma_255) ** noisy_h_fall``, at most
        *noisy_h_cap*.
    noisy_h_fall : float
        See *noisy_h*.
    noisy_h_cap : float or None
        See *noisy_h*; ``None``: no cap.
    noisy_share : float
        The most the second average takes of the result.
    noisy_count : float
        The neighbours' summed weight at which the second average takes all of
        *noisy_share* (less in proportion: where few repeats are found, the average is mostly
        the pixel's own noise).
    patch_radius : int
        Both averages compare the estimate's patches of this radius (Gaussian weights).
    noisy_radius : int
        The second average's window radius.
    temporal_radius : int
        A clip's frames either side that both averages search (2-D patches, the windows'
        positions in each of those frames); 0 for a still.
    """

    search_radius: int
    h: float
    estimate_share: float
    noisy_h: float
    noisy_h_fall: float
    noisy_share: float
    noisy_h_cap: float | None = None
    noisy_count: float = 64.0
    patch_radius: int = 1
    noisy_radius: int = 15
    temporal_radius: int = 0

    @property
    def reach(self) -> int:
        """How far a refined pixel reads the estimate and the noisy image, in pixels."""
        return self.patch_radius + max(self.search_radius, self.noisy_radius)

    def noisy_strength(self, sigma: float, level: float = 1.0) -> float:
        """Return the second average's h for noise *sigma*, read against *level* (unit scale)."""
        factor = self.noisy_h * (25.0 * level / (255.0 * sigma)) ** self.noisy_h_fall
        if self.noisy_h_cap is not None:
            factor = min(factor, self.noisy_h_cap)
        return factor * sigma


#: The learned method's (:func:`nlmeans_cli.methods.network.denoise_with_network`). The first
#: average over 15x15 at h 0.15 sigma keeping 30 % of the network's estimate; chosen on 40
#: training images of train400 (never the validation split) and 481x321 crops of
#: scikit-image's astronaut, chelsea, coffee, rocket and camera at sigma 25 and 50: a 21x21
#: window gained 0.005 dB more for twice the time, h 0.1 and 0.2 sigma and an even share no
#: more. The second average over 31x31 at h 0.55 sigma at sigma 25, falling as ``(25 /
#: sigma) ** 0.3``, taking at most 0.4, all of it from a summed weight of 64: chosen on the
#: same images at sigma 15, 25 and 50 (the best h there 0.6, 0.5 and 0.4 sigma; a share of
#: 0.3 to 0.45), checked at 5, 10, 35 and 75, and with sigma given 0.7 and 0.85 times the
#: noise's and with photon noise at its mean sigma, where one share everywhere lost up to
#: 0.5 dB to the first average alone: h 10 % above the best and the share by the weights'
#: sum gave back 0.13 to 0.31 dB of it for 0.01 dB or less where sigma is right. A 41x41
#: window gained 0.005 dB at sigma 15 and 25 (0.02 at 50 on 512x512 photographs) for twice
#: the time.
NETWORK_REFINEMENT = Refinement(search_radius=7, h=0.15, estimate_share=0.3, noisy_h=0.55,
                                noisy_h_fall=0.3, noisy_share=0.4)

#: The classic method's, for NL-means' estimate of a grey still whose h was not given. The
#: first average replaces the estimate (h 0.2 sigma, 11x11); the second, over 21x21, takes
#: up to 0.8 at h 0.45 sigma at sigma 25, ``(25 / sigma) ** 0.4`` elsewhere, at most 0.55
#: sigma. Chosen on 40 training images of train400 (never the validation split) at sigma 5,
#: 10, 15, 25 and 50 (the best second h there 0.6, 0.45, 0.55, 0.45 and 0.35 sigma, the
#: best share 0.8 at every level; the first average's h 0.15 to 0.4 sigma within 0.01 dB),
#: then checked at 35 and 75: +0.07 to +0.35 dB on those images with the learned method's
#: 15x15 and 31x31 windows, their worst -0.21 dB (at 75). The smaller windows take half the
#: time (a 1024x1024 image: about 0.1 s against 0.21 s, where NL-means took 0.02 s) for
#: 0.002, 0.015 and 0.048 dB less at sigma 15, 25 and 50 on those images.
CLASSIC_REFINEMENT = Refinement(search_radius=5, h=0.2, estimate_share=0.0, noisy_h=0.45,
                                noisy_h_fall=0.4, noisy_h_cap=0.55, noisy_share=0.8,
                                noisy_radius=10)


#: The classic method's for a clip's frames (a spacetime estimate): as a still's, each
#: average also searching the frame either side, over 5x5 and 9x9 positions in each of the
#: three frames. Chosen on clips panned by 1-2 pixels a frame across 12 training images of
#: train400 (8 frames of 140x150, sigma 10, 25 and 50): +0.30, +0.44 and +0.57 dB over
#: NL-means alone, where the still's windows in the frame alone gave +0.17, +0.29 and
#: +0.38. 7x7 and 11x11 gave +0.30, +0.46 and +0.56 for 1.6 times the time (1080p: 0.26 s a
#: frame against 0.165 s), the still's windows over three frames +0.29, +0.44 and +0.57 for
#: 3.5 times, and five frames +0.02 dB more for twice that.
CLASSIC_CLIP_REFINEMENT = replace(CLASSIC_REFINEMENT, search_radius=2, noisy_radius=4,
                                  temporal_radius=1)


#: The classic method's for a volume, channel by channel: as a clip's, its slices the frames,
#: each average reaching two slices either side (fewer where the slices lie further apart
#: than the pixels: :func:`refine_volume`), the second at 0.7 times the still's strength
#: taking at most 0.6. Chosen on 8 volumes panned across training images of train400 (16 slices of
#: 96x96) and 4 smoothed 3-D blob volumes (24 slices) at sigma 10, 15, 25 and 50: +0.07,
#: +0.15, +0.18 and +0.24 dB on the photographs, +0.13, +0.19, +0.41 and +0.95 on the blobs,
#: every volume gaining; the clip's values lost up to 0.09 dB at sigma 15.
CLASSIC_VOLUME_REFINEMENT = replace(CLASSIC_REFINEMENT, search_radius=3, noisy_radius=5,
                                    temporal_radius=2, noisy_h=0.315, noisy_share=0.6)

#: About how many voxels one pass of :func:`refine_volume` refines (its slab of slices).
VOLUME_SLAB_VOXELS = 2**22


@dataclass(frozen=True)
class ChromaGuide:
    """How :func:`guided_chroma` averages a colour estimate's chroma.

    Attributes
    ----------
    reach : int
        The window radius (one position compared): also how far a pixel's chroma reads.
    h : float
        The strength, in units of sigma.
    share : float
        The share the estimate's own chroma keeps.
    """

    reach: int
    h: float
    share: float


#: The learned method's: a 41x41 window at h 0.4 sigma, the network's chroma keeping 0.2.
#: Chosen on 256x256 crops of scikit-image's astronaut, chelsea, coffee and rocket at sigma
#: 25 (and checked at 15 and 50), not on the colour photographs the README reports: one
#: position compared (5x5 and 7x7 patches did 0.25 dB worse).
NETWORK_CHROMA = ChromaGuide(reach=20, h=0.4, share=0.2)

#: The classic method's, for a colour still whose h was not given: a 21x21 window, else as
#: the learned method's. On the same four crops at sigma 15, 25 and 50 (after the
#: luminance's refinement) the 41x41 window gained 0.08 to 0.12 dB more and the 31x31 one
#: 0.06 to 0.09 dB, for four and two times the time: with 31x31 a 1024x1024 colour image
#: took 1.6 times OpenCV's ``fastNlMeansDenoisingColored`` with every default.
CLASSIC_CHROMA = ChromaGuide(reach=10, h=0.4, share=0.2)

#: A colour clip's frames: the still's guide, the spacetime estimate's chroma keeping 0.65
#: (averaged over the frames either side at the colour clip's lower h, it has less noise
#: left than a still's). On clips panned across the same four photographs (8 frames of
#: 140x150, two per photograph) at sigma 5, 10, 25 and 50: +0.56, +0.26, +0.04 and +0.08 dB
#: over 0.2; 0.5 and 0.8 did 0.04 and 0.01 dB worse on average, no guide 0.1 dB worse.
CLASSIC_CLIP_CHROMA = ChromaGuide(reach=10, h=0.4, share=0.65)


def guided_chroma(estimate: np.ndarray, noisy: np.ndarray, sigma: float, *,
                  guide: ChromaGuide = NETWORK_CHROMA,
                  band_pixels: int = GUIDED_BAND_PIXELS) -> np.ndarray:
    """Average the noisy chroma with weights from a colour estimate, and mix in its chroma.

    ``y_i = 1/C sum_j f(e_i, e_j) g_j`` with ``f`` the Gaussian affinity of the estimate
    ``e``'s colours (all three opponent channels, one position compared) and ``g`` the noisy
    chroma: the non-local operation with its weights from a first estimate whose chroma
    channels were denoised on their own. The result is ``(1 - s) y + s e_chroma``.

    Parameters
    ----------
    estimate : numpy.ndarray
        ``(3, H, W)`` the estimate, opponent channels (luminance first), unit scale.
    noisy : numpy.ndarray
        ``(3, H, W)`` the noisy image in the same space.
    sigma : float
        The noise standard deviation, unit scale (h is ``guide.h`` times it).
    guide : ChromaGuide
        The window, the strength and the share ``s``.
    band_pixels : int
        About how many pixels go to the engine at once: bands of rows, each read with
        ``guide.reach`` rows either side, so the memory stays bounded and the result is the
        whole image's, bit for bit (each target sums the same terms in the same order).

    Returns
    -------
    numpy.ndarray
        ``(2, H, W)`` float64, the chroma channels.

    Notes
    -----
    Cost: ``O(H W)`` times the window's offsets (1681 for 41x41, 961 for 31x31), each
    comparing 3 values and summing 2, in one engine call per band. A constant image stays
    constant.
    """
    reach = guide.reach
    # The mean squared difference over the three channels, at one position.
    return guided_average(estimate, noisy[1:], keeping(estimate[1:], guide.share), reach,
                          band_pixels, affinity="gaussian", patch_radius=(0, 0, 0),
                          search_radius=(reach, 0, reach), scale=1.0 / 3, bias=0.0,
                          h=guide.h * sigma)


def refine_estimate(estimate: np.ndarray, noisy: np.ndarray, sigma: float, *,
                    refinement: Refinement = NETWORK_REFINEMENT,
                    band_pixels: int = GUIDED_BAND_PIXELS,
                    targets: tuple[int, int] | None = None, level: float = 1.0
                    ) -> np.ndarray:
    """Average an estimate and the noisy image over the estimate's similar patches.

    ``u_i = 1/C sum_j f(e_i, e_j) e_j`` over the first window and
    ``v_i = 1/C sum_j f(e_i, e_j) x_j`` over the second, ``f`` the Gaussian affinity of the
    estimate's Gaussian-weighted patches (module docstring), mixed as
    ``r = (1 - s) u + s e`` and then ``(1 - t) r + t v``, ``t = T min(1, (S - 1) / K)`` with
    ``S`` the sum of the second average's weights (1 for the pixel itself) and ``s``, ``T``,
    ``K`` the *refinement*'s ``estimate_share``, ``noisy_share`` and ``noisy_count``.

    Parameters
    ----------
    estimate : numpy.ndarray
        ``(H, W)``, unit scale; or a clip's frames ``(F, H, W)`` with *targets*.
    noisy : numpy.ndarray
        The image (or frames) the estimate came from, the same shape, unit scale.
    sigma : float
        The noise standard deviation of *noisy*, unit scale.
    refinement : Refinement
        The windows, strengths and shares.
    band_pixels : int
        About how many pixels go to the engine at once: bands of rows, each read with
        ``refinement.reach`` rows either side (the result is the whole image's, bit for bit).
    targets : tuple of 2 int, optional
        With frames: those refined, ``lo <= k < hi``, the others (up to
        ``refinement.temporal_radius`` either side) their candidates too; beyond the first
        and last, frames are reflected. A pair of target frames is compared once for both.
    level : float
        The level the noise is read against (1, full scale, but for float images far above
        or below it: :func:`nlmeans_cli.parameters.reference_level`): the second average's
        strength follows ``sigma / level``.

    Returns
    -------
    numpy.ndarray
        float64 ``(H, W)``; with *targets*, ``(hi - lo, H, W)``.

    Notes
    -----
    Cost: ``O(H W)`` times half of each window's offsets (112 and 480 for 15x15 and 31x31),
    each summing a 3x3 patch, in two engine calls per band; a clip's frame each window's
    offsets in each of ``2 T + 1`` frames (a pair of target frames once for both). A
    constant image stays constant, and an image narrower than a patch comes back as it
    is.
    """
    if targets is None:
        return refine_estimate(estimate[np.newaxis], noisy[np.newaxis], sigma,
                               refinement=refinement, band_pixels=band_pixels,
                               targets=(0, 1), level=level)[0]
    lo, hi = targets
    radius, search = refinement.patch_radius, refinement.search_radius
    if min(estimate.shape[1:]) < 2 * radius + 1:
        # No patch fits (a row, a single pixel): nothing to compare, the estimate stands.
        return np.array(estimate[lo:hi], np.float64)
    weights = tuple(np.asarray(PATCH_KERNELS["gaussian"].weights(r), np.float32)
                    for r in (radius, 0, radius))
    # The engine's grid (1, rows, frames, columns): time on its middle axis.
    guide = estimate.transpose(1, 0, 2)[np.newaxis]
    reach, frames = refinement.reach, refinement.temporal_radius
    # The Gaussian-weighted mean squared difference over the patch.
    compare = {"affinity": "gaussian", "patch_radius": (radius, 0, radius),
               "scale": 1.0 / (2 * radius + 1) ** 2, "bias": 0.0, "patch_weights": weights,
               "targets": (lo, hi)}
    refined = guided_average(guide, guide, keeping(guide[:, :, lo:hi],
                                                   refinement.estimate_share),
                             reach, band_pixels, search_radius=(search, frames, search),
                             h=refinement.h * sigma, **compare)
    wide = refinement.noisy_radius

    def mix(averaged, rows):
        # The weights' sum: 1 (the pixel itself) plus what its neighbours weigh.
        average, weights = averaged
        share = refinement.noisy_share * np.clip((weights - 1) / refinement.noisy_count, 0, 1)
        return (share * average + (1 - share) * refined[0, rows])[np.newaxis]

    result = guided_average(guide, noisy.transpose(1, 0, 2)[np.newaxis], mix, reach,
                            band_pixels, weight_sums=True, search_radius=(wide, frames, wide),
                            h=refinement.noisy_strength(sigma, level), **compare)
    return result[0].transpose(1, 0, 2)


def refine_volume(estimate: np.ndarray, noisy: np.ndarray, sigma: float, *,
                  refinement: Refinement = CLASSIC_VOLUME_REFINEMENT, level: float = 1.0,
                  slab_voxels: int = VOLUME_SLAB_VOXELS) -> np.ndarray:
    """Refine a volume's estimate slice by slice, over the slices either side.

    :func:`refine_estimate` with the slices ``(Z, H, W)`` as a clip's frames, in slabs of
    slices (each read with ``refinement.temporal_radius`` slices either side), so that the
    memory stays bounded; the result does not depend on the slabs but for the rounding.

    Parameters
    ----------
    estimate, noisy : numpy.ndarray
        ``(Z, H, W)``, unit scale.
    sigma : float
        The noise standard deviation of *noisy*, unit scale.
    refinement : Refinement
        Its ``temporal_radius`` reaches along the first axis.
    level : float
        As for :func:`refine_estimate`.
    slab_voxels : int
        About how many voxels a slab refines at once.

    Returns
    -------
    numpy.ndarray
        float64 ``(Z, H, W)``.

    Notes
    -----
    Cost: as :func:`refine_estimate` for ``Z`` frames. A constant volume stays constant.
    """
    slices = estimate.shape[0]
    reach = refinement.temporal_radius
    step = max(1, slab_voxels // max(estimate[0].size, 1))
    out = np.empty(estimate.shape, np.float64)
    for top in range(0, slices, step):
        bottom = min(top + step, slices)
        lo, hi = max(top - reach, 0), min(bottom + reach, slices)
        out[top:bottom] = refine_estimate(estimate[lo:hi], noisy[lo:hi], sigma,
                                          refinement=refinement, level=level,
                                          targets=(top - lo, bottom - lo))
    return out


def guided_average(guide: np.ndarray, values: np.ndarray,
                   mix: Callable[[np.ndarray, slice], np.ndarray], halo: int, band_pixels: int,
                   **operation) -> np.ndarray:
    """Return ``mix`` of the engine's average of *values*, band by band.

    Parameters
    ----------
    guide : numpy.ndarray
        ``(C, H, W)``: gives the weights; or a clip's frames ``(C, H, F, W)``, of which
        *operation*'s ``targets`` (all of them without) are averaged.
    values : numpy.ndarray
        ``(V, H, W)`` (or ``(V, H, F, W)``): averaged (the guide itself, and then symmetric,
        when it is the same array).
    mix : callable
        ``mix(y, rows)`` turns a band's output ``y`` (float64 ``(V, rows, W)``, or
        ``(V, rows, K, W)`` for *K* target frames, the weights' sums after them where
        *operation* asks for them) into the band's result of the same shape but *V*.
    halo : int
        How many rows either side a band is read with: the operation's reach.
    band_pixels : int
        About how many pixels a band holds (over all its frames).
    **operation
        Passed to :func:`nlmeans_cli.engine.nonlocal_operation`.

    Returns
    -------
    numpy.ndarray
        float64 ``(V, H, W)``; for frames ``(V, H, K, W)``.

    Notes
    -----
    Bands are mixed one by one, so no temporary is the image's size, and the result is the
    whole image's, bit for bit (each target sums the same terms in the same order).
    """
    from ..engine import nonlocal_operation

    same = values is guide
    still = guide.ndim == 3
    if still:  # the grid's frame axis of length 1
        guide, values = guide[:, :, np.newaxis], values[:, :, np.newaxis]
    height, frames, width = guide.shape[1:]
    lo, hi = operation.get("targets") or (0, frames)
    # At least twice the halo tall, so that no band is shorter than the window it reads; a
    # band of a clip's rows holds them in every frame it reads.
    rows = max(2 * halo + 1, band_pixels // max(width * frames, 1))
    out = np.empty((values.shape[0], height, hi - lo, width), np.float64)
    for top, bottom, first, last in bands(height, rows, halo):
        left = np.ascontiguousarray(guide[:, first:last], np.float32)
        averaged = left if same else np.ascontiguousarray(values[:, first:last], np.float32)
        part = nonlocal_operation(left, None, averaged, **operation)
        part = part[:, top - first : bottom - first].astype(np.float64)
        out[:, top:bottom] = (mix(part[:, :, 0], slice(top, bottom))[:, :, np.newaxis] if still
                              else mix(part, slice(top, bottom)))
    return out[:, :, 0] if still else out


def keeping(kept: np.ndarray, share: float) -> Callable[[np.ndarray, slice], np.ndarray]:
    """Return the mix ``(1 - share) y + share kept`` for :func:`guided_average`.

    Parameters
    ----------
    kept : numpy.ndarray
        ``(V, H, W)``: what keeps *share*.
    share : float
        Its share.

    Returns
    -------
    callable
    """
    def mix(averaged, rows):
        averaged *= 1 - share
        averaged += share * kept[:, rows]
        return averaged

    return mix


def bands(height: int, rows: int, halo: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(top, bottom, lo, hi)``: bands of *rows* rows, each read with *halo* either side.

    Parameters
    ----------
    height : int
        The image's rows.
    rows : int
        A band's rows.
    halo : int
        Rows read either side.

    Yields
    ------
    tuple of 4 int
    """
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        yield top, bottom, max(top - halo, 0), min(bottom + halo, height)


def second_look_still(estimate: np.ndarray, noisy: np.ndarray, sigma: float, *,
                      level: float = 1.0, colour: bool = False) -> np.ndarray:
    """Refine the classic method's estimate of a still, ``(C, H, 1, W)``.

    Parameters
    ----------
    estimate, noisy : numpy.ndarray
        NL-means' estimate and the noisy still, ``(C, H, 1, W)``: grey, opponent colours
        (luminance first) where *colour*, or channels that are not colours.
    sigma : float
        The noise's standard deviation, in the pixels' units.
    level : float
        As :func:`refine_estimate` takes it.
    colour : bool
        Whether the three channels are opponent colours.

    Returns
    -------
    numpy.ndarray
        float32, the shape of *estimate*: the grey or luminance channel refined by its own
        self-similarity (:data:`CLASSIC_REFINEMENT`), a colour image's chroma then averaged
        with weights from the whole refined estimate (:data:`CLASSIC_CHROMA`); channels
        that are not colours each refined by its own.

    Notes
    -----
    Cost: :func:`refine_estimate` per refined channel, and :func:`guided_chroma` for colour.
    """
    refined = estimate[:, :, 0].astype(np.float64)
    plain = noisy[:, :, 0].astype(np.float64)
    for channel in range(1 if colour else refined.shape[0]):
        refined[channel] = refine_estimate(refined[channel], plain[channel], sigma,
                                           refinement=CLASSIC_REFINEMENT, level=level)
    if colour:
        refined[1:] = guided_chroma(refined, plain, sigma, guide=CLASSIC_CHROMA)
    return np.ascontiguousarray(refined.astype(np.float32)[:, :, np.newaxis])
