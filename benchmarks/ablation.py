"""Ablation of the classic method's choices on the train400 validation split.

Each row adds one choice to the one above, all with sigma given, on the 40 validation images
of ``benchmarks/quality.py`` (noise seeds as there): the patch kernel, the recalibrated table,
the per-image h by SURE. For colour (sigma 25, the photographs of ``benchmarks/quality.py``)
the chroma strength: ``h_chroma = h`` (every channel weighted alike, as before) against the
default ``2 h``. Results: ``benchmarks/results/ablation.{md,json}``.

    python benchmarks/ablation.py [--data DIR]
"""

import argparse
import json
from pathlib import Path

import numpy as np
from skimage.metrics import peak_signal_noise_ratio

from nlmeans_cli import denoise, resolve_parameters
from nlmeans_cli.parameters import default_parameters
from quality import DATA, colour_photographs, validation

RESULTS = Path(__file__).resolve().parent / "results"
SIGMAS = (15, 25, 50)


def rows_for(sigma: float):
    s = sigma / 255
    table = default_parameters(sigma, 2)
    h = table.h_factor * s
    fixed = dict(sigma=s, h=h, patch_size=table.patch_size, search_window=table.search_window)
    return {
        # The defaults this project shipped before: box patches, h = 0.7 sigma at 25.
        "before: box, p7 w15 (15: p5), h from the old table": dict(
            sigma=s, patch_kernel="box", patch_size=5 if sigma < 17.5 else 7 if sigma <= 30
            else 9, search_window=15 if sigma <= 30 else 21,
            h=(0.9 if sigma < 17.5 else 0.7 if sigma <= 30 else 0.55) * s),
        "new table, box patches": {**fixed, "patch_kernel": "box"},
        "new table (patch kernel as calibrated), table h": {**fixed,
                                                            "patch_kernel": table.patch_kernel},
        "+ h by SURE (the default)": dict(sigma=s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    images = validation(args.data)
    results = {"grey": {}, "colour": {}}
    for sigma in SIGMAS:
        s = sigma / 255
        noisy = [clean + np.random.default_rng(1000 * sigma + k).normal(0, s, clean.shape)
                 .astype(np.float32) for k, (_, clean) in enumerate(images)]
        results["grey"][sigma] = {
            name: float(np.mean([peak_signal_noise_ratio(clean, denoise(n, **kwargs),
                                                         data_range=1)
                                 for (_, clean), n in zip(images, noisy, strict=True)]))
            for name, kwargs in rows_for(sigma).items()}
        print(sigma, results["grey"][sigma], flush=True)
    s = 25 / 255
    photos = colour_photographs()
    for name, factor in (("h_chroma = h", 1.0), ("h_chroma = 2 h (the default)", 2.0)):
        scores = []
        for k, (_, clean) in enumerate(photos):
            noisy = clean + np.random.default_rng(25000 + k).normal(0, s, clean.shape).astype(
                np.float32)
            chosen = resolve_parameters(noisy, sigma=s, channel_axis=-1)
            out = denoise(noisy, sigma=s, channel_axis=-1, h=chosen.h_unit,
                          h_chroma=factor * chosen.h_unit)
            scores.append(peak_signal_noise_ratio(clean, out, data_range=1))
        results["colour"][name] = float(np.mean(scores))
    print(results["colour"], flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ablation.json").write_text(json.dumps(results, indent=1) + "\n")
    lines = ["| grey, sigma given | " + " | ".join(str(s) for s in SIGMAS) + " |",
             "|---|" + "---|" * len(SIGMAS)]
    for name in rows_for(25):
        lines.append(f"| {name} | " + " | ".join(f"{results['grey'][s][name]:.2f}"
                                                for s in SIGMAS) + " |")
    lines += ["", "| colour, sigma 25 | PSNR |", "|---|---|"]
    lines += [f"| {name} | {value:.2f} |" for name, value in results["colour"].items()]
    (RESULTS / "ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
