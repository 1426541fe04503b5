"""Training the learned variant: the non-local block in NumPy, its analytic gradient, Adam.

:func:`stage_loss` evaluates one stage of :mod:`nlmeans_cli.learned` on a batch of crops in
float64, on "valid" positions only (every patch and window inside the crop, so no padding is
involved), and returns the mean squared error and its gradient with respect to every
parameter. It computes exactly the definition the engine evaluates at inference (a test holds
the two equal); the tests hold the gradient to finite differences for every affinity.

:func:`train_model` trains stage after stage: the first stage's guide is the noisy image, a
later stage's guide the previous stages' estimate (computed on the engine and frozen), with
random crops, synthetic Gaussian noise and Adam, deterministically for a given seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .formulation import AFFINITIES, lookup
from .learned import Model, Stage, apply_model

__all__ = ["TrainingSettings", "initial_stage", "stage_loss", "train_model"]

# The names of a stage's trainable arrays, in a fixed order.
PARAMETERS = ("theta", "phi", "g", "bias")


@dataclass(frozen=True)
class TrainingSettings:
    """How ``nlm train`` trains a model.

    Attributes
    ----------
    sigma : float
        Noise level, 0-255 scale.
    affinity : str
        Affinity of every stage.
    stages : int
        Number of stages.
    features : int
        ``K``, the embedding size (1 for concatenation, whose ``w`` folds into the filters).
    patch_size : int
        Side of the patches the embeddings and ``g`` read.
    search_window : int
        Side of the search window.
    steps : int
        Adam steps per stage.
    crop : int
        Side of the random training crops.
    batch : int
        Crops per step.
    learning_rate : float
        Adam's step size.
    seed : int
        Seeds the crops, the noise and the initialisation.
    """

    sigma: float = 25.0
    affinity: str = "gaussian"
    stages: int = 2
    features: int = 8
    patch_size: int = 7
    search_window: int = 15
    steps: int = 300
    crop: int = 64
    batch: int = 4
    learning_rate: float = 0.01
    seed: int = 0


def _shared(affinity: str) -> bool:
    """Whether ``phi = theta`` for this affinity (a symmetric, squared-distance one)."""
    return affinity == "gaussian"


def initial_stage(affinity: str, patches: np.ndarray, *, features: int, patch_size: int,
                  search_window: int, h: float = 0.7, noise: float = 1.0) -> Stage:
    """Start a stage as NL-means on the leading principal components of the patches.

    Parameters
    ----------
    affinity : str
        The affinity.
    patches : numpy.ndarray
        ``(n, patch_size**2)`` sample patches of the guide, in units of sigma.
    features : int
        ``K``.
    patch_size, search_window : int
        Odd sides.
    h : float
        NL-means' filtering parameter in units of the guide's noise, for the Gaussian
        affinities.
    noise : float
        The guide's noise level in units of sigma (1 for the noisy image, less for an
        earlier stage's estimate).

    Returns
    -------
    Stage
        ``theta`` (and ``phi``) the top-K principal directions scaled by ``1 / (h sqrt(D))``,
        ``g`` the centre pixel; for the Gaussian affinity a bias of the expected noise
        distance ``2 K / (D h^2)``. Residual affinities start as the identity (``g = 0``).
    """
    spec = lookup(AFFINITIES, affinity, "affinity")
    size = patch_size * patch_size
    if affinity == "concatenation":
        features = 1
    centred = patches - patches.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    directions = vt[:features]
    # A fixed sign per direction (largest entry positive): the same images give the same start.
    signs = np.sign(directions[np.arange(len(directions)), np.abs(directions).argmax(axis=1)])
    directions = directions * signs[:, np.newaxis]
    h = h * noise
    theta = directions / (h * np.sqrt(size))
    g = np.zeros((patch_size, patch_size))
    if spec.normaliser == "sum":
        g[patch_size // 2, patch_size // 2] = 1.0
    bias = 2.0 * features * noise**2 / (size * h * h) if affinity == "gaussian" else 0.0
    shape = (features, patch_size, patch_size)
    phi = None if _shared(affinity) else theta.reshape(shape).copy()
    if affinity == "concatenation":
        # The patch mean, small and positive for non-negative images: ReLU(theta + phi)
        # starts active (a dead ReLU would pass no gradient).
        theta = np.full((1, size), 0.1 / size)
        phi = theta.reshape(shape).copy()
    elif affinity != "gaussian":
        # Small: a residual block starts near the identity, a softmax near a plain mean
        # (exp(theta^T phi) does not measure similarity until trained).
        theta, phi = theta * 0.1, phi * 0.1
    return Stage(affinity, theta.reshape(shape), phi, g, bias, search_window // 2)


def _patches(images: np.ndarray, size: int) -> np.ndarray:
    """``(B, rows, cols, size*size)`` views of every valid patch."""
    view = np.lib.stride_tricks.sliding_window_view(images, (size, size), axis=(1, 2))
    return view.reshape(*view.shape[:3], size * size)


def stage_loss(stage: Stage, guide: np.ndarray, noisy: np.ndarray, clean: np.ndarray,
               *, gradient: bool = True):
    """Mean squared error of one stage on crops, and its gradient.

    Parameters
    ----------
    stage : Stage
        The parameters.
    guide, noisy, clean : numpy.ndarray
        ``(B, H, W)`` crops in units of sigma: the image the affinities read, the noisy image
        ``g`` reads, and the target.
    gradient : bool
        Also return the gradient.

    Returns
    -------
    loss : float
        Mean over the valid positions (those ``patch // 2 + search // 2`` away from the crop's
        edges) of ``(z - clean)^2``.
    estimate : numpy.ndarray
        ``z`` on the valid positions.
    grads : dict
        ``theta``, ``phi`` (when separate), ``g`` and ``bias``; only if *gradient*.

    Notes
    -----
    Cost ``O(B * N * S * K)``; memory ``B * N * S * (K + 2)`` floats for ``S`` window
    positions.
    """
    spec = lookup(AFFINITIES, stage.affinity, "affinity")
    k, p, _ = stage.theta.shape
    q = stage.g.shape[0]
    if q != p:
        raise ValueError("training needs g and theta of one patch size")
    s = stage.search_radius
    size = 2 * s + 1
    guide_patches = _patches(guide, p)  # (B, H', W', D)
    noisy_patches = _patches(noisy, p)
    a_matrix = stage.theta.reshape(k, -1)
    b_matrix = a_matrix if stage.phi is None else stage.phi.reshape(k, -1)
    theta = guide_patches @ a_matrix.T  # (B, H', W', K)
    phi = theta if stage.phi is None else guide_patches @ b_matrix.T
    g = noisy_patches @ stage.g.reshape(-1)  # (B, H', W')
    rows, cols = theta.shape[1] - 2 * s, theta.shape[2] - 2 * s
    if rows < 1 or cols < 1:
        raise ValueError("crops too small for the patch and window")
    centre = (slice(None), slice(s, s + rows), slice(s, s + cols))
    offsets = [(a, b) for a in range(size) for b in range(size)]

    def shifted(array, offset):
        a, b = offset
        return array[:, a : a + rows, b : b + cols]

    theta_c = theta[centre]
    phi_t = np.stack([shifted(phi, o) for o in offsets])  # (S, B, rows, cols, K)
    g_t = np.stack([shifted(g, o) for o in offsets])  # (S, B, rows, cols)
    half = p // 2
    target = clean[:, half + s : half + s + rows, half + s : half + s + cols]
    noisy_c = noisy[:, half + s : half + s + rows, half + s : half + s + cols]
    n_positions = len(offsets)

    if spec.name == "gaussian":
        difference = theta_c[np.newaxis] - phi_t
        distance = np.einsum("sbijk,sbijk->sbij", difference, difference)
        active = distance > stage.bias
        logits = -np.where(active, distance - stage.bias, 0.0)
    elif spec.name in ("embedded-gaussian", "dot-product"):
        logits = np.einsum("bijk,sbijk->sbij", theta_c, phi_t)
    else:  # concatenation: ReLU(theta_i + phi_j), one feature each
        pre = theta_c[np.newaxis, ..., 0] + phi_t[..., 0]
        logits = np.maximum(pre, 0.0)

    if spec.normaliser == "sum":
        peak = logits.max(axis=0)
        weights = np.exp(logits - peak)
        weights /= weights.sum(axis=0)
        estimate = np.einsum("sbij,sbij->bij", weights, g_t)
    else:
        weights = logits / n_positions
        estimate = noisy_c + np.einsum("sbij,sbij->bij", weights, g_t)
    error = estimate - target
    loss = float(np.mean(error**2))
    if not gradient:
        return loss, estimate, {}

    d_estimate = 2.0 * error / error.size
    if spec.normaliser == "sum":
        d_g_t = weights * d_estimate
        d_logits = weights * d_estimate * (g_t - estimate)
    else:
        d_g_t = weights * d_estimate
        d_logits = g_t * d_estimate / n_positions

    d_theta_c = np.zeros_like(theta_c)
    d_phi_t = None
    d_bias = 0.0
    if spec.name == "gaussian":
        d_distance = np.where(active, -d_logits, 0.0)
        d_bias = float(np.sum(np.where(active, d_logits, 0.0)))
        scaled = 2.0 * d_distance[..., np.newaxis] * difference
        d_theta_c = scaled.sum(axis=0)
        d_phi_t = -scaled
    elif spec.name in ("embedded-gaussian", "dot-product"):
        d_theta_c = np.einsum("sbij,sbijk->bijk", d_logits, phi_t)
        d_phi_t = d_logits[..., np.newaxis] * theta_c[np.newaxis]
    else:
        d_pre = np.where(pre > 0, d_logits, 0.0)
        d_theta_c[..., 0] = d_pre.sum(axis=0)
        d_phi_t = d_pre[..., np.newaxis]

    d_theta = np.zeros_like(theta)
    d_theta[centre] += d_theta_c
    d_phi = d_theta if stage.phi is None else np.zeros_like(phi)
    d_g = np.zeros_like(g)
    for t, (a, b) in enumerate(offsets):
        d_phi[:, a : a + rows, b : b + cols] += d_phi_t[t]
        d_g[:, a : a + rows, b : b + cols] += d_g_t[t]
    grads = {
        "theta": np.einsum("bijk,bijd->kd", d_theta, guide_patches).reshape(stage.theta.shape),
        "g": np.einsum("bij,bijd->d", d_g, noisy_patches).reshape(stage.g.shape),
        "bias": d_bias,
    }
    if stage.phi is not None:
        grads["phi"] = np.einsum("bijk,bijd->kd", d_phi, guide_patches).reshape(
            stage.phi.shape)
    return loss, estimate, grads


def _with(stage: Stage, values: dict) -> Stage:
    return Stage(stage.affinity, values["theta"], values.get("phi"), values["g"],
                 float(values["bias"]), stage.search_radius)


def _values(stage: Stage) -> dict:
    values = {"theta": stage.theta, "g": stage.g, "bias": np.float64(stage.bias)}
    if stage.phi is not None:
        values["phi"] = stage.phi
    return values


def psnr(clean: np.ndarray, estimate: np.ndarray) -> float:
    """PSNR in dB of unit-range images."""
    return float(10 * np.log10(1.0 / np.mean((np.asarray(clean, np.float64) - estimate) ** 2)))


def train_model(cleans: Sequence[np.ndarray], settings: TrainingSettings, *,
                validation: Sequence[np.ndarray] = (),
                progress: Callable[[int, int, int, float, float | None], None] | None = None,
                info: dict | None = None) -> Model:
    """Train a learned model on clean grey images.

    Parameters
    ----------
    cleans : sequence of numpy.ndarray
        Clean 2-D float images on the unit scale (colour converted to grey by the caller).
    settings : TrainingSettings
        Sizes, steps, noise level, seed.
    validation : sequence of numpy.ndarray
        Held-back clean images: after each stage their PSNR (noise drawn from the seed) is
        recorded in the model's ``info``; during training their loss is reported.
    progress : callable, optional
        ``progress(stage, step, steps, training_loss, validation_loss_or_None)``, called after
        every step (the validation loss every 25 steps).
    info : dict, optional
        Stored in the model (the command that trained it, the image names).

    Returns
    -------
    Model

    Raises
    ------
    ValueError
        If no image is at least as large as a crop.

    Notes
    -----
    Cost per step ``O(batch * crop^2 * S * K)``; deterministic for a seed on one machine.
    """
    rng = np.random.default_rng(settings.seed)
    sigma = settings.sigma / 255.0
    cleans = [np.asarray(c, np.float64) for c in cleans if min(c.shape) >= settings.crop]
    if not cleans:
        raise ValueError(f"no training image is at least {settings.crop} pixels on each side")
    # A pool of noisy versions, fixed for the run, so that a later stage's guide (the earlier
    # stages' estimate) is computed once per image on the engine.
    noisy_pool = [c + rng.normal(0, sigma, c.shape) for c in cleans for _ in range(2)]
    clean_pool = [c for c in cleans for _ in range(2)]
    val_noisy = [c + rng.normal(0, sigma, c.shape) for c in validation]
    guides = [n / sigma for n in noisy_pool]
    val_guides = [n / sigma for n in val_noisy]
    stages: list[Stage] = []
    record = dict(info or {})
    record["validation_psnr"] = []
    for index in range(settings.stages):
        sample = _sample_patches(guides, settings.patch_size, rng)
        # The guide's remaining noise, in units of sigma: 1 for the noisy image.
        noise = float(np.sqrt(np.mean([np.mean((g * sigma - c) ** 2) for g, c in
                                       zip(guides, clean_pool, strict=True)]))) / sigma
        stage = initial_stage(settings.affinity, sample, features=settings.features,
                              patch_size=settings.patch_size,
                              search_window=settings.search_window, noise=noise)
        stage = _adam(stage, guides, noisy_pool, clean_pool, sigma, settings, rng, index,
                      val_guides, val_noisy, validation, progress)
        stages.append(stage)
        model = Model(settings.sigma, tuple(stages), record)
        guides = [_estimate(model, n, sigma) / sigma for n in noisy_pool]
        if validation:
            estimates = [_estimate(model, n, sigma) for n in val_noisy]
            val_guides = [e / sigma for e in estimates]
            record["validation_psnr"].append(
                float(np.mean([psnr(c, e) for c, e in zip(validation, estimates, strict=True)])))
    return Model(settings.sigma, tuple(stages), record)


def _estimate(model: Model, noisy: np.ndarray, sigma: float) -> np.ndarray:
    planar = noisy.astype(np.float32)[np.newaxis, :, np.newaxis, :]
    return apply_model(planar, sigma, model)[0, :, 0, :].astype(np.float64)


def _sample_patches(guides, patch_size, rng, count=4000):
    rows = []
    for _ in range(count):
        image = guides[rng.integers(len(guides))]
        a = rng.integers(0, image.shape[0] - patch_size + 1)
        b = rng.integers(0, image.shape[1] - patch_size + 1)
        rows.append(image[a : a + patch_size, b : b + patch_size].ravel())
    return np.asarray(rows)


def _crops(arrays_list, size, count, rng):
    """Cut the same random crops from several lists of images (guide, noisy, clean)."""
    out = [[] for _ in arrays_list]
    n_images = len(arrays_list[0])
    for _ in range(count):
        k = rng.integers(n_images)
        shape = arrays_list[0][k].shape
        a = rng.integers(0, shape[0] - size + 1)
        b = rng.integers(0, shape[1] - size + 1)
        for target, arrays in zip(out, arrays_list, strict=True):
            target.append(arrays[k][a : a + size, b : b + size])
    return [np.stack(crops) for crops in out]


def _adam(stage, guides, noisy_pool, clean_pool, sigma, settings, rng, index, val_guides,
          val_noisy, validation, progress):
    values = _values(stage)
    moments = {name: np.zeros_like(np.asarray(v, np.float64)) for name, v in values.items()}
    squares = {name: np.zeros_like(np.asarray(v, np.float64)) for name, v in values.items()}
    beta1, beta2, epsilon = 0.9, 0.999, 1e-8
    val_batch = None
    if validation:
        val_batch = _crops([val_guides, [n / sigma for n in val_noisy],
                            [c / sigma for c in validation]], settings.crop * 2,
                           4, np.random.default_rng(settings.seed + 1000 + index))
    noisy_units = [n / sigma for n in noisy_pool]
    clean_units = [c / sigma for c in clean_pool]
    for step in range(1, settings.steps + 1):
        guide, noisy, clean = _crops([guides, noisy_units, clean_units], settings.crop,
                                     settings.batch, rng)
        loss, _, grads = stage_loss(_with(stage, values), guide, noisy, clean)
        # A cosine decay of the step size settles the last steps.
        rate = settings.learning_rate * 0.5 * (1 + np.cos(np.pi * (step - 1) / settings.steps))
        for name, grad in grads.items():
            grad = np.asarray(grad, np.float64)
            moments[name] = beta1 * moments[name] + (1 - beta1) * grad
            squares[name] = beta2 * squares[name] + (1 - beta2) * grad * grad
            corrected = moments[name] / (1 - beta1**step)
            scale = np.sqrt(squares[name] / (1 - beta2**step)) + epsilon
            values[name] = values[name] - rate * corrected / scale
        values["bias"] = np.float64(max(float(values["bias"]), 0.0))
        val_loss = None
        if val_batch is not None and (step % 25 == 0 or step == settings.steps):
            val_loss, _, _ = stage_loss(_with(stage, values), *val_batch, gradient=False)
        if progress is not None:
            progress(index, step, settings.steps, loss, val_loss)
    return _with(stage, values)
