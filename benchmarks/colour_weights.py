"""Which distance should colour weights come from? Joint RGB distance against luminance alone.

Runs the non-local operation on scikit-image's bundled colour photographs (centre crops,
float32, Gaussian noise without clipping) with one set of weights for all channels, computed
either from the mean squared distance over R, G and B jointly (equal to the distance over an
orthonormal opponent transform) or from the luminance (R + G + B) / sqrt(3) alone, with
parameters from the default table, and prints mean PSNR for each.

    python benchmarks/colour_weights.py
"""

import numpy as np
from skimage import data
from skimage.metrics import peak_signal_noise_ratio

from nlmeans_cli.engine import nonlocal_operation
from nlmeans_cli.parameters import default_parameters

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def main() -> None:
    rng = np.random.default_rng(0)
    print("| sigma | joint RGB | luminance only |\n|---|---|---|")
    for sigma in (15, 25, 50):
        s = sigma / 255
        row = default_parameters(sigma, 2)
        r, w = row.patch_size // 2, row.search_window // 2
        scores = {"joint": [], "luma": []}
        for name in PHOTOS:
            photo = getattr(data, name)().astype(np.float32) / 255
            r0, c0 = (photo.shape[0] - 256) // 2, (photo.shape[1] - 256) // 2
            clean = photo[r0 : r0 + 256, c0 : c0 + 256]
            noisy = clean + rng.normal(0, s, clean.shape).astype(np.float32)
            planar = np.ascontiguousarray(np.moveaxis(noisy, -1, 0)[:, :, None, :])
            luma = planar.sum(axis=0, keepdims=True) / np.float32(np.sqrt(3))
            common = dict(patch_radius=(r, 0, r), search_radius=(w, 0, w), bias=2 * s * s,
                          h=row.h_factor * s)
            n = (2 * r + 1) ** 2
            joint = nonlocal_operation(planar, None, planar, scale=1 / (3 * n), **common)
            luma_only = nonlocal_operation(luma, luma, planar, scale=1 / n, **common)
            for key, out in (("joint", joint), ("luma", luma_only)):
                estimate = np.moveaxis(out[:, :, 0, :], 0, -1)
                scores[key].append(peak_signal_noise_ratio(clean, estimate, data_range=1))
        print(f"| {sigma} | {np.mean(scores['joint']):.2f} | {np.mean(scores['luma']):.2f} |")


if __name__ == "__main__":
    main()
