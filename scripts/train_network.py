"""The prototype trainer of issue 16: the network of ``nlm train``, in JAX, as a script.

It made the sigma-25 start that the shipped networks are fine-tuned from
(``scripts/checkpoints/prototype-sigma25.npz``: 7750 steps, resumed once at step 5000 with
fresh Adam moments). ``nlm train`` (``nlmeans_cli.methods.training``) runs the same network,
data split, crops, noise and schedule, with every affinity and without the block; use it
for new models. This script writes plain ``.npz`` checkpoints (no pickle) that it resumes
from.

Architecture (grey, noise predicted, DnCNN-style residual learning):
conv3x3(1->F)+ReLU, ``--before`` x [conv3x3(F->F)+ReLU], one non-local block in Wang et al.'s
residual form ``z = x + W_z y`` with ``theta, phi, g`` 1x1 convolutions (F->K) and the
embedded-Gaussian affinity ``exp(theta^T phi)`` normalised over a ``--window`` search window
(as NLRN, never the whole image), ``--after`` x [conv3x3(F->F)+ReLU], conv3x3(F->1).

Run: ``python scripts/train_network.py --sigma 25 --out models/network_s25.npz`` (needs jax
and optax: ``pip install 'jax[cpu]' optax``). Logs to stdout; checkpoints every
``--every`` steps and at the end.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "train400"


def load(split: str) -> list[np.ndarray]:
    """Return train400's training images (9 of 10) or its validation split (every 10th)."""
    import imageio.v3 as iio

    files = sorted(DATA.glob("*.png"))
    chosen = files[9::10] if split == "val" else [f for k, f in enumerate(files) if k % 10 != 9]
    return [iio.imread(f).astype(np.float32) / 255.0 for f in chosen]


def init(rng: np.random.Generator, features: int, embed: int, before: int, after: int) -> dict:
    """Return He-initialised parameters; the non-local block starts as the identity."""
    def conv(cin, cout, size=3):
        scale = np.sqrt(2.0 / (cin * size * size))
        return {"w": (rng.normal(0, scale, (size, size, cin, cout))).astype(np.float32),
                "b": np.zeros(cout, np.float32)}

    params = {"stem": conv(1, features), "head": conv(features, 1)}
    params["head"]["w"] *= 0.1
    for k in range(before):
        params[f"before{k}"] = conv(features, features)
    for k in range(after):
        params[f"after{k}"] = conv(features, features)
    params["theta"] = conv(features, embed, 1)
    params["phi"] = conv(features, embed, 1)
    params["g"] = conv(features, embed, 1)
    params["wz"] = conv(embed, features, 1)
    params["wz"]["w"] *= 0.0  # the block starts as the identity (Wang et al.)
    return params


def forward(params: dict, noisy, window: int, before: int, after: int):
    """Return the estimate for a batch ``(B, H, W, 1)``: the input minus the predicted noise."""
    import jax
    import jax.numpy as jnp

    def conv(x, p):
        y = jax.lax.conv_general_dilated(x, p["w"], (1, 1), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return y + p["b"]

    x = jax.nn.relu(conv(noisy, params["stem"]))
    for k in range(before):
        x = jax.nn.relu(conv(x, params[f"before{k}"]))
    theta, phi, g = conv(x, params["theta"]), conv(x, params["phi"]), conv(x, params["g"])
    r = window // 2
    phi_p = jnp.pad(phi, ((0, 0), (r, r), (r, r), (0, 0)), mode="reflect")
    g_p = jnp.pad(g, ((0, 0), (r, r), (r, r), (0, 0)), mode="reflect")
    height, width = noisy.shape[1], noisy.shape[2]
    logits, values = [], []
    for dy in range(window):
        for dx in range(window):
            shifted = jax.lax.dynamic_slice(phi_p, (0, dy, dx, 0),
                                            (phi.shape[0], height, width, phi.shape[3]))
            logits.append(jnp.sum(theta * shifted, axis=-1))
            values.append(jax.lax.dynamic_slice(g_p, (0, dy, dx, 0),
                                                (g.shape[0], height, width, g.shape[3])))
    weights = jax.nn.softmax(jnp.stack(logits, axis=-1), axis=-1)  # C = sum_j exp(.)
    y = jnp.einsum("bhwo,obhwk->bhwk", weights, jnp.stack(values))
    x = x + conv(y, params["wz"])
    for k in range(after):
        x = jax.nn.relu(conv(x, params[f"after{k}"]))
    return noisy - conv(x, params["head"])


def flatten(params: dict) -> dict:
    """Return the parameters as ``{"layer/name": array}`` for ``np.savez``."""
    return {f"{layer}/{name}": np.asarray(value) for layer, entry in params.items()
            for name, value in entry.items()}


def unflatten(arrays) -> dict:
    """Undo :func:`flatten` from an opened ``.npz``."""
    params: dict = {}
    for key in arrays.files:
        layer, name = key.split("/")
        params.setdefault(layer, {})[name] = np.asarray(arrays[key])
    return params


def main() -> None:
    """Train, or resume, and checkpoint."""
    import jax
    import jax.numpy as jnp
    import optax

    parser = argparse.ArgumentParser()
    parser.add_argument("--sigma", type=float, default=25.0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--embed", type=int, default=16)
    parser.add_argument("--before", type=int, default=3)
    parser.add_argument("--after", type=int, default=3)
    parser.add_argument("--window", type=int, default=9)
    parser.add_argument("--crop", type=int, default=40)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=100000)
    parser.add_argument("--every", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", type=Path, help="start from this model's weights (fine-tune)")
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()

    train, val = load("train"), load("val")
    rng = np.random.default_rng(args.seed)
    step0 = 0
    if args.out.exists():
        with np.load(args.out, allow_pickle=False) as saved:
            params = unflatten(saved)
            step0 = int(saved["meta/step"]) if "meta/step" in saved.files else 0
        params.pop("meta", None)
        rng = np.random.default_rng([args.seed, step0])
        print(f"resuming at step {step0}", flush=True)
    elif args.init is not None:
        with np.load(args.init, allow_pickle=False) as saved:
            params = unflatten(saved)
        params.pop("meta", None)
    else:
        params = init(rng, args.features, args.embed, args.before, args.after)
    params = jax.tree_util.tree_map(jnp.asarray, params)
    schedule = optax.cosine_decay_schedule(args.lr, args.steps, alpha=0.05)
    optimiser = optax.adam(lambda count: schedule(count + step0))
    state = optimiser.init(params)
    sigma = args.sigma / 255.0

    def loss(p, noisy, clean):
        return jnp.mean((forward(p, noisy, args.window, args.before, args.after) - clean) ** 2)

    @jax.jit
    def step(p, s, noisy, clean):
        value, grads = jax.value_and_grad(loss)(p, noisy, clean)
        updates, s = optimiser.update(grads, s, p)
        return optax.apply_updates(p, updates), s, value

    predict = jax.jit(lambda p, x: forward(p, x, args.window, args.before, args.after))

    def batch():
        crops = []
        for _ in range(args.batch):
            image = train[rng.integers(len(train))]
            top = rng.integers(image.shape[0] - args.crop + 1)
            left = rng.integers(image.shape[1] - args.crop + 1)
            crop = image[top:top + args.crop, left:left + args.crop]
            crop = np.rot90(crop, rng.integers(4))
            crops.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
        clean = np.stack(crops)[..., None]
        return (clean + rng.normal(0, sigma, clean.shape)).astype(np.float32), clean

    val_rng = np.random.default_rng(1234)
    val_noisy = [(v + val_rng.normal(0, sigma, v.shape)).astype(np.float32) for v in val[:8]]

    def validate(p):
        scores = []
        for clean, noisy in zip(val[:8], val_noisy, strict=True):
            out = np.asarray(predict(p, noisy[None, :, :, None]))[0, :, :, 0]
            scores.append(10 * np.log10(1.0 / np.mean((np.clip(out, 0, 1) - clean) ** 2)))
        return float(np.mean(scores))

    def save(p, at):
        arrays = flatten(jax.tree_util.tree_map(np.asarray, p))
        arrays["meta/step"] = np.array(at)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        partial = args.out.with_suffix(".partial.npz")
        np.savez(partial, **arrays)
        partial.replace(args.out)

    started = time.perf_counter()
    running = None
    for k in range(step0, args.steps):
        noisy, clean = batch()
        params, state, value = step(params, state, noisy, clean)
        running = float(value) if running is None else 0.98 * running + 0.02 * float(value)
        if (k + 1) % args.every == 0 or k + 1 == args.steps:
            save(params, k + 1)
            psnr = validate(params)
            print(f"step {k + 1} loss {running:.6f} val psnr {psnr:.2f} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
