"""Measuring ours against scikit-image's ``denoise_nl_means`` on images with known clean versions.

The library part of ``nlm compare``: noise is added in floating point on the unit scale (no
clipping), every method denoises the same noisy image, and PSNR and SSIM come from
:mod:`skimage.metrics`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..methods import METHODS
from ..pixels import estimate_noise
from ..scales import to_unit

__all__ = ["COMPARED", "Comparison", "ImageScore", "compare", "comparison_methods"]


@dataclass
class ImageScore:
    """Scores of every method on one image.

    Attributes
    ----------
    path : str
        The clean image's name or path.
    noisy_psnr : float
        PSNR of the noisy image against the clean one.
    methods : dict
        ``name -> {"psnr", "ssim", "seconds"}``.
    """

    path: str
    noisy_psnr: float
    methods: dict[str, dict[str, float]] = field(default_factory=dict)
    noisy: np.ndarray | None = field(default=None, repr=False)
    estimates: dict[str, np.ndarray] = field(default_factory=dict, repr=False)


@dataclass
class Comparison:
    """The result of :func:`compare`: per image scores and means."""

    sigma: float
    seed: int | None
    images: list[ImageScore]
    noise: dict | None = None

    @property
    def mean(self) -> dict[str, dict[str, float]]:
        """Mean of each score of each method over the images."""
        names = self.images[0].methods if self.images else {}
        return {
            name: {key: float(np.mean([image.methods[name][key] for image in self.images]))
                   for key in ("psnr", "ssim", "seconds")}
            for name in names
        }

    def to_dict(self) -> dict:
        """Return the JSON form printed by ``nlm compare --json``."""
        return {
            "sigma": self.sigma,
            **({"noise": self.noise} if self.noise else {}),
            "seed": self.seed,
            "images": [{"path": image.path, "noisy_psnr": image.noisy_psnr,
                        "methods": image.methods} for image in self.images],
            "mean": self.mean,
        }


Denoiser = Callable[[np.ndarray, float, "int | None"], np.ndarray]


def _ours(method: str, model: str | None = None, *, stabilised: bool = False) -> Denoiser:
    """One of our methods at the comparison's sigma, or *stabilised* (its noise fitted)."""
    def run(noisy, sigma, channel_axis):
        from ..denoising import denoise

        noise = {"noise": "poisson-gaussian"} if stabilised else {"sigma": sigma}
        return denoise(noisy, **noise, method=method, channel_axis=channel_axis,
                       model=model if method == "learned" else None)
    return run


def _skimage(recommended: bool) -> Denoiser:
    def run(noisy, sigma, channel_axis):
        from skimage.restoration import denoise_nl_means

        from ..parameters import default_parameters

        if recommended:
            return denoise_nl_means(noisy, h=0.8 * sigma, sigma=sigma, fast_mode=True,
                                    channel_axis=channel_axis)
        # Ours picks patch, window and h from its table; scikit-image gets the same ones.
        chosen = default_parameters(sigma * 255.0, ndim=2)
        return denoise_nl_means(noisy, patch_size=chosen.patch_size,
                                patch_distance=chosen.search_window // 2,
                                h=chosen.h_factor * sigma, sigma=sigma, fast_mode=True,
                                channel_axis=channel_axis)
    return run


def comparison_methods(model: str | None = None) -> dict[str, Denoiser]:
    """Return the compared methods: each of ours, then scikit-image twice.

    *model* is the learned method's model file (``None``: the shipped models).

    ``"ours"`` is the classic method (other registered methods appear under their own
    names); ``"skimage"`` is ``denoise_nl_means`` (fast mode) with our patch, window and h;
    ``"skimage_recommended"`` uses its documented settings ``h = 0.8 sigma`` and its default
    patch (7) and distance (11); ``"bm3d"`` is the ``bm3d`` package (CBM3D for colour), when it
    is installed (the ``bench`` extra).
    """
    methods = {("ours" if name == "classic" else name): _ours(name, model) for name in METHODS}
    methods["skimage"] = _skimage(recommended=False)
    methods["skimage_recommended"] = _skimage(recommended=True)
    if _bm3d_installed():
        methods["bm3d"] = _bm3d
    return methods


def _bm3d_installed() -> bool:
    from importlib.util import find_spec

    return find_spec("bm3d") is not None


def _bm3d(noisy, sigma, channel_axis):
    import bm3d

    # bm3d divides by zero-variance groups (flat images) and then handles the result.
    with np.errstate(invalid="ignore", divide="ignore"):
        if channel_axis is None:
            return bm3d.bm3d(noisy, sigma_psd=sigma)
        return bm3d.bm3d_rgb(noisy, sigma)


#: Names of the compared methods, in table order (``bm3d`` last, when installed).
COMPARED: tuple[str, ...] = (*("ours" if n == "classic" else n for n in METHODS),
                             "skimage", "skimage_recommended")


def compare(cleans: Sequence[tuple[str, np.ndarray]], *, sigma: float | None = 25.0,
            seed: int = 0,
            noisy: np.ndarray | None = None, keep_images: bool = False,
            model: str | None = None, noise: str = "gaussian", gain: float | None = None,
            read_noise: float = 0.0, black_level: float = 0.0) -> Comparison:
    """Denoise noisy versions of clean images with every method and score them.

    Parameters
    ----------
    cleans : sequence of (str, numpy.ndarray)
        Names and clean images (uint8, uint16 or float in [0, 1]; grey ``(H, W)`` or colour
        ``(H, W, 3)``).
    sigma : float or None
        Noise standard deviation on the 0-255 scale. With *noisy*, ``None`` estimates it from
        the noisy image.
    seed : int
        Seed of the noise; the same seed gives the same noise and the same scores.
    noisy : numpy.ndarray, optional
        An already noisy version of the single clean image, used instead of adding noise.
    keep_images : bool
        Keep the noisy image and the estimates in the result (for montages).
    model : path-like, optional
        The learned method's model file; ``None``: the shipped models.
    noise : str
        ``"gaussian"`` adds noise of *sigma*; ``"poisson-gaussian"`` adds
        ``gain * Poisson(x / gain) + read_noise * N(0, 1)`` instead (0-255 scale), and adds
        a column per method of ours, ``ours_poisson`` and ``learned_poisson``
        (``denoise(noise="poisson-gaussian")``, parameters fitted); the other columns get
        the noise's mean standard deviation over the image as sigma.
    gain, read_noise : float
        The Poisson-Gaussian noise added, 0-255 scale.
    black_level : float
        With Poisson-Gaussian noise: a camera's offset added to every noisy pixel (0-255
        scale), which ``ours_poisson`` and ``learned_poisson`` fit where the image shows it.
        Every method denoises the offset image; the offset is taken off its result (and off
        the noisy image) before it is scored and kept.

    Returns
    -------
    Comparison
        Scores per image and method (PSNR and SSIM with data range 1 on the unit scale,
        seconds of wall time).

    Raises
    ------
    ValueError
        If *noisy* is given with more than one clean image, shapes disagree, *sigma* is
        negative, or a black level is given without Poisson-Gaussian noise.

    Notes
    -----
    Cost: every method's cost on every image; scikit-image's fast mode dominates.
    """
    from skimage.metrics import structural_similarity

    photons = noise == "poisson-gaussian"
    if noise not in ("gaussian", "poisson-gaussian"):
        raise ValueError(f"unknown noise {noise!r}; known: gaussian, poisson-gaussian")
    if photons and (gain is None or not gain > 0 or not read_noise >= 0 or noisy is not None):
        raise ValueError("poisson-gaussian noise needs a gain > 0, a read noise >= 0 and no "
                         "noisy image")
    if not (np.isfinite(black_level) and black_level >= 0):
        raise ValueError(f"black level must be a finite number >= 0, got {black_level}")
    if black_level and not photons:
        raise ValueError("a black level goes with poisson-gaussian noise")
    if photons:
        sigma = 0.0  # set per image below
    if sigma is None:
        if noisy is None:
            raise ValueError("sigma is needed to add noise")
        sigma = _estimated_sigma_255(noisy)
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if noisy is not None and len(cleans) != 1:
        raise ValueError("a noisy image goes with exactly one clean image")
    methods = comparison_methods(model)
    if photons:
        stabilised = {f"{'ours' if name == 'classic' else name}_poisson":
                      _ours(name, model, stabilised=True) for name in METHODS}
        methods = {**stabilised, **methods}
    _warm_up(methods, cleans[0][1].ndim == 3 if cleans else False)
    streams = np.random.SeedSequence(seed).spawn(len(cleans))
    sigma_unit = sigma / 255.0
    black_unit = np.float32(black_level / 255.0)
    scores = []
    for (name, clean), stream in zip(cleans, streams, strict=True):
        clean = to_unit(clean)
        if photons:
            rng = np.random.default_rng(stream)
            gain_unit, read_unit = gain / 255.0, read_noise / 255.0
            noisy_unit = (gain_unit * rng.poisson(np.maximum(clean, 0) / gain_unit)
                          + rng.normal(0.0, read_unit, clean.shape)).astype(np.float32)
            noisy_unit += black_unit  # denoised as it is, scored and shown without it
            sigma_unit = float(np.sqrt(gain_unit * clean.mean() + read_unit**2))
        elif noisy is None:
            rng = np.random.default_rng(stream)
            noisy_unit = clean + rng.normal(0.0, sigma_unit, clean.shape).astype(np.float32)
        else:
            noisy_unit = to_unit(noisy)
            if noisy_unit.shape != clean.shape:
                raise ValueError(f"{name}: noisy image is {noisy_unit.shape}, clean is "
                                 f"{clean.shape}")
        channel_axis = -1 if clean.ndim == 3 else None
        shown_noisy = noisy_unit - black_unit
        score = ImageScore(name, _psnr(clean, shown_noisy))
        for method, run in methods.items():
            started = time.perf_counter()
            estimate = np.asarray(run(noisy_unit, sigma_unit, channel_axis), np.float32)
            seconds = time.perf_counter() - started
            estimate -= black_unit
            score.methods[method] = {
                "psnr": _psnr(clean, estimate),
                "ssim": float(structural_similarity(clean, estimate, data_range=1.0,
                                                    channel_axis=channel_axis)),
                "seconds": seconds,
            }
            if keep_images:
                score.estimates[method] = estimate
        if keep_images:
            score.noisy = shown_noisy
        scores.append(score)
    described = ({"model": "poisson-gaussian", "gain": gain, "read_noise": read_noise,
                  "black_level": black_level} if photons else None)
    return Comparison(sigma, seed if noisy is None else None, scores, described)


def _warm_up(methods: dict[str, Denoiser], colour: bool) -> None:
    """Load kernels and libraries before anything is timed."""
    shape = (24, 24, 3) if colour else (24, 24)
    tiny = np.full(shape, 0.5, np.float32)
    for run in methods.values():
        run(tiny, 0.1, -1 if colour else None)


def _estimated_sigma_255(noisy: np.ndarray) -> float:
    noisy = np.asarray(noisy)
    return 255.0 * estimate_noise(to_unit(noisy), channel_axis=-1 if noisy.ndim == 3 else None)


def _psnr(clean: np.ndarray, estimate: np.ndarray) -> float:
    from skimage.metrics import peak_signal_noise_ratio

    return float(peak_signal_noise_ratio(clean, estimate, data_range=1.0))
