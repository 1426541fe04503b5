"""What every denoising method provides: it resolves its own parameters and says how far it reaches.

A :class:`Method` turns a :class:`~nlmeans_cli.parameters.Request` into a :class:`Setting` for
one image (:meth:`Method.resolve`) and runs on the engine's planar grid (:meth:`Method.run`).
The setting knows what the method uses (for reports) and how far an output pixel's inputs
reach (:meth:`Setting.reach`): tiling reads it for its overlap, so that tiles give exactly the
whole image's result whatever the method.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..colour_noise import BALANCED_WEIGHT
from ..parameters import Request
from ..pixels import ChannelPlan
from ..stabiliser import Stabiliser

if TYPE_CHECKING:
    from ..engine import FrameCarry

__all__ = ["Method", "Setting"]


@dataclass(frozen=True)
class Setting:
    """What a method resolved for one image. Values on the unit scale.

    Attributes
    ----------
    method : str
        The method's name.
    affinity : str
        The affinity's name.
    sigma_unit : float
        Noise standard deviation, unit scale.
    sigma_estimated : bool
        Whether sigma was estimated from the image.
    stabiliser : Stabiliser or None
        Poisson-Gaussian noise: the transform to variance 1 that the method runs inside
        (:mod:`nlmeans_cli.stabiliser`); *sigma_unit* is then the transformed image's.
    channel_plan : ChannelPlan or None
        Where some channels are constant or copies of others (an empty channel of a
        fluorescence image saved in colour, a grey image saved in colour): the channels
        denoised, whose setting the rest is, and what the others take
        (:class:`nlmeans_cli.pixels.ChannelPlan`). ``None``: every channel is denoised.
    sigma_note : str
        Where an estimated sigma was not read as usual, why
        (:attr:`nlmeans_cli.pixels.SigmaReading.note`); empty otherwise.
    growth_hidden : bool
        ``noise="auto"`` found that clipping hid from the levels whether the noise grows
        with the signal (:attr:`nlmeans_cli.stabiliser.StabiliserPlan.growth_hidden`): it
        took the Gaussian path, or the transform where the Gaussian path's residual showed
        the growth (then :attr:`stabiliser` is set).
    """

    method: str
    affinity: str
    sigma_unit: float
    sigma_estimated: bool
    stabiliser: Stabiliser | None = None
    channel_plan: ChannelPlan | None = None
    sigma_note: str = ""
    growth_hidden: bool = False

    def reach(self, spatial: tuple[int, ...]) -> tuple[int, ...]:
        """Return, per spatial axis, how many pixels either side an output pixel reads.

        Parameters
        ----------
        spatial : tuple of int
            The image's spatial shape (the method may clamp its windows to it).

        Returns
        -------
        tuple of int
            One distance per axis of *spatial*.
        """
        raise NotImplementedError

    def used(self) -> dict[str, float | int | str]:
        """Return the parameters the method uses besides sigma, by name, for reports.

        ``h_unit`` is on the unit scale; sizes are in pixels; ``model`` is a file name.
        """
        raise NotImplementedError


class Method:
    """A registered denoising method (an entry of :data:`nlmeans_cli.methods.METHODS`).

    Attributes
    ----------
    name : str
        Registry key and the command line's choice.
    description : str
        One line for ``--help``.
    spacetime : bool
        Whether it searches across frames (honours a temporal window and targets); a method
        that does not is given a clip frame by frame.
    luminance_weight : float
        Where a colour image's channels share their noise, the weight of its luminance's
        noise in the sigma estimated for it
        (:func:`nlmeans_cli.colour_noise.colour_sigma`): the geometric mean of the channels'
        and the luminance's by default.
    """

    name: str = ""
    description: str = ""
    spacetime: bool = False
    luminance_weight: float = BALANCED_WEIGHT

    def kernels_cached(self) -> bool:
        """Tell whether the compiled kernels a run needs are in Numba's cache already.

        ``False`` right after installing: the first run then compiles them, once (the
        command line says so first). The engine's main kernel, unless a method needs more.
        """
        from ..engine import kernels_cached

        return kernels_cached()

    def resolve(self, request: Request, sigma_unit: float, *, sigma_estimated: bool,
                spatial: tuple[int, ...], channels: int,
                pixels: np.ndarray | None = None,
                table_sigma_unit: float | None = None, level: float = 1.0,
                frames: bool = False, temporal_window: int = 0) -> Setting:
        """Choose every parameter for one image.

        Parameters
        ----------
        request : Request
            What the caller asked for.
        sigma_unit : float
            The noise level (given or already estimated), unit scale.
        sigma_estimated : bool
            Whether it was estimated.
        spatial : tuple of int
            The image's spatial shape (2 or 3 axes).
        channels : int
            Its channels.
        pixels : numpy.ndarray, optional
            The image itself, channels-last on the unit scale, for a method that chooses a
            parameter from the noisy image (the classic method's SURE choice of h).
        table_sigma_unit : float, optional
            The noise level the image's content sees, where it is not *sigma_unit*: a
            stabilised image's untransformed noise
            (:attr:`nlmeans_cli.stabiliser.Stabiliser.equivalent_sigma`), at which a method
            reads its default parameters. ``None``: *sigma_unit*.
        level : float
            The level the image's noise is read against, unit scale
            (:func:`nlmeans_cli.parameters.reference_level`): 1, full scale, but for float
            images far above or below it. Its defaults are read at the table's noise
            divided by it.
        frames : bool
            The setting is a clip's, for every frame (resolved without *pixels*).
        temporal_window : int
            With *frames*: the frames either side each frame is denoised with.

        Returns
        -------
        Setting

        Raises
        ------
        ValueError
            For a request the method cannot honour.
        """
        raise NotImplementedError

    def second_look_frames(self, frames: Iterable[tuple[np.ndarray, np.ndarray]],
                           setting: Setting) -> Iterator[np.ndarray]:
        """Yield a clip's frames as the method leaves them after :meth:`run`.

        Parameters
        ----------
        frames : iterable of (numpy.ndarray, numpy.ndarray)
            In order, each frame's estimate and its noisy pixels, as :meth:`run` took and
            gave them: ``(channels, rows, columns)`` float32 on the unit scale.
        setting : Setting
            From :meth:`resolve`.

        Yields
        ------
        numpy.ndarray
            Each frame's result in order, ``(channels, rows, columns)``: here the estimate
            itself; a method that refines a clip's estimates holds the frames it needs.
        """
        for estimate, _ in frames:
            yield estimate

    def run(self, grid: np.ndarray, setting: Setting, *, axes: tuple[int, int, int],
            temporal_window: int = 0, targets: tuple[int, int] | None = None,
            carry: FrameCarry | None = None) -> np.ndarray:
        """Denoise a planar float32 grid ``(channels, n0, n1, n2)`` on the unit scale.

        Parameters
        ----------
        grid : numpy.ndarray
            The pixels, as :func:`nlmeans_cli.pixels.to_grid` lays them out.
        setting : Setting
            From :meth:`resolve`.
        axes : tuple of 3 int
            1 for a real spatial axis, 0 for the dummy (or time) axis.
        temporal_window : int
            Spacetime methods: frames either side along grid axis 1.
        targets : tuple of 2 int, optional
            Spacetime methods: estimate only ``lo <= i1 < hi`` along grid axis 1.
        carry : FrameCarry, optional
            Spacetime methods: the engine's sums handed from one call of a stream of frames
            to the next (see :func:`nlmeans_cli.engine.nonlocal_operation`).

        Returns
        -------
        numpy.ndarray
            float32, the grid's shape (axis 1 cut to *targets*).
        """
        raise NotImplementedError
