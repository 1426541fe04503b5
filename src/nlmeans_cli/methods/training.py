"""Training the learned network with JAX (the optional extra ``train``).

:func:`forward` is the network of :mod:`nlmeans_cli.methods.network` written in JAX: the same
layers, the same non-local block (every affinity of
:data:`~nlmeans_cli.formulation.AFFINITIES` with its paired normaliser, positions outside the
image reflected as the engine reflects them). A test holds it equal to the package's
inference. :func:`train_network` draws random crops of clean images, adds Gaussian noise of
the model's level and minimises the mean squared error with Adam on a cosine schedule;
gradients come from JAX's autodiff. The same settings and seed give the same network.

JAX is imported only here, inside the functions, so that denoising never needs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..formulation import AFFINITIES, PRODUCT, SQUARED_DIFFERENCE, lookup
from .network import Network, count_layers

__all__ = ["TrainingSettings", "check_training_images", "deepened", "forward", "initial_layers",
           "load_training_images", "require_jax", "train_network"]


@dataclass(frozen=True)
class TrainingSettings:
    """How ``nlm train`` trains a network.

    Attributes
    ----------
    sigma : float
        Noise level, 0-255 scale.
    affinity : str
        The non-local block's affinity.
    block : bool
        Whether the network has its non-local block (``False``: the plain CNN of the
        ablation).
    features : int
        ``F``, the feature maps of the convolutions.
    embed : int
        ``K``, the channels of ``theta``, ``phi`` and ``g`` (1 for ``theta`` and ``phi`` of
        the concatenation affinity, whose ``w`` folds into them).
    before, after : int
        3x3 layers between the stem and the block, and between the block and the head.
    window : int
        Odd side of the block's search window.
    steps : int
        Adam steps.
    crop : int
        Side of the random training crops.
    batch : int
        Crops per step.
    learning_rate : float
        Adam's step size at the start of the cosine schedule (it decays to 5 % of it).
    seed : int
        Seeds the start, the crops and the noise.
    every : int
        Steps between validations.
    """

    sigma: float = 25.0
    affinity: str = "embedded-gaussian"
    block: bool = True
    features: int = 32
    embed: int = 16
    before: int = 3
    after: int = 3
    window: int = 9
    steps: int = 12000
    crop: int = 40
    batch: int = 16
    learning_rate: float = 1e-3
    seed: int = 0
    every: int = 250


def require_jax() -> None:
    """Raise ImportError with the install command when JAX or optax is missing."""
    try:
        import jax  # noqa: F401
        import optax  # noqa: F401
    except ImportError:
        raise ImportError("training needs JAX and optax: pip install 'nlmeans_cli[train]'"
                          ) from None


def initial_layers(rng: np.random.Generator, settings: TrainingSettings) -> dict:
    """Return He-initialised layers; the non-local block starts as the identity.

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws the filters.
    settings : TrainingSettings
        The sizes and the affinity.

    Returns
    -------
    dict
        ``{layer: {"w": array, "b": array}}`` as :class:`~nlmeans_cli.methods.network.Network`
        holds them.

    Notes
    -----
    ``W_z`` starts at zero, so the block starts as the identity (Wang et al.); the head
    starts small, so the network starts near the identity map.
    """
    def conv(cin, cout, size=3):
        scale = np.sqrt(2.0 / (cin * size * size))
        return {"w": rng.normal(0, scale, (size, size, cin, cout)).astype(np.float32),
                "b": np.zeros(cout, np.float32)}

    features, embed = settings.features, settings.embed
    layers = {"stem": conv(1, features), "head": conv(features, 1)}
    layers["head"]["w"] *= 0.1
    for k in range(settings.before):
        layers[f"before{k}"] = conv(features, features)
    for k in range(settings.after):
        layers[f"after{k}"] = conv(features, features)
    if settings.block:
        spec = lookup(AFFINITIES, settings.affinity, "affinity")
        pair = embed if spec.statistic in (PRODUCT, SQUARED_DIFFERENCE) else 1
        layers["theta"] = conv(features, pair, 1)
        if not spec.symmetric:
            layers["phi"] = conv(features, pair, 1)
        for name in ("theta", "phi"):
            if name in layers:
                layers[name]["b"] += np.float32(spec.initial_offset)
        layers["g"] = conv(features, embed, 1)
        layers["wz"] = conv(embed, features, 1)
        layers["wz"]["w"] *= 0.0
    return layers


def deepened(layers: dict, settings: TrainingSettings) -> dict:
    """Append identity 3x3 layers until there are ``settings.before`` and ``settings.after``.

    Parameters
    ----------
    layers : dict
        A trained network's layers (a start for fine-tuning).
    settings : TrainingSettings
        How many 3x3 layers the network should have before and after its block.

    Returns
    -------
    dict
        *layers* with ``before<k>`` and ``after<k>`` added up to the settings' counts; a
        start that already has as many or more is returned as it is.

    Notes
    -----
    An added layer passes its input through (the centre tap is the identity matrix, the bias
    zero) and follows a ReLU, so its input is non-negative and its own ReLU changes nothing:
    the deepened network computes exactly what the start did, and training goes on from there
    ("Net2DeeperNet", Chen, Goodfellow and Shlens, ICLR 2016).
    """
    features = layers["stem"]["w"].shape[3]
    identity = np.zeros((3, 3, features, features), np.float32)
    identity[1, 1] = np.eye(features, dtype=np.float32)
    for part, wanted in (("before", settings.before), ("after", settings.after)):
        for k in range(count_layers(layers, part), wanted):
            layers[f"{part}{k}"] = {"w": identity.copy(), "b": np.zeros(features, np.float32)}
    return layers


def forward(layers: dict, noisy, *, affinity: str, window: int):
    """Evaluate the network on a batch ``(B, H, W, 1)`` in JAX: the input minus the noise.

    Parameters
    ----------
    layers : dict
        As :func:`initial_layers` returns (JAX or NumPy arrays).
    noisy : array
        ``(B, H, W, 1)`` images at the network's noise level.
    affinity : str
        The block's affinity; its normaliser is the registry's pairing.
    window : int
        Odd side of the search window.

    Returns
    -------
    jax.Array
        ``(B, H, W, 1)``.

    Notes
    -----
    The block visits the ``window^2`` offsets one by one, as the engine does; its memory is
    that of ``window^2`` shifted value maps, kept for the gradient.
    """
    import jax

    def conv(x, name):
        y = jax.lax.conv_general_dilated(x, layers[name]["w"], (1, 1), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return y + layers[name]["b"]

    x = jax.nn.relu(conv(noisy, "stem"))
    for k in range(count_layers(layers, "before")):
        x = jax.nn.relu(conv(x, f"before{k}"))
    if "theta" in layers:
        x = x + conv(_block(conv, x, affinity, window), "wz")
    for k in range(count_layers(layers, "after")):
        x = jax.nn.relu(conv(x, f"after{k}"))
    return noisy - conv(x, "head")


def _block(conv, x, affinity: str, window: int):
    """Evaluate ``y_i = 1/C sum_j f(theta_i, phi_j) g_j`` over the search window."""
    import jax
    import jax.numpy as jnp

    spec = lookup(AFFINITIES, affinity, "affinity")
    theta = conv(x, "theta")
    phi = theta if spec.symmetric else conv(x, "phi")
    g = conv(x, "g")
    r = window // 2
    height, width = x.shape[1], x.shape[2]

    def padded(maps):
        return jnp.pad(maps, ((0, 0), (r, r), (r, r), (0, 0)), mode="reflect")

    def shifted(maps, dy, dx):
        return maps[:, dy:dy + height, dx:dx + width, :]

    phi, g = padded(phi), padded(g)
    statistics, values = [], []
    for dy in range(window):
        for dx in range(window):
            other = shifted(phi, dy, dx)
            if spec.statistic == SQUARED_DIFFERENCE:
                statistic = jnp.sum((theta - other) ** 2, axis=-1)
            elif spec.statistic == PRODUCT:
                statistic = jnp.sum(theta * other, axis=-1)
            else:
                statistic = theta[..., 0] + other[..., 0]
            statistics.append(statistic)
            values.append(shifted(g, dy, dx))
    statistics = jnp.stack(statistics, axis=-1)
    if spec.name == "gaussian":
        weights = jax.nn.softmax(-statistics, axis=-1)
    elif spec.name == "embedded-gaussian":
        weights = jax.nn.softmax(statistics, axis=-1)
    elif spec.name == "dot-product":
        weights = statistics / statistics.shape[-1]
    else:
        weights = jax.nn.relu(statistics) / statistics.shape[-1]
    return jnp.einsum("bhwo,obhwk->bhwk", weights, jnp.stack(values))


def train_network(cleans: Sequence[np.ndarray], settings: TrainingSettings, *,
                  validation: Sequence[np.ndarray] = (),
                  progress: Callable[[int, int, float, float | None], None] | None = None,
                  info: dict | None = None, start: Network | None = None,
                  checkpoint: Callable[[Network], None] | None = None) -> Network:
    """Train a network on clean grey images.

    Parameters
    ----------
    cleans : sequence of numpy.ndarray
        Clean 2-D float images on the unit scale, at least ``settings.crop`` on each side.
    settings : TrainingSettings
        Sizes, steps, noise level, seed.
    validation : sequence of numpy.ndarray
        Held-back clean images: every ``settings.every`` steps and at the end, their mean PSNR
        (noise drawn from the seed) is reported; the last is stored in the network's
        ``info``.
    progress : callable, optional
        ``progress(step, steps, training_loss, validation_psnr_or_None)``, after every step.
    info : dict, optional
        Stored in the network (the command that trained it, the image names).
    start : Network, optional
        Start from these layers instead of a random start (fine-tuning another noise level);
        with fewer 3x3 layers than the settings ask for, identity layers are added
        (:func:`deepened`).
    checkpoint : callable, optional
        ``checkpoint(network)`` every ``settings.every`` steps, with the network so far (its
        ``info["steps_done"]`` says how far), so that a long run can be taken up again with
        *start*.

    Returns
    -------
    Network

    Raises
    ------
    ValueError
        If an image is not 2-D, none is as large as a crop, or *start* does not have the
        settings' affinity and window.
    ImportError
        Without JAX and optax.

    Notes
    -----
    Cost per step: the forward and backward passes on ``batch`` crops, about
    ``3 * batch * crop^2 * (9 F^2 L + K window^2)`` multiply-adds for ``L`` 3x3 layers; the
    default settings take about 0.4 s per step on two cores. Deterministic for a seed on one
    machine.
    """
    require_jax()
    import jax
    import jax.numpy as jnp
    import optax
    from skimage.metrics import peak_signal_noise_ratio

    check_training_images(cleans, validation, settings)
    pool = [np.asarray(c, np.float32) for c in cleans if min(np.shape(c)) >= settings.crop]
    rng = np.random.default_rng(settings.seed)
    if start is None:
        layers = initial_layers(rng, settings)
    else:
        if start.affinity != settings.affinity or start.window != settings.window:
            raise ValueError(f"the starting network has affinity {start.affinity} and window "
                             f"{start.window}; the settings ask for {settings.affinity} and "
                             f"{settings.window}")
        layers = deepened({name: dict(entry) for name, entry in start.layers.items()},
                          settings)
    params = jax.tree_util.tree_map(jnp.asarray, layers)
    schedule = optax.cosine_decay_schedule(settings.learning_rate, settings.steps, alpha=0.05)
    optimiser = optax.adam(schedule)
    state = optimiser.init(params)
    sigma = settings.sigma / 255.0

    def predict(p, noisy):
        return forward(p, noisy, affinity=settings.affinity, window=settings.window)

    def loss(p, noisy, clean):
        return jnp.mean((predict(p, noisy) - clean) ** 2)

    @jax.jit
    def step(p, s, noisy, clean):
        value, grads = jax.value_and_grad(loss)(p, noisy, clean)
        updates, s = optimiser.update(grads, s, p)
        return optax.apply_updates(p, updates), s, value

    estimate = jax.jit(predict)

    def batch():
        crops = []
        for _ in range(settings.batch):
            image = pool[rng.integers(len(pool))]
            top = rng.integers(image.shape[0] - settings.crop + 1)
            left = rng.integers(image.shape[1] - settings.crop + 1)
            crop = np.rot90(image[top:top + settings.crop, left:left + settings.crop],
                            rng.integers(4))
            crops.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
        clean = np.stack(crops)[..., np.newaxis]
        return (clean + rng.normal(0, sigma, clean.shape)).astype(np.float32), clean

    val_rng = np.random.default_rng([settings.seed, 1])
    val_clean = [np.asarray(v, np.float32) for v in validation]
    val_noisy = [(v + val_rng.normal(0, sigma, v.shape)).astype(np.float32) for v in val_clean]

    def validate(p) -> float:
        scores = []
        for clean, noisy in zip(val_clean, val_noisy, strict=True):
            out = np.asarray(estimate(p, noisy[None, :, :, None]))[0, :, :, 0]
            scores.append(peak_signal_noise_ratio(clean, np.clip(out, 0, 1), data_range=1))
        return float(np.mean(scores))

    record = dict(info or {})
    record["settings"] = asdict(settings)

    def network_now(steps_done: int) -> Network:
        trained = {name: {key: np.asarray(value, np.float32) for key, value in entry.items()}
                   for name, entry in jax.tree_util.tree_map(np.asarray, params).items()}
        return Network(trained, settings.window, settings.affinity, settings.sigma,
                       {**record, "steps_done": steps_done})

    started = time.perf_counter()
    running = None
    psnr = None
    for k in range(settings.steps):
        noisy, clean = batch()
        params, state, value = step(params, state, noisy, clean)
        value = float(value)
        running = value if running is None else 0.98 * running + 0.02 * value
        reported = None
        if val_clean and ((k + 1) % settings.every == 0 or k + 1 == settings.steps):
            psnr = reported = validate(params)
        if checkpoint is not None and (k + 1) % settings.every == 0 and k + 1 < settings.steps:
            if psnr is not None:
                record["validation_psnr"] = round(psnr, 3)
            record["training_seconds"] = round(time.perf_counter() - started, 1)
            checkpoint(network_now(k + 1))
        if progress is not None:
            progress(k + 1, settings.steps, running, reported)
    if psnr is not None:
        record["validation_psnr"] = round(psnr, 3)
    record["training_seconds"] = round(time.perf_counter() - started, 1)
    return network_now(settings.steps)


def check_training_images(cleans: Sequence[np.ndarray], validation: Sequence[np.ndarray],
                          settings: TrainingSettings) -> None:
    """Check that :func:`train_network` can train on *cleans*, before any work.

    Parameters
    ----------
    cleans, validation : sequence of numpy.ndarray
        The training and validation images.
    settings : TrainingSettings
        The crop size the training images must reach.

    Raises
    ------
    ValueError
        For an image that is not 2-D, or when no training image holds a crop.

    Notes
    -----
    Cost: ``O(1)`` per image (shapes only).
    """
    for image in [*cleans, *validation]:
        if np.ndim(image) != 2:
            raise ValueError(f"the network trains on grey 2-D images, got shape "
                             f"{np.shape(image)}")
    if not cleans:
        raise ValueError("no training images")
    if not any(min(np.shape(c)) >= settings.crop for c in cleans):
        largest = max(cleans, key=lambda c: min(np.shape(c)))
        raise ValueError(f"no training image is at least {settings.crop} pixels on each side "
                         f"(the largest is {largest.shape[1]}x{largest.shape[0]}; lower "
                         "--crop)")


def load_training_images(sources: Sequence[str], *, hold_out_every: int = 0
                         ) -> tuple[list[np.ndarray], list[str], list[np.ndarray], list[str]]:
    """Read clean grey training images from paths, folders, or bundled samples.

    Parameters
    ----------
    sources : sequence of str
        Image files, folders of them, or ``skimage:NAME`` / ``pywt:NAME`` for the sample
        images scikit-image and PyWavelets bundle. Colour is converted to grey.
    hold_out_every : int
        When positive, every ``n``-th image (the ``n``-th, ``2n``-th, ... in the order read;
        folders are read in sorted order) is held back for validation.

    Returns
    -------
    images, names : list
        The training images (float64, unit scale) and where each came from.
    held, held_names : list
        The held-back images and their names.

    Raises
    ------
    nlmeans_cli.io.atomic.ImageFileError
        For an unreadable file, a folder without images or an unknown sample.
    """
    from ..io.atomic import ImageFileError
    from ..io.folders import find_images
    from ..io.stills import read_picture
    from ..scales import to_unit

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
            paths = sorted(find_images(path)) if path.is_dir() else [path]
            if not paths:
                raise ImageFileError(f"{path}: no images in this folder")
            found = [(str(item), to_unit(read_picture(item).pixels)) for item in paths]
        for label, unit in found:
            if unit.ndim == 3:
                from skimage.color import rgb2gray

                unit = rgb2gray(unit[..., :3])
            images.append(np.asarray(unit, np.float64))
            names.append(label)
    if hold_out_every <= 0:
        return images, names, [], []
    held = [k for k in range(len(images)) if k % hold_out_every == hold_out_every - 1]
    kept = [k for k in range(len(images)) if k % hold_out_every != hold_out_every - 1]
    return ([images[k] for k in kept], [names[k] for k in kept],
            [images[k] for k in held], [names[k] for k in held])
