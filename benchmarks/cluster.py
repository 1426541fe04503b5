"""Batch scaling on Dask: 40 images on local clusters of 1 and 2 worker processes.

Each run is a whole ``nlm batch IN OUT --scheduler ADDRESS`` through the CLI, against a
``LocalCluster`` started beforehand (the cluster start is not timed; the workers' first kernel
load is). Workers get their share of the machine's cores as Numba threads (``nlm`` does this
itself); ``--threads 1`` pins every worker to one thread instead, which shows the scaling of
the distribution alone.

    pip install '.[dask,bench]'
    python benchmarks/cluster.py [--images 40] [--side 512] [--threads 1]
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_images(folder: Path, count: int, side: int) -> None:
    import imageio.v3 as iio
    from skimage import data

    camera = data.camera()
    rng = np.random.default_rng(0)
    for k in range(count):
        r0, c0 = rng.integers(0, camera.shape[0] - side + 1, 2) if side < 512 else (0, 0)
        clean = np.resize(camera[r0 : r0 + side, c0 : c0 + side], (side, side)).astype(float)
        noisy = np.clip(np.rint(clean + rng.normal(0, 20, clean.shape)), 0, 255)
        iio.imwrite(folder / f"{k:03d}.png", noisy.astype(np.uint8))


def timed_batch(source: Path, workers: int, threads: int | None, repeats: int) -> float:
    import distributed

    times = []
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=":0",
                                  env={"NUMBA_NUM_THREADS": str(threads)} if threads else None
                                  ) as cluster:
        for _ in range(repeats):
            out = Path(tempfile.mkdtemp())
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "nlmeans_cli", "batch", str(source), str(out),
                            "-q", "--scheduler", cluster.scheduler_address, "--sigma", "20"],
                           check=True)
            times.append(time.perf_counter() - started)
            shutil.rmtree(out)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--threads", type=int, default=None,
                        help="Numba threads per worker (default: the machine's share)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder)
        make_images(source, args.images, args.side)
        one = timed_batch(source, 1, args.threads, args.repeats)
        two = timed_batch(source, 2, args.threads, args.repeats)
    threads = args.threads or "machine's share"
    print(f"{args.images} images {args.side}x{args.side}, threads per worker: {threads}")
    print(f"1 worker: {one:.2f} s, 2 workers: {two:.2f} s, speed-up {one / two:.2f}x")


if __name__ == "__main__":
    main()
