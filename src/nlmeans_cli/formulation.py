r"""The non-local operation, defined once.

Every method of the package computes

.. math::

    y_i = \frac{1}{C(x)} \sum_{j \in \mathcal{W}(i)} f(x_i, x_j)\, g(x_j)

over a search window :math:`\mathcal{W}(i)` around position *i* (Wang et al. [1]_, generalising
Buades et al.'s non-local means [2]_). The three ingredients are named registries:

``AFFINITIES``
    the pairwise affinity *f*;
``UNARIES``
    the unary map *g*;
``NORMALISERS``
    the normaliser *C*.

The engine (:mod:`nlmeans_cli.engine`) reduces every affinity to a *pair statistic* ``s(i, j)``
summed over the patch around *i* and *j* (a squared difference, a product or a sum of two
feature maps) followed by an element-wise kernel. This module holds only the definitions: it is
imported by the command line to build its choices, so it does not import Numba.

References
----------
.. [1] X. Wang, R. Girshick, A. Gupta, K. He, "Non-local Neural Networks", CVPR 2018.
.. [2] A. Buades, B. Coll, J.-M. Morel, "A non-local algorithm for image denoising", CVPR 2005.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "AFFINITIES",
    "NORMALISERS",
    "UNARIES",
    "Affinity",
    "Normaliser",
    "Unary",
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
        The definition, for documentation and ``--help``.
    code : int
        Selector passed to the engine's kernel.
    """

    name: str
    formula: str
    code: int


@dataclass(frozen=True)
class Affinity:
    """A pairwise affinity ``f(x_i, x_j)``.

    Attributes
    ----------
    name : str
        Registry key, also the command line's choice.
    formula : str
        The definition on patch features ``theta``/``phi``.
    statistic : int
        Pair statistic summed over the patch: ``SQUARED_DIFFERENCE``, ``PRODUCT`` or ``SUM``.
    kernel : int
        Element-wise map from the statistic to ``f``.
    normaliser : str
        The normaliser the paper pairs with this affinity.
    """

    name: str
    formula: str
    statistic: int
    kernel: int
    normaliser: str


@dataclass(frozen=True)
class Unary:
    """A unary map ``g(x_j)``.

    Attributes
    ----------
    name : str
        Registry key.
    formula : str
        The definition.
    """

    name: str
    formula: str


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
    ),
    "embedded-gaussian": Affinity(
        "embedded-gaussian",
        "exp(theta(x_i)^T phi(x_j))",
        PRODUCT,
        EXPONENTIAL_KERNEL,
        "sum",
    ),
    "dot-product": Affinity(
        "dot-product",
        "theta(x_i)^T phi(x_j)",
        PRODUCT,
        LINEAR_KERNEL,
        "count",
    ),
    "concatenation": Affinity(
        "concatenation",
        "ReLU(w^T [theta(x_i), phi(x_j)]) = ReLU(w_theta^T theta(x_i) + w_phi^T phi(x_j))",
        SUM,
        RELU_KERNEL,
        "count",
    ),
}

UNARIES: dict[str, Unary] = {
    "identity": Unary("identity", "g(x_j) = x_j, the pixel value (all channels)"),
    "linear": Unary("linear", "g(x_j) = W_g x_j, a linear embedding of the patch around j"),
}

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
