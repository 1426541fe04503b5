"""The learned network against the classic method and BM3D: PSNR, time, memory, ablation.

1. The validation split of train400 (every 10th image, never trained on), sigma 15, 25 and
   50, grey, noise seeded as in ``benchmarks/quality.py`` (not clipped), sigma given to every
   method: the shipped network, the classic method, BM3D (``bm3d.bm3d``).
2. Larger photographs none of the methods saw: scikit-image's and PyWavelets' 512x512 grey
   images (camera, moon, brick, grass, gravel, ascent), sigma 25; and smooth, clean ones, the
   481x321 centre crops (the size of the usual held-out photographs) of scikit-image's
   astronaut, chelsea (whole: 451x300), coffee, rocket and camera in grey, sigma 25.
3. Colour, sigma 25: the colour photographs of ``benchmarks/quality.py`` (256x256 crops):
   the network per opponent channel, the classic method, CBM3D (``bm3d.bm3d_rgb``).
4. Noise levels between and beyond the shipped ones (1 to 75) on the first 10 validation
   images: the network nearest in log sigma, the image scaled to its level.
5. Time on a 1024x1024 grey mosaic of validation images, side by side with BM3D (ours the
   median of three runs, BM3D's too); the peak memory of ``nlm denoise --method learned`` on a
   4096x4096 image (``--memory``).
6. Ablation (``ABLATION_DIR``, from ``scripts/train_shipped_models.sh --ablation``): every
   network there on the validation split at sigma 25.

Results go to ``benchmarks/results/learned.{md,json}``.

    python benchmarks/learned.py [--ablation ABLATION_DIR] [--memory] [--quick]
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from skimage import data
from skimage.metrics import peak_signal_noise_ratio

from nlmeans_cli import denoise
from quality import DATA, colour_photographs, validation

RESULTS = Path(__file__).resolve().parent / "results"
SIGMAS = (15, 25, 50)
SWEEP = (1, 2, 3, 5, 10, 20, 35, 75)
LARGE = ("camera", "moon", "brick", "grass", "gravel", "ascent")
SMOOTH = ("astronaut", "chelsea", "coffee", "rocket", "camera")


def noisy_of(clean, sigma, k):
    return clean + np.random.default_rng(1000 * sigma + k).normal(
        0, sigma / 255, clean.shape).astype(np.float32)


def psnr(clean, estimate):
    return float(peak_signal_noise_ratio(clean, np.asarray(estimate, np.float32),
                                         data_range=1))


def runners(colour=False, model=None):
    import bm3d

    axis = -1 if colour else None
    out = {
        "learned": lambda n, s: denoise(n, sigma=s, method="learned", channel_axis=axis,
                                        model=model),
        "classic": lambda n, s: denoise(n, sigma=s, channel_axis=axis),
        "bm3d": (lambda n, s: bm3d.bm3d_rgb(n, s)) if colour else (lambda n, s: bm3d.bm3d(n, s)),
    }
    return out


PEERS = RESULTS / "learned_peers.json"


def score(images, sigma, chosen, colour=False, key=None):
    """Mean PSNR and seconds per method; the peers' (classic, BM3D) are cached under *key*."""
    cache = json.loads(PEERS.read_text()) if PEERS.exists() else {}
    cached = cache.get(key, {}) if key else {}
    table = {}
    for k, (_, clean) in enumerate(images):
        noisy = noisy_of(clean, sigma, k)
        for name, run in chosen.items():
            if name in cached:
                continue
            started = time.perf_counter()
            estimate = run(noisy, sigma / 255)
            table.setdefault(name, []).append((psnr(clean, estimate),
                                               time.perf_counter() - started))
    result = {name: {"psnr": round(float(np.mean([p for p, _ in rows])), 3),
                     "seconds": round(float(np.mean([t for _, t in rows])), 3)}
              for name, rows in table.items()}
    if key:
        peers = {name: value for name, value in result.items() if name != "learned"}
        cache[key] = {**cached, **peers}
        PEERS.parent.mkdir(exist_ok=True)
        PEERS.write_text(json.dumps(cache, indent=1))
        result = {**result, **cached}
    return result


def large_photographs():
    import pywt.data

    out = []
    for name in LARGE:
        image = pywt.data.ascent() if name == "ascent" else getattr(data, name)()
        image = np.asarray(image, np.float32)
        out.append((name, image[:512, :512] / 255))
    return out


def smooth_photographs():
    from skimage.color import rgb2gray

    out = []
    for name in SMOOTH:
        image = getattr(data, name)()
        image = rgb2gray(image) if image.ndim == 3 else image / 255
        # (chelsea, 300x451, whole)
        rows, columns = min(321, image.shape[0]), min(481, image.shape[1])
        top, left = (image.shape[0] - rows) // 2, (image.shape[1] - columns) // 2
        out.append((name, np.asarray(image[top:top + rows, left:left + columns], np.float32)))
    return out


def mosaic(images, side=1024):
    tiles = [clean for _, clean in images]
    rows = []
    k = 0
    while sum(r.shape[0] for r in rows) < side:
        row = []
        while sum(t.shape[1] for t in row) < side:
            row.append(tiles[k % len(tiles)])
            k += 1
        rows.append(np.concatenate(row, axis=1)[:, :side])
    return np.concatenate(rows, axis=0)[:side]


def timing(val):
    import bm3d

    clean = mosaic(val)
    noisy = noisy_of(clean, 25, 0)
    denoise(noisy[:64, :64], sigma=25 / 255, method="learned")  # load kernels and model
    times = {}
    # Each the median of three runs (BM3D's take about a minute): one run of BM3D swung the
    # ratio from 0.089 to 0.104 between two calls of this function.
    for name, run, repeats in (
            ("learned", lambda: denoise(noisy, sigma=25 / 255, method="learned"), 3),
            ("classic", lambda: denoise(noisy, sigma=25 / 255), 3),
            ("bm3d", lambda: bm3d.bm3d(noisy, 25 / 255), 3)):
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            estimate = run()
            seconds.append(time.perf_counter() - started)
        times[name] = {"seconds": round(float(np.median(seconds)), 2),
                       "psnr": round(psnr(clean, estimate), 2)}
    times["learned_over_bm3d"] = round(times["learned"]["seconds"]
                                       / times["bm3d"]["seconds"], 3)
    return times


def peak_memory(side=4096):
    """Peak resident memory of nlm denoise --method learned on a side x side PNG."""
    import imageio.v3 as iio

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "big.png"
        iio.imwrite(source, rng.integers(0, 256, (side, side), dtype=np.uint8))
        code = ("import resource, sys; from nlmeans_cli.cli import main; "
                "sys.argv = ['nlm', 'denoise', sys.argv[1], sys.argv[2], '--method', "
                "'learned', '--sigma', '25', '-q'];\ntry:\n    main()\nexcept SystemExit:\n"
                "    pass\nprint(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-c", code, str(source),
                                 str(Path(folder) / "out.png")],
                                capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - started
    return {"side": side, "peak_mib": round(int(result.stdout.split()[-1]) / 1024),
            "seconds": round(seconds, 1)}


def ablation(folder, val):
    from nlmeans_cli.methods.model_files import load_model

    rows = {}
    for path in sorted(Path(folder).glob("*.npz")):
        network = load_model(path)
        rows[path.stem] = {
            "psnr": score(val, 25, {"net": runners(model=path)["learned"]})["net"]["psnr"],
            "parameters": network.parameters,
            "training_seconds": network.info.get("training_seconds"),
        }
    return rows


def markdown(results):
    lines = ["# Learned network (issue 16)", "",
             "Mean PSNR (dB), sigma given; the validation split of train400 (40 images, "
             "never trained on).", "",
             "| sigma | learned | classic | BM3D | learned - BM3D |", "|---|---|---|---|---|"]
    for sigma, row in results["validation"].items():
        lines.append(f"| {sigma} | {row['learned']['psnr']:.2f} | {row['classic']['psnr']:.2f} "
                     f"| {row['bm3d']['psnr']:.2f} | "
                     f"{row['learned']['psnr'] - row['bm3d']['psnr']:+.2f} |")
    for key, title in (("large", "512x512 grey photographs (camera, moon, brick, grass, "
                                 "gravel, ascent), sigma 25"),
                       ("smooth", "481x321 grey crops of astronaut, chelsea, coffee, rocket "
                                  "and camera, sigma 25"),
                       ("colour", "Colour photographs (256x256 crops), sigma 25; BM3D is "
                                  "CBM3D")):
        if key in results:
            row = results[key]
            lines += ["", f"{title}: learned {row['learned']['psnr']:.2f}, classic "
                          f"{row['classic']['psnr']:.2f}, BM3D {row['bm3d']['psnr']:.2f} dB."]
    if "sweep" in results:
        lines += ["", "Other noise levels (10 validation images): sigma | learned | classic",
                  "", "| sigma | learned | classic |", "|---|---|---|"]
        lines += [f"| {s} | {r['learned']['psnr']:.2f} | {r['classic']['psnr']:.2f} |"
                  for s, r in results["sweep"].items()]
    if "timing" in results:
        t = results["timing"]
        lines += ["", f"1024x1024 grey, sigma 25: learned {t['learned']['seconds']} s, classic "
                      f"{t['classic']['seconds']} s, BM3D {t['bm3d']['seconds']} s "
                      f"(learned / BM3D = {t['learned_over_bm3d']})."]
    if "memory" in results:
        m = results["memory"]
        lines += ["", f"`nlm denoise --method learned` on {m['side']}x{m['side']}: peak "
                      f"{m['peak_mib']} MiB resident, {m['seconds']} s."]
    if "ablation" in results:
        lines += ["", "Ablation, sigma 25, validation split (same steps for each):", "",
                  "| network | PSNR | parameters |", "|---|---|---|"]
        lines += [f"| {name} | {row['psnr']:.2f} | {row['parameters']} |"
                  for name, row in results["ablation"].items()]
    return "\n".join(lines) + "\n"


def measure(args, chosen, previous):
    """Every section the arguments ask for; the last run's ablation when not rerun."""
    val = validation(DATA)
    results = {"validation": {}}
    for sigma in SIGMAS:
        results["validation"][sigma] = score(val, sigma, chosen(), key=f"validation{sigma}")
        print(sigma, results["validation"][sigma], flush=True)
    if not args.quick:
        results["large"] = score(large_photographs(), 25, chosen(), key="large25")
        print("large", results["large"], flush=True)
        results["smooth"] = score(smooth_photographs(), 25, chosen(), key="smooth25")
        print("smooth", results["smooth"], flush=True)
        results["colour"] = score(colour_photographs(), 25, chosen(colour=True), colour=True,
                                  key="colour25")
        print("colour", results["colour"], flush=True)
        plain = {k: v for k, v in chosen().items() if k != "bm3d"}
        results["sweep"] = {s: score(val[:10], s, plain, key=f"sweep{s}") for s in SWEEP}
        if not args.peers_only:
            results["timing"] = timing(val)
            print("timing", results["timing"], flush=True)
    if args.memory:
        results["memory"] = peak_memory()
    if args.ablation:
        results["ablation"] = ablation(args.ablation, val)
    elif "ablation" in previous:
        # The ablation's networks are not shipped: keep the last run's table.
        results["ablation"] = previous["ablation"]
    results["self_peak_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ablation", type=Path)
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--quick", action="store_true", help="validation table only")
    parser.add_argument("--smooth-only", action="store_true",
                        help="the smooth photographs only, added to the last results")
    parser.add_argument("--peers-only", action="store_true",
                        help="score (and cache) the classic method and BM3D only")
    args = parser.parse_args()

    def chosen(colour=False):
        every = runners(colour=colour)
        return ({k: v for k, v in every.items() if k != "learned"} if args.peers_only
                else every)

    last = RESULTS / "learned.json"
    previous = json.loads(last.read_text()) if last.exists() else {}
    if args.smooth_only:
        results = {**previous,
                   "smooth": score(smooth_photographs(), 25, chosen(), key="smooth25")}
    else:
        results = measure(args, chosen, previous)
    if args.peers_only:
        return
    RESULTS.mkdir(exist_ok=True)
    last.write_text(json.dumps(results, indent=1))
    (RESULTS / "learned.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
