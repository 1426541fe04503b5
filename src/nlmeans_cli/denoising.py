"""The public array functions: resolve the parameters for an image, then denoise it.

:func:`resolve_parameters` turns keyword arguments in the image's own units into a
:class:`~nlmeans_cli.parameters.Request` on the unit scale, estimates sigma when it is not
given, and lets the method choose the rest (:class:`~nlmeans_cli.methods.base.Setting`);
:func:`denoise` does that and runs the method. Inside the package, jobs that already hold a
request or a setting call :func:`resolve_request` and :func:`denoise_with`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .clipped_levels import clipped_ends
from .colour_noise import luminance_sigma
from .methods import Method, Setting, method_named
from .missing import (
    fill_missing,
    measured_part,
    measured_sample,
    restore_missing,
    with_given_missing,
)
from .parameters import DEFAULT_NOISE, Request, reference_level, request_for
from .pixels import (
    SigmaReading,
    channel_plan,
    channels_last,
    counts_zero,
    fill_channels,
    from_grid,
    read_sigma_unit,
    restore_channels,
    rows_columns_swapped,
    to_grid,
    turned_still,
    unit_pixels,
)
from .residual_growth import PILOT_STRENGTH, pilot_centres, residual_shows_growth
from .scales import from_unit
from .stabiliser import Stabiliser, StabiliserPlan, plan_stabiliser

__all__ = ["denoise", "denoise_request", "denoise_with", "pilot_setting",
           "residual_grows", "resolve_parameters", "resolve_request", "stabiliser_for"]


def denoise(
    image: np.ndarray,
    *,
    sigma: float | None = None,
    h: float | None = None,
    patch_size: int | None = None,
    search_window: int | None = None,
    affinity: str | None = None,
    method: str = "classic",
    channel_axis: int | None = None,
    model: str | None = None,
    patch_kernel: str | None = None,
    h_chroma: float | None = None,
    spacing: tuple[float, float, float] | None = None,
    noise: str = DEFAULT_NOISE,
    gain: float | None = None,
    read_noise: float | None = None,
    black_level: float | None = None,
    missing: np.ndarray | None = None,
    colour: bool = True,
) -> np.ndarray:
    """Denoise an image or a volume with the non-local operation.

    Parameters
    ----------
    image : numpy.ndarray
        uint8, uint16, int16, float16, float32 or float64; 2-D, 2-D with a channel axis, or 3-D (a
        volume). Float images are taken to have a nominal range of [0, 1].
    sigma : float, optional
        Noise standard deviation in the image's value units (0-255 for uint8, 0-65535 for
        uint16, -32768-32767 for int16, 0-1 for floats). ``None`` estimates it from the
        details of the image's calmest positions (:func:`nlmeans_cli.estimate_noise`),
        averaged over channels.
    h : float, optional
        Filtering parameter in the image's value units; larger smooths more. ``None`` takes
        the default table's ``h_factor * sigma``, chosen again by SURE for a 2-D image, and
        the classic method then refines a grey still's estimate
        (:data:`nlmeans_cli.methods.refinement.CLASSIC_REFINEMENT`); given, the classic
        method is NL-means alone.
    patch_size : int, optional
        Odd side of the patches that are compared. ``None``: from the default table.
    search_window : int, optional
        Odd side of the search window. ``None``: from the default table.
    affinity : str, optional
        Name in :data:`nlmeans_cli.formulation.AFFINITIES`; ``None``: the method's own
        (``"gaussian"``, NL-means, for the classic method; ``"embedded-gaussian"``, the best
        shipped network, for the learned method).
    method : str
        Name in :data:`nlmeans_cli.methods.METHODS`: ``"classic"`` (NL-means) or
        ``"learned"``.
    channel_axis : int, optional
        The axis holding colour channels, which share one set of weights. ``None``: no
        channels, so a 3-D array is a volume.
    model : path-like, optional
        ``method="learned"`` only: a model file from ``nlm train``. ``None`` takes the
        shipped network for *affinity* nearest to sigma. Patch, window and h then come
        from the network.
    patch_kernel : str, optional
        Classic method: how the patch distance weighs the patch, a name in
        :data:`nlmeans_cli.formulation.PATCH_KERNELS` (``"box"`` or ``"gaussian"``).
        ``None``: from the default table.
    h_chroma : float, optional
        Classic method, colour images: the strength for the chroma channels (opponent
        colours; the patch distances stay those over all channels), in the image's value
        units. ``None``: :data:`nlmeans_cli.parameters.CHROMA_FACTOR` times h.
    spacing : tuple of 3 float, optional
        Classic method, volumes: the voxel spacing (Z, Y, X, any one unit). Patch and window
        sides then hold along the finest axis and shrink along coarser ones in proportion,
        so that slices far apart in space are neither compared nor averaged. ``None``:
        isotropic.
    noise : str
        The noise model, a name in :data:`nlmeans_cli.noise.NOISE_MODELS`: ``"gaussian"``
        (one sigma), ``"poisson-gaussian"`` (variance ``gain * x + read_noise ** 2``, as
        cameras and microscopes count photons: denoised through the generalised Anscombe
        transform and its unbiased inverse), or ``"auto"``, the default (Poisson-Gaussian
        where the fitted noise grows by half or more across the image's levels, and sigma
        and h are not given; else Gaussian). With ``"poisson-gaussian"``, sigma and h cannot
        be given.
    gain, read_noise : float, optional
        The Poisson-Gaussian model's parameters in the image's value units, as sigma;
        ``None`` fits them from the image, per channel (Foi et al.); one given, the other
        is fitted with it held.
    black_level : float, optional
        The value of no photons (a camera's offset), in the image's value units: the
        variance is then ``gain * (x - black_level) + read_noise ** 2``. ``None``: 0 where
        the gain and read noise are both given, else fitted where the image shows one
        (:attr:`nlmeans_cli.noise.PoissonGaussian.black_level`); for a signed image, its 0,
        unless its lowest values lie far below it (CT numbers, whose air lies at -1000, are
        no photon counts from 0): :func:`nlmeans_cli.pixels.counts_zero`.
    missing : numpy.ndarray, optional
        bool, the rows and columns of a 2-D image: pixels that hold no measurement (a
        no-data value, dead pixels, masked stars), in any pixel type. Left out as NaN pixels
        are (Notes) and given back as they were.
    colour : bool
        Whether three channels are red, green and blue (opponent colours, the default) or,
        ``False``, a multispectral image's bands or stains, denoised as other counts are.

    Returns
    -------
    numpy.ndarray
        The estimate, same shape and dtype as *image*. Integer results are rounded and
        clipped to the dtype's range.

    Raises
    ------
    TypeError
        If the dtype is not supported.
    ValueError
        For a bad shape (of *missing* too), NaN or infinite values in a volume or in every
        pixel, an unknown name or a parameter out of range;
        :class:`nlmeans_cli.methods.model_files.ModelFileError` (a ``ValueError``) for a
        model file that is missing or not a model.

    Notes
    -----
    Cost ``O(N * C * S)`` for ``N`` pixels, ``C`` channels and ``S`` positions in the search
    window (``search_window ** ndim``), independent of the patch size. Windows and patches are
    clamped to the image: a radius never exceeds the axis length minus one.

    NaN and infinite pixels of a float image (2-D, or 2-D with channels: a pixel with one
    such channel) are missing values: they come back as they were, and the others are
    denoised without them (:mod:`nlmeans_cli.missing`: the noise is read on the measured
    part, the engine reads each missing pixel as its nearest measured one).

    References
    ----------
    .. [1] A. Buades, B. Coll, J.-M. Morel, "Non-Local Means Denoising", Image Processing
       On Line 1 (2011), https://doi.org/10.5201/ipol.2011.bcm_nlm
    .. [2] X. Wang et al., "Non-local Neural Networks", CVPR 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from nlmeans_cli import denoise
    >>> rng = np.random.default_rng(0)
    >>> noisy = np.clip(0.5 + rng.normal(0, 0.1, (32, 32)), 0, 1)
    >>> denoise(noisy, sigma=0.1).std() < noisy.std()
    True
    """
    image = np.asarray(image)
    request = request_for(image.dtype, sigma=sigma, h=h, patch_size=patch_size,
                          search_window=search_window, affinity=affinity, method=method,
                          model=model, patch_kernel=patch_kernel, h_chroma=h_chroma,
                          spacing=spacing, noise=noise, gain=gain, read_noise=read_noise,
                          black_level=black_level, colour=colour)
    return _denoised(image, request, channel_axis, missing)[0]


def resolve_parameters(
    image: np.ndarray,
    *,
    sigma: float | None = None,
    h: float | None = None,
    patch_size: int | None = None,
    search_window: int | None = None,
    affinity: str | None = None,
    method: str = "classic",
    channel_axis: int | None = None,
    model: str | None = None,
    patch_kernel: str | None = None,
    h_chroma: float | None = None,
    spacing: tuple[float, float, float] | None = None,
    noise: str = DEFAULT_NOISE,
    gain: float | None = None,
    read_noise: float | None = None,
    black_level: float | None = None,
    colour: bool = True,
) -> Setting:
    """Return the parameters :func:`denoise` uses for this image and these arguments.

    Parameters
    ----------
    image, sigma, h, patch_size, search_window, affinity, method, channel_axis, model
    patch_kernel, h_chroma, spacing, noise, gain, read_noise, black_level, colour
        As for :func:`denoise`.

    Returns
    -------
    Setting
        The method's choice, on the unit scale: sigma (given or estimated) and, for the
        classic method, h, patch size and window
        (:class:`~nlmeans_cli.methods.ClassicSetting`); for the learned method, the model
        (:class:`~nlmeans_cli.methods.LearnedSetting`). ``setting.reach(shape)`` says how far
        an output pixel reads.

    Raises
    ------
    TypeError, ValueError
        As for :func:`denoise`.

    Notes
    -----
    Cost ``O(N)`` when sigma is estimated (:func:`nlmeans_cli.pixels.read_sigma_unit`),
    ``O(1)`` otherwise;
    the learned method loads its model file once per process. With ``noise="auto"``, where
    clipping hid from the levels whether the noise grows, the image's centre (up to 512x512,
    or 64 voxels a side) is denoised by the Gaussian path once more and its residual judged
    (:func:`nlmeans_cli.residual_growth.residual_shows_growth`).
    """
    image = np.asarray(image)
    request = request_for(image.dtype, sigma=sigma, h=h, patch_size=patch_size,
                          search_window=search_window, affinity=affinity, method=method,
                          model=model, patch_kernel=patch_kernel, h_chroma=h_chroma,
                          spacing=spacing, noise=noise, gain=gain, read_noise=read_noise,
                          black_level=black_level, colour=colour)
    image = turned_still(image, channel_axis, request.method)[0]  # as denoise turns it
    return _resolve(request, unit_pixels(measured_part(image, channel_axis), channel_axis),
                    image.dtype)


def resolve_request(image: np.ndarray, request: Request, *,
                    channel_axis: int | None = None) -> Setting:
    """Resolve a request (unit scale) for an image, as :func:`resolve_parameters` does.

    Parameters
    ----------
    image : numpy.ndarray
        As for :func:`denoise`.
    request : Request
        What is asked for, on the unit scale.
    channel_axis : int, optional
        As for :func:`denoise`.

    Returns
    -------
    Setting

    Raises
    ------
    TypeError, ValueError
        As for :func:`denoise`.
    """
    image = turned_still(np.asarray(image), channel_axis, request.method)[0]
    return _resolve(request, unit_pixels(measured_part(image, channel_axis), channel_axis),
                    image.dtype)


def denoise_request(image: np.ndarray, request: Request, *,
                    channel_axis: int | None = None, missing: np.ndarray | None = None
                    ) -> tuple[np.ndarray, Setting]:
    """Resolve a request (unit scale) for an image and denoise it, converting it once.

    Parameters
    ----------
    image : numpy.ndarray
        As for :func:`denoise`.
    request : Request
        What is asked for, on the unit scale.
    channel_axis : int, optional
        As for :func:`denoise`.
    missing : numpy.ndarray, optional
        As for :func:`denoise`.

    Returns
    -------
    estimate : numpy.ndarray
        As :func:`denoise` returns.
    setting : Setting
        What the method used.

    Raises
    ------
    TypeError, ValueError
        As for :func:`denoise`.
    """
    return _denoised(np.asarray(image), request, channel_axis, missing)


def _denoised(image: np.ndarray, request: Request, channel_axis: int | None,
              given: np.ndarray | None = None) -> tuple[np.ndarray, Setting]:
    """Resolve and denoise: :func:`denoise_request`'s work, missing pixels left out."""
    missing = with_given_missing(image, channel_axis, given)
    image, turned = turned_still(image, channel_axis, request.method)
    if turned:  # the same NL-means, its engine faster on long rows
        missing = None if missing is None else missing.T
    if missing is not None:
        # The noise and SURE read the measured blocks; the engine reads numbers everywhere.
        filled = fill_missing(image, missing, channel_axis)
        sample = measured_sample(filled, missing, channel_axis)
        setting = _resolve(request, unit_pixels(sample, channel_axis), image.dtype)
        estimate = restore_missing(_back(_run(unit_pixels(filled, channel_axis), setting),
                                         filled, channel_axis, setting),
                                   image, missing, channel_axis)
    else:
        unit = unit_pixels(image, channel_axis)
        setting = _resolve(request, unit, image.dtype)
        estimate = _back(_run(unit, setting), image, channel_axis, setting)
    if turned:
        estimate = np.ascontiguousarray(rows_columns_swapped(estimate, channel_axis))
    return estimate, setting


def denoise_with(image: np.ndarray, setting: Setting, *,
                 channel_axis: int | None = None) -> np.ndarray:
    """Denoise an image with a resolved setting (the same one for every tile of an image).

    Parameters
    ----------
    image : numpy.ndarray
        As for :func:`denoise`.
    setting : Setting
        From :func:`resolve_parameters` or :func:`resolve_request`.
    channel_axis : int, optional
        As for :func:`denoise`.

    Returns
    -------
    numpy.ndarray
        The estimate, same shape and dtype as *image*.

    Raises
    ------
    TypeError, ValueError
        As for :func:`denoise`.
    """
    image = np.asarray(image)
    return _back(_run(unit_pixels(image, channel_axis), setting), image, channel_axis,
                 setting)


def _resolve(request: Request, unit: np.ndarray, dtype: np.dtype) -> Setting:
    if request.noise != "gaussian":  # the check reads the pixels; the Gaussian path needs none
        request = request.counting_from(counts_zero(unit, dtype))
    level = reference_level(unit, dtype)
    plan = channel_plan(unit)
    if plan is not None:
        # A constant channel (an empty one of a fluorescence image saved in colour) has no
        # noise: it is left as it is; a copy of another (a grey image saved in colour) takes
        # that one's result; the others are resolved and denoised as an image of their own.
        # Counted in, an empty channel halved the Gaussian path's sigma (the channels' mean)
        # and kept the Poisson-Gaussian path from its fit, and the chroma strength lit it
        # faintly; copies made SURE, which takes the channels' noise as independent, choose
        # two thirds of the grey image's h (1.8 dB lost on camera at sigma 20).
        # Fewer than three left, or three of more: not red, green and blue.
        return replace(_resolve_channels(replace(request, colour=False),
                                         plan.denoised_of(unit), level=level),
                       channel_plan=plan)
    return _resolve_channels(request, unit, level=level)


def _resolve_channels(request: Request, unit: np.ndarray, *, level: float = 1.0) -> Setting:
    """Resolve *request* for pixels whose every channel is denoised.

    *level* is the one the pixels' noise is read against
    (:func:`nlmeans_cli.parameters.reference_level`), and the top of their range (where a
    sensor may have clipped them, and where the transform puts 1); a stabilised image's is 1,
    its untransformed noise read against *level*.
    """
    runner = method_named(request.method)
    plan = _stabiliser_plan(request, unit, level)
    if plan.stabiliser is not None:
        return _resolve_stabilised(request, unit, plan.stabiliser, runner, level)
    estimated = request.sigma_unit is None
    reading = (read_sigma_unit(unit, luminance_weight=runner.luminance_weight,
                               colour=request.colour)
               if estimated else SigmaReading(request.sigma_unit))
    setting = runner.resolve(request, reading.sigma_unit, sigma_estimated=estimated,
                             spatial=unit.shape[:-1], channels=unit.shape[-1], pixels=unit,
                             level=level)
    setting = replace(setting, sigma_note=reading.note, growth_hidden=plan.growth_hidden)
    # The classic method's setting is the pilot's but for its strength: not resolved again.
    if plan.growth_hidden and residual_grows(
            unit[np.newaxis], [_strengthened(setting) if runner.name == "classic"
                               else pilot_setting(request, unit, level=level)], top=level):
        # Clipping hid the growth from the levels, and the Gaussian path's residual shows
        # it: the transform as poisson-gaussian would take it (its fit is the same).
        photons = plan_stabiliser(unit, "poisson-gaussian", gain=request.gain_unit,
                                  read_noise=request.read_noise_unit,
                                  black_level=request.black_level_unit, top=level).stabiliser
        if photons is not None:
            return replace(_resolve_stabilised(request, unit, photons, runner, level),
                           growth_hidden=True)
    return setting


def pilot_setting(request: Request, unit: np.ndarray, *, level: float = 1.0) -> Setting:
    """Return the setting whose residual :func:`residual_grows` judges for these pixels.

    Parameters
    ----------
    request : Request
        What is asked for (its noise taken as Gaussian, its method as classic).
    unit : numpy.ndarray
        Channels-last unit-scale pixels, every channel denoised.
    level : float
        As :func:`nlmeans_cli.parameters.reference_level` reads it.

    Returns
    -------
    Setting
        The classic method's Gaussian path as :func:`resolve_parameters` resolves it, its
        strengths :data:`nlmeans_cli.residual_growth.PILOT_STRENGTH` times as great.

    Raises
    ------
    ValueError
        As for :func:`resolve_parameters`.

    Notes
    -----
    As :func:`resolve_parameters`: ``O(N)`` to read sigma where it is not given, and SURE's
    choice of h, patch and window on at most four 96x96 crops of a 2-D image.
    """
    return _strengthened(_resolve_channels(replace(request, noise="gaussian", method="classic"),
                                           unit, level=level))


def _strengthened(setting: Setting) -> Setting:
    """Return a classic setting with :data:`~nlmeans_cli.residual_growth.PILOT_STRENGTH`."""
    chroma = setting.h_chroma_unit
    # NL-means alone: the residual's judgement was calibrated on it.
    return replace(setting, h_unit=setting.h_unit * PILOT_STRENGTH,
                   h_chroma_unit=None if chroma is None else chroma * PILOT_STRENGTH,
                   refined=False, apart=tuple(_strengthened(one) for one in setting.apart))


def _resolve_stabilised(request: Request, unit: np.ndarray, stabiliser: Stabiliser,
                        runner: Method, level: float) -> Setting:
    """Resolve *request* for the image *stabiliser* transforms (its noise then known)."""
    # Transformed once, for the shared noise's reading too.
    stable = stabiliser.forward(unit)
    if request.is_colour(unit.shape[-1]):
        stabiliser = _with_shared_noise(stabiliser, stable, runner)
    setting = runner.resolve(replace(request, sigma_unit=stabiliser.sigma_unit),
                             stabiliser.sigma_unit, sigma_estimated=False,
                             spatial=unit.shape[:-1], channels=unit.shape[-1],
                             pixels=stable, table_sigma_unit=stabiliser.table_sigma(level))
    return replace(setting, stabiliser=stabiliser)


def residual_grows(images: np.ndarray, settings: Sequence[Setting], *, top: float = 1.0
                   ) -> bool:
    """Tell whether the pilot's residual on *images* shows noise growing with the level.

    Parameters
    ----------
    images : numpy.ndarray
        Channels-last unit-scale images stacked on a first axis (a still or a volume as
        ``image[np.newaxis]``, a clip's sampled frames), every channel denoised.
    settings : sequence of Setting
        The setting each image is denoised with (:func:`pilot_setting`).
    top : float
        Where the images' range may have clipped (1 for integer images); each channel's
        clipped ends (:func:`nlmeans_cli.clipped_levels.clipped_ends`) are read on the whole
        of the images.

    Returns
    -------
    bool
        Whether :func:`nlmeans_cli.residual_growth.residual_shows_growth` says so of any
        channel, over the images' centres together.

    Notes
    -----
    Denoises the images' centres (:func:`nlmeans_cli.residual_growth.pilot_centres`) each
    with its setting, about the cost of :func:`denoise` on a 512x512 still, then the
    statistic (about 0.3 s on 180x180).
    """
    pilot = pilot_centres(images)
    estimate = np.stack([_run(each, chosen) for each, chosen in zip(pilot, settings, strict=True)])
    axes = images.ndim - 2
    return any(residual_shows_growth(pilot[..., channel], estimate[..., channel],
                                     clipped_ends(images[..., channel], top), spatial_axes=axes)
               for channel in range(images.shape[-1]))


def stabiliser_for(request: Request, unit: np.ndarray, top: float = 1.0) -> StabiliserPlan:
    """Return the request's noise-stabilising transform for *unit*, or the Gaussian path.

    Parameters
    ----------
    request : Request
        Its ``noise``, ``gain_unit``, ``read_noise_unit``, ``black_level_unit``; a given
        sigma or h with ``auto``
        asks for the Gaussian path.
    unit : numpy.ndarray
        Channels-last unit-scale pixels to fit on (a still, a volume, sampled frames).
    top : float
        The range's top (1 for integer images).

    Returns
    -------
    StabiliserPlan
        As :func:`nlmeans_cli.stabiliser.plan_stabiliser` gives it; for red, green and
        blue, its stabiliser with the noise the channels share read.

    Raises
    ------
    ValueError
        If sigma or h is given with ``poisson-gaussian`` noise, or as
        :func:`nlmeans_cli.stabiliser.plan_stabiliser`.
    """
    plan = _stabiliser_plan(request, unit, top)
    stabiliser = plan.stabiliser
    if stabiliser is None or not request.is_colour(unit.shape[-1]):
        return plan
    return replace(plan, stabiliser=_with_shared_noise(stabiliser, stabiliser.forward(unit),
                                                       method_named(request.method)))


def _stabiliser_plan(request: Request, unit: np.ndarray, top: float) -> StabiliserPlan:
    """Return :func:`stabiliser_for`'s plan, its transform before the shared noise is read."""
    if request.noise == "gaussian":
        return StabiliserPlan(None)
    given = any(value is not None for value in (request.sigma_unit, request.h_unit,
                                                request.h_chroma_unit))
    if request.noise == "auto" and given:
        return StabiliserPlan(None)  # a given sigma or h asks for the Gaussian path
    if given:
        raise ValueError("sigma and h cannot be given with poisson-gaussian noise: the noise "
                         "is set by gain and read noise, and h is chosen after stabilising")
    return plan_stabiliser(unit, request.noise, gain=request.gain_unit,
                           read_noise=request.read_noise_unit,
                           black_level=request.black_level_unit, top=top)


def _with_shared_noise(stabiliser: Stabiliser, stable: np.ndarray, runner: Method
                       ) -> Stabiliser:
    """Return *stabiliser* with its output *stable*'s luminance read, for red, green and blue.

    Noise the channels share stays shared through the transform; *runner*'s weight says how
    much of the luminance's noise its sigma takes.
    """
    return replace(stabiliser, luminance_sigma=luminance_sigma(stable),
                   luminance_weight=runner.luminance_weight)


def _run(unit: np.ndarray, setting: Setting) -> np.ndarray:
    plan = setting.channel_plan
    if plan is not None:  # the denoised channels' estimate: _back fills in the rest
        return _run(plan.denoised_of(unit), replace(setting, channel_plan=None))
    stabiliser = setting.stabiliser
    if stabiliser is not None:
        unit = stabiliser.forward(unit)
    grid, axes = to_grid(unit)
    estimate = from_grid(method_named(setting.method).run(grid, setting, axes=axes),
                         unit.shape)
    return estimate if stabiliser is None else stabiliser.inverse(estimate)


def _back(estimate: np.ndarray, image: np.ndarray, channel_axis: int | None,
          setting: Setting) -> np.ndarray:
    plan = setting.channel_plan
    if plan is None:
        return from_unit(restore_channels(estimate, channel_axis, image.ndim), image.dtype)
    # The constant channels as the image holds them, to the bit (the estimate is float32).
    out = np.array(image, copy=True)
    fill_channels(channels_last(out, channel_axis), from_unit(estimate, image.dtype), plan)
    return out
