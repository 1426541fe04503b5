"""Denoising methods: named ways to turn a noisy image into an estimate.

Each entry of :data:`METHODS` is a :class:`~nlmeans_cli.methods.base.Method`: it resolves its own
parameters for an image and says how far it reaches, and runs on planar float32 grids on the
unit scale. The command line builds its ``--method`` choices from the registry.

Numba is imported when a method first runs, so that reading this registry stays cheap.
"""

from __future__ import annotations

from ..formulation import lookup
from .base import Method, Setting
from .classic import CLASSIC, ClassicSetting
from .learned import LEARNED, LearnedSetting

__all__ = ["METHODS", "ClassicSetting", "LearnedSetting", "Method", "Setting", "method_named"]

METHODS: dict[str, Method] = {method.name: method for method in (CLASSIC, LEARNED)}


def method_named(name: str) -> Method:
    """Return the method called *name*.

    Raises
    ------
    ValueError
        If no method has that name; the message lists those that do.
    """
    return lookup(METHODS, name, "method")
