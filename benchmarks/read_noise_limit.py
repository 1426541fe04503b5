"""How much a 180x180 photograph can tell of its read noise: the limits behind issue 17's miss.

On the validation split (every 10th image of ``../shared/data/train400``), Poisson-Gaussian
noise of gain 4 and read noise 2 (0-255 scale), as ``benchmarks/poisson.py`` adds it:

1. The Cramer-Rao bound on the read noise for a fit that knows the clean image, from the
   noise's variance alone (a Gaussian of variance ``gain * x + read^2`` per pixel) and from
   its exact distribution (photon counts on a lattice of spacing ``gain``, spread by the read
   noise). Each image's share is the chance that an efficient fit lands within 30 %. The
   bound is local: it holds for a fit that already has the gain to within the lattice's
   resolution (about 0.5 %), which point 2 shows a blind fit cannot have.
2. Whether the counts' lattice, which carries the exact distribution's extra information,
   can be found without knowing the gain: ``sqrt(2 N)`` times the mean of
   ``cos(2 pi value / spacing)`` (phase 0: no black level) at the true gain against its best
   over the spacings 0.8 to 1.2 times the gain, 1 % or more from it.

Run: ``python benchmarks/read_noise_limit.py [--images N]``.
"""

import argparse

import numpy as np
from scipy.stats import norm, poisson

from poisson import validation

GAIN, READ = 4.0, 2.0


def log_density(values, level, gain, read):
    """Return the log density of ``gain * Poisson(level / gain) + read * N(0, 1)``."""
    mean = max(level / gain, 1e-12)
    counts = np.arange(int(mean + 12 * np.sqrt(mean) + 15) + 1)
    density = (poisson.pmf(counts, mean)[None, :]
               * norm.pdf((values[:, None] - gain * counts[None, :]) / read) / read).sum(1)
    return np.log(np.maximum(density, 1e-300))


def exact_information(level, gain, read):
    """Return the Fisher information of one pixel about (gain, read noise), exactly."""
    spread = np.sqrt(gain * level + read * read)
    values = np.linspace(-8 * read - 1, level + 9 * spread + gain, 6000)
    step_gain, step_read = 1e-4 * gain, 1e-4 * read
    by_gain = (log_density(values, level, gain + step_gain, read)
               - log_density(values, level, gain - step_gain, read)) / (2 * step_gain)
    by_read = (log_density(values, level, gain, read + step_read)
               - log_density(values, level, gain, read - step_read)) / (2 * step_read)
    weight = np.exp(log_density(values, level, gain, read)) * (values[1] - values[0])
    scores = np.stack([by_gain, by_read])
    return (scores[:, None, :] * scores[None, :, :] * weight).sum(-1)


def variance_information(level, gain, read):
    """Return the Fisher information of one pixel's Gaussian of the model's variance."""
    variance = gain * level + read * read
    slope = np.array([level, 2 * read])
    return np.outer(slope, slope) / (2 * variance * variance)


def share_within(information, tolerance=0.3):
    """Return the chance that an efficient fit's read noise lands within *tolerance*."""
    error = np.sqrt(np.linalg.inv(information)[1, 1])
    return 2 * norm.cdf(tolerance * READ / error) - 1


def lattice_scores(noisy, gain):
    """Return the lattice's score at *gain* and its best over other spacings near it."""
    edges = np.arange(noisy.min() - 0.005, noisy.max() + 0.01, 0.01)
    counts, _ = np.histogram(noisy, edges)
    centres = (edges[:-1] + edges[1:]) / 2
    spacings = gain * np.linspace(0.8, 1.2, 4001)
    # sqrt(2 N) times the mean cosine: without a lattice, a standard normal
    scores = np.array([counts @ np.cos(2 * np.pi * centres / spacing) for spacing in spacings])
    scores *= np.sqrt(2 / noisy.size)
    at_gain = scores[2000]
    elsewhere = scores[np.abs(spacings / gain - 1) > 0.01].max()
    return at_gain, elsewhere


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40)
    images = [np.rint(image * 255) for image in validation(parser.parse_args().images)]
    levels = np.arange(256)
    exact = np.array([exact_information(float(level), GAIN, READ) for level in levels])
    gaussian = np.array([variance_information(float(level), GAIN, READ) for level in levels])
    rows = []
    for seed, clean in enumerate(images):
        histogram = np.bincount(clean.astype(int).ravel(), minlength=256)
        rng = np.random.default_rng(seed)
        noisy = GAIN * rng.poisson(clean / GAIN) + READ * rng.normal(0, 1, clean.shape)
        rows.append((share_within(np.tensordot(histogram, gaussian, axes=1)),
                     share_within(np.tensordot(histogram, exact, axes=1)),
                     *lattice_scores(noisy.ravel(), GAIN)))
    rows = np.array(rows)
    print(f"{len(images)} validation images, gain {GAIN:g}, read noise {READ:g} (0-255)")
    print(f"knowing the clean image, expected share of read noise within 30 %: from the "
          f"variance {rows[:, 0].mean():.0%}, from the exact distribution {rows[:, 1].mean():.0%}")
    print(f"the lattice at the true gain: score {rows[:, 2].mean():.2f} (mean), best at other "
          f"spacings 0.8-1.2x {rows[:, 3].mean():.2f}; the true gain on top: "
          f"{np.mean(rows[:, 2] > rows[:, 3]):.0%}")


if __name__ == "__main__":
    main()
