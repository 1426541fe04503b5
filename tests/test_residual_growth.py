"""The Gaussian path's residual: whether noise growing with the level explains it better."""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.stats import norm

from nlmeans_cli.residual_growth import (
    RESIDUAL_GROWTH_BAR,
    pilot_centres,
    residual_growth,
    residual_shows_growth,
)


def _ramp(rows=64):
    """Levels from -0.25 to 1.23 across 96 columns, in exact steps of 1/64.

    Its 3x3 range is the same everywhere inside (and less at the sides), so every position
    counts as calm and a reference can take them all.
    """
    return np.tile((np.arange(96) - 16) / 64.0, (rows, 1))


def _clipped(values):
    return np.clip(values, 0.0, 1.0)


def _reference_growth(noisy, levels, ends):
    """The same gain per pixel by scipy's normal log density and tails, over a fine grid."""
    y, x = noisy.ravel(), np.maximum(levels.ravel(), 0.0)
    mean = x.mean()
    below, above = y <= ends[0], y >= ends[1]
    inside = ~(below | above)

    def log_likelihood(share, scale):
        std = np.sqrt(scale * ((1 - share) + share * x / mean))
        return (norm.logpdf(y[inside], x[inside], std[inside]).sum()
                + norm.logcdf(y[below], x[below], std[below]).sum()
                + norm.logsf(y[above], x[above], std[above]).sum())

    def best(share):
        found = minimize_scalar(lambda log_scale: -log_likelihood(share, np.exp(log_scale)),
                                bounds=(np.log(1e-5), np.log(1.0)), method="bounded",
                                options={"xatol": 1e-9})
        return -found.fun

    growing = max(best(share) for share in np.linspace(0.01, 0.99, 99))
    return max(growing - best(0.0), 0.0) / y.size


@pytest.mark.parametrize("kind", ["photons", "gaussian"])
def test_residual_growth_matches_a_slow_reference(kind):
    rng = np.random.default_rng(3)
    levels = _ramp()
    if kind == "photons":  # gain 0.08 (20 levels of 255), read noise 0.03
        noise = np.sqrt(0.08 * np.maximum(levels, 0) + 0.03**2) * rng.normal(size=levels.shape)
    else:
        noise = 0.15 * rng.normal(size=levels.shape)
    noisy = _clipped(levels + noise)
    ours = residual_growth(noisy, levels, (0.0, 1.0))
    reference = _reference_growth(noisy, levels, (0.0, 1.0))
    # Ours tries fewer shares, so it may fall a little short, never above.
    assert ours <= reference + 1e-9
    assert ours >= 0.9 * reference - 1e-6
    if kind == "photons":
        assert reference > 10 * max(RESIDUAL_GROWTH_BAR.values())
    else:
        assert reference < 0.1 * min(RESIDUAL_GROWTH_BAR.values())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_photon_noise_shows_growth_and_gaussian_noise_does_not(seed):
    rng = np.random.default_rng(seed)
    levels = _ramp()
    photons = _clipped(0.1 * rng.poisson(np.maximum(levels, 0) / 0.1)
                       + rng.normal(0, 0.04, levels.shape))
    # One sigma of the photon noise's mean variance over the ramp.
    gaussian = _clipped(levels + rng.normal(0, 0.2, levels.shape))
    for axes in (2, 3):
        assert residual_shows_growth(photons, levels, (0.0, 1.0), spatial_axes=axes)
        assert not residual_shows_growth(gaussian, levels, (0.0, 1.0), spatial_axes=axes)
    # Unclipped photon noise shows it as well.
    assert residual_shows_growth(levels + 0.2 * rng.normal(size=levels.shape)
                                 * np.sqrt(np.maximum(levels, 0.05)), levels, (None, None))


def test_no_residual_is_no_growth():
    levels = _ramp()
    assert residual_growth(levels, levels, (None, None)) == 0.0
    assert not residual_shows_growth(levels, levels, (None, None))


def test_a_volume_s_bar_is_lower_than_a_still_s():
    # Noise whose variance grows by a third of it across a ramp: a growth a volume's bar
    # takes and a still's does not.
    levels = np.tile((np.arange(96) + 16) / 128.0, (128, 1))
    std = 0.05 * np.sqrt(0.7 + 0.3 * levels / levels.mean())
    noisy = levels + std * np.random.default_rng(1).normal(size=levels.shape)
    growth = residual_growth(noisy, levels, (None, None))
    assert RESIDUAL_GROWTH_BAR[3] <= growth < RESIDUAL_GROWTH_BAR[2]
    assert residual_shows_growth(noisy, levels, (None, None), spatial_axes=3)
    assert not residual_shows_growth(noisy, levels, (None, None), spatial_axes=2)
    assert not residual_shows_growth(noisy, levels, (None, None))
    with pytest.raises(ValueError, match="spatial_axes"):
        residual_shows_growth(noisy, levels, (None, None), spatial_axes=4)


def test_shapes_must_match():
    with pytest.raises(ValueError, match="shape"):
        residual_growth(np.zeros((8, 8)), np.zeros((8, 9)), (None, None))


@pytest.mark.parametrize(("shape", "side"), [((1, 600, 300, 1), (512, 300)),
                                             ((4, 600, 700, 3), (256, 256)),
                                             ((9, 100, 90, 1), (100, 90)),
                                             ((1, 80, 70, 66, 1), (64, 64, 64)),
                                             ((8, 80, 70, 66, 1), (32, 32, 32))])
def test_pilot_centres_keep_each_image_s_centre(shape, side):
    images = np.random.default_rng(3).random(shape)
    centres = pilot_centres(images)
    assert centres.shape == (shape[0], *side, shape[-1])
    assert centres.flags.c_contiguous
    for image, centre in zip(images, centres, strict=True):
        corner = [(length - size) // 2 for length, size in zip(shape[1:-1], side, strict=True)]
        window = tuple(slice(start, start + size) for start, size in zip(corner, side,
                                                                          strict=True))
        np.testing.assert_array_equal(centre, image[window])
