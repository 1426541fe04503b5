"""Compiling the planar kernel ahead of a run: the versions nearly every run needs.

Numba compiles a kernel on its first call and caches it on disk (:mod:`.cache`). The package's
build calls :func:`compile_ahead` for each name in :data:`AHEAD_VERSIONS`, in a process of its
own, so that the installed package carries the compiled kernels in its ``__pycache__`` folders
and the first ``nlm`` run after ``pip install .`` loads them instead of compiling (see
``setup.py``). Numba uses those files only where it would have written them itself: the same
Numba, CPU and source (it checks each), a writable folder and no ``NUMBA_CACHE_DIR``; anywhere
else the first run compiles, as without them, and says so.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .operation import nonlocal_operation
from .unary import mix_channels

__all__ = ["AHEAD_VERSIONS", "compile_ahead"]

# A small grid, a patch and a window of 3 a side: every step of the kernel runs on it.
_SIDE = 9
_RADII = (1, 0, 1)
# A matrix for the colour version's channel mixes.
_SWAP_FIRST_TWO = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]], np.float32)


def _grey(grid: np.ndarray) -> np.ndarray:
    """Run the grey version: one strength (a final run) and two (the SURE search)."""
    grey = np.ascontiguousarray(grid[:1])
    arguments = _classic_arguments(1)
    nonlocal_operation(grey, None, np.concatenate([grey, grey]), **arguments, second_h=0.7,
                       second_from=1)
    return nonlocal_operation(grey, None, grey, **arguments)


def _colour(grid: np.ndarray) -> np.ndarray:
    """Run the colour version at the default chroma strength, twice the luminance's h.

    The channels are mixed before and after, as the classic method mixes them to opponent
    colours and back (any 3x3 matrix compiles the same code), and the chroma is averaged
    again as a colour still's refinement averages it.
    """
    arguments = _classic_arguments(grid.shape[0])
    mixed = mix_channels(_SWAP_FIRST_TWO, grid)
    estimate = nonlocal_operation(mixed, None, mixed, **arguments,
                                  second_h=2 * arguments["h"], second_from=1)
    # A colour still's refinement: two chroma channels averaged with weights from all three
    # (methods.refinement.guided_chroma), one position compared.
    chroma = nonlocal_operation(estimate, None, np.ascontiguousarray(mixed[1:]),
                                affinity="gaussian", patch_radius=(0, 0, 0),
                                search_radius=_RADII, scale=1.0 / 3, bias=0.0, h=0.5)
    estimate[1:] = chroma
    return mix_channels(_SWAP_FIRST_TWO.T, estimate)


def _classic_arguments(channels: int) -> dict:
    """Return the engine's keywords as the classic method passes them (a small patch)."""
    weights = np.array([0.5, 1.0, 0.5], np.float32)
    return dict(affinity="gaussian", normaliser="sum", patch_radius=_RADII,
                search_radius=_RADII, scale=1.0 / (9 * channels), bias=0.0, h=0.5,
                patch_weights=(weights, np.ones(1, np.float32), weights))


#: The kernel's versions compiled ahead, by name, each with the call that compiles it (on a
#: ``(3, n0, 1, n2)`` float32 grid, as the classic method calls the engine): grey images,
#: and colour images at the default chroma strength. Colour at other chroma strengths, the
#: learned method's kernels and the general kernel (volumes, other affinities) compile on
#: their first use.
AHEAD_VERSIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "grey": _grey,
    "colour": _colour,
}


def compile_ahead(name: str) -> None:
    """Compile, or load from Numba's cache, one version of the planar kernel.

    Parameters
    ----------
    name : str
        A name in :data:`AHEAD_VERSIONS`.

    Raises
    ------
    ValueError
        For an unknown *name*, listing the known ones.

    Notes
    -----
    Runs the version once on a 9x9 grid: when it compiles, about 7 s for grey on 2 cores and
    9 s more for colour (the helpers they share compile once), a few milliseconds once
    cached. The cache is the one Numba uses for the package (``__pycache__`` beside its
    modules, or under ``NUMBA_CACHE_DIR``).
    """
    if name not in AHEAD_VERSIONS:
        raise ValueError(f"unknown kernel version {name!r}; known: "
                         f"{', '.join(sorted(AHEAD_VERSIONS))}")
    ramp = np.linspace(0.0, 1.0, 3 * _SIDE * _SIDE, dtype=np.float32)
    AHEAD_VERSIONS[name](ramp.reshape(3, _SIDE, 1, _SIDE))
