"""Recreate the sample images from scikit-image's bundled images (run from the repository root).

Each is a 256x256 crop with Gaussian noise added in float and then rounded to the file's
bit depth: sigma 20 for the 8-bit ones, sigma 20 (0-255 scale) for the 16-bit one.
"""

from pathlib import Path

import imageio.v3 as iio
import numpy as np
from skimage import data

HERE = Path(__file__).parent
SIGMA = 20.0


def noisy(clean: np.ndarray, sigma: float, full_scale: int, dtype, rng) -> np.ndarray:
    values = clean.astype(np.float64) + rng.normal(0.0, sigma, clean.shape)
    return np.clip(np.rint(values), 0, full_scale).astype(dtype)


def main() -> None:
    rng = np.random.default_rng(2024)
    camera = data.camera()[64:320, 128:384]
    astronaut = data.astronaut()[30:286, 140:396]
    iio.imwrite(HERE / "camera_clean.png", camera)
    iio.imwrite(HERE / "camera_noisy.png", noisy(camera, SIGMA, 255, np.uint8, rng))
    iio.imwrite(HERE / "astronaut_noisy.png", noisy(astronaut, SIGMA, 255, np.uint8, rng))
    camera16 = camera.astype(np.uint16) * 257
    iio.imwrite(HERE / "camera16_noisy.png", noisy(camera16, SIGMA * 257, 65535, np.uint16, rng))


if __name__ == "__main__":
    main()
