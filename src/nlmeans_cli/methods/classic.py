"""The classic method: non-local means, the non-local operation on the pixels' own patches.

The features ``theta = phi`` are the patches themselves (scaled as the affinity's registry entry
says), ``g`` is the pixel value and ``C = sum_j f``, so the estimate is a weighted mean of the
window's pixels for every affinity. Colour channels share one set of weights, computed from the
distance over all channels jointly. Patch, window and h come from the default table for the
noise level unless given.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..formulation import AFFINITIES, GAUSSIAN_KERNEL, PATCH_KERNELS, lookup
from ..parameters import (
    CHROMA_FACTOR,
    Request,
    default_parameters,
    spaced_radius,
    spaced_side,
)
from ..pixels import OPPONENT, to_grid
from .base import Method, Setting
from .refinement import (
    CLASSIC_CHROMA,
    CLASSIC_CLIP_CHROMA,
    CLASSIC_CLIP_REFINEMENT,
    CLASSIC_REFINEMENT,
    CLASSIC_VOLUME_REFINEMENT,
    Refinement,
    guided_chroma,
    refine_estimate,
    refine_volume,
    second_look_still,
)
from .sure import choose_by_sure, perturb, sample_crops

if TYPE_CHECKING:
    from ..engine import FrameCarry

__all__ = ["CLASSIC", "Classic", "ClassicSetting", "strength_pairs"]

_SMALLEST_SIGMA = 1e-6

# With sigma = 0 the table's h would be 0; this one keeps only identical patches.
_SMALLEST_H = 1e-4

#: The h tried by SURE when none is given, as multiples of the default table's.
SURE_FACTORS = (0.75, 0.875, 1.0, 1.125, 1.25)

#: Then the patch sizes and windows tried around the table's, when not given.
SURE_PATCHES = (-2, 2)
SURE_WINDOWS = (-2, 4)

#: Last, h once more, as multiples of the h found, for the patch and window chosen.
SURE_FINE_FACTORS = (0.85, 0.93, 1.07, 1.15)

#: A colour image's table h, as a share of a grey image's: its patch distances average three
#: channels' noise, so they scatter less, and the same h smooths more. On clips panned across
#: scikit-image's astronaut, chelsea, coffee and rocket (the chroma strength's images) 0.6
#: led at sigma 10 to 50 with a temporal window of 2 (+0.75 to +1.08 dB over the grey
#: table's h; with the clips' table it led 0.5 and 0.75 too) and came within 0.06 dB of 0.7's
#: lead without one (+0.48 to +0.82). A clip's frames and a volume take it (the learned
#: method's classic part too); a still does not.
COLOUR_H_FACTOR = 0.6


@dataclass(frozen=True)
class ClassicSetting(Setting):
    """NL-means' parameters for one image.

    Attributes
    ----------
    h_unit : float
        Filtering strength, unit scale.
    patch_size, search_window : int
        Odd sides, along every spatial axis.
    patch_kernel : str
        Name in :data:`~nlmeans_cli.formulation.PATCH_KERNELS`.
    h_chosen_by : str
        ``"given"``, ``"table"`` or ``"sure"``.
    h_chroma_unit : float or None
        Colour images: the strength for the chroma channels (opponent colours), unit scale;
        ``None`` averages the RGB channels with the luminance's weights.
    spacing : tuple of 3 float or None
        A volume's voxel spacing: patch and window are given along the finest axis and
        shrink along the coarser ones (:func:`~nlmeans_cli.parameters.spaced_radius`).
    refined : bool
        Whether the estimate takes a second look at itself: a still, a clip's frames or a
        volume (not a colour one) whose h was not given. Its grey or luminance channel (a
        volume's every channel) is refined
        (:data:`~nlmeans_cli.methods.refinement.CLASSIC_REFINEMENT`; a clip's frames and a
        volume's slices over those either side, :meth:`volume_refinement`), a colour image's
        chroma then averaged with weights from its whole estimate
        (:data:`~nlmeans_cli.methods.refinement.CLASSIC_CHROMA`).
    level : float
        The level its noise is read against, unit scale
        (:func:`~nlmeans_cli.parameters.reference_level`): the refinement's strengths follow
        ``sigma_unit / level``, as the table is read.
    apart : tuple of ClassicSetting
        Channels that are not colours (two stains, a multispectral image's bands) denoised
        each as a grey image with its own setting, where SURE found that better than one set
        of patch distances over all of them (:meth:`Classic.resolve`); the other fields are
        then the first channel's. Empty: the channels share their weights.
    """

    h_unit: float = 0.0
    patch_size: int = 1
    search_window: int = 1
    patch_kernel: str = "box"
    h_chosen_by: str = "table"
    h_chroma_unit: float | None = None
    spacing: tuple[float, float, float] | None = None
    refined: bool = False
    level: float = 1.0
    apart: tuple[ClassicSetting, ...] = ()

    def radii(self, axes: tuple[int, int, int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Return the patch and search radii along the grid's three axes.

        *axes* holds 1 for a real axis and 0 for the dummy axis of a 2-D image; a volume's
        radii follow its spacing.
        """
        spacing = self.spacing if sum(axes) == 3 else None
        patch = spaced_radius(self.patch_size // 2, spacing)
        search = spaced_radius(self.search_window // 2, spacing)
        return (tuple(r * a for r, a in zip(patch, axes, strict=True)),
                tuple(r * a for r, a in zip(search, axes, strict=True)))

    def reach(self, spatial: tuple[int, ...]) -> tuple[int, ...]:
        """Patch radius plus search radius per axis, each clamped as the engine clamps it.

        A refined estimate reads that far around every pixel its refinement reads; channels
        denoised apart, as far as the farthest of them.
        """
        if self.apart:
            return tuple(max(reaches) for reaches in zip(
                *(one.reach(spatial) for one in self.apart), strict=True))
        if len(spatial) == 3:
            patch, search = self.radii((1, 1, 1))
        else:
            patch, search = (self.patch_size // 2,) * 2, (self.search_window // 2,) * 2
        extra = (0,) * len(spatial)
        if self.refined and len(spatial) == 3:
            looked = self.volume_refinement()
            extra = (looked.temporal_radius, looked.reach, looked.reach)
        elif self.refined:
            chroma = CLASSIC_CHROMA.reach if self.h_chroma_unit is not None else 0
            extra = (CLASSIC_REFINEMENT.reach + chroma,) * 2
        return tuple(min(p, n - 1) + min(s, n - 1) + min(e, n - 1)
                     for p, s, e, n in zip(patch, search, extra, spatial, strict=True))

    def volume_refinement(self) -> Refinement:
        """Return a volume's refinement: its slices' reach shrunk by the spacing as a window's.

        :data:`~nlmeans_cli.methods.refinement.CLASSIC_VOLUME_REFINEMENT`, reaching along
        the first axis as far as its two slices would along the finest one
        (:func:`~nlmeans_cli.parameters.spaced_radius`): none where the slices lie five
        times as far apart as the pixels.
        """
        reach = spaced_radius(CLASSIC_VOLUME_REFINEMENT.temporal_radius, self.spacing)[0]
        return replace(CLASSIC_VOLUME_REFINEMENT, temporal_radius=reach)

    def used(self) -> dict[str, float | int | str]:
        """H (unit scale), patch, window, patch kernel, how h was chosen; chroma strength.

        Channels denoised apart add ``apart``, each one's own.
        """
        used = {"h_unit": self.h_unit, "patch_size": self.patch_size,
                "search_window": self.search_window, "patch_kernel": self.patch_kernel,
                "h_chosen_by": self.h_chosen_by}
        if self.h_chroma_unit is not None:
            used["h_chroma_unit"] = self.h_chroma_unit
        if self.refined:
            used["refined"] = True
        if self.spacing is not None:
            used["spacing"] = self.spacing
            patch, search = self.radii((1, 1, 1))
            used["radii"] = {"patch": patch, "search": search}
        if self.apart:
            used["apart"] = [one.used() for one in self.apart]
        return used


class Classic(Method):
    """Non-local means on the Numba engine."""

    name = "classic"
    description = "non-local means on the Numba engine"
    spacetime = True

    def resolve(self, request: Request, sigma_unit: float, *, sigma_estimated: bool,
                spatial: tuple[int, ...], channels: int,
                pixels: np.ndarray | None = None,
                table_sigma_unit: float | None = None, level: float = 1.0,
                frames: bool = False, temporal_window: int = 0) -> ClassicSetting:
        """Take the request's patch, window and h, the default table's where it has none.

        The table's row is read at *table_sigma_unit* where given (a stabilised image's
        untransformed noise), divided by *level*, its h factor taken times *sigma_unit*.
        Without a given h, a 2-D image's h, and the patch size and window where they are not
        given, are chosen by SURE around the table's on at most four 96x96 crops (:meth:`_sure`,
        :mod:`nlmeans_cli.methods.sure`); a volume, a clip (no *pixels*) or a noiseless
        image takes the table's. Without a given h, a still's estimate, a clip's frames
        (*frames*) and a volume's slices (channel by channel, not colour's) take a second look
        (:attr:`ClassicSetting.refined`); a clip's frames that do, with a *temporal_window*,
        take the clips' table (:data:`nlmeans_cli.parameters.DEFAULTS_CLIP`). A colour
        clip's frames and a colour volume take :data:`COLOUR_H_FACTOR` times its h.
        """
        table_sigma = sigma_unit if table_sigma_unit is None else table_sigma_unit
        affinity = lookup(AFFINITIES, request.affinity or "gaussian", "affinity").name
        colour = request.is_colour(channels)
        # What a second look takes: NL-means' estimate, grey or colour in 2-D (a still's
        # channels that are not colours too, each alone), channel by channel in 3-D (not
        # colour's opponent pair).
        refinable = affinity == "gaussian" and (
            not colour if len(spatial) == 3
            else channels == 1 or colour or (pixels is not None and not frames))
        # A clip's frames that take their second look over the frames either side.
        refined_frames = (request.h_unit is None and frames and temporal_window > 0
                          and refinable)
        defaults = default_parameters(table_sigma / level * 255.0, len(spatial),
                                      frames=refined_frames)
        spacing = request.spacing if len(spatial) == 3 else None
        h_unit = request.h_unit
        chosen_by = "given"
        if h_unit is None:
            # A still's SURE searches around the grey table's h (it chose 0.64 to 0.75 of it on
            # colour photographs, where 0.6 to search around lost 0.06 dB at sigma 50); the
            # learned method's classic part for a still keeps it too (the same to 0.003 dB).
            colour_table = colour and (frames or len(spatial) == 3)
            factor = defaults.h_factor * (COLOUR_H_FACTOR if colour_table else 1.0)
            h_unit = max(factor * sigma_unit, _SMALLEST_H * level)
            chosen_by = "table"
        setting = ClassicSetting(
            method=self.name,
            affinity=affinity,
            sigma_unit=sigma_unit,
            sigma_estimated=sigma_estimated,
            h_unit=h_unit,
            patch_size=request.patch_size or spaced_side(defaults.patch_size, spacing),
            search_window=request.search_window or spaced_side(defaults.search_window,
                                                               spacing),
            patch_kernel=lookup(PATCH_KERNELS, request.patch_kernel or defaults.patch_kernel,
                                "patch kernel").name,
            h_chosen_by=chosen_by,
            h_chroma_unit=request.h_chroma_unit if colour else None,
            spacing=spacing,
            level=level,
        )
        # Below a millionth of full scale there is nothing to estimate a risk from.
        noisy = chosen_by == "table" and sigma_unit > _SMALLEST_SIGMA * level
        if noisy and pixels is not None and len(spatial) == 2:
            shared, risk = self._sure(pixels, setting, request, colour=colour)
            if channels > 1 and not colour:
                # Channels that are not colours may share little: SURE decides.
                shared = self._apart_if_better(pixels, setting, shared, risk, request)
            setting = shared
        elif colour and request.h_chroma_unit is None:
            setting = replace(setting, h_chroma_unit=CHROMA_FACTOR * h_unit)
        if setting.apart:
            return setting
        if noisy and (len(spatial) == 3 or pixels is not None or frames):
            # SURE (or the table, for a clip or a volume) chose for NL-means alone; its
            # estimate is then refined.
            setting = replace(setting, refined=refinable)
        return setting

    def _apart_if_better(self, pixels: np.ndarray, table: ClassicSetting,
                         shared: ClassicSetting, risk: float, request: Request
                         ) -> ClassicSetting:
        """Return channels denoised apart where SURE puts their risk under *shared*'s.

        *pixels* hold channels that are not colours; *table* is the setting SURE searched
        from and *shared* what it found for all channels together, at *risk* (summed over
        the same crops). Each channel is searched as a grey image from *table* and, apart,
        takes its second look as one. Patch distances over all channels average their
        noise, which helps where the channels show the same structure (colour photographs'
        channels taken as bands: 0.2 to 1 dB over each alone, SURE keeping them together)
        and hurts where they do not (2 to 4 unrelated photographs as bands: each alone
        0.6 to 1.1 dB better, SURE choosing that on every one).
        """
        searched = [self._sure(pixels[..., channel : channel + 1], table, request)
                    for channel in range(pixels.shape[-1])]
        if sum(channel_risk for _, channel_risk in searched) >= risk:
            return shared
        refined = table.affinity == "gaussian"
        apart = tuple(replace(one, refined=refined) for one, _ in searched)
        return replace(apart[0], apart=apart)

    def _sure(self, pixels: np.ndarray, setting: ClassicSetting, request: Request, *,
              colour: bool = False) -> tuple[ClassicSetting, float]:
        """Choose h, then the patch and the window, by SURE on crops of a 2-D image.

        *pixels* are channels-last on the unit scale. A coordinate descent from the table's
        setting: h among :data:`SURE_FACTORS` times the table's, then the patch size among
        :data:`SURE_PATCHES` steps and the window among :data:`SURE_WINDOWS` steps (each kept
        only where SURE drops, and only where the request left it open), then h again among
        :data:`SURE_FINE_FACTORS` times the h found. A colour image's chroma strength follows
        h (:data:`CHROMA_FACTOR`) unless given. At most 13 candidates, each run on the crops
        and their perturbations; for grey, two candidates that differ only in h share an
        engine call (:func:`strength_pairs`), so 9 calls at most. Returns the setting chosen
        and its risk (summed over the crops' values).
        """
        grids = [to_grid(crop)[0] for crop in sample_crops(pixels)]
        probes = [perturb(grid, setting.sigma_unit) for grid in grids]
        table_h = setting.h_unit

        def with_h(base, factor):
            h_unit = table_h * factor
            chroma = None if not colour else request.h_chroma_unit or CHROMA_FACTOR * h_unit
            return replace(base, h_unit=h_unit, h_chroma_unit=chroma, h_chosen_by="sure")

        risks: dict[ClassicSetting, float] = {}

        def best(candidates):
            def denoised(inputs, settings):
                # For grey, two settings that differ only in h share an engine call.
                groups = (strength_pairs(settings) if pixels.shape[-1] == 1
                          else [[one] for one in settings])
                return [estimates for group in groups
                        for estimates in self.run_crops(inputs, group)]

            return choose_by_sure(candidates, denoised, grids, setting.sigma_unit, risks,
                                  probes=probes)

        chosen = best([with_h(setting, factor) for factor in SURE_FACTORS])
        if request.patch_size is None:
            chosen = best([chosen] + [replace(chosen, patch_size=chosen.patch_size + step)
                                      for step in SURE_PATCHES
                                      if chosen.patch_size + step >= 3])
        if request.search_window is None:
            chosen = best([chosen] + [replace(chosen, search_window=chosen.search_window + step)
                                      for step in SURE_WINDOWS
                                      if chosen.search_window + step >= 3])
        if request.patch_size is None or request.search_window is None:
            # h again, for the patch and window chosen.
            found = chosen.h_unit / table_h
            chosen = best([chosen] + [with_h(chosen, found * factor)
                                      for factor in SURE_FINE_FACTORS])
        return chosen, risks[chosen]

    def run(self, grid: np.ndarray, setting: ClassicSetting, *, axes: tuple[int, int, int],
            temporal_window: int = 0, targets: tuple[int, int] | None = None,
            carry: FrameCarry | None = None) -> np.ndarray:
        """NL-means on *grid*: the engine with the affinity's classic scaling.

        A colour grid with a chroma strength is denoised in opponent colours: one set of
        patch distances over all three channels (the transform is orthonormal, so they are
        the RGB distances), turned into weights with h for the luminance and with the chroma
        strength for the two chroma channels.
        """
        if setting.apart:
            return np.concatenate([
                self.run(grid[channel : channel + 1], one, axes=axes,
                         temporal_window=temporal_window, targets=targets, carry=carry)
                for channel, one in enumerate(setting.apart)])
        from ..engine import mix_channels, nonlocal_operation

        spec = lookup(AFFINITIES, setting.affinity, "affinity")
        # The second strength is a Gaussian kernel's; other affinities weigh RGB alike.
        chroma = (grid.shape[0] == 3 and setting.h_chroma_unit is not None
                  and spec.kernel == GAUSSIAN_KERNEL)
        features = mix_channels(OPPONENT, grid) if chroma else grid
        arguments = _engine_arguments(features, setting, axes, temporal_window, targets)
        if not chroma:
            estimate = nonlocal_operation(grid, None, grid, **arguments, carry=carry)
        else:
            # One pass: the luminance weighted with h, the chroma with h_chroma.
            estimate = nonlocal_operation(features, None, features, **arguments,
                                          second_h=setting.h_chroma_unit, second_from=1,
                                          carry=carry)
        # A still (one frame) takes its second look at itself: grey, or opponent colours; a
        # volume slice by slice, channel by channel.
        still = grid.shape[2] == 1 and targets is None
        if setting.refined and tuple(axes) == (1, 1, 1):
            estimate = np.stack([refine_volume(own, plain, setting.sigma_unit,
                                               refinement=setting.volume_refinement(),
                                               level=setting.level).astype(np.float32)
                                 for own, plain in zip(estimate, grid, strict=True)])
        elif setting.refined and still and (chroma or setting.h_chroma_unit is None):
            estimate = second_look_still(estimate, features, setting.sigma_unit,
                                         level=setting.level, colour=chroma)
        return mix_channels(OPPONENT.T, estimate) if chroma else estimate

    def second_look_frames(self, frames: Iterable[tuple[np.ndarray, np.ndarray]],
                           setting: ClassicSetting) -> Iterator[np.ndarray]:
        """Give each frame of a refined clip a second look, over the frames either side too.

        As a still's (:func:`_second_look`), with
        :data:`~nlmeans_cli.methods.refinement.CLASSIC_CLIP_REFINEMENT`: a frame's grey or
        luminance channel is averaged over its estimate's similar patches in the frames
        ``T`` either side too; a colour frame's chroma then as a still's, keeping more of its
        own (:data:`~nlmeans_cli.methods.refinement.CLASSIC_CLIP_CHROMA`). Frames are given
        out in passes of up to :data:`SECOND_LOOK_FRAMES`, once the ``T`` frames after them
        came in. At the clip's ends the window is reflected, as NL-means' is.
        """
        if not setting.refined:
            yield from super().second_look_frames(frames, setting)
            return
        from ..engine import mix_channels

        radius = CLASSIC_CLIP_REFINEMENT.temporal_radius
        held: deque[tuple[np.ndarray, np.ndarray]] = deque()
        first = 0  # the clip index of held[0]
        received = 0
        target = 0  # the next frame to give out

        def refined(stop):
            # Frames target .. stop - 1 in one pass: a pair of them is compared once.
            lo, hi = max(target - radius, first), min(stop + radius, received)
            window = [held[f - first] for f in range(lo, hi)]
            estimates = np.stack([estimate for estimate, _ in window], axis=1)
            # float32, as the engine reads them: a 4K colour frame's window is 300 MB so.
            plain = np.stack([noisy for _, noisy in window], axis=1)
            looks = estimates[:, target - lo : stop - lo].astype(np.float64)
            looks[0] = refine_estimate(estimates[0], plain[0], setting.sigma_unit,
                                       refinement=CLASSIC_CLIP_REFINEMENT,
                                       targets=(target - lo, stop - lo), level=setting.level)
            for k, look in enumerate(np.moveaxis(looks, 1, 0)):
                if look.shape[0] == 1:
                    yield look.astype(np.float32)
                    continue
                look[1:] = guided_chroma(look, plain[:, target - lo + k], setting.sigma_unit,
                                         guide=CLASSIC_CLIP_CHROMA)
                yield mix_channels(OPPONENT.T, look)

        for estimate, noisy in frames:
            if estimate.shape[0] == 3:  # opponent colours, as a still's second look
                estimate, noisy = mix_channels(OPPONENT, estimate), mix_channels(OPPONENT, noisy)
            held.append((estimate, noisy))
            received += 1
            if received - radius - target < _second_look_batch(estimate):
                continue
            stop = received - radius
            yield from refined(stop)
            target = stop
            while first < target - radius:
                held.popleft()
                first += 1
        if target < received:
            yield from refined(received)

    def run_crops(self, crops: list[np.ndarray], settings: list[ClassicSetting]
                  ) -> list[list[np.ndarray]]:
        """Denoise each 2-D grid of *crops* (all of one shape) on its own, in one engine call.

        For each of one or two *settings* (as :meth:`run_strengths` takes them), the list of
        the crops' estimates, each the same, bit for bit, as :meth:`run` gives for that crop
        alone. The crops are laid end to end along their rows, each reflected by its reach
        (patch radius plus search radius) either side: a pixel then sees only its own crop
        and that reflection, as the engine's padding shows it a crop alone, and the engine
        sweeps long rows: on SURE's crops 0.69x the time of the crops side by side along the
        grid's unused axis, where crops narrower than a radius still go (the engine clamps
        a radius to the crop's width, not to the laid-out row's).
        """
        width = crops[0].shape[-1]
        patch, search = settings[0].radii((1, 0, 1))
        reach = patch[2] + search[2]
        if max(patch[2], search[2]) >= width:
            # The engine would clamp the radii to the crop, not to the laid-out row.
            together = np.concatenate(crops, axis=2)
            return [list(np.split(estimate, len(crops), axis=2))
                    for estimate in self.run_strengths(together, settings, axes=(1, 0, 1))]
        from ..engine import reflect_padded

        margin = [(0, 0)] * 3 + [(reach, reach)]
        step = width + 2 * reach
        laid = np.empty((*crops[0].shape[:3], step * len(crops)), crops[0].dtype)
        for k, crop in enumerate(crops):
            reflect_padded(crop, margin, laid[..., k * step : (k + 1) * step])
        return [[estimate[..., k * step + reach : k * step + reach + width]
                 for k in range(len(crops))]
                for estimate in self.run_strengths(laid, settings, axes=(1, 0, 1))]

    def run_strengths(self, grid: np.ndarray, settings: list[ClassicSetting], *,
                      axes: tuple[int, int, int]) -> list[np.ndarray]:
        """NL-means on *grid* for each of one or two settings (two: from :func:`strength_pairs`).

        Two settings that differ only in h share one engine call: the patch distances are
        computed once and turned into weights at both strengths, the grid's values taken
        twice (the engine's second strength, as for chroma). Each estimate is the same, bit
        for bit, as :meth:`run` gives for its setting alone; the pair costs about 1.4 times
        one run instead of 2 (measured on SURE's crops). Raises ``ValueError`` for two
        settings on a grid of more than one channel (a colour grid's second strength is its
        chroma's).
        """
        from ..engine import nonlocal_operation

        if len(settings) == 1:
            return [self.run(grid, settings[0], axes=axes)]
        if grid.shape[0] != 1:
            raise ValueError(f"two strengths share an engine call on grey grids only, got "
                             f"{grid.shape[0]} channels")
        first, second = settings
        arguments = _engine_arguments(grid, first, axes, 0, None)
        second_h = _engine_arguments(grid, second, axes, 0, None)["h"]
        both = nonlocal_operation(grid, None, np.concatenate([grid, grid]), **arguments,
                                  second_h=second_h, second_from=grid.shape[0])
        return [both[: grid.shape[0]], both[grid.shape[0] :]]


#: A clip's frames refined by one pass of its second look, at most; and the values (pixels
#: times channels) those frames may hold together. The pairs between two of them are compared
#: once, for both; the stream holds that many frames more (and the frame either side).
SECOND_LOOK_FRAMES = 4
SECOND_LOOK_VALUES = 2**24


def _second_look_batch(frame: np.ndarray) -> int:
    """Return how many frames like *frame* one pass of a clip's second look refines."""
    return int(max(1, min(SECOND_LOOK_FRAMES, SECOND_LOOK_VALUES // max(frame.size, 1))))


def _engine_arguments(features: np.ndarray, setting: ClassicSetting,
                      axes: tuple[int, int, int], temporal_window: int,
                      targets: tuple[int, int] | None) -> dict:
    """Return the engine's keyword arguments for *setting* on *features*."""
    spec = lookup(AFFINITIES, setting.affinity, "affinity")
    patch_radius, search = setting.radii(axes)
    search_radius = list(search)
    search_radius[1] = search_radius[1] or temporal_window
    n_patch = features.shape[0] * int(np.prod([2 * r + 1 for r in patch_radius]))
    scale, bias, h = spec.classic_scale(setting.h_unit, setting.sigma_unit, n_patch)
    kernel = PATCH_KERNELS[setting.patch_kernel]
    # Weights that sum to the box's along each axis: n_patch stays the normaliser.
    weights = tuple(np.asarray(kernel.weights(r), np.float32) for r in patch_radius)
    return dict(affinity=spec.name, normaliser="sum", patch_radius=patch_radius,
                search_radius=tuple(search_radius), scale=scale, bias=bias, h=h,
                targets=targets, patch_weights=weights)


#: The largest ratio of two strengths that share an engine call. Below sqrt(2), h**2 is
#: never a power of two apart, where the engine would square one strength's weights for the
#: other's (:func:`~nlmeans_cli.engine.nonlocal_operation`), which rounds differently.
_PAIRED_H_RATIO = 1.4


def strength_pairs(settings: list[ClassicSetting]) -> list[list[ClassicSetting]]:
    """Group settings, in order, into pairs that may share an engine call, and singles.

    Two consecutive settings pair when they differ only in h (less than
    :data:`_PAIRED_H_RATIO` apart) and their affinity has the Gaussian kernel, whose second
    strength the engine takes.

    Parameters
    ----------
    settings : list of ClassicSetting
        Settings of one grey image.

    Returns
    -------
    list of list of ClassicSetting
        The settings in their order, in groups of one or two.
    """
    groups: list[list[ClassicSetting]] = []
    k = 0
    while k < len(settings):
        first = settings[k]
        second = settings[k + 1] if k + 1 < len(settings) else None
        if second is not None and _share_distances(first, second):
            groups.append([first, second])
            k += 2
        else:
            groups.append([first])
            k += 1
    return groups


def _share_distances(first: ClassicSetting, second: ClassicSetting) -> bool:
    same_but_h = replace(first, h_unit=second.h_unit, h_chosen_by=second.h_chosen_by,
                         h_chroma_unit=second.h_chroma_unit) == second
    low, high = sorted((first.h_unit, second.h_unit))
    return (same_but_h and lookup(AFFINITIES, first.affinity, "affinity").kernel
            == GAUSSIAN_KERNEL and 0 < low and high < _PAIRED_H_RATIO * low)


#: The registry entry.
CLASSIC = Classic()
