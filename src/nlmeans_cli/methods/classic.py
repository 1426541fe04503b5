"""The classic method: non-local means, the non-local operation on the pixels' own patches.

The features ``theta = phi`` are the patches themselves (scaled as the affinity's registry entry
says), ``g`` is the pixel value and ``C = sum_j f``, so the estimate is a weighted mean of the
window's pixels for every affinity. Colour channels share one set of weights, computed from the
distance over all channels jointly. Patch, window and h come from the default table for the
noise level unless given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..formulation import AFFINITIES, lookup
from ..parameters import Request, default_parameters
from .base import Method, Setting

__all__ = ["CLASSIC", "Classic", "ClassicSetting"]

# With sigma = 0 the table's h would be 0; this one keeps only identical patches.
_SMALLEST_H = 1e-4


@dataclass(frozen=True)
class ClassicSetting(Setting):
    """NL-means' parameters for one image.

    Attributes
    ----------
    h_unit : float
        Filtering strength, unit scale.
    patch_size, search_window : int
        Odd sides, along every spatial axis.
    """

    h_unit: float = 0.0
    patch_size: int = 1
    search_window: int = 1

    def reach(self, spatial: tuple[int, ...]) -> tuple[int, ...]:
        """Patch radius plus search radius per axis, each clamped as the engine clamps it."""
        return tuple(min(self.patch_size // 2, n - 1) + min(self.search_window // 2, n - 1)
                     for n in spatial)

    def used(self) -> dict[str, float | int | str]:
        """``h_unit``, ``patch_size`` and ``search_window``."""
        return {"h_unit": self.h_unit, "patch_size": self.patch_size,
                "search_window": self.search_window}


class Classic(Method):
    """Non-local means on the Numba engine."""

    name = "classic"
    description = "non-local means on the Numba engine"
    spacetime = True
    volumes = True

    def resolve(self, request: Request, sigma_unit: float, *, sigma_estimated: bool,
                spatial: tuple[int, ...], channels: int) -> ClassicSetting:
        """Take the request's patch, window and h, the default table's where it has none."""
        defaults = default_parameters(sigma_unit * 255.0, len(spatial))
        h_unit = request.h_unit
        if h_unit is None:
            h_unit = max(defaults.h_factor * sigma_unit, _SMALLEST_H)
        return ClassicSetting(
            method=self.name,
            affinity=lookup(AFFINITIES, request.affinity, "affinity").name,
            sigma_unit=sigma_unit,
            sigma_estimated=sigma_estimated,
            h_unit=h_unit,
            patch_size=request.patch_size or defaults.patch_size,
            search_window=request.search_window or defaults.search_window,
        )

    def run(self, grid: np.ndarray, setting: ClassicSetting, *, axes: tuple[int, int, int],
            temporal_window: int = 0, targets: tuple[int, int] | None = None) -> np.ndarray:
        """NL-means on *grid*: the engine with the affinity's classic scaling."""
        from ..engine import nonlocal_operation

        spec = lookup(AFFINITIES, setting.affinity, "affinity")
        patch_radius = tuple(setting.patch_size // 2 * a for a in axes)
        search_radius = [setting.search_window // 2 * a for a in axes]
        search_radius[1] = search_radius[1] or temporal_window
        n_patch = grid.shape[0] * int(np.prod([2 * r + 1 for r in patch_radius]))
        scale, bias, h = spec.classic_scale(setting.h_unit, setting.sigma_unit, n_patch)
        return nonlocal_operation(grid, None, grid, affinity=spec.name, normaliser="sum",
                                  patch_radius=patch_radius,
                                  search_radius=tuple(search_radius), scale=scale, bias=bias,
                                  h=h, targets=targets)


#: The registry entry.
CLASSIC = Classic()
