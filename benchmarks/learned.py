"""The learned variant against the classic engine (and BM3D): PSNR, time, affinity ablation.

Test images, never trained or tuned on: the grey photographs of ``benchmarks/quality.py``
(camera, moon, coins, brick, grass, gravel; 256x256 centre crops) and, for colour, scikit-image's
motorcycle_left, ihc (immunohistochemistry) and retina (256x256 crops). Gaussian noise added in
float with a fixed seed; every method is given sigma.

1. Ablation: for sigma 15, 25, 50, grey and colour, the mean PSNR of every shipped affinity's
   model with its first stage only and with both stages, next to the classic engine and (at
   sigma 25, when the ``bm3d`` package is installed) BM3D.
2. Noise levels between and beyond the shipped ones (5 to 75): the default (gaussian) model
   nearest in log sigma against the classic engine.
3. Time: the default model against the classic engine on the same images, as a ratio, at
   256x256 and on a 1024x1024 grey mosaic.

Results go to ``benchmarks/results/learned.{md,json}``.

    python benchmarks/learned.py [ABLATION_DIR]

The ablation reads the models in ABLATION_DIR (``scripts/train_shipped_models.sh --ablation
ABLATION_DIR``: every affinity with two stages), or the shipped ones; the noise sweep and the
timings always use the shipped models.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
from skimage import data
from skimage.metrics import peak_signal_noise_ratio

from nlmeans_cli import denoise
from nlmeans_cli.methods.model import apply_model
from nlmeans_cli.methods.model_files import (
    load_model,
    pick_model,
    scan_models,
    shipped_folder,
    shipped_model,
)
from nlmeans_cli.pixels import to_grid

RESULTS = Path(__file__).resolve().parent / "results"
GREY = ("camera", "moon", "coins", "brick", "grass", "gravel")
COLOUR = ("stereo_motorcycle", "immunohistochemistry", "retina")
SIGMAS = (15, 25, 50)
SWEEP = (5, 10, 20, 35, 75)
DEFAULT = "gaussian"


def model_for(affinity, sigma_255, channels, scanned=None):
    """Load the model :func:`~nlmeans_cli.methods.model_files.shipped_model` would take."""
    if scanned is None:
        return shipped_model(affinity, sigma_255, channels)
    return load_model(pick_model(scanned, affinity, sigma_255, channels))


def crop(image, size=256):
    r0, c0 = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    return image[r0 : r0 + size, c0 : c0 + size].astype(np.float32) / 255


def _colour(name):
    image = getattr(data, name)()
    return image[0] if name == "stereo_motorcycle" else image  # the left view


def timed(function, repeats=1):
    """Run *function* *repeats* times; return its result and the best wall time."""
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return result, best


def learned(noisy, sigma, model, stages=None):
    planar, _ = to_grid(noisy[..., np.newaxis] if noisy.ndim == 2 else noisy)
    out = apply_model(planar, sigma, model, stages=stages)
    return np.moveaxis(out[:, :, 0, :], 0, -1).reshape(noisy.shape)


def classic(noisy, sigma):
    return denoise(noisy, sigma=sigma, channel_axis=-1 if noisy.ndim == 3 else None)


def bm3d_estimate(noisy, sigma):
    import bm3d

    if noisy.ndim == 3:
        return bm3d.bm3d_rgb(noisy, sigma)
    return bm3d.bm3d(noisy, sigma)


def mean_psnr(cleans, estimates):
    return float(np.mean([peak_signal_noise_ratio(c, e, data_range=1)
                          for c, e in zip(cleans, estimates, strict=True)]))


def noisy_set(cleans, sigma_255, seed):
    rng = np.random.default_rng(seed)
    sigma = sigma_255 / 255
    return [c + rng.normal(0, sigma, c.shape).astype(np.float32) for c in cleans]


def channels_of(kind):
    return 3 if kind == "colour" else 1


def ablation(sets, scanned, affinities):
    rows = []
    for sigma_255 in SIGMAS:
        sigma = sigma_255 / 255
        for kind, cleans in sets.items():
            noisies = noisy_set(cleans, sigma_255, sigma_255)
            row = {"sigma": sigma_255, "set": kind, "noisy": mean_psnr(cleans, noisies),
                   "classic": mean_psnr(cleans, [classic(n, sigma) for n in noisies])}
            for affinity in affinities:
                model = model_for(affinity, sigma_255, channels_of(kind), scanned)
                row[f"{affinity}_model"] = model.info.get("command", "")
                for stages in range(1, len(model.stages) + 1):
                    row[f"{affinity}_{stages}"] = mean_psnr(
                        cleans, [learned(n, sigma, model, stages) for n in noisies])
            if sigma_255 == 25:
                try:
                    estimates, seconds = [], []
                    for noisy in noisies:
                        estimate, t = timed(lambda n=noisy, s=sigma: bm3d_estimate(n, s))
                        estimates.append(estimate)
                        seconds.append(t)
                    row["bm3d"], row["bm3d_s"] = mean_psnr(cleans, estimates), float(
                        np.mean(seconds))
                except ImportError:
                    pass
            rows.append(row)
            print(row, flush=True)
    return rows


def sweep(sets):
    rows = []
    for sigma_255 in SWEEP:
        sigma = sigma_255 / 255
        for kind, cleans in sets.items():
            noisies = noisy_set(cleans, sigma_255, sigma_255)
            model = model_for(DEFAULT, sigma_255, channels_of(kind))
            row = {"sigma": sigma_255, "set": kind, "model_sigma": model.sigma,
                   "classic": mean_psnr(cleans, [classic(n, sigma) for n in noisies]),
                   "learned": mean_psnr(cleans, [learned(n, sigma, model) for n in noisies])}
            rows.append(row)
            print(row, flush=True)
    return rows


def timing(sets):
    rows = []
    mosaic = np.block([[crop(getattr(data, n)(), 256) for n in GREY[k : k + 4]]
                       for k in (0, 2, 1, 0)])[:1024, :1024]
    cases = {**{f"{kind} 256x256": cleans for kind, cleans in sets.items()},
             "grey 1024x1024 mosaic": [mosaic]}
    for sigma_255 in SIGMAS:
        sigma = sigma_255 / 255
        for name, cleans in cases.items():
            noisies = noisy_set(cleans, sigma_255, 1)
            model = model_for(DEFAULT, sigma_255, channels_of(name.split()[0]))
            classic_s = sum(timed(lambda n=n, s=sigma: classic(n, s), 5)[1] for n in noisies)
            learned_s = sum(timed(lambda n=n, s=sigma, m=model: learned(n, s, m), 5)[1]
                            for n in noisies)
            row = {"sigma": sigma_255, "case": name, "classic_s": classic_s / len(noisies),
                   "learned_s": learned_s / len(noisies), "ratio": learned_s / classic_s}
            rows.append(row)
            print(row, flush=True)
    return rows


def markdown(ablation_rows, sweep_rows, timing_rows, affinities):
    """Format the three tables as README shows them."""
    columns = [(r["sigma"], r["set"]) for r in ablation_rows]
    lines = ["| model | " + " | ".join(f"sigma {s} {k}" for s, k in columns) + " |",
             "|---|" + "---|" * len(columns)]

    def line(label, key, bold=False):
        cells = [f"{r[key]:.2f}" if key in r else "" for r in ablation_rows]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    line("noisy", "noisy")
    line("classic engine", "classic")
    for affinity in affinities:
        for stages in (1, 2):
            line(f"{affinity}, {stages} stage{'s' if stages > 1 else ''}",
                 f"{affinity}_{stages}")
    line("BM3D", "bm3d")
    lines += ["", "| sigma | set | model used (sigma) | classic | learned | gain |",
              "|---|---|---|---|---|---|"]
    for r in sweep_rows:
        lines.append(f"| {r['sigma']} | {r['set']} | {r['model_sigma']:g} | {r['classic']:.2f} "
                     f"| {r['learned']:.2f} | {r['learned'] - r['classic']:+.2f} |")
    lines += ["", "| sigma | image | classic s | learned s | ratio |", "|---|---|---|---|---|"]
    for r in timing_rows:
        lines.append(f"| {r['sigma']} | {r['case']} | {r['classic_s']:.3f} | "
                     f"{r['learned_s']:.3f} | {r['ratio']:.2f}x |")
    return "\n".join(lines) + "\n"


def main() -> None:
    scanned = scan_models(Path(sys.argv[1]) if len(sys.argv) > 1 else shipped_folder())
    sets = {"grey": [crop(getattr(data, n)()) for n in GREY],
            "colour": [crop(_colour(n)) for n in COLOUR]}
    # Load every kernel before anything is timed.
    classic(sets["grey"][0][:32, :32], 0.1)
    classic(sets["colour"][0][:32, :32], 0.1)
    for kind in sets:
        learned(sets[kind][0][:32, :32], 0.1, model_for(DEFAULT, 25, channels_of(kind)))
    affinities = sorted({a for by_affinity in scanned.values() for a in by_affinity},
                        key=lambda a: (a != DEFAULT, a))
    results = {"ablation": ablation(sets, scanned, affinities), "sweep": sweep(sets),
               "timing": timing(sets)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "learned.json").write_text(json.dumps(results, indent=1))
    table = markdown(results["ablation"], results["sweep"], results["timing"], affinities)
    (RESULTS / "learned.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
