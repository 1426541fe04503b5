"""Poisson-Gaussian noise: the stabilised path against the Gaussian path, on the validation split.

Every 10th image of ``../shared/data/train400`` (the images the defaults were never
calibrated on). Noise ``gain * Poisson(x / gain) + read_noise * N(0, 1)`` is added in float
(0-255 scale: gain 4 and read noise 2; a low-light case with a peak of 20 photons, gain
255 / 20, read noise 2). ``noise="poisson-gaussian"`` fits both parameters from the noisy
image; the Gaussian path gets its best single sigma per image, chosen in hindsight among
multiples of the noise's mean standard deviation. Then, on Gaussian noise, ``auto`` against
``gaussian``. Run: ``python benchmarks/poisson.py [--images N]``.
"""

import argparse
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from skimage.metrics import peak_signal_noise_ratio

from nlmeans_cli import denoise, resolve_parameters

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "train400"
FACTORS = (0.5, 0.65, 0.8, 1.0, 1.2, 1.45, 1.7)


def validation(count):
    files = sorted(DATA.glob("*.png"))[9::10]
    return [iio.imread(path).astype(np.float64) / 255 for path in files[:count]]


def psnr(clean, estimate):
    return peak_signal_noise_ratio(clean, estimate, data_range=1.0)


def poisson_gaussian(images, gain, read):
    rows = []
    for seed, clean in enumerate(images):
        rng = np.random.default_rng(seed)
        noisy = (gain * rng.poisson(clean / gain) + read * rng.normal(0, 1, clean.shape)
                 ).astype(np.float32)
        stabilised = psnr(clean, denoise(noisy, noise="poisson-gaussian"))
        fitted = resolve_parameters(noisy, noise="poisson-gaussian").stabiliser.models[0]
        typical = float(np.sqrt(gain * clean.mean() + read * read))
        best = max(psnr(clean, denoise(noisy, sigma=typical * f)) for f in FACTORS)
        rows.append((stabilised, best, fitted.gain / gain, fitted.read_noise / read))
    return np.array(rows)


def gaussian(images, sigma):
    rows = []
    for seed, clean in enumerate(images):
        rng = np.random.default_rng(1000 + seed)
        noisy = (clean + rng.normal(0, sigma, clean.shape)).astype(np.float32)
        rows.append((psnr(clean, denoise(noisy, sigma=sigma)),
                     psnr(clean, denoise(noisy, noise="auto")),
                     psnr(clean, denoise(noisy))))
    return np.array(rows)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=40)
    images = validation(parser.parse_args().images)
    print(f"{len(images)} validation images")
    for label, gain, read in (("gain 4, read noise 2", 4 / 255, 2 / 255),
                              ("peak of 20 photons (gain 12.75), read noise 2",
                               (255 / 20) / 255, 2 / 255)):
        rows = poisson_gaussian(images, gain, read)
        gains, reads = rows[:, 2], rows[:, 3]
        print(f"{label}: poisson-gaussian (fitted) {rows[:, 0].mean():.2f} dB, gaussian at its "
              f"best sigma {rows[:, 1].mean():.2f} dB, difference "
              f"{(rows[:, 0] - rows[:, 1]).mean():+.2f} dB")
        print(f"  fitted gain / true: mean {gains.mean():.2f}, range {gains.min():.2f}-"
              f"{gains.max():.2f}, within 20 %: {np.mean(np.abs(gains - 1) <= 0.2):.0%}; "
              f"read noise / true: mean {reads.mean():.2f}, range {reads.min():.2f}-"
              f"{reads.max():.2f}, within 30 %: {np.mean(np.abs(reads - 1) <= 0.3):.0%}")
    for sigma in (15, 25, 50):
        rows = gaussian(images, sigma / 255)
        print(f"gaussian noise sigma {sigma}: sigma given {rows[:, 0].mean():.2f} dB, auto "
              f"{rows[:, 1].mean():.2f} dB, gaussian (sigma estimated) {rows[:, 2].mean():.2f} "
              f"dB, auto - gaussian {(rows[:, 1] - rows[:, 2]).mean():+.3f} dB")


if __name__ == "__main__":
    main()
