"""Quality on images never tuned on: the train400 validation split, and colour photographs.

Grey: the 40 validation images of ``../shared/data/train400`` (every 10th, test_010 ...
test_400; ``benchmarks/calibrate.py`` tunes on the others), whole 180x180, Gaussian noise added
in float without clipping (a seed per image), sigma given to every method (ours also with
sigma estimated). Compared side by side:

- ours with every default (``denoise(noisy, sigma=s)``: table patch and window, h by SURE);
- scikit-image's ``denoise_nl_means``, fast mode with its documented example settings
  (patch 5, distance 6, ``h = 0.8 sigma``) and slow mode with its defaults (patch 7, distance
  11, ``h = 0.8 sigma``);
- OpenCV's ``fastNlMeansDenoising`` on the 8-bit rounded noisy image (its only input type),
  template 7, search 21, ``h = sigma``;
- BM3D (the ``bm3d`` package, ``sigma_psd = sigma``), when installed.

Colour, sigma 25: scikit-image's bundled colour images not used to measure the chroma
strength (which used astronaut, chelsea, rocket and coffee): the left motorcycle view, the
Hubble deep field, the immunohistochemistry slide and the retina, 256x256 centre crops; ours,
scikit-image fast mode (``channel_axis``), OpenCV's ``fastNlMeansDenoisingColored`` and CBM3D
(``bm3d.bm3d_rgb``).

Results: ``benchmarks/results/quality.{md,json}``.

    python benchmarks/quality.py [--data DIR] [--limit N]
"""

import argparse
import json
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from skimage import data
from skimage.metrics import peak_signal_noise_ratio
from skimage.restoration import denoise_nl_means

from nlmeans_cli import denoise

SIGMAS = (15, 25, 50)
DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "train400"
RESULTS = Path(__file__).resolve().parent / "results"
COLOUR = ("stereo_motorcycle", "hubble_deep_field", "immunohistochemistry", "retina")


def validation(folder: Path) -> list[tuple[str, np.ndarray]]:
    names = sorted(folder.glob("test_*.png"))
    return [(p.name, iio.imread(p).astype(np.float32) / 255)
            for k, p in enumerate(names, start=1) if k % 10 == 0]


def colour_photographs(size: int = 256) -> list[tuple[str, np.ndarray]]:
    out = []
    for name in COLOUR:
        image = getattr(data, name)()
        image = image[0] if name == "stereo_motorcycle" else image
        r0, c0 = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
        out.append((name, image[r0 : r0 + size, c0 : c0 + size, :3].astype(np.float32) / 255))
    return out


def methods(colour: bool) -> dict:
    import cv2

    axis = -1 if colour else None

    def opencv(noisy, s):
        eight = np.clip(np.rint(noisy * 255), 0, 255).astype(np.uint8)
        if colour:
            out = cv2.fastNlMeansDenoisingColored(eight, None, s * 255, s * 255, 7, 21)
        else:
            out = cv2.fastNlMeansDenoising(eight, None, s * 255, 7, 21)
        return out.astype(np.float32) / 255

    found = {
        "ours": lambda n, s: denoise(n, sigma=s, channel_axis=axis),
        "ours, sigma estimated": lambda n, s: denoise(n, channel_axis=axis),
        "skimage fast": lambda n, s: denoise_nl_means(n, patch_size=5, patch_distance=6,
                                                      h=0.8 * s, sigma=s, fast_mode=True,
                                                      channel_axis=axis),
        "opencv": opencv,
    }
    if not colour:
        found["skimage slow"] = lambda n, s: denoise_nl_means(n, patch_size=7,
                                                              patch_distance=11, h=0.8 * s,
                                                              sigma=s, fast_mode=False)
    try:
        import bm3d

        found["bm3d"] = ((lambda n, s: bm3d.bm3d_rgb(n, s)) if colour
                         else (lambda n, s: bm3d.bm3d(n, sigma_psd=s)))
    except ImportError:
        pass
    return found


def score(images, sigma, colour):
    s = sigma / 255
    table = {}
    for k, (_, clean) in enumerate(images):
        noisy = clean + np.random.default_rng(1000 * sigma + k).normal(
            0, s, clean.shape).astype(np.float32)
        for method, run in methods(colour).items():
            started = time.perf_counter()
            estimate = np.asarray(run(noisy, s), np.float32)
            seconds = time.perf_counter() - started
            psnr = peak_signal_noise_ratio(clean, estimate, data_range=1)
            table.setdefault(method, []).append((psnr, seconds))
    return {m: {"psnr": float(np.mean([p for p, _ in v])),
                "seconds": float(np.mean([t for _, t in v]))} for m, v in table.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    grey = validation(args.data)[: args.limit]
    denoise(grey[0][1][:32, :32], sigma=0.1)  # load the kernels once
    results = {"grey": {}, "colour": {}}
    for sigma in SIGMAS:
        results["grey"][sigma] = score(grey, sigma, colour=False)
        print(f"grey sigma {sigma}: " + ", ".join(
            f"{m} {v['psnr']:.2f}" for m, v in results["grey"][sigma].items()), flush=True)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "quality.json").write_text(json.dumps(results, indent=1) + "\n")
    results["colour"][25] = score(colour_photographs(), 25, colour=True)
    print("colour sigma 25: " + ", ".join(
        f"{m} {v['psnr']:.2f}" for m, v in results["colour"][25].items()), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "quality.json").write_text(json.dumps(results, indent=1) + "\n")
    lines = []
    for kind, by_sigma in results.items():
        names = list(next(iter(by_sigma.values())))
        lines += [f"\n{kind}: mean PSNR (dB) / seconds per image\n",
                  "| sigma | " + " | ".join(names) + " |",
                  "|---|" + "---|" * len(names)]
        for sigma, row in by_sigma.items():
            lines.append(f"| {sigma} | " + " | ".join(
                f"{row[n]['psnr']:.2f} / {row[n]['seconds']:.3f}" for n in names) + " |")
    (RESULTS / "quality.md").write_text("\n".join(lines).lstrip() + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
