"""Quality bar: mean PSNR of ``denoise`` (sigma given, all else default) against scikit-image.

On scikit-image's bundled grey photographs (centre crops, float32, Gaussian noise added without
clipping, fixed seed) at sigma 15, 25 and 50, compares with ``skimage.restoration.
denoise_nl_means`` at its recommended settings (``h = 0.8 sigma``, ``sigma = sigma``, default
patch 7 and distance 11) in fast and slow mode, and prints a Markdown table with mean PSNR and
mean seconds per image.

    python benchmarks/quality.py [--crop 256]
"""

import argparse
import time

import numpy as np
from skimage import data
from skimage.metrics import peak_signal_noise_ratio
from skimage.restoration import denoise_nl_means

from nlmeans_cli import denoise

IMAGES = ("camera", "moon", "coins", "brick", "grass", "gravel")
SIGMAS = (15, 25, 50)


def crops(size: int) -> dict[str, np.ndarray]:
    out = {}
    for name in IMAGES:
        image = getattr(data, name)().astype(np.float32) / 255
        r0, c0 = max((image.shape[0] - size) // 2, 0), max((image.shape[1] - size) // 2, 0)
        out[name] = image[r0 : r0 + size, c0 : c0 + size]
    return out


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crop", type=int, default=256)
    args = parser.parse_args()
    images = crops(args.crop)
    rng = np.random.default_rng(0)
    denoise(next(iter(images.values()))[:32, :32], sigma=0.1)  # load the kernels once
    print("| sigma | ours PSNR | skimage fast | skimage slow | ours s | fast s | slow s |"
          " speed-up vs fast |\n|---|---|---|---|---|---|---|---|")
    for sigma in SIGMAS:
        s = sigma / 255
        rows = []
        for clean in images.values():
            noisy = clean + rng.normal(0, s, clean.shape).astype(np.float32)
            ours, t_ours = timed(denoise, noisy, sigma=s)
            fast, t_fast = timed(denoise_nl_means, noisy, h=0.8 * s, sigma=s, fast_mode=True)
            slow, t_slow = timed(denoise_nl_means, noisy, h=0.8 * s, sigma=s, fast_mode=False)
            psnrs = [peak_signal_noise_ratio(clean, x, data_range=1) for x in (ours, fast, slow)]
            rows.append(psnrs + [t_ours, t_fast, t_slow])
        m = np.mean(rows, axis=0)
        print(f"| {sigma} | {m[0]:.2f} | {m[1]:.2f} | {m[2]:.2f} | {m[3]:.3f} | {m[4]:.3f} |"
              f" {m[5]:.3f} | {m[4] / m[3]:.1f}x |", flush=True)
    print(f"\n{len(images)} images ({', '.join(images)}), {args.crop}x{args.crop} centre crops.")


if __name__ == "__main__":
    main()
