"""Where clipping hides the noise's growth: ``auto`` against both paths, stills and clips, 8 bits.

Every 10th image of ``../shared/data/train400`` (the validation split, 180x180). Heavy noise
saved in 8 bits clips at black and white, and a 180x180 photograph then leaves too few levels
clear of the clipping to show whether the noise grows with the level
(``Setting.growth_hidden``); ``auto`` then asks the Gaussian path's residual. For each noise,
over the photographs where the growth was hidden: how many the residual sent to the transform,
and the mean PSNR of ``auto`` against ``poisson-gaussian`` (and against ``gaussian``), before
the residual was asked (``auto`` was ``gaussian`` there) and now, as a mean over all the
photographs too. ``auto``'s output is one of the two paths' to the bit (tested), so each
photograph is denoised by both paths and ``auto``'s choice read from ``resolve_parameters``.

Noise, 0-255 scale: ``gain * Poisson(x / gain) + read_noise * N(0, 1)`` (written ``pG,R``)
or Gaussian (``sS``), rounded and clipped to 8 bits. Stills draw with seed 700 + k (``k`` the
photograph's place in the split); ``--clip-frames F`` makes each photograph a static clip of
F frames with a fresh draw each (seed 900 + the image's index in train400) and denoises it with
``denoise_clip``; ``--held-out-size`` takes stills of 481x321 instead, the held-out
photographs' size (3x2 validation photographs side by side, cut down: 6 of them), with two
draws each (seeds 500 + 10 k + draw); ``--volumes across`` (``down``) makes each photograph
a volume of 16 slices panned a pixel a slice across it (down and across it): 16x180x164
(16x164x164), seed 800 + k (810 + k). Run:
``python benchmarks/hidden_growth.py [--clip-frames F | --held-out-size | --volumes across|down]
[--noise p25,10 ...]``
"""

import argparse
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from skimage.metrics import peak_signal_noise_ratio

from nlmeans_cli import denoise, denoise_clip, resolve_parameters
from nlmeans_cli.parameters import request_for
from nlmeans_cli.spacetime import resolve_clip

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "train400"
NOISES = ("p25,10", "p20,10", "p25,15", "p50,15", "p15,10", "s25", "s35", "s50", "s75")


def noisy_draw(clean, noise, rng):
    """*clean* (0-255) with the noise named, rounded and clipped to 8 bits."""
    if noise.startswith("p"):
        gain, read = (float(part) for part in noise[1:].split(","))
        values = gain * rng.poisson(clean / gain) + rng.normal(0, read, clean.shape)
    else:
        values = clean + rng.normal(0, float(noise[1:]), clean.shape)
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def decide(noisy, frames):
    """Return ``auto``'s setting for a still (*frames* 0) or a clip."""
    if not frames:
        return resolve_parameters(noisy)
    return resolve_clip(lambda: noisy, request_for(noisy.dtype, noise="auto"), noisy.shape[1:],
                        n_frames=len(noisy), dtype=noisy.dtype)


def validation():
    """Return the validation split's photographs (0-255) with their indices in train400."""
    files = sorted(DATA.glob("*.png"))
    split = list(range(9, len(files), 10))
    return [(index, iio.imread(files[index]).astype(np.float64)) for index in split]


def held_out_sized(photographs):
    """Return stills of 481x321 (3x2 validation photographs, cut down), two seeds each."""
    stills = []
    for k, start in enumerate(range(0, len(photographs) - 5, 6)):
        images = [image for _, image in photographs[start:start + 6]]
        mosaic = np.block([images[:3], images[3:]])[:321, :481]
        stills.extend((500 + 10 * k + draw, mosaic) for draw in range(2))
    return stills


def panned(photographs, direction):
    """Return 16-slice volumes, each panned a pixel a slice across one photograph."""
    seed = {"across": 800, "down": 810}[direction]
    volumes = []
    for k, (_, image) in enumerate(photographs):
        if direction == "across":
            volume = np.stack([image[:, shift:shift + 164] for shift in range(16)])
        else:
            volume = np.stack([image[shift:shift + 164, shift:shift + 164] for shift in range(16)])
        volumes.append((seed + k, volume))
    return volumes


def one_noise(noise, frames, held_out_size=False, volumes=None):
    photographs = validation()
    if held_out_size:
        cases = held_out_sized(photographs)
    elif volumes:
        cases = panned(photographs, volumes)
    else:
        cases = [(900 + index if frames else 700 + k, clean)
                 for k, (index, clean) in enumerate(photographs)]
    rows = []
    for seed, clean in cases:
        if frames:
            rng = np.random.default_rng(seed)
            noisy = np.stack([noisy_draw(clean, noise, rng) for _ in range(frames)])
            clean = np.broadcast_to(clean, noisy.shape)
            run = denoise_clip
        else:
            noisy = noisy_draw(clean, noise, np.random.default_rng(seed))
            run = denoise
        setting = decide(noisy, frames)
        if not setting.growth_hidden:
            rows.append(None)
            continue
        scores = {path: peak_signal_noise_ratio(clean, run(noisy, noise=path).astype(float),
                                                data_range=255)
                  for path in ("gaussian", "poisson-gaussian")}
        rows.append((setting.stabiliser is not None, scores["gaussian"],
                     scores["poisson-gaussian"]))
    hidden = [row for row in rows if row is not None]
    took = sum(row[0] for row in hidden)
    before = np.array([gauss - photons for _, gauss, photons in hidden])
    now = np.array([(photons if stabilised else gauss) - photons
                    for stabilised, gauss, photons in hidden])
    gained = np.array([(photons if stabilised else gauss) - gauss
                       for stabilised, gauss, photons in hidden])
    total = len(rows)

    def mean(values, count):
        return values.sum() / count if count else 0.0

    return (f"| {noise} | {len(hidden)} / {total} | {took} | "
            f"{mean(before, len(hidden)):+.3f} | {mean(now, len(hidden)):+.3f} | "
            f"{mean(before, total):+.3f} | {mean(now, total):+.3f} | "
            f"{mean(gained, total):+.3f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip-frames", type=int, default=0,
                        help="static clips of this many frames (0: stills)")
    parser.add_argument("--held-out-size", action="store_true",
                        help="stills of 481x321 (3x2 validation photographs), two draws each")
    parser.add_argument("--volumes", choices=("across", "down"),
                        help="16-slice volumes panned across (down and across) each photograph")
    parser.add_argument("--noise", nargs="+", default=list(NOISES),
                        help="pGAIN,READ or sSIGMA, 0-255 scale")
    arguments = parser.parse_args()
    if sum(map(bool, (arguments.clip_frames, arguments.held_out_size, arguments.volumes))) > 1:
        parser.error("--clip-frames, --held-out-size and --volumes go one at a time")
    what = (f"180x180 clips of {arguments.clip_frames} frames" if arguments.clip_frames
            else "481x321 stills, two draws each" if arguments.held_out_size
            else f"16-slice volumes panned {arguments.volumes}" if arguments.volumes
            else "180x180 stills")
    print(f"Validation split, {what}, 8 bits. Mean dB over the photographs where the "
          "growth was hidden, then over all.")
    print("| noise | hidden | took the transform | auto - PG before | now | over all: before "
          "| now | auto now - before |")
    print("|---|---|---|---|---|---|---|---|")
    for noise in arguments.noise:
        print(one_noise(noise, arguments.clip_frames, arguments.held_out_size,
                        arguments.volumes), flush=True)


if __name__ == "__main__":
    main()
