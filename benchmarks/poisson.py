"""Poisson-Gaussian noise: the stabilised path against the Gaussian path, on the validation split.

Every 10th image of ``../shared/data/train400`` (the images the defaults were never
calibrated on). Noise ``gain * Poisson(x / gain) + read_noise * N(0, 1)`` is added in float
(0-255 scale: gain 4 and read noise 2; a low-light case with a peak of 20 photons, gain
255 / 20, read noise 2). ``noise="poisson-gaussian"`` fits both parameters from the noisy
image; the Gaussian path gets its best single sigma per image, chosen in hindsight among
multiples of the noise's mean standard deviation. The fitted parameters are compared with
the noise added, with a fit that knows the clean image, and with the noise added plus what
the clean image holds of its own (grain, fine texture: fitted on it alone), which the fit of
the noisy image reads as noise too. Then, on Gaussian noise, ``auto`` against
``gaussian``; and the fit on synthetic 16-bit fluorescence-like stacks (Gaussian cells, and
blurred discs on a background that clips at black). Run:
``python benchmarks/poisson.py [--images N] [--fits-only] [--eight-bit] [--tiles K]
[--held-out-size] [--draws N] [--heteroscedastic]``
(``--eight-bit``: the noisy images, Poisson-Gaussian and Gaussian, rounded and clipped to
8 bits, as a saved file holds them;
``--tiles K``: larger photographs, each K x K of the validation images side by side, so that
the 40 make 40 // K^2 of them; ``--held-out-size``: photographs of 481x321, the held-out
photographs' size, each 3x2 validation images cut down (6 of them); ``--draws N``: N noise
draws per photograph; ``--heteroscedastic``: on the photographs only, Gaussian noise of the
model's variance, ``x + sqrt(gain * x + read_noise^2) * N(0, 1)``, the normal approximation
some simulations use, in place of photon counts).
"""

import argparse
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from skimage.metrics import peak_signal_noise_ratio

from nlmeans_cli import denoise, estimate_noise
from nlmeans_cli.noise import fit_poisson_gaussian

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "train400"
FACTORS = (0.5, 0.65, 0.8, 1.0, 1.2, 1.45, 1.7)


def validation(count):
    files = sorted(DATA.glob("*.png"))[9::10]
    return [iio.imread(path).astype(np.float64) / 255 for path in files[:count]]


def tiled(images, side):
    """Return the images put side by side, *side* x *side* to a photograph (the rest left out)."""
    per = side * side
    return [np.block([[images[start + row * side + column] for column in range(side)]
                      for row in range(side)])
            for start in range(0, len(images) - per + 1, per)]


def held_out_sized(images):
    """Return photographs of 481x321, the held-out photographs' size: 3x2 images, cut down."""
    return [np.block([images[start:start + 3], images[start + 3:start + 6]])[:321, :481]
            for start in range(0, len(images) - 5, 6)]


def psnr(clean, estimate):
    return peak_signal_noise_ratio(clean, estimate, data_range=1.0)


def oracle_fit(clean, noisy):
    """Fit (gain, read noise) by maximum likelihood knowing the clean image.

    The most a single image can tell: every pixel counts and no texture is mistaken for
    noise.
    """
    from scipy.optimize import minimize

    squared = (np.asarray(noisy, np.float64) - clean) ** 2

    def negative_log_likelihood(logs):
        variance = np.exp(logs[0]) * clean + np.exp(logs[1])
        return 0.5 * float(np.sum(np.log(variance) + squared / variance))

    start = np.log([max(float(squared.mean()), 1e-12)] * 2)
    logs = minimize(negative_log_likelihood, start, method="Nelder-Mead",
                    options=dict(xatol=1e-5, fatol=1e-6, maxiter=4000)).x
    return float(np.exp(logs[0])), float(np.sqrt(np.exp(logs[1])))


def poisson_gaussian(images, gain, read, fits_only=False, eight_bit=False,
                     heteroscedastic=False):
    rows = []
    for seed, clean in enumerate(images):
        rng = np.random.default_rng(seed)
        if heteroscedastic:  # the normal approximation: the same variance, no photon counts
            noisy = (clean + np.sqrt(gain * clean + read * read) * rng.normal(0, 1, clean.shape)
                     ).astype(np.float32)
        else:
            noisy = (gain * rng.poisson(clean / gain) + read * rng.normal(0, 1, clean.shape)
                     ).astype(np.float32)
        if eight_bit:  # as a saved 8-bit file holds it: rounded, clipped at black and white
            noisy = (np.clip(np.rint(noisy * 255), 0, 255) / 255).astype(np.float32)
        fitted_gain, fitted_read = estimate_noise(noisy, model="poisson-gaussian")
        oracle_gain, oracle_read = oracle_fit(clean, noisy)
        stabilised = best = np.nan
        if not fits_only:
            stabilised = psnr(clean, denoise(noisy, noise="poisson-gaussian"))
            typical = float(np.sqrt(gain * clean.mean() + read * read))
            best = max(psnr(clean, denoise(noisy, sigma=typical * f)) for f in FACTORS)
        # What the "clean" photograph holds of its own (grain, fine texture), fitted alone:
        # the fit reads it as noise too.
        own_gain, own_read = estimate_noise(clean.astype(np.float32), model="poisson-gaussian")
        rows.append((stabilised, best, fitted_gain / gain, fitted_read / read,
                     oracle_gain / gain, oracle_read / read,
                     fitted_gain / (gain + own_gain), fitted_read / np.hypot(read, own_read)))
    return np.array(rows)


def fluorescence_stack(seed, frames=8, side=192, cells=43, gain=30.0, read=40.0, offset=0.0):
    """Return a synthetic 16-bit stack and its clean levels: cells on a dark background.

    Gaussian cells (sigma 6 pixels across, 3 frames deep) of random brightness on a
    background of 655 levels (22 photons at a gain of 30 levels per photon), about a quarter
    of the stack within 10 % of it; counts ``gain * Poisson(x / gain)`` plus read noise,
    rounded and clipped to 16 bits; a camera's *offset* (black level) added to every pixel.
    """
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[0:frames, 0:side, 0:side]
    brightness = np.zeros((frames, side, side))
    for _ in range(cells):
        cz, cy, cx = rng.uniform(0, frames), rng.uniform(0, side), rng.uniform(0, side)
        brightness += rng.uniform(0.2, 0.8) * np.exp(
            -((z - cz) ** 2 * 4 + (y - cy) ** 2 + (x - cx) ** 2) / (2 * 6.0**2))
    clean = (0.01 + np.clip(brightness, 0, 0.9)) * 65535
    counts = gain * rng.poisson(clean / gain) + rng.normal(0, read, clean.shape) + offset
    return clean, np.clip(np.rint(counts), 0, 65535).astype(np.uint16)


def disc_stack(seed, gain=30.0, read=40.0, background=100.0, frames=8, side=192, discs=40):
    """Return a synthetic 16-bit stack of flat discs on a background that clips at black.

    Its clean levels and the 16-bit stack, as :func:`fluorescence_stack`. Discs 4 to 12 pixels
    in radius (half as deep), each of one brightness, blurred by a point spread of 1.5 pixels,
    on a background of 100 levels: at gain 30 and read noise 40 its noise's standard deviation
    is 68 levels, and 5 % of the pixels clip at 0.
    """
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[0:frames, 0:side, 0:side]
    brightness = np.zeros((frames, side, side))
    for _ in range(discs):
        cz, cy, cx = rng.uniform(0, frames), rng.uniform(0, side), rng.uniform(0, side)
        inside = ((z - cz) * 2) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 < rng.uniform(4, 12) ** 2
        brightness = np.maximum(brightness, rng.uniform(0.05, 0.8) * inside)
    clean = background + gaussian_filter(brightness, (0, 1.5, 1.5)) * 65535
    counts = gain * rng.poisson(clean / gain) + rng.normal(0, read, clean.shape)
    return clean, np.clip(np.rint(counts), 0, 65535).astype(np.uint16)


def stack_fits(count, gain=30.0, read=40.0, make=fluorescence_stack):
    """Return the fitted gain and read noise over their true values, one stack per seed.

    *make* gives a seed's clean levels and stack (:func:`fluorescence_stack`,
    :func:`disc_stack`). Seeds from 100 on: the fit's weights were chosen on stacks of seeds
    4 to 13, and the tests use seeds 0 to 2.
    """
    rows = []
    for seed in range(100, 100 + count):
        _, stack = make(seed, gain=gain, read=read)
        fitted_gain, fitted_read = estimate_noise(stack, model="poisson-gaussian")
        rows.append((fitted_gain / gain, fitted_read / read))
    return np.array(rows)


def offset_stacks(count, offset, fits_only, gain=30.0, read=40.0):
    """Return the fits and PSNRs of stacks offset by *offset* (a camera's black level).

    Per stack: the fitted gain over the true one, the fitted variance at level 0 over
    ``read^2 - gain * offset``, and (unless *fits_only*) the PSNR of ``auto`` and of the
    offset subtracted with the true parameters given (against the peak above black). Seeds
    from 100 on, as :func:`stack_fits`.
    """
    rows = []
    for seed in range(100, 100 + count):
        clean, stack = fluorescence_stack(seed, gain=gain, read=read, offset=offset)
        model = fit_poisson_gaussian(stack / 65535.0)
        row = [model.gain * 65535 / gain,
               model.variance_at_zero * 65535**2 / (read**2 - gain * offset)]
        if not fits_only:
            peak = float(clean.max())
            auto = denoise(stack, noise="auto").astype(np.float64) - offset
            known = denoise((stack - offset) / 65535.0, noise="poisson-gaussian",
                            gain=gain / 65535, read_noise=read / 65535) * 65535
            row += [psnr(clean / peak, auto / peak), psnr(clean / peak, known / peak)]
        rows.append(row)
    return np.array(rows)


def gaussian(images, sigma, eight_bit=False):
    rows = []
    for seed, clean in enumerate(images):
        rng = np.random.default_rng(1000 + seed)
        noisy = (clean + rng.normal(0, sigma, clean.shape)).astype(np.float32)
        if eight_bit:
            noisy = (np.clip(np.rint(noisy * 255), 0, 255) / 255).astype(np.float32)
        rows.append((psnr(clean, denoise(noisy, sigma=sigma)),
                     psnr(clean, denoise(noisy, noise="auto")),
                     psnr(clean, denoise(noisy, noise="gaussian"))))
    return np.array(rows)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--fits-only", action="store_true",
                        help="the fitted parameters only, no denoising")
    parser.add_argument("--eight-bit", action="store_true",
                        help="the noisy images rounded and clipped to 8 bits, as saved")
    parser.add_argument("--tiles", type=int, default=1,
                        help="K: each photograph K x K validation images side by side")
    parser.add_argument("--held-out-size", action="store_true",
                        help="photographs of 481x321: 3x2 validation images, cut down")
    parser.add_argument("--draws", type=int, default=1,
                        help="noise draws per photograph")
    parser.add_argument("--heteroscedastic", action="store_true",
                        help="Gaussian noise of the model's variance in place of photon "
                             "counts; the photographs only")
    args = parser.parse_args()
    images = tiled(validation(args.images), args.tiles)
    if args.held_out_size:
        images = held_out_sized(validation(args.images))
        print(f"{len(images)} photographs of 481x321 (3x2 validation images)")
    else:
        print(f"{len(images)} photographs of {args.tiles}x{args.tiles} validation images"
              if args.tiles > 1 else f"{len(images)} validation images")
    images = images * args.draws  # each a seed of its own
    for label, gain, read in (("gain 4, read noise 2", 4 / 255, 2 / 255),
                              ("peak of 20 photons (gain 12.75), read noise 2",
                               (255 / 20) / 255, 2 / 255)):
        rows = poisson_gaussian(images, gain, read, args.fits_only, args.eight_bit,
                                args.heteroscedastic)
        gains, reads = rows[:, 2], rows[:, 3]
        print(label if args.fits_only else
              f"{label}: poisson-gaussian (fitted) {rows[:, 0].mean():.2f} dB, gaussian at its "
              f"best sigma {rows[:, 1].mean():.2f} dB, difference "
              f"{(rows[:, 0] - rows[:, 1]).mean():+.2f} dB")
        print(f"  fitted gain / true: mean {gains.mean():.2f}, range {gains.min():.2f}-"
              f"{gains.max():.2f}, within 20 %: {np.mean(np.abs(gains - 1) <= 0.2):.0%}; "
              f"read noise / true: median {np.median(reads):.2f}, mean {reads.mean():.2f}, "
              f"range {reads.min():.2f}-"
              f"{reads.max():.2f}, within 30 %: {np.mean(np.abs(reads - 1) <= 0.3):.0%}")
        oracle_gains, oracle_reads = rows[:, 4], rows[:, 5]
        print(f"  knowing the clean image (maximum likelihood): gain within 20 %: "
              f"{np.mean(np.abs(oracle_gains - 1) <= 0.2):.0%}; read noise / true: median "
              f"{np.median(oracle_reads):.2f}, within 30 %: "
              f"{np.mean(np.abs(oracle_reads - 1) <= 0.3):.0%}")
        with_own_gains, with_own_reads = rows[:, 6], rows[:, 7]
        print(f"  against the noise added plus the clean image's own (fitted on it alone): gain "
              f"{with_own_gains.min():.2f}-{with_own_gains.max():.2f}, within 20 %: "
              f"{np.mean(np.abs(with_own_gains - 1) <= 0.2):.0%}; read noise "
              f"{with_own_reads.min():.2f}-{with_own_reads.max():.2f}, within 30 %: "
              f"{np.mean(np.abs(with_own_reads - 1) <= 0.3):.0%}")
    if args.heteroscedastic:
        return
    for label, make in (("fluorescence-like stacks (20, 8x192x192, 16-bit, gain 30, read "
                         "noise 40 levels)", fluorescence_stack),
                        ("blurred discs on a background clipped at black (20, 8x192x192, "
                         "16-bit, gain 30, read noise 40 levels, 5 % at 0)", disc_stack)):
        fits = stack_fits(20, make=make)
        print(f"{label}: gain / true {fits[:, 0].min():.2f}-{fits[:, 0].max():.2f}, within "
              f"20 %: {np.mean(np.abs(fits[:, 0] - 1) <= 0.2):.0%}; read noise / true "
              f"{fits[:, 1].min():.2f}-{fits[:, 1].max():.2f} (median "
              f"{np.median(fits[:, 1]):.2f}), within 30 %: "
              f"{np.mean(np.abs(fits[:, 1] - 1) <= 0.3):.0%}")
    for offset in (500.0, 1000.0):
        rows = offset_stacks(5, offset, args.fits_only)
        print(f"the same stacks offset by {offset:.0f} of 65535 (a camera's black level; 5): "
              f"gain / true {rows[:, 0].min():.2f}-{rows[:, 0].max():.2f}; variance at 0 / "
              f"(read noise^2 - gain * offset) {rows[:, 1].min():.2f}-{rows[:, 1].max():.2f}"
              + ("" if args.fits_only else
                 f"; auto {rows[:, 2].mean():.2f} dB, the offset subtracted and the true "
                 f"parameters given {rows[:, 3].mean():.2f} dB"))
    if args.fits_only:
        return
    for sigma in (2, 5, 10, 15, 25, 50):
        rows = gaussian(images, sigma / 255, args.eight_bit)
        differences = rows[:, 1] - rows[:, 2]
        print(f"gaussian noise sigma {sigma}: sigma given {rows[:, 0].mean():.2f} dB, auto "
              f"{rows[:, 1].mean():.2f} dB, gaussian (sigma estimated) {rows[:, 2].mean():.2f} "
              f"dB, auto - gaussian {differences.mean():+.3f} dB (worst image "
              f"{differences.min():+.2f})")


if __name__ == "__main__":
    main()
