"""Synthetic test images shared by several test modules."""

import numpy as np


def noisy_ramp(rng, shape, dtype=np.uint8):
    """A horizontal ramp with Gaussian noise, in *dtype*'s range (float: [0, 1])."""
    top = np.iinfo(dtype).max if np.dtype(dtype).kind == "u" else 1.0
    ramp = np.linspace(0.2, 0.8, shape[1]).reshape((1, shape[1]) + (1,) * (len(shape) - 2))
    values = np.clip(ramp + rng.normal(0, 0.1, shape), 0, 1) * top
    return (np.rint(values) if np.dtype(dtype).kind == "u" else values).astype(dtype)
