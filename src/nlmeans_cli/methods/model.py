r"""The learned models: non-local blocks whose ``f`` and ``g`` are learned linear maps.

A *stage* is one non-local block

.. math::

    z_i = \frac{1}{C(x)} \sum_{j \in \mathcal{W}(i)} f(\theta_i, \phi_j)\, g_j
    \quad(+\, x_i \text{ when } C = N)

where ``theta = A p_i + a`` and ``phi = B p_j + b`` are learned affine embeddings
(``K x patch``) of the patches ``p`` of a *guide* image, ``g_j = c^T q_j + c_0`` a learned
affine map of the noisy patch ``q_j`` (initialised to its centre pixel), ``f`` any affinity of
:data:`~nlmeans_cli.formulation.AFFINITIES` and ``C`` its paired normaliser. With ``C = sum f``
the block's output is a direct estimate; with ``C = N`` (dot product, concatenation) it is a
residual added to the block's input, as in Wang et al.'s blocks. The first stage's input (and
guide) is the noisy image; a second stage's is the first stage's estimate, which is cleaner,
while its ``g`` still reads the noisy pixels (BM3D's second step, NLRN's recurrence).

Inference runs on the engine (:func:`nlmeans_cli.engine.nonlocal_operation`), the one that
runs NL-means: the embeddings are feature maps of ``K`` channels compared at a single position
(patch radius 0). Training (:mod:`nlmeans_cli.methods.training`) evaluates the same definition
in NumPy with analytic gradients.

Everything is computed on the image divided by the noise level, so one model serves nearby
noise levels; models are trained for a few levels and the nearest (in log sigma) is used.
Colour images are denoised in an orthonormal opponent colour space, ``g`` applied to each
channel. A colour model's embeddings read all three channels; a grey model given a colour
image reads the luminance-like one.

Models are ``.npz`` files of plain arrays (no pickle); see
:mod:`nlmeans_cli.methods.model_files`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..formulation import AFFINITIES, lookup
from ..pixels import OPPONENT

__all__ = ["Model", "Stage", "apply_model"]


@dataclass(frozen=True)
class Stage:
    """One learned non-local block.

    Attributes
    ----------
    affinity : str
        Name in :data:`~nlmeans_cli.formulation.AFFINITIES`.
    theta : numpy.ndarray
        ``(K, C, P, P)`` filters: ``theta_k = sum_c theta[k, c] * guide_c`` (correlation)
        over the guide's ``C`` channels (1 grey, 3 colour); ``(K, P, P)`` is taken as
        ``C = 1``.
    phi : numpy.ndarray or None
        Shaped as *theta*, or ``None`` when ``phi = theta`` (symmetric, half the work).
    g : numpy.ndarray
        ``(Q, Q)`` filter applied to the noisy image: the unary map ``g``.
    bias : float
        Gaussian affinity only: ``f = exp(-max(|theta_i - phi_j|^2 - bias, 0))``.
    search_radius : int
        The window is ``2 r + 1`` pixels square.
    theta_offset, phi_offset : numpy.ndarray or None
        ``(K,)`` constants added to the embeddings (``theta_i = A p_i + a``: the affine maps
        of Wang et al.'s 1x1 convolutions). ``None``: zero; *phi_offset* is unused when
        ``phi = theta``.
    g_offset : float
        Constant added to ``g``. With the offsets a ``C = N`` block can express a smoothing
        of its input, which its purely linear maps cannot.
    """

    affinity: str
    theta: np.ndarray
    phi: np.ndarray | None
    g: np.ndarray
    bias: float
    search_radius: int
    theta_offset: np.ndarray | None = None
    phi_offset: np.ndarray | None = None
    g_offset: float = 0.0

    def __post_init__(self):
        if self.theta.ndim == 3:
            object.__setattr__(self, "theta", self.theta[:, np.newaxis])
        if self.phi is not None and self.phi.ndim == 3:
            object.__setattr__(self, "phi", self.phi[:, np.newaxis])
        features = self.theta.shape[0]
        if self.theta_offset is None:
            object.__setattr__(self, "theta_offset", np.zeros(features))
        if self.phi is None:
            object.__setattr__(self, "phi_offset", None)
        elif self.phi_offset is None:
            object.__setattr__(self, "phi_offset", np.zeros(features))

    @property
    def channels(self) -> int:
        """The guide channels the embeddings read: 1 (grey) or 3 (colour)."""
        return self.theta.shape[1]

    @property
    def residual(self) -> bool:
        """Whether the block adds its output to the noisy input (``C = N``)."""
        return lookup(AFFINITIES, self.affinity, "affinity").normaliser == "count"

    @property
    def reach(self) -> int:
        """Pixels either side that one output pixel reads: the window plus the filters."""
        filters = max(self.theta.shape[-1], self.g.shape[-1]) // 2
        return self.search_radius + filters


@dataclass(frozen=True)
class Model:
    """A trained learned denoiser.

    Attributes
    ----------
    sigma : float
        The noise level it was trained for, 0-255 scale.
    stages : tuple of Stage
        Applied in order; stage ``k > 0`` takes stage ``k - 1``'s estimate as its guide.
    info : dict
        How it was trained (command, seed, images, validation PSNR per stage), JSON-able.
    """

    sigma: float
    stages: tuple[Stage, ...]
    info: dict = field(default_factory=dict)

    @property
    def affinity(self) -> str:
        """The affinity of the first stage."""
        return self.stages[0].affinity

    @property
    def channels(self) -> int:
        """1 for a grey model, 3 for a colour model."""
        return self.stages[0].channels


def apply_model(pixels: np.ndarray, sigma: float, model: Model, *,
                stages: int | None = None) -> np.ndarray:
    """Denoise planar unit-scale pixels with a model.

    Parameters
    ----------
    pixels : numpy.ndarray
        float32 ``(C, n0, 1, n2)``: a 2-D grey (C = 1) or colour (C = 3) image on the engine's
        grid, values on the unit scale.
    sigma : float
        Noise standard deviation on the unit scale.
    model : Model
        The model.
    stages : int, optional
        Use only the first *stages* stages (for ablations). ``None``: all.

    Returns
    -------
    numpy.ndarray
        float32, the shape of *pixels*.

    Raises
    ------
    ValueError
        For a volume, a channel count other than 1 or 3, a grey image given a colour model,
        or *stages* out of range.

    Notes
    -----
    Cost per stage ``O(N * S * K)`` for ``N`` pixels, ``S`` window positions and ``K``
    features (half the positions when ``phi = theta``), plus ``C K + C`` small correlations.
    """
    if pixels.ndim != 4 or pixels.shape[2] != 1:
        raise ValueError("the learned method takes 2-D images (grey or colour), not volumes")
    channels = pixels.shape[0]
    if channels not in (1, 3):
        raise ValueError(f"the learned method takes 1 or 3 channels, got {channels}")
    if model.channels > channels:
        raise ValueError("this model was trained for colour images; the image is grey")
    used = model.stages if stages is None else model.stages[:stages]
    if not used:
        raise ValueError(f"stages must be between 1 and {len(model.stages)}")
    # Work in units of sigma; a noiseless image is returned as it is.
    if sigma <= 0:
        return pixels.astype(np.float32, copy=True)
    planes = pixels[:, :, 0, :].astype(np.float64) / sigma
    if channels == 3:
        planes = np.tensordot(OPPONENT, planes, axes=1)
    reads = model.channels
    estimate = planes
    for stage in used:
        estimate = _apply_stage(stage, estimate, planes, reads)
    if channels == 3:
        estimate = np.tensordot(OPPONENT.T, estimate, axes=1)
    return (estimate * sigma).astype(np.float32)[:, :, np.newaxis, :]


def _apply_stage(stage: Stage, previous: np.ndarray, noisy: np.ndarray,
                 reads: int) -> np.ndarray:
    """One block on the engine.

    ``previous`` (the block's input: the noisy image or the previous stage's estimate) and
    ``noisy`` are ``(C, rows, columns)``; the embeddings read the first *reads* channels of
    ``previous``.
    """
    from ..engine import correlate_filters, nonlocal_operation

    guide = previous[:reads]

    def embed(filters, offset):
        mapped = sum(correlate_filters(plane, filters[:, c]) for c, plane in enumerate(guide))
        return mapped + offset.astype(np.float32)[:, np.newaxis, np.newaxis]

    theta = embed(stage.theta, stage.theta_offset)
    phi = None if stage.phi is None else embed(stage.phi, stage.phi_offset)
    values = np.concatenate([correlate_filters(channel, stage.g[np.newaxis])
                             for channel in noisy]) + np.float32(stage.g_offset)
    spec = lookup(AFFINITIES, stage.affinity, "affinity")
    out = nonlocal_operation(
        theta[:, :, np.newaxis, :],
        None if phi is None else phi[:, :, np.newaxis, :],
        values[:, :, np.newaxis, :],
        affinity=spec.name,
        normaliser=spec.normaliser,
        patch_radius=(0, 0, 0),
        search_radius=(stage.search_radius, 0, stage.search_radius),
        scale=1.0,
        bias=stage.bias,
        h=1.0,
    )[:, :, 0, :].astype(np.float64)
    if stage.residual:
        out += previous
    return out
