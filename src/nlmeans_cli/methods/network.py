"""Inference of the learned network (issue 16, in progress): convolutions and a non-local block.

The network is the one ``scripts/train_network.py`` trains with JAX: a residual CNN
(DnCNN-style, predicting the noise) with one non-local block in Wang et al.'s form
``z = x + W_z y``. Here it runs without a deep-learning framework: the 3x3 convolutions as one
BLAS matrix product over the unfolded image, the non-local block on the engine
(:func:`nlmeans_cli.engine.nonlocal_operation`, embedded-Gaussian affinity, ``C = sum_j f``,
over the search window). Not wired to a method or the command line yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Network", "apply_network", "convolve"]


@dataclass(frozen=True)
class Network:
    """The trained arrays, by layer, and the shape they imply.

    Attributes
    ----------
    layers : dict
        ``{layer: {"w": (kh, kw, cin, cout), "b": (cout,)}}`` for ``stem``, ``before0..``,
        ``theta``, ``phi``, ``g``, ``wz``, ``after0..`` and ``head``.
    window : int
        The non-local block's odd search window side.
    """

    layers: dict
    window: int

    @classmethod
    def from_arrays(cls, arrays, *, window: int) -> Network:
        """Build from ``{"layer/name": array}`` (an opened ``.npz`` of the trainer)."""
        layers: dict = {}
        for key in arrays:
            if "/" not in key or key.startswith("meta/"):
                continue
            layer, name = key.split("/")
            layers.setdefault(layer, {})[name] = np.asarray(arrays[key], np.float32)
        return cls(layers, int(window))

    def count(self, prefix: str) -> int:
        """Return how many layers are named ``prefix0``, ``prefix1``, ..."""
        return sum(1 for name in self.layers if name.startswith(prefix)
                   and name[len(prefix):].isdigit())


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
    radius = size // 2
    padded = np.pad(np.asarray(x, np.float32), ((0, 0), (radius, radius), (radius, radius)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size), axis=(1, 2))
    channels, height, width = x.shape
    columns = windows.transpose(0, 3, 4, 1, 2).reshape(channels * size * size, height * width)
    matrix = np.ascontiguousarray(weights.transpose(3, 2, 0, 1).reshape(weights.shape[3], -1))
    out = matrix @ columns
    return (out.reshape(-1, height, width) + bias[:, None, None]).astype(np.float32)


def apply_network(network: Network, noisy: np.ndarray) -> np.ndarray:
    """Denoise a grey unit-scale image with the network.

    Parameters
    ----------
    network : Network
        The trained arrays.
    noisy : numpy.ndarray
        ``(H, W)``, unit scale.

    Returns
    -------
    numpy.ndarray
        float32 ``(H, W)``: the input minus the predicted noise.

    Notes
    -----
    Cost: the convolutions' ``O(H W F^2 9)`` per layer plus the non-local block's
    ``O(H W K S)`` for ``S`` window positions.
    """
    from ..engine import nonlocal_operation

    layers = network.layers

    def layer(maps, name):
        return convolve(maps, layers[name]["w"], layers[name]["b"])

    x = np.maximum(layer(noisy[np.newaxis], "stem"), 0)
    for k in range(network.count("before")):
        x = np.maximum(layer(x, f"before{k}"), 0)
    theta, phi, g = (layer(x, name) for name in ("theta", "phi", "g"))
    radius = network.window // 2

    def grid(maps):
        return maps[:, :, np.newaxis, :]

    y = nonlocal_operation(grid(theta), grid(phi), grid(g), affinity="embedded-gaussian",
                           normaliser="sum", patch_radius=(0, 0, 0),
                           search_radius=(radius, 0, radius))[:, :, 0, :]
    x = x + layer(y, "wz")
    for k in range(network.count("after")):
        x = np.maximum(layer(x, f"after{k}"), 0)
    return (noisy - layer(x, "head")[0]).astype(np.float32)
