"""The learned method: a model's non-local blocks on the classic method's engine.

The model (:mod:`~nlmeans_cli.methods.model`) is chosen per image: the one given, or the shipped
one nearest to the noise level (:mod:`~nlmeans_cli.methods.model_files`). It brings its own
embeddings and windows, so the setting records the model, not NL-means' h, patch and window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..formulation import AFFINITIES, lookup
from ..parameters import Request
from .base import Method, Setting
from .model import Model, apply_model

__all__ = ["LEARNED", "Learned", "LearnedSetting"]


@dataclass(frozen=True)
class LearnedSetting(Setting):
    """The learned method's choice for one image: the model.

    Attributes
    ----------
    model : Model
        The model that runs.
    model_name : str
        Its file's name, for reports.
    """

    model: Model | None = None
    model_name: str = ""

    def reach(self, spatial: tuple[int, ...]) -> tuple[int, ...]:
        """Sum the stages' reaches, along each axis: stage k reads stage k - 1."""
        return tuple(sum(stage.reach for stage in self.model.stages) for _ in spatial)

    def used(self) -> dict[str, float | int | str]:
        """``model``, the model file's name."""
        return {"model": self.model_name}


class Learned(Method):
    """Learned non-local blocks (shipped or ``--model``) on the classic method's engine.

    The patch size, window and h come from the model. The models are spatial: a clip comes
    frame by frame, and volumes are refused.
    """

    name = "learned"
    description = "learned non-local blocks (shipped or --model) on the same engine"
    spacetime = False

    def resolve(self, request: Request, sigma_unit: float, *, sigma_estimated: bool,
                spatial: tuple[int, ...], channels: int,
                pixels: np.ndarray | None = None) -> LearnedSetting:
        """Load the request's model, or the shipped one nearest to sigma."""
        from .model_files import cached_model, shipped_model_path

        affinity = lookup(AFFINITIES, request.affinity, "affinity").name
        if request.model is not None:
            # Cached: a clip resolves once per frame, a batch worker once per file.
            model, name = cached_model(request.model), str(request.model)
        else:
            path = shipped_model_path(affinity, sigma_unit * 255.0, channels=channels)
            model, name = cached_model(path), f"shipped {path.name}"
        if len(spatial) != 2:
            raise ValueError("the learned method takes 2-D images and clips, not volumes")
        return LearnedSetting(method=self.name, affinity=affinity, sigma_unit=sigma_unit,
                              sigma_estimated=sigma_estimated, model=model, model_name=name)

    def run(self, grid: np.ndarray, setting: LearnedSetting, *, axes: tuple[int, int, int],
            temporal_window: int = 0, targets: tuple[int, int] | None = None) -> np.ndarray:
        """Run the model's stages on *grid*, a 2-D image."""
        return apply_model(grid, setting.sigma_unit, setting.model)


#: The registry entry.
LEARNED = Learned()

