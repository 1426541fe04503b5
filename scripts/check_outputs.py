"""Record the outputs of the ``nlm`` commands, or check them against a recorded manifest.

    python scripts/check_outputs.py record MANIFEST.json   # before a change
    python scripts/check_outputs.py check MANIFEST.json    # after it: byte for byte

Runs ``nlm denoise`` (samples and generated stills, 8/16-bit, signed and float, colour with alpha,
learned, tiles, clips, stacks, volumes), ``nlm batch`` and ``nlm compare --json`` in a temporary
folder and hashes every file written (for ``compare``, its JSON without the timings). The
generated inputs come from fixed seeds, so the same code on the same machine writes the same
bytes; a change that is meant to keep behaviour must keep every hash. Numba's float results may
differ between CPUs with different vector widths, so record and check on one machine.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def make_inputs(folder: Path) -> None:
    """Write the generated inputs (fixed seeds) into *folder*."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:96, 0:112]
    base = 0.5 + 0.3 * np.sin(x / 9.0) * np.cos(y / 13.0)
    noisy = np.clip(base + rng.normal(0, 0.08, base.shape), 0, 1)
    iio.imwrite(folder / "grey16.tif", np.rint(noisy * 65535).astype(np.uint16))
    iio.imwrite(folder / "float32.tif", noisy.astype(np.float32))
    colour = np.clip(np.stack([base, base[::-1], 1 - base], -1)
                     + rng.normal(0, 0.08, (*base.shape, 3)), 0, 1)
    rgba = np.concatenate([np.rint(colour * 255), np.full((*base.shape, 1), 200)], -1)
    iio.imwrite(folder / "rgba.png", rgba.astype(np.uint8))
    iio.imwrite(folder / "colour.jpg", np.rint(colour * 255).astype(np.uint8), quality=95)
    frames = []
    for k in range(6):
        moved = 0.5 + 0.3 * np.sin((x + 2 * k) / 9.0) * np.cos(y / 13.0)
        frames.append(np.clip(moved + rng.normal(0, 0.08, moved.shape), 0, 1))
    clip = np.rint(np.stack(frames) * 255).astype(np.uint8)
    np.save(folder / "clip.npy", clip)
    iio.imwrite(folder / "stack.tif", clip)
    iio.imwrite(folder / "clip.gif", np.repeat(clip[..., np.newaxis], 3, -1), duration=80,
                loop=0)
    iio.imwrite(folder / "clip.mp4", np.repeat(clip[..., np.newaxis], 3, -1)[:, :, :96],
                plugin="pyav", codec="libx264", fps=10)
    # Signed: CT numbers (Gaussian noise), and counts from 0 (photon noise).
    ct = np.rint(base * 3000 - 1000 + rng.normal(0, 60, base.shape)).astype(np.int16)
    iio.imwrite(folder / "ct.tif", ct)
    counts = 30 * rng.poisson(base * 4000 / 30) + rng.normal(0, 40, base.shape)
    iio.imwrite(folder / "counts.tif", np.rint(counts).astype(np.int16))
    batch = folder / "batch"
    (batch / "sub").mkdir(parents=True)
    iio.imwrite(batch / "a.png", np.rint(noisy * 255).astype(np.uint8))
    iio.imwrite(batch / "sub" / "b.png", np.rint(colour * 255).astype(np.uint8))


def commands(inputs: Path, out: Path) -> list[list[str]]:
    """Return the command lines run, outputs under *out*."""
    cam, astro, cam16 = (str(SAMPLES / n) for n in
                         ("camera_noisy.png", "astronaut_noisy.png", "camera16_noisy.png"))
    i = str(inputs)
    o = str(out)
    return [
        ["denoise", cam, f"{o}/cam.png"],
        ["denoise", cam, f"{o}/cam_s25.png", "--sigma", "25"],
        ["denoise", cam, f"{o}/cam_p5w11h9.png", "--sigma", "15", "--h", "9",
         "--patch-size", "5", "--search-window", "11"],
        ["denoise", astro, f"{o}/astro.png"],
        ["denoise", cam16, f"{o}/cam16.png"],
        ["denoise", cam16, f"{o}/cam16_s12.tif", "--sigma", "12"],
        ["denoise", f"{i}/grey16.tif", f"{o}/grey16.tif"],
        ["denoise", f"{i}/float32.tif", f"{o}/float32.tif"],
        ["denoise", f"{i}/ct.tif", f"{o}/ct.tif"],
        ["denoise", f"{i}/counts.tif", f"{o}/counts.tif"],
        ["denoise", f"{i}/rgba.png", f"{o}/rgba.png"],
        ["denoise", f"{i}/colour.jpg", f"{o}/colour.png"],
        ["denoise", cam, f"{o}/cam_learned.png", "--method", "learned"],
        ["denoise", astro, f"{o}/astro_learned.png", "--method", "learned"],
        ["denoise", cam, f"{o}/cam_learned_eg.png", "--method", "learned",
         "--affinity", "embedded-gaussian"],
        ["denoise", cam, f"{o}/cam_tiled.png", "--tile", "100"],
        ["denoise", f"{i}/clip.npy", f"{o}/clip.npy"],
        ["denoise", f"{i}/clip.npy", f"{o}/clip_t0.npy", "--temporal-window", "0"],
        ["denoise", f"{i}/stack.tif", f"{o}/stack.tif"],
        ["denoise", f"{i}/stack.tif", f"{o}/volume.tif", "--volume"],
        ["denoise", f"{i}/clip.gif", f"{o}/clip.gif"],
        ["denoise", f"{i}/clip.mp4", f"{o}/clip.mkv"],
        ["denoise", f"{i}/clip.npy", f"{o}/clip_learned.npy", "--method", "learned"],
        ["batch", f"{i}/batch", f"{o}/batch", "-r", "-j", "1", "--report",
         f"{o}/batch_report.json"],
    ]


def run(folder: Path) -> dict[str, str]:
    """Run every command in *folder* and return ``{relative path: sha256}``."""
    inputs, out = folder / "in", folder / "out"
    inputs.mkdir()
    out.mkdir()
    make_inputs(inputs)
    nlm = [sys.executable, "-m", "nlmeans_cli"]
    for command in commands(inputs, out):
        done = subprocess.run([*nlm, *command, "-q"], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {done.stderr.strip()}")
    compare = subprocess.run([*nlm, "compare", str(SAMPLES / "camera_clean.png"), "--json",
                              "--sigma", "20"], capture_output=True, text=True, check=True)
    hashes = {}
    for path in sorted(out.rglob("*")):
        if path.is_file() and not path.name.endswith(".json"):
            hashes[str(path.relative_to(out))] = _file_digest(path)
    report = json.loads((out / "batch_report.json").read_text())
    hashes["batch_report.json"] = _digest([{k: v for k, v in row.items() if k != "seconds"}
                                           for row in report], folder)
    scores = json.loads(compare.stdout)
    hashes["compare.json"] = _digest(_without_seconds(scores), folder)
    return hashes


def _file_digest(path: Path) -> str:
    """Hash the bytes; for a video, its decoded frames (containers stamp unique ids)."""
    if path.suffix in (".mkv", ".mp4", ".mov", ".avi"):
        data = np.ascontiguousarray(iio.imread(path, plugin="pyav")).tobytes()
    else:
        data = path.read_bytes()
    return hashlib.sha256(data).hexdigest()


def _without_seconds(value):
    if isinstance(value, dict):
        return {k: _without_seconds(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_without_seconds(v) for v in value]
    return value


def _digest(value, folder: Path) -> str:
    # Paths are named relative to the run's folder and the repository, wherever they are.
    text = json.dumps(value, sort_keys=True).replace(str(folder), "").replace(str(ROOT), "")
    return hashlib.sha256(text.encode()).hexdigest()


def main() -> None:
    """Record or check, as the command line says."""
    if len(sys.argv) != 3 or sys.argv[1] not in ("record", "check"):
        raise SystemExit(__doc__)
    manifest = Path(sys.argv[2])
    with tempfile.TemporaryDirectory() as work:
        hashes = run(Path(work))
    if sys.argv[1] == "record":
        manifest.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")
        print(f"{len(hashes)} outputs recorded -> {manifest}")
        return
    recorded = json.loads(manifest.read_text())
    differ = sorted(k for k in recorded.keys() | hashes.keys()
                    if recorded.get(k) != hashes.get(k))
    for name in differ:
        print(f"differs: {name}")
    print(f"{len(recorded) - len(differ)} of {len(recorded)} outputs identical")
    raise SystemExit(1 if differ else 0)


if __name__ == "__main__":
    main()
