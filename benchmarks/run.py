"""Speed benchmark: ours against OpenCV and scikit-image, side by side in one process.

Every peer gets the same noisy 8-bit image (natural-image mosaics built from scikit-image's
bundled photographs, Gaussian noise of sigma 25, clipped as a camera would), the same patch and
search sizes and the same h on the 0-255 scale (our default for sigma 25: h = 17.5, with sigma
given to the peers that take one). Each timing is the median of several repeats after a warm-up
call. Peak memory is measured per peer and case in a fresh child process (the rise of the peak
resident set over the resident set just before the call), so one peer's allocations never
count against another.

    pip install '.[bench]'
    python benchmarks/run.py                 # everything, about 10 minutes on 2 cores
    python benchmarks/run.py --quick         # small cases only, for a smoke test

Writes ``benchmarks/results/benchmark.md`` (the table the README shows), ``benchmark.json``
(every figure) and ``benchmark.png`` (time against pixels and against window).
"""

from __future__ import annotations

import argparse
import compileall
import functools
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

SIGMA = 25.0
H = 17.5
RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Case:
    """One benchmark image and parameter set."""

    name: str
    kind: str  # "grey", "colour" or "volume"
    side: int
    patch: int
    window: int
    peers: tuple[str, ...]
    group: str  # "size", "window", "colour", "volume", "depth" or "scale"
    depth: str = "8-bit"  # the noisy image's type: "8-bit", "16-bit" or "float"


@dataclass
class Result:
    """One peer on one case."""

    case: str
    peer: str
    seconds: float | None = None
    repeats: int = 0
    psnr: float | None = None
    peak_mib: float | None = None
    note: str = ""
    times: list[float] = field(default_factory=list)


GREY_PEERS = ("ours", "opencv", "skimage-fast")


def cases(quick: bool, huge: bool) -> list[Case]:
    out = [
        Case("grey 256² p7 w21", "grey", 256, 7, 21, GREY_PEERS + ("skimage-slow",), "size"),
        Case("grey 512² p7 w21", "grey", 512, 7, 21, GREY_PEERS, "size"),
    ]
    if quick:
        return out + [Case("volume 32³ p3 w7", "volume", 32, 3, 7, ("ours", "skimage-fast"),
                           "volume")]
    out += [
        Case("grey 1024² p7 w21", "grey", 1024, 7, 21, GREY_PEERS + ("ours-default",), "size"),
        Case("grey 2048² p7 w21", "grey", 2048, 7, 21, GREY_PEERS, "size"),
        # The same image as 16-bit and as float (0 to 1). OpenCV's Python binding takes
        # neither ("Only CV_8U is supported for NORM_L2"; the L1 overload is not exposed).
        Case("grey 1024² p7 w21 16-bit", "grey", 1024, 7, 21, ("ours", "skimage-fast"),
             "depth", "16-bit"),
        Case("grey 1024² p7 w21 float", "grey", 1024, 7, 21, ("ours", "skimage-fast"), "depth",
             "float"),
        Case("grey 1024² p7 w11", "grey", 1024, 7, 11, GREY_PEERS, "window"),
        Case("grey 1024² p7 w31", "grey", 1024, 7, 31, GREY_PEERS, "window"),
        Case("colour 1024² p7 w21", "colour", 1024, 7, 21,
             ("ours", "opencv-colored", "skimage-fast", "ours-chroma-h", "ours-default"),
             "colour"),
        Case("volume 96³ p3 w7", "volume", 96, 3, 7, ("ours", "skimage-fast"), "volume"),
    ]
    if huge:
        out.append(Case("grey 8192² p7 w21", "grey", 8192, 7, 21, ("ours", "opencv"), "scale"))
    return out


# --- images -------------------------------------------------------------------------------

GREY_SOURCES = ("camera", "astronaut", "coffee", "chelsea", "rocket", "brick", "grass",
                "gravel", "moon", "hubble_deep_field")
COLOUR_SOURCES = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina")
TILE = 256


def _tiles(colour: bool) -> list[np.ndarray]:
    from skimage import data
    from skimage.color import rgb2gray
    from skimage.util import img_as_ubyte

    tiles = []
    for name in COLOUR_SOURCES if colour else GREY_SOURCES:
        image = getattr(data, name)()
        if colour and image.ndim == 2:
            continue
        if not colour and image.ndim == 3:
            image = img_as_ubyte(rgb2gray(image[..., :3]))
        r0, c0 = (image.shape[0] - TILE) // 2, (image.shape[1] - TILE) // 2
        tiles.append(np.ascontiguousarray(image[r0 : r0 + TILE, c0 : c0 + TILE]))
    return tiles


def clean_image(kind: str, side: int) -> np.ndarray:
    """Build a deterministic natural-image mosaic (or a smooth synthetic volume)."""
    if kind == "volume":
        from skimage.data import binary_blobs
        from skimage.filters import gaussian

        blobs = binary_blobs(side, n_dim=3, volume_fraction=0.35, blob_size_fraction=0.15,
                             rng=0).astype(np.float64)
        return np.rint(40 + 170 * gaussian(blobs, sigma=1.5)).astype(np.uint8)
    tiles = _tiles(kind == "colour")
    n = -(-side // TILE)
    rows = []
    for r in range(n):
        row = []
        for c in range(n):
            tile = tiles[(r * n + c) % len(tiles)]
            # Flips keep neighbouring repeats of a tile from lining up.
            row.append(tile[:: 1 - 2 * (r % 2)] if (r + c) % 3 else tile[:, :: 1 - 2 * (c % 2)])
        rows.append(np.concatenate(row, axis=1))
    return np.ascontiguousarray(np.concatenate(rows, axis=0)[:side, :side])


#: Full scale of each depth, against the 0-255 scale of SIGMA and H.
SCALES = {"8-bit": 1.0, "16-bit": 65535 / 255, "float": 1 / 255}


def noisy_image(clean: np.ndarray, depth: str = "8-bit") -> np.ndarray:
    """Add Gaussian noise of SIGMA (on the 0-255 scale) to a clean 8-bit image.

    8- and 16-bit results are clipped and rounded as a camera would; float (0 to 1) is not.
    """
    rng = np.random.default_rng(0)
    noisy = clean.astype(np.float32) + rng.normal(0, SIGMA, clean.shape).astype(np.float32)
    if depth == "float":
        return noisy / np.float32(255)
    if depth == "16-bit":
        return np.clip(np.rint(noisy * SCALES[depth]), 0, 65535).astype(np.uint16)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


# --- peers --------------------------------------------------------------------------------


def make_runner(peer: str, case: Case, noisy: np.ndarray):
    """Return a no-argument callable denoising *noisy* with *peer*.

    Each returns what the peer returns (:func:`on_255_scale` converts it for its PSNR,
    outside the timing: for 8-bit images OpenCV's and ours are already on that scale).
    """
    colour = case.kind == "colour"
    scale = SCALES[case.depth]
    if peer in ("ours", "ours-chroma-h"):
        from nlmeans_cli import denoise

        # ours-chroma-h: the chroma at h too (one strength), as OpenCV's hColor = h below:
        # that peer's parameters, where our default smooths chroma at twice h.
        chroma = dict(h_chroma=H * scale) if peer == "ours-chroma-h" else {}

        # sigma and h in the image's own units, as the API takes them.
        def run():
            return denoise(noisy, sigma=SIGMA * scale, h=H * scale, patch_size=case.patch,
                           search_window=case.window, channel_axis=-1 if colour else None,
                           **chroma)
        return run
    if peer == "ours-default":
        from nlmeans_cli import denoise

        # Every default: table patch and window, h (and patch, window) refined by SURE, and
        # a grey still's second look at its estimate.
        def run():
            return denoise(noisy, sigma=SIGMA, channel_axis=-1 if colour else None)
        return run
    if peer in ("opencv", "opencv-colored"):
        import cv2

        if peer == "opencv":
            return lambda: cv2.fastNlMeansDenoising(noisy, None, H, case.patch, case.window)
        return lambda: cv2.fastNlMeansDenoisingColored(noisy, None, H, H, case.patch,
                                                       case.window)
    if peer.startswith("skimage"):
        from skimage.restoration import denoise_nl_means

        unit = noisy.astype(np.float64) / (255 * scale)
        fast = peer == "skimage-fast"

        def run():
            return denoise_nl_means(unit, patch_size=case.patch, patch_distance=case.window // 2,
                                    h=H / 255, sigma=SIGMA / 255, fast_mode=fast,
                                    channel_axis=-1 if colour else None)
        return run
    raise ValueError(f"unknown peer {peer!r}")


def on_255_scale(peer: str, case: Case, estimate: np.ndarray) -> np.ndarray:
    """Return what *peer*'s runner returned for *case* on the 0-255 scale."""
    if peer.startswith("skimage"):
        return estimate * 255  # it works on the unit scale
    if peer.startswith("ours"):
        return estimate / np.float32(SCALES[case.depth])  # the input's own scale
    return estimate


def psnr(clean: np.ndarray, estimate: np.ndarray) -> float:
    from skimage.metrics import peak_signal_noise_ratio

    return float(peak_signal_noise_ratio(clean.astype(np.float64),
                                         np.asarray(estimate, dtype=np.float64),
                                         data_range=255))


def warm_up(peer: str, case: Case) -> None:
    """Load kernels and libraries on a tiny image so the first timed call is a normal one."""
    shape = {"grey": (48, 48), "colour": (48, 48, 3), "volume": (16, 16, 16)}[case.kind]
    small = noisy_image(np.full(shape, 128, np.uint8), case.depth)
    make_runner(peer, case, small)()


def time_alternating(calls: dict, rounds: int, *, budget: float = float("inf"),
                     min_repeats: int = 0) -> tuple[dict, dict]:
    """Time *calls* (name -> no-argument callable) in alternation; return times and results.

    Each round calls each one once, the order rotated by one place per round, so that a
    change in the machine's load (these machines are shared) falls on every one alike and
    not on one's block of calls, and none always runs first. A call leaves the rounds after
    *min_repeats* calls once its calls took *budget* seconds.
    """
    times: dict = {name: [] for name in calls}
    results: dict = {}
    for round_ in range(rounds):
        active = [name for name in calls
                  if len(times[name]) < min_repeats or sum(times[name]) <= budget]
        if not active:
            break
        shift = round_ % len(active)
        for name in active[shift:] + active[:shift]:
            started = time.perf_counter()
            results[name] = calls[name]()
            times[name].append(time.perf_counter() - started)
    return times, results


def time_peers(peers: list[str], case: Case, clean: np.ndarray, noisy: np.ndarray,
               budget: float, min_repeats: int, max_repeats: int) -> list[Result]:
    """Time *peers* on *case* in alternation (:func:`time_alternating`), after a warm-up."""
    for peer in peers:
        warm_up(peer, case)
    times, estimates = time_alternating({peer: make_runner(peer, case, noisy) for peer in peers},
                                        max_repeats, budget=budget, min_repeats=min_repeats)
    return [Result(case.name, peer, statistics.median(times[peer]), len(times[peer]),
                   psnr(clean, on_255_scale(peer, case, estimates[peer])),
                   times=[round(t, 4) for t in times[peer]])
            for peer in peers]


def _peak_child(peer: str, case: Case, connection) -> None:
    noisy = noisy_image(clean_image(case.kind, case.side), case.depth)
    warm_up(peer, case)
    run = make_runner(peer, case, noisy)
    connection.send("ready")
    connection.recv()
    started = time.perf_counter()
    run()
    connection.send(time.perf_counter() - started)


def _resident_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def peak_memory(peer: str, case: Case) -> tuple[float, float, float]:
    """Peak memory rise (MiB), process peak (MiB) and seconds of one call in a fresh child.

    The parent samples the child's resident set every millisecond while the call runs: a
    separate process sees it even while the call holds the child's GIL.
    """
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=_peak_child, args=(peer, case, theirs))
    child.start()
    ours.recv()
    before = peak = _resident_mib(child.pid)
    ours.send("go")
    while not ours.poll(0.001):
        peak = max(peak, _resident_mib(child.pid))
    seconds = ours.recv()
    child.join()
    return peak - before, peak, seconds


# --- whole process ------------------------------------------------------------------------

SKIMAGE_SCRIPT = """
import sys
import imageio.v3 as iio
from skimage.restoration import denoise_nl_means
from skimage.util import img_as_float, img_as_ubyte
image = img_as_float(iio.imread(sys.argv[1]))
p, w, h, s = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
out = denoise_nl_means(image, patch_size=p, patch_distance=w // 2, h=h / 255, sigma=s / 255,
                       fast_mode=True)
iio.imwrite(sys.argv[2], img_as_ubyte(out.clip(0, 1)))
"""

NUMBA_FLOOR_MODULE = """
import numpy as np
from numba import njit, prange

@njit(cache=True, parallel=True)
def double(a):
    out = np.empty_like(a)
    for i in prange(a.shape[0]):
        out[i] = 2 * a[i]
    return out
"""


def _alternating_runs(commands: list[tuple[list[str], dict | None]],
                      repeats: int) -> list[list[float]]:
    """Wall times of each command, round by round, the commands run in alternation."""
    calls = {k: functools.partial(subprocess.run, command, check=True, capture_output=True,
                                  env=env)
             for k, (command, env) in enumerate(commands)}
    for call in calls.values():
        call()  # caches, page cache
    times, _ = time_alternating(calls, repeats)
    return [times[k] for k in calls]


def whole_process(repeats: int) -> list[dict]:
    """``nlm denoise`` on a 512² PNG against a script running scikit-image on the same file."""
    import imageio.v3 as iio

    import nlmeans_cli
    from nlmeans_cli import resolve_parameters

    noisy = noisy_image(clean_image("grey", 512))
    chosen = resolve_parameters(noisy)  # the parameters that `nlm denoise` will pick
    sigma, h = chosen.sigma_unit * 255, chosen.h_unit * 255
    nlm = Path(sys.executable).with_name("nlm")
    nlm_command = [str(nlm)] if nlm.exists() else [sys.executable, "-m", "nlmeans_cli"]
    # An installed package carries its bytecode (pip compiles it); an editable checkout run
    # with PYTHONDONTWRITEBYTECODE would compile every module on every run instead (about
    # 0.09 s here), which no user pays.
    compileall.compile_dir(Path(nlmeans_cli.__file__).parent, quiet=1)
    given = ["--sigma", f"{sigma:.4f}", "--h", f"{h:.4f}", "--patch-size",
             str(chosen.patch_size), "--search-window", str(chosen.search_window),
             "--patch-kernel", chosen.patch_kernel]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "noisy512.png"
        iio.imwrite(source, noisy)
        script = Path(folder) / "skimage_denoise.py"
        script.write_text(SKIMAGE_SCRIPT)
        floor = Path(folder) / "numba_floor.py"
        floor.write_text(NUMBA_FLOOR_MODULE)
        out = str(Path(folder) / "out.png")
        env = {**os.environ, "PYTHONPATH": folder}
        runs = _alternating_runs([
            (nlm_command + ["denoise", str(source), out, "--overwrite", "-q"], None),
            (nlm_command + ["denoise", str(source), out, "--overwrite", "-q", *given], None),
            ([sys.executable, str(script), str(source), out, str(chosen.patch_size),
              str(chosen.search_window), str(h), str(sigma)], None),
            ([sys.executable, "-c",
              "import numpy, numba_floor; numba_floor.double(numpy.ones(8))"], env),
            # As `nlm` starts Numba: SciPy's BLAS module hidden from its start-up's probe.
            ([sys.executable, "-c",
              "import sys; sys.modules['scipy.linalg.cython_blas'] = None; "
              "import numpy, numba_floor; numba_floor.double(numpy.ones(8))"], env),
            ([sys.executable, "-c", "import numpy"], None),
        ], max(repeats, 9))
    ours_runs, given_runs, _, floor_runs, lean_floor_runs, _ = runs
    ours, ours_given, skimage, numba_floor, lean_floor, python_numpy = map(statistics.median,
                                                                           runs)

    def excess(times, floors):
        # Round by round: a change in the machine's load falls on both runs of a round.
        return statistics.median(t - f for t, f in zip(times, floors, strict=True))

    ours_excess, given_excess = excess(ours_runs, floor_runs), excess(given_runs, floor_runs)
    ours_lean, given_lean = (excess(ours_runs, lean_floor_runs),
                             excess(given_runs, lean_floor_runs))
    parameters = (f"sigma {sigma:.1f} (estimated), h {h:.1f}, "
                  f"patch {chosen.patch_size}, window {chosen.search_window}")
    rows.append(dict(what="`nlm denoise` 512² PNG (kernels cached)", seconds=ours,
                     ratio=ours / skimage, above_floor=ours_excess,
                     above_lean_floor=ours_lean,
                     note=f"{parameters}; floor {ours_excess:+.2f} s, floor without "
                          f"SciPy {ours_lean:+.2f} s"))
    rows.append(dict(what="`nlm denoise`, the same parameters given", seconds=ours_given,
                     ratio=ours_given / skimage, above_floor=given_excess,
                     above_lean_floor=given_lean,
                     note="no noise fit, sigma estimate or SURE search; floor "
                          f"{given_excess:+.2f} s, floor without SciPy {given_lean:+.2f} s"))
    rows.append(dict(what="script: imageio + skimage fast mode, same parameters",
                     seconds=skimage, ratio=1.0, note=""))
    rows.append(dict(what="floor: one cached parallel Numba function", seconds=numba_floor,
                     ratio=numba_floor / skimage, note="import numba + load from cache"))
    rows.append(dict(what="floor without SciPy: the same, SciPy's linear algebra not "
                          "imported", seconds=lean_floor, ratio=lean_floor / skimage,
                     note="as `nlm` starts Numba"))
    rows.append(dict(what="floor: `python -c 'import numpy'`", seconds=python_numpy,
                     ratio=python_numpy / skimage, note=""))
    return rows


# --- clips --------------------------------------------------------------------------------

#: 30 frames, as the FFmpeg comparison the speed issue measured: two engine calls, so the
#: pairs between calls are counted, and a clip's two reflected ends weigh as they do in a
#: second of video rather than in half of one.
CLIP_FRAMES, CLIP_ROWS, CLIP_COLUMNS = 30, 720, 1280
#: FFmpeg's nlmeans strengths tried; the best on the clip (in hindsight) is reported.
FFMPEG_STRENGTHS = (14.0, 16.0, 18.0, 20.0, 22.0)


def clip_frames() -> tuple[np.ndarray, np.ndarray]:
    """Pan a 720p window across the mosaic, two pixels a frame: the clean and noisy clips."""
    mosaic = clean_image("grey", 1536)
    clean = np.stack([mosaic[k : k + CLIP_ROWS, 2 * k : 2 * k + CLIP_COLUMNS]
                      for k in range(CLIP_FRAMES)])
    return clean, noisy_image(clean)


def _ffmpeg_nlmeans(noisy: np.ndarray, strength: float, patch: int, window: int) -> np.ndarray:
    """FFmpeg's nlmeans filter through PyAV's bundled libavfilter, frame by frame."""
    from fractions import Fraction

    import av

    graph = av.filter.Graph()
    graph.threads = os.cpu_count() or 1
    source = graph.add_buffer(width=noisy.shape[2], height=noisy.shape[1], format="gray",
                              time_base=Fraction(1, 25))
    nlmeans = graph.add("nlmeans", f"s={strength}:p={patch}:r={window}")
    sink = graph.add("buffersink")
    source.link_to(nlmeans)
    nlmeans.link_to(sink)
    graph.configure()
    out = []
    for k, frame in enumerate(noisy):
        video = av.VideoFrame.from_ndarray(frame, format="gray")
        video.pts = k
        graph.push(video)
        out.append(graph.pull().to_ndarray())
    return np.stack(out)


def clip_comparison(repeats: int) -> list[dict]:
    """Ours frame by frame and with the temporal window, against FFmpeg's nlmeans, per frame.

    Same clip, patch 7, search window 15 (FFmpeg's defaults), h 17.5 for ours; FFmpeg's
    strength is the best of :data:`FFMPEG_STRENGTHS` on this clip. Empty without PyAV or
    without the nlmeans filter in its FFmpeg.
    """
    try:
        import av
    except ImportError:
        return []
    if "nlmeans" not in av.filter.filters_available:
        return []
    from nlmeans_cli.spacetime import denoise_clip

    clean, noisy = clip_frames()
    patch, window = 7, 15

    def ours(temporal_window):
        return lambda: denoise_clip(noisy, sigma=SIGMA, h=H, patch_size=patch,
                                    search_window=window, temporal_window=temporal_window)

    def mean_psnr(estimate):
        return float(np.mean([psnr(c, e) for c, e in zip(clean, estimate, strict=False)]))

    best = max(FFMPEG_STRENGTHS,
               key=lambda s: mean_psnr(_ffmpeg_nlmeans(noisy[:4], s, patch, window)))
    peers = {"ours, frame by frame": ours(0), "ours, temporal window 2": ours(2),
             f"FFmpeg nlmeans (s={best:g})": lambda: _ffmpeg_nlmeans(noisy, best, patch,
                                                                      window)}
    for run in peers.values():
        run()  # warm-up
    times, estimates = time_alternating(peers, max(1, min(repeats, 3)))
    rows = [dict(what=name, seconds_per_frame=statistics.median(times[name]) / len(noisy),
                 psnr=mean_psnr(estimates[name])) for name in peers]
    reference = rows[-1]["seconds_per_frame"]
    for row in rows:
        row["ratio"] = row["seconds_per_frame"] / reference
    return rows


# --- threads ------------------------------------------------------------------------------


def thread_scaling(case: Case, repeats: int) -> dict | None:
    import numba

    from nlmeans_cli.engine import set_engine_threads

    available = numba.config.NUMBA_NUM_THREADS
    if available < 2:
        return None
    clean = clean_image(case.kind, case.side)
    noisy = noisy_image(clean)
    warm_up("ours", case)
    run = make_runner("ours", case, noisy)

    def on(threads):
        def call():
            set_engine_threads(threads)
            return run()
        return call

    try:
        times, _ = time_alternating({1: on(1), 2: on(2)}, max(repeats, 3))
    finally:
        set_engine_threads(None)
    one, two = statistics.median(times[1]), statistics.median(times[2])
    return dict(case=case.name, one=one, two=two, ratio=two / one)


def depth_comparison(case: Case, repeats: int) -> dict:
    """Ours on 8-bit, 16-bit and float copies of one noisy image, the calls alternating.

    The depth cases of the table are timed each in its own block, so their ratio to the
    8-bit case takes in any change of the machine's load between the blocks; here the three
    take turns, as the peers of a case do.
    """
    clean = clean_image(case.kind, case.side)
    calls = {}
    for depth in SCALES:
        variant = replace(case, depth=depth)
        warm_up("ours", variant)
        calls[depth] = make_runner("ours", variant, noisy_image(clean, depth))
    times, _ = time_alternating(calls, max(repeats, 5))
    seconds = {depth: statistics.median(times[depth]) for depth in calls}
    return dict(case=case.name, seconds=seconds,
                ratios={depth: seconds[depth] / seconds["8-bit"] for depth in calls})


# --- reporting ----------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import cv2
    import numba
    import skimage

    return (f"{cpu}, {os.cpu_count()} logical cores, Python {platform.python_version()}, "
            f"numba {numba.__version__}, scikit-image {skimage.__version__}, "
            f"OpenCV {cv2.__version__}")


def fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(results: list[Result], whole: list[dict], threads: dict | None,
             about: str, clips: list[dict] | None = None,
             depths: dict | None = None) -> str:
    by_case: dict[str, dict[str, Result]] = {}
    for result in results:
        by_case.setdefault(result.case, {})[result.peer] = result
    lines = [
        f"Machine: {about}. Noise sigma {SIGMA:g} on 8-bit images (and on 16-bit and float "
        f"copies, at the same level), h {H:g} (on the 0-255 scale); times are medians "
        "after a warm-up, the peers' calls alternating; peak is the rise of the peak resident "
        "set during one call, in a fresh process.",
        "",
        "| case | peer | seconds | ours / peer | PSNR (dB) | peak MiB |",
        "|---|---|---|---|---|---|",
    ]
    for case, peers in by_case.items():
        ours = peers.get("ours")
        opencv = peers.get("opencv") or peers.get("opencv-colored")
        for peer, result in peers.items():
            ratio = ("–" if peer == "ours" or ours is None or result.seconds is None
                     else f"{ours.seconds / result.seconds:.2f}x")
            if (peer in ("ours-default", "ours-chroma-h") and opencv is not None
                    and result.seconds is not None):
                # Our variants (every default, SURE included; the chroma at h) are measured
                # against OpenCV, not against ours.
                ratio = f"{result.seconds / opencv.seconds:.2f}x of {opencv.peer}"
            lines.append(f"| {case} | {peer} | {fmt(result.seconds)} | {ratio} | "
                         f"{fmt(result.psnr, 2)} | {fmt(result.peak_mib, 0)} |")
    if whole:
        lines += ["", "| whole process | seconds | / script | note |", "|---|---|---|---|"]
        for row in whole:
            lines.append(f"| {row['what']} | {row['seconds']:.3f} | {row['ratio']:.2f}x | "
                         f"{row['note']} |")
    if clips:
        lines += ["", f"| clip {CLIP_COLUMNS}x{CLIP_ROWS}, {CLIP_FRAMES} frames, 8-bit, patch 7, "
                      "window 15 | s per frame | / FFmpeg | PSNR (dB) |", "|---|---|---|---|"]
        for row in clips:
            lines.append(f"| {row['what']} | {row['seconds_per_frame']:.3f} | "
                         f"{row['ratio']:.2f}x | {row['psnr']:.2f} |")
    if threads:
        lines += ["", f"Threads ({threads['case']}, ours): 1 thread {threads['one']:.3f} s, "
                      f"2 threads {threads['two']:.3f} s, ratio {threads['ratio']:.2f}."]
    if depths:
        each = ", ".join(f"{depth} {seconds:.3f} s ({depths['ratios'][depth]:.2f}x)"
                         for depth, seconds in depths["seconds"].items())
        lines += ["", f"Bit depths ({depths['case']}, ours, the calls alternating): {each}."]
    return "\n".join(lines) + "\n"


def plot(results: list[Result], all_cases: list[Case], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    index = {(r.case, r.peer): r for r in results}
    figure, (by_size, by_window) = plt.subplots(1, 2, figsize=(10, 4))
    for axes, group, x_of, label in (
        (by_size, "size", lambda c: c.side**2, "pixels"),
        (by_window, "window", lambda c: c.window, "search window (1024²)"),
    ):
        chosen = [c for c in all_cases if c.group == group
                  or (group == "window" and c.name == "grey 1024² p7 w21")]
        chosen.sort(key=x_of)
        for peer in GREY_PEERS:
            points = [(x_of(c), index[c.name, peer].seconds) for c in chosen
                      if (c.name, peer) in index]
            if points:
                axes.plot(*zip(*points, strict=True), marker="o", label=peer)
        if not axes.lines:
            axes.set_visible(False)
            continue
        axes.set_xlabel(label)
        axes.set_ylabel("seconds")
        if group == "size":
            axes.set_xscale("log")
            axes.set_yscale("log")
        axes.grid(True, alpha=0.3)
        axes.legend()
    figure.suptitle("NL-means, grey, patch 7 (lower is faster)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small cases only")
    parser.add_argument("--no-huge", action="store_true", help="skip the 8192² memory case")
    parser.add_argument("--no-memory", action="store_true", help="skip peak-memory children")
    parser.add_argument("--repeats", type=int, default=5, help="at most this many timed calls")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--only", default=None, help="run only the cases named so (e.g. "
                        "'grey 1024² p7 w21'), comma-separated; prints, writes no files")
    args = parser.parse_args()

    all_cases = cases(args.quick, huge=not (args.quick or args.no_huge))
    if args.only:
        wanted = set(args.only.split(","))
        all_cases = [c for c in all_cases if c.name in wanted]
    results = []
    for case in all_cases:
        clean = clean_image(case.kind, case.side)
        noisy = noisy_image(clean, case.depth)
        # Peers too slow to repeat (one call each) run on their own, after the others.
        slow = [p for p in case.peers if p == "skimage-slow" or case.group == "scale"]
        fast = [p for p in case.peers if p not in slow]
        timed = {r.peer: r for r in time_peers(fast, case, clean, noisy, budget=10.0,
                                               min_repeats=3, max_repeats=args.repeats)}
        for peer in slow:
            [timed[peer]] = time_peers([peer], case, clean, noisy, budget=10.0,
                                       min_repeats=1, max_repeats=1)
        for peer in case.peers:
            result = timed[peer]
            if not args.no_memory:
                result.peak_mib, process_peak, _ = peak_memory(peer, case)
                result.note = f"process peak {process_peak:.0f} MiB"
            results.append(result)
            print(f"{case.name:22s} {peer:15s} {result.seconds:8.3f} s  "
                  f"PSNR {result.psnr:6.2f}  peak {fmt(result.peak_mib, 0)} MiB  "
                  f"{result.note}", flush=True)
    if args.only:
        return  # a quick look: the printed lines only, no files written
    whole = whole_process(args.repeats)
    for row in whole:
        print(f"{row['what']}: {row['seconds']:.3f} s ({row['ratio']:.2f}x)", flush=True)
    clips = [] if args.quick else clip_comparison(args.repeats)
    for row in clips:
        print(f"clip: {row['what']}: {row['seconds_per_frame']:.3f} s per frame "
              f"({row['ratio']:.2f}x), PSNR {row['psnr']:.2f}", flush=True)
    reference = next(c for c in all_cases if c.kind == "grey" and c.side == (256 if args.quick
                                                                              else 1024))
    threads = thread_scaling(reference, args.repeats)
    if threads:
        print(f"threads: {threads}", flush=True)
    depths = depth_comparison(reference, args.repeats)
    print(f"bit depths: {depths}", flush=True)

    about = machine()
    args.out.mkdir(parents=True, exist_ok=True)
    table = markdown(results, whole, threads, about, clips, depths)
    (args.out / "benchmark.md").write_text(table)
    (args.out / "benchmark.json").write_text(json.dumps(
        dict(machine=about, sigma=SIGMA, h=H, results=[asdict(r) for r in results],
             whole_process=whole, threads=threads, clips=clips, depths=depths), indent=1))
    plotted = plot(results, all_cases, args.out / "benchmark.png")
    print(f"\nwrote {args.out / 'benchmark.md'}" + (" and benchmark.png" if plotted else ""))
    print(table)


if __name__ == "__main__":
    main()
