"""The learned method: a small convolutional network with a non-local block on the engine.

The network (:mod:`~nlmeans_cli.methods.network`) is chosen per image: the one given, or the
shipped one of the affinity nearest to the noise level (:mod:`~nlmeans_cli.methods.model_files`).
It brings its own layers and window, so the setting records the model, not NL-means' h, patch
and window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..parameters import Request
from .base import Method, Setting
from .network import CHROMA_REACH, REFINE_REACH, Network, denoise_with_network

if TYPE_CHECKING:
    from ..engine import FrameCarry

__all__ = ["DEFAULT_LEARNED_AFFINITY", "LEARNED", "Learned", "LearnedSetting"]

#: The affinity of the shipped networks used when none is asked for: the best on the
#: validation split (see the README's ablation).
DEFAULT_LEARNED_AFFINITY = "embedded-gaussian"


@dataclass(frozen=True)
class LearnedSetting(Setting):
    """The learned method's choice for one image: the network.

    Attributes
    ----------
    model : Network
        The network that runs.
    model_name : str
        Its file's name, for reports.
    channels : int
        3 is colour (which takes the chroma path beyond the network); any other count is
        denoised channel by channel, as grey images.
    """

    model: Network | None = None
    model_name: str = ""
    channels: int = 1

    def reach(self, spatial: tuple[int, ...]) -> tuple[int, ...]:
        """Return the receptive-field radius along each axis (the refinement's and chroma's too)."""
        extra = REFINE_REACH + (CHROMA_REACH if self.channels == 3 else 0)
        return tuple(self.model.reach + extra for _ in spatial)

    def used(self) -> dict[str, float | int | str]:
        """``model``, the model file's name."""
        return {"model": self.model_name}


class Learned(Method):
    """A learned network (shipped or ``--model``) whose non-local block runs on the engine.

    The patch size, window and h come from the network. The networks are spatial: a clip
    comes frame by frame, and volumes are refused.
    """

    name = "learned"
    description = "a small network with a non-local block (shipped or --model), same engine"
    spacetime = False
    # Each opponent channel goes through the network at the sigma given, so the luminance
    # is denoised at its own noise.
    luminance_weight = 1.0

    def kernels_cached(self) -> bool:
        """Tell whether the engine's kernels (the block's too) and the convolutions' are cached."""
        from ..engine import kernels_cached
        from . import convolution

        return kernels_cached(pointwise=True) and convolution.kernels_cached()

    def resolve(self, request: Request, sigma_unit: float, *, sigma_estimated: bool,
                spatial: tuple[int, ...], channels: int,
                pixels: np.ndarray | None = None,
                table_sigma_unit: float | None = None, level: float = 1.0) -> LearnedSetting:
        """Load the request's network, or the shipped one nearest to sigma.

        *table_sigma_unit* and *level* are not read: the network is chosen, and its input
        scaled, by the noise it is given (*sigma_unit*).
        """
        from .model_files import cached_model, shipped_model_path

        if len(spatial) != 2:
            raise ValueError("the learned method takes 2-D images and clips, not volumes")
        if request.model is not None:
            # Cached: a clip resolves once per frame, a batch worker once per file.
            model, name = cached_model(request.model), str(request.model)
        else:
            affinity = request.affinity or DEFAULT_LEARNED_AFFINITY
            path = shipped_model_path(affinity, sigma_unit * 255.0)
            model, name = cached_model(path), f"shipped {path.name}"
        return LearnedSetting(method=self.name, affinity=model.affinity,
                              sigma_unit=sigma_unit, sigma_estimated=sigma_estimated,
                              model=model, model_name=name, channels=channels)

    def run(self, grid: np.ndarray, setting: LearnedSetting, *, axes: tuple[int, int, int],
            temporal_window: int = 0, targets: tuple[int, int] | None = None,
            carry: FrameCarry | None = None) -> np.ndarray:
        """Run the network on *grid*, a 2-D image ``(C, n0, 1, n2)``."""
        if grid.ndim != 4 or grid.shape[2] != 1:
            raise ValueError("the learned method takes 2-D images (grey or colour), not volumes")
        planes = grid[:, :, 0, :]
        if len(planes) in (1, 3):
            out = denoise_with_network(planes, setting.sigma_unit, setting.model)
        else:
            # Channels that are not colours (two stains, the noisy ones of a colour image):
            # each as a grey image.
            out = np.concatenate([denoise_with_network(plane[np.newaxis], setting.sigma_unit,
                                                       setting.model) for plane in planes])
        return out[:, :, np.newaxis, :]


#: The registry entry.
LEARNED = Learned()
