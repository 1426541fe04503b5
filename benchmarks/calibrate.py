"""Calibrate the default-parameter table of ``nlmeans_cli.parameters``.

For each noise level, every (patch size, search window, h / sigma) of a grid is scored by the
mean PSNR over crops of scikit-image's bundled colour photographs converted to grey (not the
grey images that ``benchmarks/quality.py`` reports on). Noise is Gaussian, added in float
without clipping, with a fixed seed. Prints, per sigma, the best setting and every setting
within 0.05 dB of it with its cost (pixels x window^2), so the cheapest near-best can be chosen.

    python benchmarks/calibrate.py
"""

import itertools
import time

import numpy as np
from skimage import color, data
from skimage.metrics import peak_signal_noise_ratio

from nlmeans_cli import denoise

SIGMAS = (5, 10, 15, 20, 25, 35, 50, 75)
PATCHES = (3, 5, 7, 9)
WINDOWS = (11, 15, 21)
H_FACTORS = (0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9, 1.0, 1.15)
CROP = 160


def calibration_images() -> list[np.ndarray]:
    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(),
              data.motorcycle_left() if hasattr(data, "motorcycle_left") else data.retina()]
    crops = []
    for photo in photos:
        grey = color.rgb2gray(photo).astype(np.float32)
        r0, c0 = (grey.shape[0] - CROP) // 2, (grey.shape[1] - CROP) // 2
        crops.append(grey[r0 : r0 + CROP, c0 : c0 + CROP])
    return crops


def main() -> None:
    images = calibration_images()
    rng = np.random.default_rng(0)
    for sigma in SIGMAS:
        started = time.perf_counter()
        s = sigma / 255
        noisy = [im + rng.normal(0, s, im.shape).astype(np.float32) for im in images]
        scores = {}
        for patch, window, factor in itertools.product(PATCHES, WINDOWS, H_FACTORS):
            psnrs = [
                peak_signal_noise_ratio(clean, denoise(n, sigma=s, h=factor * s, patch_size=patch,
                                                       search_window=window), data_range=1)
                for clean, n in zip(images, noisy, strict=True)
            ]
            scores[(patch, window, factor)] = float(np.mean(psnrs))
        best = max(scores.values())
        near = sorted((k for k, v in scores.items() if v >= best - 0.05),
                      key=lambda k: (k[1], k[0]))
        print(f"sigma {sigma}: best {best:.3f} dB at {max(scores, key=scores.get)}; "
              f"within 0.05 dB (patch, window, h/sigma): "
              + ", ".join(f"{k}={scores[k]:.2f}" for k in near[:6])
              + f"  [{time.perf_counter() - started:.0f} s]", flush=True)


if __name__ == "__main__":
    main()
