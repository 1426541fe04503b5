"""Volumes with the learned method: each slice's network result mixed with the classic 3-D one.

Validation volumes, never tuned on (the mix's share was chosen on training volumes, see
``nlmeans_cli.methods.learned.VOLUME_NETWORK_SHARE``):

- each 10th photograph of ``../shared/data/train400`` (the validation split, 20 of them), 16
  slices of 164x164 panned a pixel a slice across it (every other one: down and across), as
  ``benchmarks/calibrate.py --volumes`` makes the training volumes;
- 10 synthetic fluorescence-like volumes of blurred cells (``benchmarks/poisson.py``'s
  generator, seeds 900 on; the training ones are seeds 300 on), 16x128x128, unit scale.

Gaussian noise of sigma 15, 25 and 50 added in float (seeded), sigma given. Columns: the
classic method in 3-D (its volume table), NL-means alone (its table's h given) and with every
default (each slice's second look), the learned method slice by slice (each slice a still),
the learned method on the volume (``--volume --method learned``), mean PSNR and seconds per
volume. Results go to ``benchmarks/results/volumes.{md,json}``.

    python benchmarks/volumes.py [--sigmas 15,25,50]
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from skimage.metrics import peak_signal_noise_ratio

from calibrate import DATA, load, panned, split
from nlmeans_cli import denoise, resolve_parameters
from poisson import fluorescence_stack

RESULTS = Path(__file__).resolve().parent / "results"


def validation_volumes():
    _, validation = split(DATA)
    photographs = [("photographs", panned(load(path), down=k % 2 == 1, side=164))
                   for k, path in enumerate(validation[:20])]
    cells = [("cells", (fluorescence_stack(seed, frames=16, side=128, cells=19)[0] / 65535)
              .astype(np.float32)) for seed in range(900, 910)]
    return photographs + cells


def timed(run):
    started = time.perf_counter()
    out = run()
    return out, time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sigmas", default="15,25,50")
    args = parser.parse_args()
    volumes = validation_volumes()
    methods = {
        "classic 3-D, NL-means alone": lambda noisy, s: denoise(
            noisy, sigma=s, h=resolve_parameters(noisy, sigma=s).h_unit),
        "classic 3-D": lambda noisy, s: denoise(noisy, sigma=s),
        "learned, slice by slice": lambda noisy, s: np.stack(
            [denoise(plane, sigma=s, method="learned") for plane in noisy]),
        "learned volume (mixed)": lambda noisy, s: denoise(noisy, sigma=s, method="learned"),
    }
    table = []
    for sigma in (float(value) for value in args.sigmas.split(",")):
        scores = {}
        for k, (kind, clean) in enumerate(volumes):
            noisy = clean + np.random.default_rng(7000 + k).normal(
                0, sigma / 255, clean.shape).astype(np.float32)
            for name, run in methods.items():
                out, seconds = timed(lambda run=run, noisy=noisy, s=sigma / 255: run(noisy, s))
                psnr = peak_signal_noise_ratio(clean, out, data_range=1)
                scores.setdefault((kind, name), []).append((psnr, seconds))
        for (kind, name), rows in scores.items():
            table.append({"sigma": sigma, "volumes": kind, "method": name,
                          "psnr": round(float(np.mean([p for p, _ in rows])), 3),
                          "seconds": round(float(np.mean([t for _, t in rows])), 3)})
            print(table[-1], flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "volumes.json").write_text(json.dumps(table, indent=1))
    lines = ["| sigma | volumes | " + " | ".join(methods) + " |",
             "|---|---|" + "---|" * len(methods)]
    for sigma in sorted({row["sigma"] for row in table}):
        for kind in ("photographs", "cells"):
            cells = {row["method"]: row for row in table
                     if row["sigma"] == sigma and row["volumes"] == kind}
            lines.append(f"| {sigma:g} | {kind} | " + " | ".join(
                f"{cells[name]['psnr']:.2f} ({cells[name]['seconds']:.2f} s)"
                for name in methods) + " |")
    (RESULTS / "volumes.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
