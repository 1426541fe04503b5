r"""The non-local operation, defined once.

Every method of the package computes

.. math::

    y_i = \frac{1}{C(x)} \sum_{j \in \mathcal{W}(i)} f(x_i, x_j)\, g(x_j)

over a search window :math:`\mathcal{W}(i)` around position *i* (Wang et al. [1]_, generalising
Buades et al.'s non-local means [2]_). Two ingredients are named registries:

``AFFINITIES``
    the pairwise affinity *f*; each entry carries everything that differs between affinities:
    the engine's selectors, its paired normaliser, how the classic method scales it, and how a
    learned block of it starts;
``NORMALISERS``
    the normaliser *C*;
``PATCH_KERNELS``
    how the pair statistic is weighted over the patch (a box, or a Gaussian that trusts the
    centre of the patch more than its rim).

The unary map *g* reaches the engine already applied to every position: the pixels themselves
for NL-means, a learned filter of them for the learned method.

The engine (:mod:`nlmeans_cli.engine`) reduces every affinity to a *pair statistic* ``s(i, j)``
summed over the patch around *i* and *j* (a squared difference, a product or a sum of two
feature maps) followed by an element-wise kernel. This module holds only the definitions: it is
imported by the command line to build its choices, so it imports neither NumPy nor Numba.

References
----------
.. [1] X. Wang, R. Girshick, A. Gupta, K. He, "Non-local Neural Networks", CVPR 2018.
.. [2] A. Buades, B. Coll, J.-M. Morel, "A non-local algorithm for image denoising", CVPR 2005.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

__all__ = [
    "AFFINITIES",
    "NORMALISERS",
    "PATCH_KERNELS",
    "Affinity",
    "ClassicScale",
    "Normaliser",
    "affinity_help",
    "lookup",
]

# Pair statistics the engine can box-sum over a patch; the values are the kernel's selectors.
SQUARED_DIFFERENCE = 0
PRODUCT = 1
SUM = 2

# Element-wise kernels that turn the statistic into f; also kernel selectors.
GAUSSIAN_KERNEL = 0
EXPONENTIAL_KERNEL = 1
LINEAR_KERNEL = 2
RELU_KERNEL = 3


@dataclass(frozen=True)
class Normaliser:
    """A normaliser ``C(x)`` of the non-local operation.

    Attributes
    ----------
    name : str
        Registry key.
    formula : str
        The definition, for documentation.
    code : int
        Selector passed to the engine's kernel.
    """

    name: str
    formula: str
    code: int


class ClassicScale(NamedTuple):
    """How the classic method feeds the engine, on the unit scale.

    The summed statistic is multiplied by *scale*, *bias* is subtracted, and the engine's
    Gaussian kernel divides by ``h**2`` (1 for the other kernels: the scale carries h).
    """

    scale: float
    bias: float
    h: float


def _gaussian_scale(h: float, sigma: float, n_patch: int) -> ClassicScale:
    # The mean squared distance, less its expectation between two noisy copies of one patch.
    return ClassicScale(1.0 / n_patch, 2.0 * sigma**2, h)


def _product_scale(h: float, sigma: float, n_patch: int) -> ClassicScale:
    # theta = phi = patch / (h sqrt(n)).
    return ClassicScale(1.0 / (n_patch * h**2), 0.0, 1.0)


def _sum_scale(h: float, sigma: float, n_patch: int) -> ClassicScale:
    # w_theta = w_phi = 1 / (n h): the affinity of two patches grows with their means.
    return ClassicScale(1.0 / (n_patch * h), 0.0, 1.0)


@dataclass(frozen=True)
class Affinity:
    """A pairwise affinity ``f(x_i, x_j)`` and everything that differs between affinities.

    Attributes
    ----------
    name : str
        Registry key, also the command line's choice.
    formula : str
        The definition on patch features ``theta``/``phi``, shown by ``--help``.
    statistic : int
        Pair statistic summed over the patch: ``SQUARED_DIFFERENCE``, ``PRODUCT`` or ``SUM``.
    kernel : int
        Element-wise map from the statistic to ``f``.
    normaliser : str
        The normaliser the paper pairs with this affinity.
    classic_scale : callable
        ``classic_scale(h, sigma, n_patch) -> ClassicScale``: the classic method's embeddings
        (``theta = phi`` the patch itself, scaled) for filtering strength *h* and noise
        *sigma* (unit scale) with *n_patch* values per patch.
    symmetric : bool
        A learned block shares ``phi = theta`` (one embedding fewer; the statistic is then
        symmetric).
    initial_offset : float
        The embeddings' starting offset (positive for concatenation, so that its ReLU starts
        active: a dead ReLU passes no gradient).
    compares_patches : bool
        On raw pixels (``theta = phi`` the patch) the affinity is largest for similar
        patches, so that the classic method denoises with it. The products favour bright
        patches instead and make an image worse: they are for learned embeddings.
    """

    name: str
    formula: str
    statistic: int
    kernel: int
    normaliser: str
    classic_scale: Callable[[float, float, int], ClassicScale]
    symmetric: bool
    initial_offset: float = 0.0
    compares_patches: bool = False


NORMALISERS: dict[str, Normaliser] = {
    "sum": Normaliser("sum", "C(x) = sum_j f(x_i, x_j)", 0),
    "count": Normaliser("count", "C(x) = N, the number of positions in the window", 1),
}

AFFINITIES: dict[str, Affinity] = {
    "gaussian": Affinity(
        "gaussian",
        "exp(-max(d2 - 2 sigma^2, 0) / h^2), d2 the mean squared patch distance (NL-means)",
        SQUARED_DIFFERENCE,
        GAUSSIAN_KERNEL,
        "sum",
        _gaussian_scale,
        symmetric=True,
        compares_patches=True,
    ),
    "embedded-gaussian": Affinity(
        "embedded-gaussian",
        "exp(theta(x_i)^T phi(x_j))",
        PRODUCT,
        EXPONENTIAL_KERNEL,
        "sum",
        _product_scale,
        symmetric=False,
    ),
    "dot-product": Affinity(
        "dot-product",
        "theta(x_i)^T phi(x_j)",
        PRODUCT,
        LINEAR_KERNEL,
        "count",
        _product_scale,
        symmetric=False,
    ),
    "concatenation": Affinity(
        "concatenation",
        "ReLU(w_theta^T theta(x_i) + w_phi^T phi(x_j)), w = (w_theta, w_phi)",
        SUM,
        RELU_KERNEL,
        "count",
        _sum_scale,
        symmetric=False,
        initial_offset=0.25,
    ),
}


@dataclass(frozen=True)
class PatchKernel:
    """Separable weights of the patch distance, the same along every axis.

    Attributes
    ----------
    name : str
        Registry key, also the command line's choice.
    formula : str
        The weight of the offset ``u`` from the patch's centre, for ``--help``.
    weights : callable
        ``weights(radius) -> list of float``, the ``2 radius + 1`` weights along one axis.
    """

    name: str
    formula: str
    weights: Callable[[int], list[float]]


def _box(radius: int) -> list[float]:
    return [1.0] * (2 * radius + 1)


def _gaussian_patch(radius: int) -> list[float]:
    # scikit-image's choice for its slow mode: a standard deviation of (side - 1) / 4, so the
    # rim of the patch weighs exp(-2) of its centre along each axis.
    spread = max(radius / 2.0, 0.5)
    raw = [math.exp(-(u * u) / (2.0 * spread * spread)) for u in range(-radius, radius + 1)]
    total = sum(raw)
    return [w / total * (2 * radius + 1) for w in raw]


PATCH_KERNELS: dict[str, PatchKernel] = {
    "box": PatchKernel("box", "1 (the plain mean over the patch)", _box),
    "gaussian": PatchKernel(
        "gaussian", "exp(-|u|^2 / (2 a^2)), a = (patch - 1) / 4, normalised to the box's sum",
        _gaussian_patch),
}


def affinity_help() -> str:
    """Return ``name: formula`` for every affinity, for the command line's help."""
    return "; ".join(f"'{a.name}': f = {a.formula}" for a in AFFINITIES.values())


_Entry = TypeVar("_Entry")


def lookup(registry: dict[str, _Entry], name: str, what: str) -> _Entry:
    """Return the registry entry called *name*.

    Parameters
    ----------
    registry : dict
        One of the registries of this module (or any name-keyed registry).
    name : str
        The entry's name.
    what : str
        What the registry holds, for the error message (``"affinity"``).

    Returns
    -------
    object
        The entry.

    Raises
    ------
    ValueError
        If *name* is not registered; the message lists the known names.
    """
    try:
        return registry[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(registry))
        raise ValueError(f"unknown {what} {name!r}; known: {known}") from None
