"""Clips and volumes: spacetime denoising against frame by frame, OpenCV and scikit-image.

Clips: a 240x320 crop panned across each of scikit-image's bundled grey photographs (camera,
and astronaut, coffee and chelsea converted to grey), moving one or two pixels per frame along
each axis (seeded), 16 frames, Gaussian noise of sigma 25 added in float. Every method gets
sigma and a clip's default patch, window and h for it (NL-means alone, where h is given):

- ours frame by frame (``--temporal-window 0``) and with temporal windows 1, 2 (the default)
  and 3, on the float clip: NL-means alone, as h is given;
- ours with every default but sigma (temporal window 2, h from the table, so each frame
  takes its second look over the frames either side), on the float clip;
- the learned method frame by frame and with temporal window 2 (each frame's network result
  mixed with the classic method's spacetime one after its second look), on the float clip,
  run once each;
- ours and OpenCV's ``fastNlMeansDenoisingMulti`` on the same clip rounded and clipped to
  uint8 (OpenCV takes only 8-bit frames), with ``temporalWindowSize = 2 T + 1``, the same
  template and search windows and the same h. OpenCV needs the frame in the middle of its
  list, so at either end of the clip it gets the window reflected, as ours is.

Volumes: a 48x96x96 volume cut from the panned clip of camera (time as depth) and a smoothed
3-D blob volume, noise sigma 25 in float, against ``skimage.restoration.denoise_nl_means`` in
fast mode with the same patch, window (``patch_distance = window // 2``), h and sigma; and
ours with the same patch and window but h not given (the table's, each slice then taking its
second look).

Mean PSNR over frames and seconds per frame (medians of 3 runs after a warm-up) are written
to ``benchmarks/results/clips.{md,json}``.

    python benchmarks/clips.py
"""

import json
import platform
import time
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage
from skimage import color, data
from skimage.metrics import peak_signal_noise_ratio
from skimage.restoration import denoise_nl_means

from nlmeans_cli import denoise
from nlmeans_cli.parameters import Request, default_parameters
from nlmeans_cli.spacetime import denoise_clip, resolve_frames

RESULTS = Path(__file__).resolve().parent / "results"
SIGMA = 25.0
FRAMES, ROWS, COLUMNS = 16, 240, 320
REPEATS = 3


def grey_photographs():
    yield "camera", data.camera()
    for name in ("astronaut", "coffee", "chelsea"):
        yield name, (color.rgb2gray(getattr(data, name)()) * 255).astype(np.uint8)


def panned(image, rng, n_frames=FRAMES, rows=ROWS, columns=COLUMNS):
    steps = np.cumsum(rng.integers(1, 3, size=(n_frames, 2)), axis=0)
    steps -= steps[0]
    top = (image.shape[0] - rows - steps[-1, 0]) // 2
    left = (image.shape[1] - columns - steps[-1, 1]) // 2
    return np.stack([image[top + a : top + a + rows, left + b : left + b + columns]
                     for a, b in steps]).astype(np.float32)


def mean_psnr(clean, estimate):
    return float(np.mean([peak_signal_noise_ratio(c, e, data_range=255)
                          for c, e in zip(clean, estimate, strict=True)]))


def median_seconds(function):
    times, result = [], None
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return result, float(np.median(times))


def opencv_multi(clip, temporal_window, h, patch, window):
    n = len(clip)
    out = []
    for k in range(n):
        # OpenCV wants the frame in the middle of its list: at the ends of the clip, the
        # window is reflected, as ours is.
        indices = [abs(j) if j < n else 2 * (n - 1) - j
                   for j in range(k - temporal_window, k + temporal_window + 1)]
        out.append(cv2.fastNlMeansDenoisingMulti([clip[j] for j in indices], temporal_window,
                                                 2 * temporal_window + 1, None, h, patch,
                                                 window))
    return np.stack(out)


def clip_rows(rng):
    # A clip's default parameters at sigma (its table's: a still's h is chosen by SURE).
    chosen = resolve_frames(Request(sigma_unit=SIGMA / 255), (ROWS, COLUMNS))
    h, patch, window = chosen.h_unit * 255, chosen.patch_size, chosen.search_window
    rows = []
    for name, image in grey_photographs():
        clean = panned(image, rng)
        noisy = clean + rng.normal(0, SIGMA, clean.shape).astype(np.float32)
        noisy_u8 = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
        row = {"image": name, "noisy": mean_psnr(clean, noisy)}
        for temporal_window in (0, 1, 2, 3):
            estimate, seconds = median_seconds(lambda t=temporal_window, n=noisy: denoise_clip(
                n / 255, sigma=SIGMA / 255, h=h / 255, patch_size=patch, search_window=window,
                temporal_window=t))
            row[f"ours_T{temporal_window}"] = mean_psnr(clean, estimate * 255)
            row[f"ours_T{temporal_window}_s"] = seconds / FRAMES
        estimate, seconds = median_seconds(lambda n=noisy: denoise_clip(n / 255,
                                                                        sigma=SIGMA / 255))
        row["ours_refined"] = mean_psnr(clean, estimate * 255)
        row["ours_refined_s"] = seconds / FRAMES
        estimate, seconds = median_seconds(lambda n=noisy_u8: denoise_clip(
            n, sigma=SIGMA, h=h, patch_size=patch, search_window=window))
        row["ours_u8"], row["ours_u8_s"] = mean_psnr(clean, estimate), seconds / FRAMES
        estimate, seconds = median_seconds(
            lambda n=noisy_u8: opencv_multi(n, 2, h, patch, window))
        row["opencv"], row["opencv_s"] = mean_psnr(clean, estimate), seconds / FRAMES
        for temporal_window in (0, 2):
            started = time.perf_counter()
            estimate = denoise_clip(noisy / 255, sigma=SIGMA / 255, method="learned",
                                    temporal_window=temporal_window)
            row[f"learned_T{temporal_window}_s"] = (time.perf_counter() - started) / FRAMES
            row[f"learned_T{temporal_window}"] = mean_psnr(clean, estimate * 255)
        rows.append(row)
        print(name, {k: round(v, 3) for k, v in row.items() if k != "image"}, flush=True)
    return rows, dict(h=h, patch=patch, window=window)


def volume_rows(rng):
    camera_volume = panned(data.camera(), rng, n_frames=48, rows=96, columns=96)
    blobs = data.binary_blobs(96, blob_size_fraction=0.2, n_dim=3, volume_fraction=0.3,
                              rng=1)[:48].astype(np.float32)
    blob_volume = 40 + 170 * ndimage.gaussian_filter(blobs, 1.5)
    patch, window = 5, 7
    rows = []
    for name, clean in (("camera panned, time as depth", camera_volume),
                        ("smoothed 3-D blobs", blob_volume)):
        noisy = (clean + rng.normal(0, SIGMA, clean.shape).astype(np.float32)) / 255
        h = default_parameters(SIGMA, 3).h_factor * SIGMA / 255  # our default, given to both
        ours, ours_s = median_seconds(lambda n=noisy, h=h: denoise(
            n, sigma=SIGMA / 255, h=h, patch_size=patch, search_window=window))
        refined, refined_s = median_seconds(lambda n=noisy: denoise(
            n, sigma=SIGMA / 255, patch_size=patch, search_window=window))
        theirs, theirs_s = median_seconds(lambda n=noisy, h=h: denoise_nl_means(
            n, patch_size=patch, patch_distance=window // 2, h=h, sigma=SIGMA / 255,
            fast_mode=True))
        rows.append({
            "volume": name, "shape": list(clean.shape),
            "ours": float(peak_signal_noise_ratio(clean / 255, ours, data_range=1)),
            "skimage": float(peak_signal_noise_ratio(clean / 255, theirs, data_range=1)),
            "ours_refined": float(peak_signal_noise_ratio(clean / 255, refined, data_range=1)),
            "ours_s": ours_s, "skimage_s": theirs_s, "ours_refined_s": refined_s})
        print(rows[-1], flush=True)
    return rows


def markdown(clips, parameters, volumes):
    lines = [f"Machine: {platform.processor() or platform.machine()}, "
             f"{__import__('os').cpu_count()} cores. Sigma {SIGMA:g}; patch "
             f"{parameters['patch']}, window {parameters['window']}, h {parameters['h']:.2f}.",
             "", "| clip | noisy | T=0 | T=1 | T=2 | T=3 | ours u8 T=2 | OpenCV Multi u8 |"
             " ours s/frame | OpenCV s/frame | ratio |", "|---|" + "---|" * 10]
    for row in clips + [_mean_row(clips)]:
        lines.append(
            f"| {row['image']} | {row['noisy']:.2f} | {row['ours_T0']:.2f} | "
            f"{row['ours_T1']:.2f} | {row['ours_T2']:.2f} | {row['ours_T3']:.2f} | "
            f"{row['ours_u8']:.2f} | {row['opencv']:.2f} | {row['ours_u8_s']:.3f} | "
            f"{row['opencv_s']:.3f} | {row['ours_u8_s'] / row['opencv_s']:.2f}x |")
    lines += ["", "Ours with every default but sigma (T=2, each frame's second look), and the "
              "learned method (one run each): frame by frame, and with the temporal window",
              "2, where each frame's network result is mixed with the classic method's "
              "spacetime one after its second look.", "",
              "| clip | ours T=2 | ours, every default | its s/frame | learned T=0 | "
              "learned T=2 | learned s/frame (T=2) |", "|---|---|---|---|---|---|---|"]
    for row in clips + [_mean_row(clips)]:
        lines.append(f"| {row['image']} | {row['ours_T2']:.2f} | {row['ours_refined']:.2f} | "
                     f"{row['ours_refined_s']:.3f} | {row['learned_T0']:.2f} | "
                     f"{row['learned_T2']:.2f} | {row['learned_T2_s']:.3f} |")
    lines += ["", "| volume | shape | ours PSNR | skimage PSNR | ours s | skimage s | "
              "ours, h not given (second look) | its s |", "|---|---|---|---|---|---|---|---|"]
    for row in volumes:
        lines.append(f"| {row['volume']} | {'x'.join(map(str, row['shape']))} | "
                     f"{row['ours']:.2f} | {row['skimage']:.2f} | {row['ours_s']:.2f} | "
                     f"{row['skimage_s']:.2f} | {row['ours_refined']:.2f} | "
                     f"{row['ours_refined_s']:.2f} |")
    return "\n".join(lines) + "\n"


def _mean_row(rows):
    keys = [k for k in rows[0] if k != "image"]
    return {"image": "**mean**", **{k: float(np.mean([r[k] for r in rows])) for k in keys}}


def main() -> None:
    rng = np.random.default_rng(0)
    denoise_clip(np.zeros((3, 16, 16), np.float32), sigma=0.1)  # load the kernels
    clips, parameters = clip_rows(rng)
    volumes = volume_rows(rng)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "clips.json").write_text(json.dumps(
        {"clips": clips, "parameters": parameters, "volumes": volumes}, indent=1))
    table = markdown(clips, parameters, volumes)
    (RESULTS / "clips.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
