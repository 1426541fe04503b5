"""Levels near a clipped end: the tail the clipping cut, put back."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from nlmeans_cli import estimate_noise
from nlmeans_cli.clipped_levels import untruncated_levels


def _kept_moments(rng, level, gain, read, low, high, draws=4_000_000):
    """Mean and variance of simulated Poisson-Gaussian noise about *level*, kept inside the ends."""
    photons = rng.poisson(level / gain, draws) * gain if gain > 0 else np.full(draws, level)
    values = photons + rng.normal(0, read, draws)
    kept = values[(values > low) & (values < high)]
    return kept.mean(), kept.var()


@pytest.mark.parametrize(("level", "gain", "read", "low", "high"), [
    (100.0, 30.0, 40.0, 0.0, np.inf),      # a 16-bit dark background, 1.5 deviations from black
    (60.0, 10.0, 20.0, 0.0, 65535.0),      # 1.3 deviations
    (4.0, 1.0, 2.0, 0.0, 255.0),           # an 8-bit dark level
    (228.0, 2.0, 3.0, 0.0, 255.0),         # near white, 1.2 deviations
    (5.0, 0.0, 5.0, 0.0, 255.0),           # Gaussian noise alone
])
def test_untruncated_levels_give_back_the_simulated_noise(level, gain, read, low, high):
    rng = np.random.default_rng(7)
    mean, variance = _kept_moments(rng, level, gain, read, low, high)
    assert variance < 0.97 * (gain * level + read**2)  # the clipping did cut a tail
    ends = (low, None if np.isinf(high) else high)
    xs, ys = untruncated_levels(np.array([mean]), np.array([variance]), gain, read**2, ends)
    sigma = np.sqrt(gain * level + read**2)
    assert xs[0] == pytest.approx(level, abs=0.01 * sigma)
    assert ys[0] == pytest.approx(gain * level + read**2, rel=0.01)


def test_levels_far_from_the_ends_are_left_as_they_are():
    xs, ys = np.array([0.3, 0.5]), np.array([0.01, 0.02])
    untouched = untruncated_levels(xs, ys, 0.02, 0.004, (None, None))
    np.testing.assert_allclose(untouched, (xs, ys), rtol=1e-9)


def _discs_on_black(seed, gain=30.0, read=40.0, background=100.0):
    """A 16-bit stack of blurred flat discs on a background about 1.5 deviations above 0."""
    rng = np.random.default_rng(seed)
    frames, side = 8, 160
    depth, rows, columns = np.mgrid[0:frames, 0:side, 0:side]
    brightness = np.zeros((frames, side, side))
    for _ in range(30):
        centre = rng.uniform(0, frames), *rng.uniform(0, side, 2)
        inside = (((depth - centre[0]) * 2) ** 2 + (rows - centre[1]) ** 2
                  + (columns - centre[2]) ** 2) < rng.uniform(4, 12) ** 2
        brightness = np.maximum(brightness, rng.uniform(0.05, 0.8) * inside)
    clean = background + gaussian_filter(brightness, (0, 1.5, 1.5)) * 65535
    counts = gain * rng.poisson(clean / gain) + rng.normal(0, read, clean.shape)
    return np.clip(np.rint(counts), 0, 65535).astype(np.uint16)


@pytest.mark.parametrize("seed", [100, 101, 102])
def test_a_background_that_clips_at_black_places_the_read_noise(seed):
    # Left out within CLIPPED_END_DEVIATIONS of black, the background took the read noise to
    # a third of the truth (the brightest levels' extrapolation, under the lattice's floor).
    stack = _discs_on_black(seed)
    assert 0.01 < np.mean(stack == 0) < 0.1
    gain, read = estimate_noise(stack, model="poisson-gaussian")
    assert gain == pytest.approx(30, rel=0.2)
    assert read == pytest.approx(40, rel=0.3)
