r"""The learned network: local convolutions and a non-local block, run without a framework.

The network is a small residual CNN that predicts the noise (DnCNN-style residual learning)
with one non-local block in Wang et al.'s residual form [1]_:

.. math::

    z_i = x_i + W_z\, y_i, \qquad
    y_i = \frac{1}{C(x)} \sum_{j \in \mathcal{W}(i)} f(\theta(x_i), \phi(x_j))\, g(x_j)

``stem`` (3x3, 1 -> F) + ReLU, ``before0..`` (3x3, F -> F) + ReLU, the block (``theta``,
``phi``, ``g`` and ``wz`` 1x1 convolutions, ``f`` any affinity of
:data:`~nlmeans_cli.formulation.AFFINITIES` with its paired normaliser ``C``, over a square
search window as in NLRN [2]_, never the whole image), ``after0..`` (3x3) + ReLU and ``head``
(3x3, F -> 1); the output is the input minus the head. A network without ``theta`` has no
block (the ablation's plain CNN).

The block runs on the engine that runs NL-means (:func:`nlmeans_cli.engine.nonlocal_operation`
with K-channel feature maps and a patch of one position); the 3x3 convolutions run by
Winograd's F(4x4, 3x3) (:mod:`~nlmeans_cli.methods.convolution`: 36 small BLAS products per
span of tiles between two Numba transforms). The trainer (:mod:`nlmeans_cli.methods.training`, JAX)
evaluates the same definition; a test holds the two equal.

A network is trained for one noise level ``sigma`` on the unit scale of 8-bit images. Another
level is brought to it by scaling the image (the noise then has the trained level), and a
colour image is denoised per channel of an orthonormal opponent space (where the noise keeps
its level and the channels are far less correlated than R, G and B), after which the chroma
takes a second non-local average whose weights come from the network's whole estimate
(:func:`~nlmeans_cli.methods.refinement.guided_chroma`). The grey or luminance estimate goes
through the non-local operation twice more, its weights the estimate's own and its values
the estimate and the noisy image (:func:`~nlmeans_cli.methods.refinement.refine_estimate`).

References
----------
.. [1] X. Wang, R. Girshick, A. Gupta, K. He, "Non-local Neural Networks", CVPR 2018.
.. [2] D. Liu, B. Wen, Y. Fan, C. C. Loy, T. S. Huang, "Non-Local Recurrent Network for Image
   Restoration", NeurIPS 2018.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..formulation import AFFINITIES, lookup
from ..pixels import OPPONENT
from .refinement import NETWORK_CHROMA, NETWORK_REFINEMENT, bands, guided_chroma, refine_estimate

__all__ = ["CHROMA_REACH", "REFINE_REACH", "Network", "apply_network", "apply_self_ensemble",
           "count_layers", "denoise_with_network"]

#: How far beyond the network's receptive field a colour pixel's chroma reaches
#: (:data:`~nlmeans_cli.methods.refinement.NETWORK_CHROMA`).
CHROMA_REACH = NETWORK_CHROMA.reach
#: How far beyond the network's receptive field a refined pixel's result reaches
#: (:data:`~nlmeans_cli.methods.refinement.NETWORK_REFINEMENT`).
REFINE_REACH = NETWORK_REFINEMENT.reach


def count_layers(layers: dict, prefix: str) -> int:
    """Return how many of *layers* are named ``prefix0``, ``prefix1``, ..."""
    return sum(1 for name in layers if name.startswith(prefix) and name[len(prefix):].isdigit())


@dataclass(frozen=True)
class Network:
    """A trained network: its arrays by layer and what they mean.

    Attributes
    ----------
    layers : dict
        ``{layer: {"w": (kh, kw, cin, cout), "b": (cout,)}}`` for ``stem``, ``before0..``,
        ``theta``, ``phi`` (absent when the affinity shares ``phi = theta``), ``g``, ``wz``,
        ``after0..`` and ``head``. No ``theta``: no non-local block.
    window : int
        The block's odd search window side.
    affinity : str
        The block's affinity (its normaliser is the registry's pairing).
    sigma : float
        The noise level it was trained for, 0-255 scale.
    info : dict
        How it was trained (command, images, validation PSNR, seconds), JSON-able.
    """

    layers: dict
    window: int
    affinity: str = "embedded-gaussian"
    sigma: float = 25.0
    info: dict = field(default_factory=dict)

    @classmethod
    def from_arrays(cls, arrays, **attributes) -> Network:
        """Build from ``{"layer/name": array}`` (the trainer's flat arrays).

        Keys without a ``/``, and those under ``meta/``, are not layers; *attributes* fill
        the other fields.
        """
        layers: dict = {}
        for key in arrays:
            if "/" not in key or key.startswith("meta/"):
                continue
            layer, name = key.split("/")
            layers.setdefault(layer, {})[name] = np.asarray(arrays[key], np.float32)
        return cls(layers, **attributes)

    def flat_arrays(self) -> dict[str, np.ndarray]:
        """Return the layers as ``{"layer/name": array}``, the inverse of :meth:`from_arrays`."""
        return {f"{layer}/{name}": value for layer, entry in self.layers.items()
                for name, value in entry.items()}

    def count(self, prefix: str) -> int:
        """Return how many layers are named ``prefix0``, ``prefix1``, ..."""
        return count_layers(self.layers, prefix)

    @property
    def has_block(self) -> bool:
        """Whether the network has its non-local block."""
        return "theta" in self.layers

    @property
    def reach(self) -> int:
        """Pixels either side that one output pixel reads (its receptive field's radius).

        Each 3x3 convolution adds one, the block its window's radius. Tiles with this much
        overlap give exactly the whole image's result.
        """
        convolutions = 2 + self.count("before") + self.count("after")
        return convolutions + (self.window // 2 if self.has_block else 0)

    @property
    def parameters(self) -> int:
        """The number of trained values."""
        return sum(int(value.size) for entry in self.layers.values() for value in entry.values())


#: Pixels per band of rows that :func:`apply_network` runs at once: each layer holds two
#: ``F``-channel maps of this size (64 MB at F = 32) and the block ``3 K`` more. Larger bands
#: recompute fewer overlapping rows but measured slower and less steady (2^20: 1.8 to 3.1 s
#: for both views of 1024x1024 against 1.85 to 1.96 s): their arrays are too large for the
#: allocator to reuse, and every first write to fresh memory faults.
BAND_PIXELS = 2**18


def apply_network(network: Network, noisy: np.ndarray, *, band_pixels: int = BAND_PIXELS,
                  workspace=None) -> np.ndarray:
    """Run the network on one grey plane at its trained noise level.

    Parameters
    ----------
    network : Network
        The trained arrays.
    noisy : numpy.ndarray
        ``(H, W)``, unit scale, noise of the network's level.
    band_pixels : int
        A larger image runs in bands of rows of about this many pixels, each read with
        ``network.reach`` rows either side, so that the result equals the whole image's up
        to float32 rounding (a Winograd tile mixes all of its input rows, so the rounding,
        not the value, of outputs next to a band's edge sees the rows past it).
    workspace : nlmeans_cli.engine.Workspace, optional
        Arrays to reuse for the bands' maps (shared by the calls of one run); else one of
        its own.

    Returns
    -------
    numpy.ndarray
        float32 ``(H, W)``: the input minus the predicted noise.

    Notes
    -----
    Cost: ``O(H W F^2 9)`` per 3x3 layer plus the block's ``O(H W K S)`` for ``S`` window
    positions (half of them when ``phi = theta``), and the bands' overlap. Memory: about
    ``2 F + 3 K`` float32 maps of a band's size, whatever the image's size.
    """
    workspace = _shared(workspace)
    height, width = noisy.shape
    halo = network.reach
    # At least 8 halos tall, so that wide images do not recompute more than a quarter.
    rows = max(band_pixels // max(width, 1), 8 * halo, 1)
    if height <= rows + 2 * halo:
        return _run_layers(network, noisy, workspace)
    out = np.empty((height, width), np.float32)
    for top, bottom, lo, hi in bands(height, rows, halo):
        out[top:bottom] = _run_layers(network, noisy[lo:hi], workspace)[top - lo:bottom - lo]
    return out


def _run_layers(network: Network, noisy: np.ndarray, workspace) -> np.ndarray:
    """Run every layer on a whole plane ``(H, W)``.

    The feature maps stay in one padded layout from layer to layer
    (:class:`~nlmeans_cli.methods.convolution.PaddedMaps`), which the 3x3 layers read and
    write with no copies between layers.
    """
    from ..engine import nonlocal_operation
    from .convolution import PaddedMaps

    layers = network.layers
    height, width = noisy.shape
    grid = PaddedMaps(height, width, workspace)
    x = grid.convolve(grid.pad(np.asarray(noisy, np.float32)[np.newaxis]), layers["stem"],
                      relu=True)
    for k in range(network.count("before")):
        x = grid.convolve(x, layers[f"before{k}"], relu=True)
    if network.has_block:
        spec = lookup(AFFINITIES, network.affinity, "affinity")
        radius = network.window // 2

        names = ["theta", "g"] if spec.symmetric else ["theta", "phi", "g"]
        # One pass over the features for all three embeddings (the maps are read once),
        # written padded for the engine where the window fits the plane (no copy: 7 % of a
        # network pass on a megapixel).
        margin = radius if min(height, width) > radius else 0
        embedded = dict(zip(names, grid.pointwise(x, [layers[name] for name in names],
                                                  margin=margin), strict=True))
        y = nonlocal_operation(embedded["theta"], embedded.get("phi"), embedded["g"],
                               affinity=spec.name, normaliser=spec.normaliser,
                               patch_radius=(0, 0, 0), search_radius=(radius, 0, radius),
                               scale=1.0, bias=0.0, h=1.0, workspace=workspace,
                               padded=margin > 0)[:, :, 0, :]
        grid.add_pointwise(x, y, layers["wz"])
    for k in range(network.count("after")):
        x = grid.convolve(x, layers[f"after{k}"], relu=True)
    noise = grid.inside(grid.convolve(x, layers["head"], relu=False))[0]
    return (noisy - noise).astype(np.float32)


def apply_self_ensemble(network: Network, noisy: np.ndarray, *, workspace=None) -> np.ndarray:
    """Average the network's results on a plane and on its half-turn rotation.

    Parameters
    ----------
    network : Network
        The trained arrays.
    noisy : numpy.ndarray
        ``(H, W)``, unit scale, noise of the network's level.
    workspace : nlmeans_cli.engine.Workspace, optional
        Arrays to reuse (as :func:`apply_network` takes them).

    Returns
    -------
    numpy.ndarray
        float32 ``(H, W)``.

    Notes
    -----
    A self-ensemble (as in Lim et al.'s EDSR+ [3]_): the network is not rotation invariant,
    so its errors on the two views are partly independent, and their mean is better (on the
    validation split at sigma 25, 27.89 dB against 27.84 for one view; four views give
    27.91). Cost: two :func:`apply_network`.

    References
    ----------
    .. [3] B. Lim, S. Son, H. Kim, S. Nah, K. M. Lee, "Enhanced Deep Residual Networks for
       Single Image Super-Resolution", CVPRW 2017.
    """
    workspace = _shared(workspace)
    upright = apply_network(network, noisy, workspace=workspace)
    turned = apply_network(network, np.ascontiguousarray(noisy[::-1, ::-1]),
                           workspace=workspace)[::-1, ::-1]
    return (upright + turned) * np.float32(0.5)  # float32 throughout


def denoise_with_network(planes: np.ndarray, sigma: float, network: Network) -> np.ndarray:
    """Denoise a grey or colour image of any noise level with a network trained for one.

    Parameters
    ----------
    planes : numpy.ndarray
        ``(C, H, W)`` unit-scale pixels, ``C`` 1 (grey) or 3 (RGB).
    sigma : float
        The noise standard deviation, unit scale.
    network : Network
        The network.

    Returns
    -------
    numpy.ndarray
        float32, the shape of *planes*.

    Raises
    ------
    ValueError
        For a channel count other than 1 or 3.

    Notes
    -----
    The image is multiplied by ``network.sigma / (255 sigma)`` so that its noise has the
    trained level, and divided back after. Colour goes through the orthonormal opponent
    transform (the noise keeps its level on every channel); the two chroma channels, centred
    on 0, are lifted to mid-grey while the network sees them, and then take
    :func:`~nlmeans_cli.methods.refinement.guided_chroma`. The grey (or luminance) estimate takes
    :func:`~nlmeans_cli.methods.refinement.refine_estimate`.
    Cost: one :func:`apply_self_ensemble` (two network passes) per channel, two engine calls
    (a 15x15 and a 31x31 window), and for colour one more over a 41x41 window. A noiseless
    image is returned as it is.
    """
    channels = planes.shape[0]
    if channels not in (1, 3):
        raise ValueError(f"the learned method takes 1 or 3 channels, got {channels}")
    if sigma <= 0:
        return planes.astype(np.float32, copy=True)
    factor = network.sigma / 255.0 / sigma
    work = planes.astype(np.float64)
    if channels == 3:
        work = np.tensordot(OPPONENT, work, axes=1)
    lift = np.array([0.0, 0.5, 0.5])[:channels]
    workspace = _shared(None)
    out = np.empty_like(work)
    for c in range(channels):
        scaled = (work[c] * factor + lift[c]).astype(np.float32)
        out[c] = (apply_self_ensemble(network, scaled, workspace=workspace) - lift[c]) / factor
    out[0] = refine_estimate(out[0], work[0], sigma)
    if channels == 3:
        out[1:] = guided_chroma(out, work, sigma)
        out = np.tensordot(OPPONENT.T, out, axes=1)
    return out.astype(np.float32)


def _shared(workspace):
    """Return the workspace a run's passes share: the one given, else a new one."""
    # Imported here: the engine loads Numba, which `nlm --help` must not wait for.
    from ..engine import Workspace

    return workspace if workspace is not None else Workspace()
