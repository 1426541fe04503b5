"""The learned method: a small convolutional network with a non-local block on the engine.

The network (:mod:`~nlmeans_cli.methods.network`) is chosen per image: the one given, or the
shipped one of the affinity nearest to the noise level (:mod:`~nlmeans_cli.methods.model_files`).
It brings its own layers and window, so the setting records the model, not NL-means' h, patch
and window.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..parameters import Request
from .base import Method, Setting
from .classic import CLASSIC
from .network import CHROMA_REACH, REFINE_REACH, Network, denoise_with_network

if TYPE_CHECKING:
    from ..engine import FrameCarry

__all__ = ["CLIP_NETWORK_SHARE", "DEFAULT_LEARNED_AFFINITY", "LEARNED", "Learned",
           "LearnedSetting", "VOLUME_NETWORK_SHARE", "network_share"]

#: The affinity of the shipped networks used when none is asked for: the best on the
#: validation split (see the README's ablation).
DEFAULT_LEARNED_AFFINITY = "embedded-gaussian"

#: A clip with a temporal window: the share of each frame's result that the network's takes
#: (times :func:`network_share`), the classic method's spacetime result, after its second
#: look over the frames either side, the rest. On 12 clips panned across training images of
#: train400 (8 frames of 140x150, temporal window 2) at sigma 15, 25 and 50 the shares 0.2 to
#: 0.6 scored best at 0.3 to 0.4 (0.4 within 0.01 dB of the best at every level): +0.15 to
#: +0.21 dB over the classic method alone, +0.16 to +0.23 over the even mix with NL-means
#: alone that this replaced. The network sees one frame, the classic method the frames
#: either side. With the classic method's clip table and colour h
#: (:data:`~nlmeans_cli.parameters.DEFAULTS_CLIP`, ``COLOUR_H_FACTOR``) 0.3 led 0.4 by 0.03
#: to 0.08 dB on those clips and on 4 colour clips of scikit-image's astronaut, chelsea,
#: coffee and rocket; 0.2 came within 0.03 dB of 0.3 either way.
CLIP_NETWORK_SHARE = 0.3

#: A volume: the share of each voxel that the network's result on its slice takes (times
#: :func:`network_share`), the classic method's 3-D result, after its slices' second look,
#: the rest. On 15 training volumes of 16 slices (10 training photographs panned across, 5
#: synthetic cell volumes) at sigma 15, 25 and 50 the best of the shares 0.1 to 0.4 was 0.2
#: everywhere: +0.08 to +0.20 dB on the photographs and +0.24 to +0.39 on the cells over
#: the classic method alone. The network sees one slice, the classic method its neighbours.
#: (Before the classic method's second look the best share was 0.3.)
VOLUME_NETWORK_SHARE = 0.2


def network_share(sigma: float, network_sigma: float) -> float:
    """Return the network's share of the result at noise *sigma* (0-255 scale).

    Parameters
    ----------
    sigma : float
        The image's noise standard deviation, 0-255 scale.
    network_sigma : float
        The noise level the network was trained for, 0-255 scale.

    Returns
    -------
    float
        ``ln(sigma) / ln(network_sigma)`` clipped to ``[0, 1]``: 1 from the network's level
        up (the image is scaled down to it), less below it, where the image is scaled up
        and the network sees edges it was never trained on; the rest of the result is the
        classic method's.

    Notes
    -----
    Below its level the network did worse the further the image was scaled: the sigma-15
    network at sigma 1 gave 43.9 dB where the noisy image had 48.1 and the classic method
    48.6 (20 training photographs of train400, never the validation split). There the
    best mix of the two results took the network's at 0.2 (sigma 2), 0.35 (3), 0.5 (4),
    0.65 (5 and 6) and 0.8 (8 and 10), which this logarithm follows. Cost: none.
    """
    if sigma >= network_sigma:
        return 1.0
    if sigma <= 1.0 or network_sigma <= 1.0:
        # (A network trained at sigma 1 or less: sigma is under 1 too.)
        return 0.0
    return math.log(sigma) / math.log(network_sigma)


@dataclass(frozen=True)
class LearnedSetting(Setting):
    """The learned method's choice for one image: the network.

    Attributes
    ----------
    model : Network
        The network that runs.
    model_name : str
        Its file's name, for reports.
    colour : bool
        Whether the image's channels are red, green and blue
        (:meth:`~nlmeans_cli.parameters.Request.is_colour`), which take the chroma path beyond
        the network; any others are denoised channel by channel, as grey images.
    share : float
        The network's share of a still's result (:func:`network_share`); the rest is the
        classic method's, with *classic*. A clip's frames take :data:`CLIP_NETWORK_SHARE`
        of it where they are denoised with a temporal window.
    classic : Setting or None
        The classic method's setting for the same image (its table's parameters; a
        volume's refined slice by slice, a still's and a clip's NL-means alone).
    second_look : bool
        A clip's frames with a temporal window: the classic method's spacetime result takes
        its second look over the frames either side
        (:meth:`~nlmeans_cli.methods.classic.Classic.second_look_frames`) before the
        network's result mixes in.
    dimensions : int
        2 for images and clips, 3 for a volume (whose slices go through the network, mixed
        with the classic method's 3-D result: :data:`VOLUME_NETWORK_SHARE`).
    """

    model: Network | None = None
    model_name: str = ""
    colour: bool = False
    share: float = 1.0
    classic: Setting | None = None
    second_look: bool = False
    dimensions: int = 2

    def reach(self, spatial: tuple[int, ...]) -> tuple[int, ...]:
        """Return the receptive-field radius along each axis (the refinement's and chroma's too).

        A volume's slices go through the network one by one: along its first axis only the
        classic method's 3-D result reaches.
        """
        extra = REFINE_REACH + (CHROMA_REACH if self.colour else 0)
        network = tuple(0 if len(spatial) == 3 and axis == 0 else self.model.reach + extra
                        for axis in range(len(spatial)))
        if self.classic is None or (self.share == 1.0 and len(spatial) != 3):
            return network
        return tuple(max(pair) for pair in zip(network, self.classic.reach(spatial), strict=True))

    def used(self) -> dict[str, float | int | str]:
        """``model``, the model file's name; the network's shares of a still, a clip, a volume.

        ``network_share`` where the classic result mixes into a still's,
        ``clip_network_share`` for an image (a clip's frames with a temporal window), and
        ``clip_second_look`` where their classic part takes its second look,
        ``volume_network_share`` for a volume.
        """
        used: dict[str, float | int | str] = {"model": self.model_name}
        if self.dimensions == 3:
            used["volume_network_share"] = VOLUME_NETWORK_SHARE * self.share
            return used
        used["clip_network_share"] = CLIP_NETWORK_SHARE * self.share
        if self.second_look:
            used["clip_second_look"] = True
        if self.classic is not None and self.share < 1.0:
            used["network_share"] = self.share
        return used


class Learned(Method):
    """A learned network (shipped or ``--model``) whose non-local block runs on the engine.

    The patch size, window and h come from the network. The networks are spatial: each of a
    clip's frames goes through the network alone, mixed with the classic method's spacetime
    result (:data:`CLIP_NETWORK_SHARE`), and each of a volume's slices, mixed with the
    classic method's 3-D result (:data:`VOLUME_NETWORK_SHARE`). Below the network's noise
    level its result is mixed with the classic method's too (:func:`network_share`).
    """

    name = "learned"
    description = "a small network with a non-local block (shipped or --model), same engine"
    # A clip's frames each go through the network alone; the classic method's spacetime
    # result mixes in.
    spacetime = True
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
                table_sigma_unit: float | None = None, level: float = 1.0,
                frames: bool = False, temporal_window: int = 0) -> LearnedSetting:
        """Load the request's network, or the shipped one nearest to sigma.

        The network is chosen, and its input scaled, by the noise it is given
        (*sigma_unit*). The classic method's setting is resolved too (its table's, at
        *table_sigma_unit* and *level*; *pixels* is not read): its result takes the share
        :func:`network_share` leaves below the network's own level, on a clip's frames
        the share :data:`CLIP_NETWORK_SHARE` leaves, and in a volume (3 *spatial* axes, the
        classic setting's then 3-D) the share :data:`VOLUME_NETWORK_SHARE` leaves.
        """
        from .model_files import cached_model, shipped_model_path

        if request.model is not None:
            # Cached: a clip resolves once per frame, a batch worker once per file.
            model, name = cached_model(request.model), str(request.model)
        else:
            affinity = request.affinity or DEFAULT_LEARNED_AFFINITY
            path = shipped_model_path(affinity, sigma_unit * 255.0)
            model, name = cached_model(path), f"shipped {path.name}"
        share = network_share(sigma_unit * 255.0, model.sigma)
        # The classic method's own affinity (NL-means), not the network's, and its table's
        # parameters without SURE (no pixels), as a clip's frames take them: a still and the
        # same image as a frame agree (SURE gained 0.02 to 0.03 dB here).
        classic = CLASSIC.resolve(replace(request, affinity=None), sigma_unit,
                                  sigma_estimated=sigma_estimated, spatial=spatial,
                                  channels=channels, pixels=None,
                                  table_sigma_unit=table_sigma_unit, level=level,
                                  frames=frames, temporal_window=temporal_window)
        # A clip's second look comes after the classic part's run (a volume's is in it).
        return LearnedSetting(method=self.name, affinity=model.affinity,
                              sigma_unit=sigma_unit, sigma_estimated=sigma_estimated,
                              model=model, model_name=name,
                              colour=request.is_colour(channels),
                              share=share,
                              classic=replace(classic, refined=classic.refined and not frames),
                              second_look=classic.refined and frames,
                              dimensions=len(spatial))

    def run(self, grid: np.ndarray, setting: LearnedSetting, *, axes: tuple[int, int, int],
            temporal_window: int = 0, targets: tuple[int, int] | None = None,
            carry: FrameCarry | None = None) -> np.ndarray:
        """Run the network on *grid*: a 2-D image ``(C, n0, 1, n2)``, a clip's window, a volume.

        A clip's window ``(C, n0, frames, n2)`` with *targets*: the network runs on each
        target frame alone, and its result is mixed with the classic method's over the
        window (*temporal_window*, *carry*), the network taking :data:`CLIP_NETWORK_SHARE`
        of its share. A volume ``(C, n0, n1, n2)`` (*axes* all 1, no *targets*): the network
        runs on each slice ``n1 x n2``, mixed with the classic method's 3-D result, taking
        :data:`VOLUME_NETWORK_SHARE` of its share. Below the network's level, the share is
        under 1 for a still too (``share`` and ``classic`` of *setting*).
        """
        if grid.ndim != 4:
            raise ValueError(f"expected a grid (C, n0, n1, n2), got {grid.ndim} axes")
        if targets is not None and temporal_window > 0 and setting.second_look:
            # The classic part alone: its second look, then the network's result, come in
            # :meth:`second_look_frames`.
            return CLASSIC.run(grid, setting.classic, axes=axes,
                               temporal_window=temporal_window, targets=targets, carry=carry)
        if targets is None and tuple(axes) == (1, 1, 1):
            out = np.stack([self._network(grid[:, z], setting) for z in range(grid.shape[1])],
                           axis=1)
            share = setting.share * VOLUME_NETWORK_SHARE
        else:
            frames = range(*targets) if targets is not None else range(grid.shape[2])
            out = np.stack([self._network(grid[:, :, f, :], setting) for f in frames], axis=2)
            share = setting.share * (CLIP_NETWORK_SHARE if temporal_window > 0 else 1.0)
        if share < 1.0 and setting.classic is not None:
            classic = CLASSIC.run(grid, setting.classic, axes=axes,
                                  temporal_window=temporal_window, targets=targets, carry=carry)
            out = (share * out + (1.0 - share) * classic).astype(out.dtype)
        return out

    def second_look_frames(self, frames: Iterable[tuple[np.ndarray, np.ndarray]],
                           setting: LearnedSetting) -> Iterator[np.ndarray]:
        """Mix each frame's network result into the classic part after its second look.

        Where :attr:`LearnedSetting.second_look` is set, :meth:`run` gave a clip's frames
        the classic method's spacetime result alone: it takes its second look over the
        frames either side (:meth:`~nlmeans_cli.methods.classic.Classic.second_look_frames`),
        and each frame's network result (on the noisy frame alone) then takes
        :data:`CLIP_NETWORK_SHARE` of its share.
        """
        if not setting.second_look:
            yield from super().second_look_frames(frames, setting)
            return
        share = setting.share * CLIP_NETWORK_SHARE
        waiting: deque[np.ndarray] = deque()

        def passing(pairs):
            for estimate, noisy in pairs:
                waiting.append(noisy)
                yield estimate, noisy

        refined_setting = replace(setting.classic, refined=True)
        for classic in CLASSIC.second_look_frames(passing(frames), refined_setting):
            network = self._network(waiting.popleft(), setting)
            yield (share * network + (1.0 - share) * classic).astype(np.float32)

    @staticmethod
    def _network(planes: np.ndarray, setting: LearnedSetting) -> np.ndarray:
        """Return the network's result for one frame's planes ``(C, n0, n2)``."""
        if len(planes) == 1 or setting.colour:
            return denoise_with_network(planes, setting.sigma_unit, setting.model)
        # Channels that are not colours (two stains, a multispectral image's bands, the noisy
        # ones of a colour image): each as a grey image.
        return np.concatenate([denoise_with_network(plane[np.newaxis], setting.sigma_unit,
                                                    setting.model) for plane in planes])


#: The registry entry.
LEARNED = Learned()
