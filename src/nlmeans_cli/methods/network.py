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
with K-channel feature maps and a patch of one position); the convolutions are one BLAS matrix
product over the unfolded maps. The trainer (:mod:`nlmeans_cli.methods.training`, JAX)
evaluates the same definition; a test holds the two equal.

A network is trained for one noise level ``sigma`` on the unit scale of 8-bit images. Another
level is brought to it by scaling the image (the noise then has the trained level), and a
colour image is denoised per channel of an orthonormal opponent space (where the noise keeps
its level and the channels are far less correlated than R, G and B).

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

__all__ = ["Network", "apply_network", "convolve", "denoise_with_network"]


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
        return sum(1 for name in self.layers if name.startswith(prefix)
                   and name[len(prefix):].isdigit())

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


def convolve(x: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Correlate ``(C, H, W)`` maps with ``(k, k, C, D)`` filters, zero padding ("same").

    Parameters
    ----------
    x : numpy.ndarray
        Input maps, channels first.
    weights : numpy.ndarray
        Filters in JAX's HWIO layout, ``k`` odd.
    bias : numpy.ndarray
        ``(D,)``.

    Returns
    -------
    numpy.ndarray
        float32 ``(D, H, W)``.

    Notes
    -----
    The image is unfolded into ``(C k^2, H W)`` columns and multiplied by the ``(D, C k^2)``
    filter matrix: ``O(H W C k^2 D)`` in one BLAS call; memory ``k^2`` times the input.
    """
    size = weights.shape[0]
    channels, height, width = x.shape
    matrix = np.ascontiguousarray(weights.transpose(3, 2, 0, 1).reshape(weights.shape[3], -1))
    if size == 1:
        out = matrix @ np.asarray(x, np.float32).reshape(channels, height * width)
    else:
        radius = size // 2
        padded = np.pad(np.asarray(x, np.float32),
                        ((0, 0), (radius, radius), (radius, radius)))
        windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size), axis=(1, 2))
        columns = windows.transpose(0, 3, 4, 1, 2).reshape(channels * size * size,
                                                           height * width)
        out = matrix @ columns
    return (out.reshape(-1, height, width) + bias[:, None, None]).astype(np.float32)


def apply_network(network: Network, noisy: np.ndarray) -> np.ndarray:
    """Run the network on one grey plane at its trained noise level.

    Parameters
    ----------
    network : Network
        The trained arrays.
    noisy : numpy.ndarray
        ``(H, W)``, unit scale, noise of the network's level.

    Returns
    -------
    numpy.ndarray
        float32 ``(H, W)``: the input minus the predicted noise.

    Notes
    -----
    Cost: ``O(H W F^2 9)`` per 3x3 layer plus the block's ``O(H W K S)`` for ``S`` window
    positions (half of them when ``phi = theta``). Memory: about ``9 F`` float32 maps of
    the image's size (the unfolded input of a layer).
    """
    from ..engine import nonlocal_operation

    layers = network.layers

    def layer(maps, name):
        return convolve(maps, layers[name]["w"], layers[name]["b"])

    x = np.maximum(layer(np.asarray(noisy, np.float32)[np.newaxis], "stem"), 0)
    for k in range(network.count("before")):
        x = np.maximum(layer(x, f"before{k}"), 0)
    if network.has_block:
        spec = lookup(AFFINITIES, network.affinity, "affinity")
        theta = layer(x, "theta")
        phi = None if spec.symmetric else layer(x, "phi")
        radius = network.window // 2

        def grid(maps):
            return None if maps is None else maps[:, :, np.newaxis, :]

        y = nonlocal_operation(grid(theta), grid(phi), grid(layer(x, "g")),
                               affinity=spec.name, normaliser=spec.normaliser,
                               patch_radius=(0, 0, 0), search_radius=(radius, 0, radius),
                               scale=1.0, bias=0.0, h=1.0)[:, :, 0, :]
        x = x + layer(y, "wz")
    for k in range(network.count("after")):
        x = np.maximum(layer(x, f"after{k}"), 0)
    return (noisy - layer(x, "head")[0]).astype(np.float32)


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
    on 0, are lifted to mid-grey while the network sees them. Cost: one :func:`apply_network`
    per channel. A noiseless image is returned as it is.
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
    out = np.empty_like(work)
    for c in range(channels):
        scaled = (work[c] * factor + lift[c]).astype(np.float32)
        out[c] = (apply_network(network, scaled) - lift[c]) / factor
    if channels == 3:
        out = np.tensordot(OPPONENT.T, out, axes=1)
    return out.astype(np.float32)
