"""Synthetic test images shared by several test modules."""

import numpy as np


def noisy_ramp(rng, shape, dtype=np.uint8):
    """A horizontal ramp with Gaussian noise, in *dtype*'s range (float: [0, 1])."""
    top = np.iinfo(dtype).max if np.dtype(dtype).kind == "u" else 1.0
    ramp = np.linspace(0.2, 0.8, shape[1]).reshape((1, shape[1]) + (1,) * (len(shape) - 2))
    values = np.clip(ramp + rng.normal(0, 0.1, shape), 0, 1) * top
    return (np.rint(values) if np.dtype(dtype).kind == "u" else values).astype(dtype)


def fluorescence_cells(rng, frames, side, cells):
    """Clean levels of a fluorescence-like stack, unit scale, on a background of 0.01.

    Gaussian cells (sigma 6 pixels across, 3 frames deep) of random brightness.
    """
    z, y, x = np.mgrid[0:frames, 0:side, 0:side]
    brightness = np.zeros((frames, side, side))
    for _ in range(cells):
        cz, cy, cx = rng.uniform(0, frames), rng.uniform(0, side), rng.uniform(0, side)
        brightness += rng.uniform(0.2, 0.8) * np.exp(-((z - cz) ** 2 * 4 + (y - cy) ** 2
                                                       + (x - cx) ** 2) / (2 * 6.0**2))
    return 0.01 + np.clip(brightness, 0, 0.9)


def panned_clip(rng, n_frames=8, shape=(48, 64), sigma=25.0, colour=False):
    """A crop panned across a natural image by a pixel or two per frame, with noise in float."""
    from skimage import data

    image = data.astronaut() if colour else data.camera()
    steps = np.cumsum(rng.integers(1, 3, size=(n_frames, 2)), axis=0)
    clean = np.stack([image[120 + a : 120 + a + shape[0], 150 + b : 150 + b + shape[1]]
                      for a, b in steps]).astype(np.float32)
    noisy = clean + rng.normal(0, sigma, clean.shape).astype(np.float32)
    return clean, noisy
