"""The learned variant against the classic engine (and BM3D): PSNR, time, affinity ablation.

Test images, never trained or tuned on: the grey photographs of ``benchmarks/quality.py``
(camera, moon, coins, brick, grass, gravel; 256x256 centre crops) and, for colour, scikit-image's
motorcycle_left, ihc (immunohistochemistry) and retina (256x256 crops). Gaussian noise added in
float with a fixed seed; every method is given sigma.

For each sigma (15, 25, 50) and affinity with a shipped model: mean PSNR of one stage and of
both stages; the classic engine's mean PSNR and time; the ``bm3d`` package at sigma 25 when it
is installed. Results go to ``benchmarks/results/learned.{md,json}``.

    python benchmarks/learned.py
"""

import json
import time
from pathlib import Path

import numpy as np
from skimage import data
from skimage.metrics import peak_signal_noise_ratio

from nlmeans_cli import denoise
from nlmeans_cli.denoising import _to_grid
from nlmeans_cli.learned import apply_model, shipped_model, shipped_models

RESULTS = Path(__file__).resolve().parent / "results"
GREY = ("camera", "moon", "coins", "brick", "grass", "gravel")
COLOUR = ("stereo_motorcycle", "immunohistochemistry", "retina")
SIGMAS = (15, 25, 50)


def crop(image, size=256):
    r0, c0 = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    return image[r0 : r0 + size, c0 : c0 + size].astype(np.float32) / 255


def _colour(name):
    image = getattr(data, name)()
    return image[0] if name == "stereo_motorcycle" else image  # the left view


def timed(function):
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def learned(noisy, sigma, model, stages):
    planar, _ = _to_grid(noisy[..., np.newaxis] if noisy.ndim == 2 else noisy)
    out = apply_model(planar, sigma, model, stages=stages)
    return np.moveaxis(out[:, :, 0, :], 0, -1).reshape(noisy.shape)


def bm3d_estimate(noisy, sigma):
    import bm3d

    if noisy.ndim == 3:
        return bm3d.bm3d_rgb(noisy, sigma)
    return bm3d.bm3d(noisy, sigma)


def main() -> None:
    rng = np.random.default_rng(0)
    sets = {"grey": [crop(getattr(data, n)()) for n in GREY],
            "colour": [crop(_colour(n)) for n in COLOUR]}
    denoise(sets["grey"][0][:32, :32], sigma=0.1)  # load the kernels
    affinities = sorted(shipped_models())
    rows = []
    for sigma_255 in SIGMAS:
        sigma = sigma_255 / 255
        for kind, cleans in sets.items():
            axis = -1 if kind == "colour" else None
            noisies = [c + rng.normal(0, sigma, c.shape).astype(np.float32) for c in cleans]
            row = {"sigma": sigma_255, "set": kind}
            scores, seconds = [], []
            for clean, noisy in zip(cleans, noisies, strict=True):
                estimate, t = timed(lambda n=noisy, s=sigma, a=axis: denoise(
                    n, sigma=s, channel_axis=a))
                scores.append(peak_signal_noise_ratio(clean, estimate, data_range=1))
                seconds.append(t)
            row["classic"], row["classic_s"] = float(np.mean(scores)), float(np.mean(seconds))
            for affinity in affinities:
                model = shipped_model(affinity, sigma_255)
                for stages in (1, 2):
                    scores, seconds = [], []
                    for clean, noisy in zip(cleans, noisies, strict=True):
                        estimate, t = timed(lambda n=noisy, m=model, k=stages, s=sigma:
                                            learned(n, s, m, k))
                        scores.append(peak_signal_noise_ratio(clean, estimate, data_range=1))
                        seconds.append(t)
                    row[f"{affinity}_{stages}"] = float(np.mean(scores))
                    row[f"{affinity}_{stages}_s"] = float(np.mean(seconds))
            if sigma_255 == 25:
                try:
                    scores, seconds = [], []
                    for clean, noisy in zip(cleans, noisies, strict=True):
                        estimate, t = timed(lambda n=noisy, s=sigma: bm3d_estimate(n, s))
                        scores.append(peak_signal_noise_ratio(clean, estimate, data_range=1))
                        seconds.append(t)
                    row["bm3d"], row["bm3d_s"] = float(np.mean(scores)), float(np.mean(seconds))
                except ImportError:
                    pass
            rows.append(row)
            print(row, flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "learned.json").write_text(json.dumps(rows, indent=1))
    lines = ["| sigma | set | classic | " + " | ".join(
        f"{a} 1 stage | {a} 2 stages" for a in affinities) + " | BM3D |",
        "|---|---|---|" + "---|---|" * len(affinities) + "---|"]
    for row in rows:
        cells = " | ".join(f"{row[f'{a}_1']:.2f} | {row[f'{a}_2']:.2f}" for a in affinities)
        bm3d_cell = f"{row['bm3d']:.2f}" if "bm3d" in row else ""
        lines.append(f"| {row['sigma']} | {row['set']} | {row['classic']:.2f} | {cells} | "
                     f"{bm3d_cell} |")
    lines += ["", "| sigma | set | classic s | gaussian 2 stages s | ratio | BM3D s |",
              "|---|---|---|---|---|---|"]
    for row in rows:
        if "gaussian_2_s" in row:
            bm3d_cell = f"{row['bm3d_s']:.2f}" if "bm3d_s" in row else ""
            lines.append(f"| {row['sigma']} | {row['set']} | {row['classic_s']:.3f} | "
                         f"{row['gaussian_2_s']:.3f} | "
                         f"{row['gaussian_2_s'] / row['classic_s']:.2f}x | {bm3d_cell} |")
    table = "\n".join(lines) + "\n"
    (RESULTS / "learned.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
