"""Slow, obviously correct references the fast code is held to.

Everything here loops over positions and offsets in plain Python/NumPy in float64.
"""

import itertools

import numpy as np

from nlmeans_cli.formulation import AFFINITIES, NORMALISERS


def clamp(radius, grid):
    """The engine's documented rule: a radius never exceeds the axis length minus one."""
    return tuple(min(r, n - 1) for r, n in zip(radius, grid, strict=True))


def nonlocal_operation(left, right, values, *, affinity, normaliser=None, patch_radius,
                       search_radius, scale=1.0, bias=0.0, h=1.0, patch_weights=None,
                       second_h=None, second_from=None):
    if second_h is not None:
        # Two operations on the same features: the channels before second_from with h, the
        # rest with second_h.
        first = nonlocal_operation(left, right, values[:second_from], affinity=affinity,
                                   normaliser=normaliser, patch_radius=patch_radius,
                                   search_radius=search_radius, scale=scale, bias=bias, h=h,
                                   patch_weights=patch_weights)
        rest = nonlocal_operation(left, right, values[second_from:], affinity=affinity,
                                  normaliser=normaliser, patch_radius=patch_radius,
                                  search_radius=search_radius, scale=scale, bias=bias,
                                  h=second_h, patch_weights=patch_weights)
        return np.concatenate([first, rest])
    """y_i = 1/C sum_j f(x_i, x_j) g(x_j) by direct summation over every i and j."""
    spec = AFFINITIES[affinity]
    norm = normaliser or spec.normaliser
    right = left if right is None else right
    left, right, values = (np.asarray(a, np.float64) for a in (left, right, values))
    grid = left.shape[1:]
    patch = clamp(patch_radius, grid)
    search = clamp(search_radius, grid)
    # The weight of each patch element: the outer product of the per-axis weights, their
    # central values when a radius is clamped.
    if patch_weights is None:
        patch_weights = [np.ones(2 * r + 1) for r in patch_radius]
    cut = [np.asarray(w, np.float64)[asked - r : asked + r + 1]
           for w, asked, r in zip(patch_weights, patch_radius, patch, strict=True)]
    weight = cut[0][:, None, None] * cut[1][None, :, None] * cut[2][None, None, :]
    pad = [(0, 0)] + [(p + s, p + s) for p, s in zip(patch, search, strict=True)]
    lp, rp, vp = (np.pad(a, pad, mode="reflect") for a in (left, right, values))
    offset = [p + s for p, s in zip(patch, search, strict=True)]
    window = list(itertools.product(*[range(-s, s + 1) for s in search]))
    out = np.zeros(values.shape)

    def patch_at(array, centre):
        return array[(slice(None),) + tuple(slice(c + o - r, c + o + r + 1)
                                            for c, o, r in zip(centre, offset, patch, strict=True))]

    for i in itertools.product(*[range(n) for n in grid]):
        numerator = np.zeros(values.shape[0])
        denominator = 0.0
        for t in window:
            j = tuple(a + b for a, b in zip(i, t, strict=True))
            pi, pj = patch_at(lp, i), patch_at(rp, j)
            if spec.name == "gaussian":
                s = np.sum(weight * (pi - pj) ** 2) * scale
                f = np.exp(-max(s - bias, 0.0) / h**2)
            elif spec.name == "embedded-gaussian":
                f = np.exp(np.sum(weight * pi * pj) * scale)
            elif spec.name == "dot-product":
                f = np.sum(weight * pi * pj) * scale
            else:
                f = max(np.sum(weight * (pi + pj)) * scale, 0.0)
            g = vp[(slice(None),) + tuple(c + o for c, o in zip(j, offset, strict=True))]
            numerator += f * g
            denominator += f
        if NORMALISERS[norm].name == "count":
            out[(slice(None), *i)] = numerator / len(window)
        elif denominator != 0:
            out[(slice(None), *i)] = numerator / denominator
        else:
            out[(slice(None), *i)] = values[(slice(None), *i)]
    return out
