"""Calibrate the default-parameter table of ``nlmeans_cli.parameters`` on train400.

``../shared/data/train400`` (400 grey 180x180 photographs, the denoising literature's standard
training set) is split as every benchmark here splits it: every 10th image (test_010, test_020,
...) is the validation split, never tuned on; the calibration uses every 6th image of the
other 360 (60 images). For each noise level, every (patch kernel, patch size, search window,
h / sigma) of a grid is scored by the mean PSNR over those images, whole, with Gaussian noise
added in float without clipping (seeded). Prints, per sigma, the best setting and the
cheapest within 0.03 dB of it, and writes everything to ``benchmarks/results/calibration.json``.

    python benchmarks/calibrate.py [--data DIR] [--step 6] [--sigmas 5,10 --kernels gaussian
        --patches 5,7 --windows 7,9,11 --factors 1.0,1.25,1.5 --out NAME.json] [--volumes]

The grid's defaults are the first pass; a second pass refines around its winners.

``--volumes`` calibrates the volumes' table (3-D patches and windows) instead, on volumes of
16 slices: each training image's centre 96x96, panned a pixel a slice across it (every other
image: down and across it), and as many synthetic fluorescence-like volumes (blurred cells on
a dark background, ``benchmarks/poisson.py``'s generator, seeds 300 on) as there are half
photographs, 16x96x96 on the unit scale.
"""

import argparse
import itertools
import json
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from skimage.metrics import peak_signal_noise_ratio

from nlmeans_cli import denoise

SIGMAS = (5, 10, 15, 20, 25, 35, 50, 75)
KERNELS = ("box", "gaussian")
PATCHES = (3, 5, 7, 9)
WINDOWS = (11, 15, 21)
H_FACTORS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25)
SEEDS = (0,)
DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "train400"
RESULTS = Path(__file__).resolve().parent / "results"


def split(folder: Path) -> tuple[list[Path], list[Path]]:
    """(training, validation): every 10th image of train400 is validation."""
    names = sorted(folder.glob("test_*.png"))
    validation = [p for k, p in enumerate(names, start=1) if k % 10 == 0]
    training = [p for k, p in enumerate(names, start=1) if k % 10 != 0]
    return training, validation


def load(path: Path) -> np.ndarray:
    return iio.imread(path).astype(np.float32) / 255


def panned(image: np.ndarray, down: bool, side: int = 96, slices: int = 16) -> np.ndarray:
    """Return *slices* of the image's centre, panned a pixel a slice (down and) across."""
    top, left = ((length - side - slices) // 2 for length in image.shape)
    return np.stack([image[top + (shift if down else 0):][:side, left + shift:][:, :side]
                     for shift in range(slices)])


def training_volumes(images: list[np.ndarray]) -> list[np.ndarray]:
    """Return panned volumes of the images, then synthetic cell volumes, half as many."""
    from poisson import fluorescence_stack

    volumes = [panned(image, down=k % 2 == 1) for k, image in enumerate(images)]
    for seed in range(300, 300 + len(images) // 2):
        clean, _ = fluorescence_stack(seed, frames=16, side=96, cells=11)
        volumes.append((clean / 65535).astype(np.float32))
    return volumes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--step", type=int, default=6)
    parser.add_argument("--sigmas", default=",".join(map(str, SIGMAS)))
    parser.add_argument("--kernels", default=",".join(KERNELS))
    parser.add_argument("--patches", default=",".join(map(str, PATCHES)))
    parser.add_argument("--windows", default=",".join(map(str, WINDOWS)))
    parser.add_argument("--factors", default=",".join(map(str, H_FACTORS)))
    parser.add_argument("--out", default="calibration.json")
    parser.add_argument("--volumes", action="store_true",
                        help="the volumes' table: panned training images and cell volumes")
    args = parser.parse_args()
    sigmas = [float(v) for v in args.sigmas.split(",")]
    kernels = args.kernels.split(",")
    patches = [int(v) for v in args.patches.split(",")]
    windows = [int(v) for v in args.windows.split(",")]
    factors = [float(v) for v in args.factors.split(",")]
    training, _ = split(args.data)
    images = [load(p) for p in training[:: args.step]]
    if args.volumes:
        images = training_volumes(images)
    results = {}
    for sigma in sigmas:
        started = time.perf_counter()
        s = sigma / 255
        noisy = [(clean, clean + np.random.default_rng(seed * 1000 + k).normal(
                  0, s, clean.shape).astype(np.float32))
                 for seed in SEEDS for k, clean in enumerate(images)]
        scores = {}
        for kernel, patch, window, factor in itertools.product(kernels, patches, windows,
                                                               factors):
            psnrs = [peak_signal_noise_ratio(clean, denoise(
                n, sigma=s, h=factor * s, patch_size=patch, search_window=window,
                patch_kernel=kernel), data_range=1) for clean, n in noisy]
            scores[(kernel, patch, window, factor)] = float(np.mean(psnrs))
        best_key = max(scores, key=scores.get)
        best = scores[best_key]
        cheapest = min((k for k, v in scores.items() if v >= best - 0.03),
                       key=lambda k: (k[2], k[1], -scores[k]))
        print(f"sigma {sigma}: best {best:.3f} dB at {best_key}; cheapest within 0.03 dB "
              f"{cheapest} {scores[cheapest]:.3f}  [{time.perf_counter() - started:.0f} s]",
              flush=True)
        results[sigma] = {"best": [*best_key, best], "cheapest": [*cheapest, scores[cheapest]],
                          "scores": {"/".join(map(str, k)): v for k, v in scores.items()}}
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / args.out).write_text(json.dumps(
            {"images": [p.name for p in training[:: args.step]], "seeds": SEEDS,
             "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
