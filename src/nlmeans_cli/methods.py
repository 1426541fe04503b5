"""Denoising methods: named ways to turn a noisy image into an estimate.

Each method receives the image as planar float32 ``(channels, n0, n1, n2)`` on the unit scale
(see :func:`nlmeans_cli.denoise`) and returns the same shape. Methods are looked up by name in
:data:`METHODS`; the command line builds its ``--method`` choices from it.

Numba is imported when a method first runs, so that reading this registry stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .formulation import AFFINITIES, lookup

__all__ = ["METHODS", "Method", "Setting"]


@dataclass(frozen=True)
class Setting:
    """Everything a method needs besides the pixels, on the unit scale.

    Attributes
    ----------
    sigma : float
        Noise standard deviation.
    h : float
        Filtering parameter.
    patch_radius, search_radius : tuple of 3 int
        Radii along the three grid axes (0 along the dummy axis of a 2-D image).
    affinity : str
        Name in :data:`~nlmeans_cli.formulation.AFFINITIES`.
    targets : tuple of 2 int or None
        Estimate only the positions ``lo <= i1 < hi`` of grid axis 1 (the frames of a clip to
        denoise; the others are candidates only). ``None``: every position.
    model : str or None
        The learned method's model file; ``None`` takes the shipped model for the affinity
        and sigma.
    """

    sigma: float
    h: float
    patch_radius: tuple[int, int, int]
    search_radius: tuple[int, int, int]
    affinity: str
    targets: tuple[int, int] | None = None
    model: str | None = None


@dataclass(frozen=True)
class Method:
    """A registered denoising method.

    Attributes
    ----------
    name : str
        Registry key.
    description : str
        One line for ``--help``.
    run : callable
        ``run(pixels, setting) -> estimate`` on planar float32 arrays.
    spacetime : bool
        Whether it searches across frames (honours ``setting.targets``); a method that does
        not is given a clip frame by frame.
    """

    name: str
    description: str
    run: Callable[[np.ndarray, Setting], np.ndarray]
    spacetime: bool = True


def _classic(pixels: np.ndarray, setting: Setting) -> np.ndarray:
    """NL-means: the non-local operation on the pixels' own patches.

    The features ``theta = phi`` are the patches themselves (identity embeddings), ``g`` is the
    pixel value and ``C = sum_j f``, so the estimate is a weighted mean of the window's pixels
    for every affinity. Colour channels share one set of weights, computed from the distance
    over all channels jointly.
    """
    from .engine import nonlocal_operation

    spec = lookup(AFFINITIES, setting.affinity, "affinity")
    n_patch = pixels.shape[0] * int(np.prod([2 * r + 1 for r in setting.patch_radius]))
    common = dict(
        affinity=spec.name,
        normaliser="sum",
        patch_radius=setting.patch_radius,
        search_radius=setting.search_radius,
        targets=setting.targets,
    )
    if spec.name == "gaussian":
        return nonlocal_operation(pixels, None, pixels, scale=1.0 / n_patch,
                                  bias=2.0 * setting.sigma**2, h=setting.h, **common)
    if spec.name == "concatenation":
        # w_theta = w_phi = 1 / (n h): the affinity of two patches grows with their means.
        return nonlocal_operation(pixels, None, pixels, scale=1.0 / (n_patch * setting.h),
                                  **common)
    # Embedded Gaussian and dot product on theta = phi = patch / (h sqrt(n)).
    return nonlocal_operation(pixels, None, pixels, scale=1.0 / (n_patch * setting.h**2),
                              **common)


def _learned(pixels: np.ndarray, setting: Setting) -> np.ndarray:
    """Learned non-local blocks (:mod:`nlmeans_cli.learned`) on the same engine.

    The patch size, window and h come from the model. The models are spatial: a clip comes
    frame by frame (``spacetime=False``).
    """
    from .learned import apply_model, cached_model, shipped_model

    if setting.model is not None:
        # Cached: a clip runs this once per frame, a batch worker once per file.
        model = cached_model(setting.model)
    else:
        model = shipped_model(setting.affinity, setting.sigma * 255.0,
                              channels=pixels.shape[0])
    if pixels.shape[2] != 1:
        raise ValueError("the learned method takes 2-D images and clips, not volumes")
    return apply_model(pixels, setting.sigma, model)


METHODS: dict[str, Method] = {
    "classic": Method("classic", "non-local means on the Numba engine", _classic),
    "learned": Method("learned", "learned non-local blocks (shipped or --model) on the same "
                      "engine", _learned, spacetime=False),
}
