"""Colour noise the channels share: what reading it on the luminance gains, per photograph set.

For each noise case, every photograph is denoised with the defaults twice: with the shared
noise rule (`nlmeans_cli.colour_noise`) as shipped, and with it switched off (its margin
set to infinity, so that sigma is the channels' own reading). It prints the mean dB the rule
gains over the rule switched off, and the worst photograph's.

Sets: ``chosen`` (the four the weights were chosen on: 384x384 crops of scikit-image's
astronaut, coffee, chelsea and rocket), ``others`` (immunohistochemistry, Hubble deep field,
retina, cat, read while choosing) and ``unseen`` (six 256x256 crops of scikit-image's two
motorcycle views and Matplotlib's Grace Hopper, not looked at before the choice). Noise is
added to 8-bit pixels with one seed per photograph and rounded; "JPEG q" cases then go
through Pillow's encoder at that quality (chroma subsampled 2x2). Run:
``python benchmarks/colour_noise.py [--sets chosen others unseen] [--method classic]``
(Matplotlib comes with the bench extra).
"""

import argparse
import io

import numpy as np
from PIL import Image
from skimage import data, img_as_ubyte
from skimage.metrics import peak_signal_noise_ratio

from nlmeans_cli import colour_noise, denoise

CASES = (
    ("sigma 2, drawn apart", "apart", 2.0, None),
    ("sigma 5, drawn apart", "apart", 5.0, None),
    ("sigma 10, drawn apart", "apart", 10.0, None),
    ("sigma 25, drawn apart", "apart", 25.0, None),
    ("sigma 10, alike in the three channels", "alike", 10.0, None),
    ("sigma 25, alike", "alike", 25.0, None),
    ("sigma 10, half its variance alike", "half", 10.0, None),
    ("sigma 10 drawn apart, JPEG q95", "apart", 10.0, 95),
    ("sigma 5 drawn apart, JPEG q95", "apart", 5.0, 95),
    ("sigma 10 drawn apart, JPEG q90", "apart", 10.0, 90),
    ("clean, JPEG q95", "apart", 0.0, 95),
    ("photon noise alike, gain 1", "photons alike", 1.0, None),
    ("photon noise alike, gain 4", "photons alike", 4.0, None),
    ("photon noise alike, gain 12", "photons alike", 12.0, None),
    ("photon noise drawn apart, gain 4", "photons apart", 4.0, None),
)


def photographs(name: str) -> list[np.ndarray]:
    """Return a set's 8-bit colour photographs."""
    if name == "chosen":
        return [img_as_ubyte(getattr(data, each)())[:384, :384, :3]
                for each in ("astronaut", "coffee", "chelsea", "rocket")]
    if name == "others":
        return [img_as_ubyte(getattr(data, each)())[:384, :384, :3]
                for each in ("immunohistochemistry", "hubble_deep_field", "retina", "cat")]
    import matplotlib.cbook as cbook

    left, right, _ = data.stereo_motorcycle()
    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as image:
        hopper = np.asarray(image)[..., :3]
    return [left[:256, :256], left[244:500, 485:741], right[:256, 485:741],
            right[244:500, :256], hopper[:256, :256], hopper[256:512, 256:512]]


def noisy(clean: np.ndarray, kind: str, level: float, quality: int | None,
          seed: int) -> np.ndarray:
    """Return *clean* (float, 0-255) with the case's noise, as 8-bit pixels."""
    rng = np.random.default_rng(seed)
    per_pixel = clean.shape[:2] + (1,)
    if kind == "apart":
        noise = rng.normal(0, level, clean.shape)
    elif kind == "alike":
        noise = np.repeat(rng.normal(0, level, per_pixel), 3, axis=-1)
    elif kind == "half":
        noise = (rng.normal(0, 1, clean.shape)
                 + np.repeat(rng.normal(0, 1, per_pixel), 3, axis=-1)) * level / np.sqrt(2)
    else:  # photons: gain * Poisson approximated as normal, read noise 2
        draws = rng.normal(0, 1, per_pixel if kind == "photons alike" else clean.shape)
        noise = np.sqrt(level * clean + 4.0) * draws
    pixels = np.clip(np.rint(clean + noise), 0, 255).astype(np.uint8)
    if quality is None:
        return pixels
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    with Image.open(io.BytesIO(buffer.getvalue())) as image:
        return np.asarray(image)


def gains(images: list[np.ndarray], case: tuple, method: str) -> np.ndarray:
    """Return each photograph's dB with the rule over the rule switched off."""
    _, kind, level, quality = case
    shipped = colour_noise.SHARED_NOISE_MARGIN
    out = []
    for seed, image in enumerate(images):
        clean = image.astype(np.float64)
        pixels = noisy(clean, kind, level, quality, seed)
        results = []
        for margin in (np.inf, shipped):
            colour_noise.SHARED_NOISE_MARGIN = margin
            try:
                denoised = denoise(pixels, channel_axis=-1, method=method)
            finally:
                colour_noise.SHARED_NOISE_MARGIN = shipped
            results.append(peak_signal_noise_ratio(clean, denoised, data_range=255))
        out.append(results[1] - results[0])
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", nargs="+", default=["chosen", "others", "unseen"],
                        choices=["chosen", "others", "unseen"])
    parser.add_argument("--method", default="classic", choices=["classic", "learned"])
    args = parser.parse_args()
    sets = {name: photographs(name) for name in args.sets}
    print(f"{args.method} method, dB over sigma read per channel: mean (worst photograph)\n")
    print("| noise (0-255 scale) | " + " | ".join(args.sets) + " |")
    print("|---|" + "---|" * len(args.sets))
    for case in CASES:
        cells = [gains(images, case, args.method) for images in sets.values()]
        print(f"| {case[0]} | " + " | ".join(f"{cell.mean():+.2f} ({cell.min():+.2f})"
                                              for cell in cells) + " |", flush=True)


if __name__ == "__main__":
    main()
