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
from pathlib import Path

import numpy as np

from ..formulation import AFFINITIES, PRODUCT, SQUARED_DIFFERENCE, SUM, lookup
from ..pixels import OPPONENT
from .model import Model, Stage, apply_model

__all__ = ["TrainingSettings", "guide_patches", "initial_stage", "learning_rate",
           "load_training_images", "stage_loss", "train_model"]

# The offsets' step size relative to the filters'. A filter entry multiplies a whole patch
# (tens of pixels of a few sigma each), an offset only itself: at one step size either the
# filters of the C = N blocks diverge or their offsets barely move.
OFFSET_RATE = 30.0


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
    learning_rate : float or None
        Adam's step size; ``None``: the affinity's (its registry entry's).
    seed : int
        Seeds the crops, the noise and the initialisation.
    colour : bool
        Train on RGB images a model whose embeddings read all three channels.
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
    learning_rate: float | None = None
    seed: int = 0
    colour: bool = False


def learning_rate(settings: TrainingSettings) -> float:
    """Return the step size *settings* train with: theirs, or their affinity's default."""
    if settings.learning_rate is not None:
        return settings.learning_rate
    return lookup(AFFINITIES, settings.affinity, "affinity").learning_rate


def initial_stage(affinity: str, patches: np.ndarray, *, features: int, patch_size: int,
                  search_window: int, h: float = 0.7, noise: float = 1.0) -> Stage:
    """Start a stage as NL-means on the leading principal components of the patches.

    Parameters
    ----------
    affinity : str
        The affinity.
    patches : numpy.ndarray
        ``(n, C * patch_size**2)`` sample patches of the guide (channel-major), in units of
        sigma; ``C`` is 1 for grey and 3 for a colour model.
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
        ``theta`` (and ``phi``) the top-K principal directions scaled by ``1 / (h sqrt(D))``
        for ``D = C * patch_size**2``, ``g`` the centre pixel; for the Gaussian affinity a
        bias of the expected noise distance ``2 K / (D h^2)``. Residual affinities start as
        the identity (``g = 0``); offsets start at zero (concatenation's at a small positive
        value, so that its ReLU starts active).
    """
    spec = lookup(AFFINITIES, affinity, "affinity")
    size = patches.shape[1]
    channels = size // (patch_size * patch_size)
    if channels * patch_size * patch_size != size:
        raise ValueError(f"patches of {size} values are not C x {patch_size} x {patch_size}")
    if spec.statistic == SUM:
        # w^T [theta, phi] is one number per side: one feature.
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
    bias = 2.0 * features * noise**2 / (size * h * h) if spec.statistic == SQUARED_DIFFERENCE \
        else 0.0
    shape = (features, channels, patch_size, patch_size)
    phi = None if spec.symmetric else theta.reshape(shape).copy()
    if spec.statistic == SUM:
        # The patch mean, small and positive for non-negative images, so that the affinity
        # starts where the offsets put it.
        theta = np.full((1, size), 0.1 / size)
        phi = theta.reshape(shape).copy()
    else:
        theta = theta * spec.initial_scale
        phi = None if phi is None else phi * spec.initial_scale
    offset = np.full(features, spec.initial_offset)
    return Stage(affinity, theta.reshape(shape), phi, g, bias, search_window // 2,
                 theta_offset=offset, phi_offset=None if phi is None else offset.copy())


def _patches(images: np.ndarray, size: int) -> np.ndarray:
    """``(B, C, rows, cols, size*size)`` views of every valid patch of ``(B, C, H, W)``."""
    view = np.lib.stride_tricks.sliding_window_view(images, (size, size), axis=(2, 3))
    return view.reshape(*view.shape[:4], size * size)


def guide_patches(guide: np.ndarray, size: int) -> np.ndarray:
    """Return ``(B, rows, cols, C*size*size)``: each valid position's patch over all channels.

    Parameters
    ----------
    guide : numpy.ndarray
        ``(B, C, H, W)`` crops.
    size : int
        The patch side.

    Returns
    -------
    numpy.ndarray
        A view where possible.
    """
    patches = np.moveaxis(_patches(guide, size), 1, 3)
    return patches.reshape(*patches.shape[:3], -1)


def stage_loss(stage: Stage, guide: np.ndarray, noisy: np.ndarray, clean: np.ndarray,
               *, gradient: bool = True):
    """Mean squared error of one stage on crops, and its gradient.

    Parameters
    ----------
    stage : Stage
        The parameters.
    guide, noisy, clean : numpy.ndarray
        Crops in units of sigma (colour in the opponent space of
        :data:`~nlmeans_cli.learned.OPPONENT`): the image the affinities read
        ``(B, C_guide, H, W)``, and the noisy image ``g`` reads and the target, both
        ``(B, C, H, W)``. ``(B, H, W)`` arrays are taken as one channel.

    Returns
    -------
    loss : float
        Mean over the valid positions (those ``patch // 2 + search // 2`` away from the crop's
        edges) and channels of ``(z - clean)^2``.
    estimate : numpy.ndarray
        ``z`` on the valid positions, ``(B, C, rows, cols)`` (``(B, rows, cols)`` for
        3-D input).
    grads : dict
        ``theta``, ``phi`` (when separate), ``g``, ``bias`` and the offsets; only if
        *gradient*.

    Raises
    ------
    ValueError
        If the guide's channels are not the stage's, ``g`` and ``theta`` differ in patch
        size, or the crops are smaller than a patch and a window.

    Notes
    -----
    Cost ``O(B * N * S * (K + C))``; memory ``B * N * S * (K + C + 2)`` floats for ``S``
    window positions.
    """
    flat = noisy.ndim == 3
    guide, noisy, clean = (np.asarray(a, np.float64)[:, np.newaxis] if a.ndim == 3 else a
                           for a in (guide, noisy, clean))
    spec = lookup(AFFINITIES, stage.affinity, "affinity")
    k, channels, p, _ = stage.theta.shape
    if guide.shape[1] != channels:
        raise ValueError(f"the stage reads {channels} guide channels, got {guide.shape[1]}")
    if stage.g.shape[0] != p:
        raise ValueError("training needs g and theta of one patch size")
    s = stage.search_radius
    size = 2 * s + 1
    guide_rows = guide_patches(guide, p)  # (B, H', W', C_guide * D)
    noisy_patches = _patches(noisy, p)  # (B, C, H', W', D)
    a_matrix = stage.theta.reshape(k, -1)
    b_matrix = a_matrix if stage.phi is None else stage.phi.reshape(k, -1)
    theta = guide_rows @ a_matrix.T + stage.theta_offset  # (B, H', W', K)
    phi = theta if stage.phi is None else guide_rows @ b_matrix.T + stage.phi_offset
    g = noisy_patches @ stage.g.reshape(-1) + stage.g_offset  # (B, C, H', W')
    rows, cols = theta.shape[1] - 2 * s, theta.shape[2] - 2 * s
    if rows < 1 or cols < 1:
        raise ValueError("crops too small for the patch and window")
    offsets = [(a, b) for a in range(size) for b in range(size)]

    theta_c = theta[:, s : s + rows, s : s + cols]
    phi_t = np.stack([phi[:, a : a + rows, b : b + cols] for a, b in offsets])  # (S,B,r,c,K)
    g_t = np.stack([g[:, :, a : a + rows, b : b + cols] for a, b in offsets])  # (S,B,C,r,c)
    inner = (slice(None), slice(None), slice(p // 2 + s, p // 2 + s + rows),
             slice(p // 2 + s, p // 2 + s + cols))
    target = clean[inner]
    n_positions = len(offsets)

    if spec.statistic == SQUARED_DIFFERENCE:
        difference = theta_c[np.newaxis] - phi_t
        distance = np.einsum("sbijk,sbijk->sbij", difference, difference)
        active = distance > stage.bias
        logits = -np.where(active, distance - stage.bias, 0.0)
    elif spec.statistic == PRODUCT:
        logits = np.einsum("bijk,sbijk->sbij", theta_c, phi_t)
    else:  # concatenation: ReLU(theta_i + phi_j), one feature each
        pre = theta_c[np.newaxis, ..., 0] + phi_t[..., 0]
        logits = np.maximum(pre, 0.0)

    if spec.normaliser == "sum":
        peak = logits.max(axis=0)
        weights = np.exp(logits - peak)
        weights /= weights.sum(axis=0)
        estimate = np.einsum("sbij,sbcij->bcij", weights, g_t)
    else:
        weights = logits / n_positions
        if guide.shape[1] != noisy.shape[1]:
            raise ValueError("a residual stage needs a guide with the image's channels")
        # The block's input is its guide: the noisy image, or the previous stage's estimate.
        estimate = guide[inner] + np.einsum("sbij,sbcij->bcij", weights, g_t)
    error = estimate - target
    loss = float(np.mean(error**2))
    shown = estimate[:, 0] if flat else estimate
    if not gradient:
        return loss, shown, {}

    d_estimate = 2.0 * error / error.size
    d_g_t = weights[:, :, np.newaxis] * d_estimate[np.newaxis]
    if spec.normaliser == "sum":
        d_logits = weights * np.einsum("bcij,sbcij->sbij", d_estimate,
                                       g_t - estimate[np.newaxis])
    else:
        d_logits = np.einsum("bcij,sbcij->sbij", d_estimate, g_t) / n_positions

    d_theta_c = np.zeros_like(theta_c)
    d_phi_t = None
    d_bias = 0.0
    if spec.statistic == SQUARED_DIFFERENCE:
        d_distance = np.where(active, -d_logits, 0.0)
        d_bias = float(np.sum(np.where(active, d_logits, 0.0)))
        scaled = 2.0 * d_distance[..., np.newaxis] * difference
        d_theta_c = scaled.sum(axis=0)
        d_phi_t = -scaled
    elif spec.statistic == PRODUCT:
        d_theta_c = np.einsum("sbij,sbijk->bijk", d_logits, phi_t)
        d_phi_t = d_logits[..., np.newaxis] * theta_c[np.newaxis]
    else:
        d_pre = np.where(pre > 0, d_logits, 0.0)
        d_theta_c[..., 0] = d_pre.sum(axis=0)
        d_phi_t = d_pre[..., np.newaxis]

    d_theta = np.zeros_like(theta)
    d_theta[:, s : s + rows, s : s + cols] += d_theta_c
    d_phi = d_theta if stage.phi is None else np.zeros_like(phi)
    d_g = np.zeros_like(g)
    for t, (a, b) in enumerate(offsets):
        d_phi[:, a : a + rows, b : b + cols] += d_phi_t[t]
        d_g[:, :, a : a + rows, b : b + cols] += d_g_t[t]
    grads = {
        "theta": np.einsum("bijk,bijd->kd", d_theta, guide_rows).reshape(stage.theta.shape),
        "g": np.einsum("bcij,bcijd->d", d_g, noisy_patches).reshape(stage.g.shape),
        "bias": d_bias,
        "theta_offset": d_theta.sum(axis=(0, 1, 2)),
        "g_offset": float(d_g.sum()),
    }
    if stage.phi is not None:
        grads["phi"] = np.einsum("bijk,bijd->kd", d_phi, guide_rows).reshape(
            stage.phi.shape)
        grads["phi_offset"] = d_phi.sum(axis=(0, 1, 2))
    return loss, shown, grads


def _with(stage: Stage, values: dict) -> Stage:
    return Stage(stage.affinity, values["theta"], values.get("phi"), values["g"],
                 float(values["bias"]), stage.search_radius,
                 theta_offset=values["theta_offset"], phi_offset=values.get("phi_offset"),
                 g_offset=float(values["g_offset"]))


def _values(stage: Stage) -> dict:
    values = {"theta": stage.theta, "g": stage.g, "bias": np.float64(stage.bias),
              "theta_offset": stage.theta_offset, "g_offset": np.float64(stage.g_offset)}
    if stage.phi is not None:
        values["phi"] = stage.phi
        values["phi_offset"] = stage.phi_offset
    return values


def train_model(cleans: Sequence[np.ndarray], settings: TrainingSettings, *,
                validation: Sequence[np.ndarray] = (),
                progress: Callable[[int, int, int, float, float | None], None] | None = None,
                info: dict | None = None) -> Model:
    """Train a learned model on clean images.

    Parameters
    ----------
    cleans : sequence of numpy.ndarray
        Clean float images on the unit scale: 2-D grey, or ``(rows, cols, 3)`` RGB when
        ``settings.colour``.
    settings : TrainingSettings
        Sizes, steps, noise level, seed, grey or colour.
    validation : sequence of numpy.ndarray
        Held-back clean images, like *cleans*: after each stage their PSNR (noise drawn from
        the seed) is recorded in the model's ``info``; during training their loss is reported.
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
        If an image is not grey (or, for a colour model, RGB), or none is at least as large
        as a crop.

    Notes
    -----
    Cost per step ``O(batch * crop^2 * S * (K + C))``; deterministic for a seed on one
    machine. A colour model's embeddings read all three (opponent) channels.
    """
    from skimage.metrics import peak_signal_noise_ratio

    rng = np.random.default_rng(settings.seed)
    sigma = settings.sigma / 255.0
    colour = settings.colour

    def planar(image):
        image = np.asarray(image, np.float64)
        if colour:
            if image.ndim != 3 or image.shape[-1] != 3:
                raise ValueError(f"a colour model trains on RGB images, got shape {image.shape}")
            return np.moveaxis(image, -1, 0)
        if image.ndim != 2:
            raise ValueError(f"a grey model trains on 2-D images, got shape {image.shape}")
        return image[np.newaxis]

    def units(image):
        """Planar unit-scale pixels in the space and scale the stages work in."""
        return (np.tensordot(OPPONENT, image, axes=1) if colour else image) / sigma

    cleans = [c for c in map(planar, cleans) if min(c.shape[1:]) >= settings.crop]
    if not cleans:
        raise ValueError(f"no training image is at least {settings.crop} pixels on each side")
    validation = [planar(c) for c in validation]
    # A pool of noisy versions, fixed for the run, so that a later stage's guide (the earlier
    # stages' estimate) is computed once per image on the engine.
    noisy_pool = [c + rng.normal(0, sigma, c.shape) for c in cleans for _ in range(2)]
    clean_pool = [c for c in cleans for _ in range(2)]
    val_noisy = [c + rng.normal(0, sigma, c.shape) for c in validation]
    # (guide, noisy, clean) in the stages' units; the first stage's guide is the noisy image.
    noisy_units = [units(n) for n in noisy_pool]
    val_noisy_units = [units(n) for n in val_noisy]
    train_arrays = (noisy_units, noisy_units, [units(c) for c in clean_pool])
    val_arrays = (val_noisy_units, val_noisy_units, [units(c) for c in validation])
    stages: list[Stage] = []
    record = dict(info or {})
    record["validation_psnr"] = []
    for index in range(settings.stages):
        guides = train_arrays[0]
        sample = _sample_patches(guides, settings.patch_size, rng)
        # The guide's remaining noise, in units of sigma: 1 for the noisy image.
        noise = float(np.sqrt(np.mean([np.mean((g - c) ** 2) for g, c in
                                       zip(guides, train_arrays[2], strict=True)])))
        stage = initial_stage(settings.affinity, sample, features=settings.features,
                              patch_size=settings.patch_size,
                              search_window=settings.search_window, noise=noise)
        stage = _adam(stage, train_arrays, val_arrays if validation else None, settings, rng,
                      index, progress)
        stages.append(stage)
        model = Model(settings.sigma, tuple(stages), record)
        train_arrays = ([units(_estimate(model, n, sigma)) for n in noisy_pool],
                        *train_arrays[1:])
        if validation:
            estimates = [_estimate(model, n, sigma) for n in val_noisy]
            val_arrays = ([units(e) for e in estimates], *val_arrays[1:])
            record["validation_psnr"].append(
                float(np.mean([peak_signal_noise_ratio(c, e, data_range=1.0)
                               for c, e in zip(validation, estimates, strict=True)])))
    return Model(settings.sigma, tuple(stages), record)


def _estimate(model: Model, noisy: np.ndarray, sigma: float) -> np.ndarray:
    """Estimate planar ``(C, rows, cols)`` unit-scale pixels with *model*."""
    planar = noisy.astype(np.float32)[:, :, np.newaxis, :]
    return apply_model(planar, sigma, model)[:, :, 0, :].astype(np.float64)


def _sample_patches(guides, patch_size, rng, count=4000):
    """``(count, C * patch_size**2)`` random patches of planar ``(C, rows, cols)`` guides."""
    rows = []
    for _ in range(count):
        image = guides[rng.integers(len(guides))]
        a = rng.integers(0, image.shape[1] - patch_size + 1)
        b = rng.integers(0, image.shape[2] - patch_size + 1)
        rows.append(image[:, a : a + patch_size, b : b + patch_size].ravel())
    return np.asarray(rows)


def _crops(arrays_list, size, count, rng):
    """Cut the same random crops from several lists of planar images (guide, noisy, clean)."""
    out = [[] for _ in arrays_list]
    n_images = len(arrays_list[0])
    for _ in range(count):
        k = rng.integers(n_images)
        shape = arrays_list[0][k].shape[-2:]
        a = rng.integers(0, shape[0] - size + 1)
        b = rng.integers(0, shape[1] - size + 1)
        for target, arrays in zip(out, arrays_list, strict=True):
            target.append(arrays[k][:, a : a + size, b : b + size])
    return [np.stack(crops) for crops in out]


def _adam(stage, train_arrays, val_arrays, settings, rng, index, progress):
    values = _values(stage)
    moments = {name: np.zeros_like(np.asarray(v, np.float64)) for name, v in values.items()}
    squares = {name: np.zeros_like(np.asarray(v, np.float64)) for name, v in values.items()}
    beta1, beta2, epsilon = 0.9, 0.999, 1e-8
    base_rate = learning_rate(settings)
    val_batch = best = None
    if val_arrays is not None:
        val_batch = _crops(val_arrays, settings.crop * 2, 4,
                           np.random.default_rng(settings.seed + 1000 + index))
        # The stage keeps the parameters with the lowest validation loss seen, its start
        # included: a stage that does not help on held-back images is not made worse by
        # training (a residual block stays the identity, a softmax one NL-means).
        best = (stage_loss(stage, *val_batch, gradient=False)[0], dict(values))
    for step in range(1, settings.steps + 1):
        guide, noisy, clean = _crops(train_arrays, settings.crop, settings.batch, rng)
        loss, _, grads = stage_loss(_with(stage, values), guide, noisy, clean)
        # A cosine decay of the step size settles the last steps.
        rate = base_rate * 0.5 * (1 + np.cos(np.pi * (step - 1) / settings.steps))
        for name, grad in grads.items():
            grad = np.asarray(grad, np.float64)
            moments[name] = beta1 * moments[name] + (1 - beta1) * grad
            squares[name] = beta2 * squares[name] + (1 - beta2) * grad * grad
            corrected = moments[name] / (1 - beta1**step)
            scale = np.sqrt(squares[name] / (1 - beta2**step)) + epsilon
            step_size = rate * (OFFSET_RATE if name.endswith("_offset") else 1.0)
            values[name] = values[name] - step_size * corrected / scale
        values["bias"] = np.float64(max(float(values["bias"]), 0.0))
        val_loss = None
        if val_batch is not None and (step % 25 == 0 or step == settings.steps):
            val_loss, _, _ = stage_loss(_with(stage, values), *val_batch, gradient=False)
            if val_loss < best[0]:
                best = (val_loss, dict(values))
        if progress is not None:
            progress(index, step, settings.steps, loss, val_loss)
    return _with(stage, values if best is None else best[1])


def load_training_images(sources: Sequence[str], *, colour: bool
                         ) -> tuple[list[np.ndarray], list[str]]:
    """Read clean training images from paths, folders, or bundled samples.

    Parameters
    ----------
    sources : sequence of str
        Image files, folders of them, or ``skimage:NAME`` / ``pywt:NAME`` for the sample
        images scikit-image and PyWavelets bundle.
    colour : bool
        Keep RGB (grey images are refused); otherwise colour is converted to grey.

    Returns
    -------
    images : list of numpy.ndarray
        float64 on the unit scale, 2-D or ``(rows, cols, 3)``.
    names : list of str
        Where each came from.

    Raises
    ------
    nlmeans_cli.io.atomic.ImageFileError
        For an unreadable file, an unknown sample, or a grey image when *colour*.
    """
    from ..io.atomic import ImageFileError
    from ..io.folders import find_images
    from ..io.stills import read_picture
    from ..pixels import to_unit

    images, names = [], []
    for source in sources:
        library, _, name = source.partition(":")
        if library in ("skimage", "pywt") and name:
            if library == "skimage":
                from skimage import data as bundle
            else:
                import pywt.data as bundle
            loader = getattr(bundle, name, None)
            if loader is None or name.startswith("_"):
                raise ImageFileError(f"{source}: no bundled sample image called {name!r}")
            pixels = np.asarray(loader())
            unit = pixels / 255.0 if pixels.dtype == np.uint8 else pixels / pixels.max()
            found = [(source, unit)]
        else:
            path = Path(source)
            paths = find_images(path) if path.is_dir() else [path]
            found = [(str(item), to_unit(read_picture(item).pixels)) for item in paths]
        for label, unit in found:
            if colour and (unit.ndim != 3 or unit.shape[-1] < 3):
                raise ImageFileError(f"{label}: a grey image; --colour trains on colour images")
            if colour:
                unit = unit[..., :3]
            elif unit.ndim == 3:
                from skimage.color import rgb2gray

                unit = rgb2gray(unit[..., :3])
            images.append(np.asarray(unit, np.float64))
            names.append(label)
    return images, names
