"""Side-by-side montages of a comparison, for people to look at (``nlm compare --montage``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .compare import Comparison

__all__ = ["draw_montage", "label_size"]

PANEL = 256  # height of the whole-image panels, in pixels
GAP = 6


def draw_montage(comparison: Comparison, cleans: list[np.ndarray], path: str | os.PathLike, *,
            methods: tuple[str, ...] = ("ours_poisson", "ours", "learned_poisson", "learned",
                                        "skimage", "bm3d")) -> Path:
    """Draw clean | noisy | each method, labelled with PSNR, with a zoomed crop under each.

    Parameters
    ----------
    comparison : Comparison
        A result of :func:`nlmeans_cli.compare.compare` made with ``keep_images=True``.
    cleans : list of numpy.ndarray
        The clean images, in the comparison's order (unit scale or integer).
    path : path-like
        The PNG to write (atomically; missing folders are created).
    methods : tuple of str
        The methods shown, in order, those the comparison holds (the stabilised columns
        only where Poisson-Gaussian noise was added).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    ValueError
        If the comparison holds no images or was made without ``keep_images``.
    """
    from PIL import Image

    from ..io.stills import Picture, write_picture

    if not comparison.images or comparison.images[0].noisy is None:
        raise ValueError("the comparison holds no images; make it with keep_images=True")
    rows = []
    for score, clean in zip(comparison.images, cleans, strict=True):
        clean = _unit_rgb(clean)
        panels = [("clean", clean), (f"noisy {score.noisy_psnr:.2f} dB", _unit_rgb(score.noisy))]
        for name in methods:
            if name in score.estimates:
                panels.append((f"{name} {score.methods[name]['psnr']:.2f} dB",
                               _unit_rgb(score.estimates[name])))
        rows.append(_row(panels, score.path))
    width = max(row.width for row in rows)
    canvas = Image.new("RGB", (width, sum(row.height for row in rows)), "white")
    top = 0
    for row in rows:
        canvas.paste(row, (0, top))
        top += row.height
    return write_picture(path, Picture(np.asarray(canvas)), overwrite=True)


def label_size(panel_width: int) -> int:
    """Return the label font size for panels *panel_width* pixels wide (readable, fitting)."""
    return int(np.clip(panel_width // 12, 12, 28))


def _row(panels, title):
    from PIL import Image, ImageDraw, ImageFont

    first = panels[0][1]
    factor = max(1, -(-first.shape[0] // PANEL))
    height, width = -(-first.shape[0] // factor), -(-first.shape[1] // factor)
    size = label_size(width)
    # Pillow's bundled scalable font: labels stay readable at the panel sizes people view,
    # made smaller only where the longest label would not fit its panel.
    font = ImageFont.load_default(size=size)
    longest = max((label for label, _ in panels), key=len)
    while size > 9 and font.getlength(longest) > width:
        size -= 1
        font = ImageFont.load_default(size=size)
    strip = size + 6  # height of a label strip
    crop = _centre_crop_box(first.shape, width)
    zoom_height = height
    row = Image.new("RGB", (len(panels) * (width + GAP) + GAP,
                            strip * 2 + height + zoom_height + 3 * GAP), "white")
    draw = ImageDraw.Draw(row)
    draw.text((GAP, 2), title, fill="black", font=font)
    for k, (label, image) in enumerate(panels):
        left = GAP + k * (width + GAP)
        whole = Image.fromarray(_to_bytes(image)).resize((width, height), Image.Resampling.BOX)
        r0, r1, c0, c1 = crop
        zoomed = Image.fromarray(_to_bytes(image[r0:r1, c0:c1])).resize(
            (width, zoom_height), Image.Resampling.NEAREST)
        draw.text((left, strip + 2), label, fill="black", font=font)
        row.paste(whole, (left, 2 * strip))
        row.paste(zoomed, (left, 2 * strip + height + GAP))
    return row


def _centre_crop_box(shape, width):
    side = max(8, min(shape[0], shape[1]) // 4)
    r0, c0 = (shape[0] - side) // 2, (shape[1] - side) // 2
    return r0, r0 + side, c0, c0 + side


def _unit_rgb(image: np.ndarray) -> np.ndarray:
    from ..scales import to_unit

    unit = to_unit(image)
    if unit.ndim == 2:
        unit = np.repeat(unit[..., np.newaxis], 3, axis=-1)
    return unit


def _to_bytes(unit: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.clip(np.rint(unit * 255), 0, 255).astype(np.uint8))
