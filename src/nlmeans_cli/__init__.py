"""nlmeans_cli: image denoising with the non-local operation.

The public API, loaded lazily (as scikit-image does) so that ``import nlmeans_cli`` and
``nlm --help`` stay cheap:

``denoise``, ``resolve_parameters``, ``estimate_noise``
    one image or volume (:mod:`nlmeans_cli.denoising`, :mod:`nlmeans_cli.pixels`);
``denoise_clip``, ``denoise_frames``
    clips and frame streams with a spacetime window (:mod:`nlmeans_cli.spacetime`);
``denoise_tiled``
    huge images in overlapping tiles, identical to the whole (:mod:`nlmeans_cli.tiling`).

:mod:`nlmeans_cli.formulation` defines the non-local operation and its registries,
:mod:`nlmeans_cli.engine` evaluates it with Numba.
"""

from __future__ import annotations

import importlib

# Public name -> the module that defines it.
_PUBLIC = {
    "denoise": "denoising",
    "resolve_parameters": "denoising",
    "estimate_noise": "pixels",
    "denoise_clip": "spacetime",
    "denoise_frames": "spacetime",
    "denoise_tiled": "tiling",
}

__all__ = ["__version__", *_PUBLIC]


def _version() -> str:
    # Looked up when asked for: importlib.metadata costs about 25 ms at every start.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nlmeans_cli")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def __getattr__(name: str):
    if name == "__version__":
        value = globals()["__version__"] = _version()
        return value
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC) | {"__version__"})
