

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import naive
from nlmeans_cli.engine import (
    FrameCarry,
    engine_threads,
    nonlocal_operation,
    search_offsets,
    set_engine_threads,
)
from nlmeans_cli.engine.arithmetic import (
    CUTOFF,
    exponent_factors,
    gaussian_weight,
    negative_exp,
)
from nlmeans_cli.engine.operation import offset_groups
from nlmeans_cli.formulation import AFFINITIES, NORMALISERS, PATCH_KERNELS

# (channels, grid shape, patch radius, search radius): 2-D images use the grid (H, 1, W).
CASES = {
    "grey-2d-odd": (1, (7, 1, 9), (1, 0, 1), (2, 0, 3)),
    "colour-2d": (3, (6, 1, 5), (1, 0, 1), (2, 0, 2)),
    "window-larger-than-image": (1, (4, 1, 3), (2, 0, 2), (6, 0, 9)),
    "volume-3d": (1, (4, 5, 6), (1, 1, 1), (1, 2, 1)),
    "colour-volume": (2, (3, 4, 5), (0, 1, 1), (2, 1, 1)),
    "one-by-n": (1, (1, 1, 7), (1, 0, 1), (2, 0, 2)),
    # Images side by side along the second axis, each searched on its own (SURE's crops);
    # patches of 9, 11 and 13 taps (the planar kernel's longest written-out sums), and of 15,
    # past them.
    "images-side-by-side": (1, (6, 3, 8), (1, 0, 2), (2, 0, 2)),
    "patch-9-by-11": (3, (12, 1, 13), (4, 0, 5), (2, 0, 3)),
    "patch-11-by-13": (2, (14, 1, 15), (5, 0, 6), (2, 0, 3)),
    "patch-15-taps": (1, (16, 1, 9), (7, 0, 1), (1, 0, 2)),
    "one-column": (1, (9, 1, 1), (2, 0, 1), (3, 0, 2)),
    # Sides the planar kernel does not write out (1 and 11 above) take the next, padded with
    # zero weights.
    "patch-1-by-5": (2, (7, 1, 8), (0, 0, 2), (2, 0, 3)),
    # A patch of one position (the network's block) takes the tiled kernel; rows longer
    # than one tile, a window larger than the image, a volume.
    "pointwise-2d": (4, (5, 1, 150), (0, 0, 0), (2, 0, 3)),
    "pointwise-window-larger-than-image": (2, (3, 1, 4), (0, 0, 0), (5, 0, 6)),
    "pointwise-volume": (2, (4, 5, 6), (0, 0, 0), (1, 2, 1)),
}


def _params(channels, patch):
    n = channels * np.prod([2 * r + 1 for r in patch])
    return dict(scale=1.0 / n, bias=0.01, h=0.3)


@pytest.mark.parametrize("affinity", sorted(AFFINITIES))
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("shared", [True, False], ids=["shared-features", "theta-phi"])
def test_engine_matches_reference(affinity, case, shared, rng):
    channels, grid, patch, search = CASES[case]
    left = rng.random((channels, *grid)).astype(np.float32)
    right = None if shared else rng.random((channels, *grid)).astype(np.float32)
    values = rng.random((2, *grid)).astype(np.float32)
    kwargs = dict(affinity=affinity, patch_radius=patch, search_radius=search,
                  **_params(channels, patch))
    fast = nonlocal_operation(left, right, values, **kwargs)
    slow = naive.nonlocal_operation(left, right, values, **kwargs)
    assert fast.dtype == np.float32 and fast.shape == values.shape
    assert_allclose(fast, slow, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("affinity", sorted(AFFINITIES))
@pytest.mark.parametrize("case", sorted(CASES))
def test_weighted_patches_match_reference(affinity, case, rng):
    channels, grid, patch, search = CASES[case]
    left = rng.random((channels, *grid)).astype(np.float32)
    values = rng.random((2, *grid)).astype(np.float32)
    weights = tuple(rng.random(2 * r + 1) + 0.2 for r in patch)
    kwargs = dict(affinity=affinity, patch_radius=patch, search_radius=search,
                  patch_weights=weights, **_params(channels, patch))
    fast = nonlocal_operation(left, None, values, **kwargs)
    assert_allclose(fast, naive.nonlocal_operation(left, None, values, **kwargs),
                    rtol=1e-4, atol=1e-6)


# h is 0.3: a second h of 0.6 or 1.2 squares the first's weights 2 or 4 times (one
# exponential for both), 0.7 takes an exponential of its own, 0.3 is one strength after all.
SECOND_H = {"two-exponentials": 0.7, "twice-h": 0.6, "four-times-h": 1.2, "same-h": 0.3}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("second_from", [0, 1, 2])
@pytest.mark.parametrize("second_h", sorted(SECOND_H))
def test_a_second_strength_matches_two_reference_operations(case, second_from, second_h, rng):
    channels, grid, patch, search = CASES[case]
    left = rng.random((channels, *grid)).astype(np.float32)
    values = rng.random((3, *grid)).astype(np.float32)
    kwargs = dict(affinity="gaussian", patch_radius=patch, search_radius=search,
                  second_h=SECOND_H[second_h], second_from=second_from,
                  **_params(channels, patch))
    fast = nonlocal_operation(left, None, values, **kwargs)
    assert_allclose(fast, naive.nonlocal_operation(left, None, values, **kwargs),
                    rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_second_strength_equal_to_h_is_one_strength(case, rng):
    channels, grid, patch, search = CASES[case]
    left = rng.random((channels, *grid)).astype(np.float32)
    values = rng.random((3, *grid)).astype(np.float32)
    kwargs = dict(affinity="gaussian", patch_radius=patch, search_radius=search,
                  **_params(channels, patch))
    np.testing.assert_array_equal(
        nonlocal_operation(left, None, values, second_h=kwargs["h"], second_from=1, **kwargs),
        nonlocal_operation(left, None, values, **kwargs))


def test_second_strength_needs_the_gaussian_kernel(rng):
    left = rng.random((1, 6, 1, 6)).astype(np.float32)
    with pytest.raises(ValueError, match="second_h"):
        nonlocal_operation(left, None, left, affinity="dot-product", patch_radius=(1, 0, 1),
                           search_radius=(1, 0, 1), second_h=0.5, second_from=0)


def test_box_weights_are_bit_identical_to_no_weights(rng):
    left = rng.random((1, 20, 1, 23)).astype(np.float32)
    kwargs = dict(patch_radius=(2, 0, 2), search_radius=(3, 0, 3), scale=1 / 25, h=0.2)
    ones = tuple(np.ones(2 * r + 1) for r in (2, 0, 2))
    assert_array_equal(nonlocal_operation(left, None, left, patch_weights=ones, **kwargs),
                       nonlocal_operation(left, None, left, **kwargs))


def test_patch_weights_of_the_wrong_length_raise(rng):
    left = rng.random((1, 8, 1, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="patch weights"):
        nonlocal_operation(left, None, left, patch_radius=(1, 0, 1), search_radius=(1, 0, 1),
                           patch_weights=(np.ones(3), np.ones(1), np.ones(5)))


@pytest.mark.parametrize("normaliser", sorted(NORMALISERS))
def test_both_normalisers_match_reference(normaliser, rng):
    left = rng.random((1, 5, 1, 6)).astype(np.float32)
    kwargs = dict(affinity="dot-product", normaliser=normaliser, patch_radius=(1, 0, 1),
                  search_radius=(2, 0, 2), scale=0.1)
    assert_allclose(nonlocal_operation(left, None, left, **kwargs),
                    naive.nonlocal_operation(left, None, left, **kwargs), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(("grid", "search", "channels"), [
    ((13, 1, 17), (3, 0, 3), 1), ((13, 1, 17), (4, 0, 2), 2), ((9, 4, 11), (2, 1, 2), 1)])
def test_the_weights_sums_match_reference(grid, search, channels, rng):
    # The classic kernel (a shared map, the Gaussian affinity, a patch in the image's plane;
    # an image and a clip searched across frames) hands back the weights' sum after y: the
    # reference's average of a plane of ones under the count normaliser, times N.
    left = rng.random((1, *grid)).astype(np.float32)
    values = rng.random((channels, *grid)).astype(np.float32)
    weights = tuple(np.asarray(PATCH_KERNELS["gaussian"].weights(r), np.float32)
                    for r in (1, 0, 1))
    kwargs = dict(affinity="gaussian", patch_radius=(1, 0, 1), search_radius=search,
                  scale=1 / 9, h=0.3, patch_weights=weights)
    out = nonlocal_operation(left, None, values, weight_sums=True, **kwargs)
    assert out.shape == (channels + 1, *grid)
    assert_array_equal(out[:-1], nonlocal_operation(left, None, values, **kwargs))
    ones = np.ones((1, *grid), np.float32)
    counted = naive.nonlocal_operation(left, None, ones, normaliser="count", **kwargs)[0]
    positions = np.prod([2 * s + 1 for s in search])
    assert_allclose(out[-1], counted * positions, rtol=1e-4)
    # At least the pixel's own weight, 1, and at most one per position.
    assert np.all(out[-1] >= 1 - 1e-5) and np.all(out[-1] <= positions * (1 + 1e-6))


def test_weight_sums_are_refused_outside_the_classic_kernel(rng):
    left = rng.random((1, 6, 1, 6)).astype(np.float32)
    with pytest.raises(ValueError, match="weight_sums"):
        nonlocal_operation(left, None, left, affinity="dot-product", patch_radius=(1, 0, 1),
                           search_radius=(1, 0, 1), weight_sums=True)
    with pytest.raises(ValueError, match="weight_sums"):
        nonlocal_operation(left, left.copy(), left, patch_radius=(1, 0, 1),
                           search_radius=(1, 0, 1), weight_sums=True)


def test_the_engines_exponential_is_close_to_float64_over_its_range():
    # Every float32 step near 0 and a fine grid to the cut-off: the rounding to the nearest
    # power of two switches at each half-integer of the exponent, where the polynomial's
    # ends meet.
    near_zero = np.arange(2000, dtype=np.float32) * np.float32(1e-6)
    grid = np.linspace(0, float(CUTOFF), 200_001, dtype=np.float32)[:-1]
    x = np.concatenate([near_zero, grid])
    fast = np.array([negative_exp(v) for v in x], np.float64)
    exact = np.exp(-x.astype(np.float64))
    assert negative_exp(np.float32(0.0)) == 1.0  # identical patches weigh exactly 1
    assert np.max(np.abs(fast / exact - 1)) < 4e-6


def test_gaussian_weights_stop_at_the_cutoff_and_keep_nan_out():
    # (The kernels take float32 throughout; Python hands the factors back as float64.)
    slope, offset = map(np.float32, exponent_factors(np.float32(1.0), np.float32(0.0),
                                                     np.float32(1.0)))
    below = np.nextafter(CUTOFF, np.float32(0.0))
    assert gaussian_weight(below, slope, offset) > 0
    assert gaussian_weight(np.float32(CUTOFF * 2), slope, offset) == 0.0
    assert gaussian_weight(np.float32(np.inf), slope, offset) == 0.0
    assert gaussian_weight(np.float32(-3.0), slope, offset) == 1.0  # below the bias: 1
    assert gaussian_weight(np.float32(np.nan), slope, offset) == 0.0


def test_embedded_gaussian_does_not_overflow_on_large_logits(rng):
    left = rng.random((1, 6, 1, 6)).astype(np.float32)
    out = nonlocal_operation(left, None, left, affinity="embedded-gaussian",
                             patch_radius=(1, 0, 1), search_radius=(2, 0, 2), scale=500.0)
    assert np.isfinite(out).all()
    assert left.min() <= out.min() and out.max() <= left.max() + 1e-6


def test_half_offsets_cover_the_window_once():
    radius = (2, 1, 3)
    half = search_offsets(radius, half=True)
    full = search_offsets(radius, half=False)
    both = {tuple(t) for t in half} | {tuple(-t) for t in half}
    assert both == {tuple(t) for t in full}
    assert len(half) == (len(full) + 1) // 2
    assert tuple(half[0]) == (0, 0, 0)


@pytest.mark.parametrize(("affinity", "patch", "frames", "targets"), [
    ("gaussian", (2, 0, 2), 1, None),
    ("embedded-gaussian", (0, 0, 0), 1, None),
    # A clip's frames searched across frames, some of them targets.
    ("gaussian", (2, 0, 2), 6, (1, 4)),
    # Colour with its chroma at twice h: offsets added in groups.
    ("colour", (2, 0, 2), 1, None),
])
def test_result_does_not_depend_on_thread_count(affinity, patch, frames, targets, rng):
    colour = affinity == "colour"
    image = rng.random((3 if colour else 1, 40, frames, 133)).astype(np.float32)
    chroma = dict(affinity="gaussian", second_h=0.2, second_from=1) if colour else dict(
        affinity=affinity)
    kwargs = dict(patch_radius=patch, search_radius=(4, 2 * (frames > 1), 4), scale=1 / 25,
                  bias=0.002, h=0.1, targets=targets, **chroma)
    results = []
    for threads in (1, 2, 3, 7):
        set_engine_threads(threads)
        try:
            assert engine_threads() == threads
            results.append(nonlocal_operation(image, None, image, **kwargs))
        finally:
            set_engine_threads(None)
    for result in results[1:]:
        assert_array_equal(result, results[0])
    with pytest.raises(ValueError, match="at least 1"):
        set_engine_threads(0)


@pytest.mark.parametrize("radius", [(2, 0, 2), (10, 0, 10), (1, 2, 3)])
@pytest.mark.parametrize("size", [1, 3, 4])
def test_offset_groups_are_runs_along_the_last_axis(radius, size):
    offsets = search_offsets(radius, half=True)
    groups = offset_groups(offsets, size)
    firsts, counts = groups.T
    # In order, each offset once; the zero offset alone.
    assert_array_equal(np.repeat(firsts, counts) + np.concatenate(
        [np.arange(c) for c in counts]), np.arange(len(offsets)))
    assert counts[0] == 1 and counts.max() <= size
    for first, count in groups:
        run = offsets[first : first + count]
        assert_array_equal(run - run[0], [(0, 0, g) for g in range(count)])
    # Greedy: a row of 2 s + 1 offsets takes ceil((2 s + 1) / size) groups.
    if size == 4 and radius == (10, 0, 10):
        assert len(groups) == 1 + 3 + 10 * 6


# The squared version's groups (colour, its chroma at twice h): windows whose rows of
# offsets leave each remainder by four (5, 11, 13 and 15 offsets a row), against the
# reference.
@pytest.mark.parametrize("search", [(2, 0, 2), (1, 0, 5), (2, 0, 6), (1, 0, 7)])
def test_grouped_offsets_match_the_reference(search, rng):
    left = rng.random((3, 9, 1, 23)).astype(np.float32)
    kwargs = dict(affinity="gaussian", patch_radius=(1, 0, 2), search_radius=search,
                  second_h=0.6, second_from=1, **_params(3, (1, 0, 2)))
    fast = nonlocal_operation(left, None, left, **kwargs)
    assert_allclose(fast, naive.nonlocal_operation(left, None, left, **kwargs), rtol=1e-4,
                    atol=1e-6)


def test_unknown_affinity_lists_known_names():
    image = np.zeros((1, 3, 1, 3), np.float32)
    with pytest.raises(ValueError, match="known: .*gaussian"):
        nonlocal_operation(image, None, image, affinity="cosine")


@pytest.mark.parametrize("bad", [dict(h=0.0), dict(patch_radius=(-1, 0, 0)),
                                 dict(search_radius=(1, 1))])
def test_bad_parameters_raise(bad):
    image = np.zeros((1, 3, 1, 3), np.float32)
    with pytest.raises(ValueError):
        nonlocal_operation(image, None, image, **bad)


def test_mismatched_maps_raise():
    with pytest.raises(ValueError, match="disagree"):
        nonlocal_operation(np.zeros((1, 3, 1, 3)), np.zeros((1, 3, 1, 4)), np.zeros((1, 3, 1, 3)))



# Spacetime: a clip laid out as (C, rows, frames, columns), 2-D patches, a window over frames.
SPACETIME = {
    "grey-clip": (1, (6, 5, 7), (1, 0, 1), (2, 2, 2)),
    "colour-clip": (3, (5, 4, 6), (1, 0, 1), (1, 1, 2)),
    "window-longer-than-clip": (1, (5, 3, 5), (1, 0, 1), (2, 4, 2)),
    "pointwise-clip": (2, (5, 4, 70), (0, 0, 0), (1, 1, 2)),
}


@pytest.mark.parametrize("affinity", sorted(AFFINITIES))
@pytest.mark.parametrize("case", sorted(SPACETIME))
@pytest.mark.parametrize("shared", [True, False], ids=["shared-features", "theta-phi"])
def test_spacetime_targets_match_reference(affinity, case, shared, rng):
    channels, grid, patch, search = SPACETIME[case]
    left = rng.random((channels, *grid)).astype(np.float32)
    right = None if shared else rng.random((channels, *grid)).astype(np.float32)
    values = left if shared else rng.random((2, *grid)).astype(np.float32)
    kwargs = dict(affinity=affinity, patch_radius=patch, search_radius=search,
                  **_params(channels, patch))
    slow = naive.nonlocal_operation(left, right, values, **kwargs)
    for lo, hi in [(0, grid[1]), (grid[1] // 2, grid[1] // 2 + 1), (0, 1), (1, grid[1])]:
        fast = nonlocal_operation(left, right, values, targets=(lo, hi), **kwargs)
        assert fast.shape == (values.shape[0], grid[0], hi - lo, grid[2])
        assert_allclose(fast, slow[:, :, lo:hi], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("case", ["grey-clip", "colour-clip", "window-longer-than-clip"])
@pytest.mark.parametrize("second_h", sorted(SECOND_H))
def test_a_second_strength_over_frames_matches_two_reference_operations(case, second_h, rng):
    # A colour clip's chroma takes the second strength, for targets inside the clip.
    channels, grid, patch, search = SPACETIME[case]
    left = rng.random((channels, *grid)).astype(np.float32)
    values = rng.random((3, *grid)).astype(np.float32)
    kwargs = dict(affinity="gaussian", patch_radius=patch, search_radius=search,
                  second_h=SECOND_H[second_h], second_from=1, **_params(channels, patch))
    slow = naive.nonlocal_operation(left, None, values, **kwargs)
    lo, hi = 1, grid[1]
    fast = nonlocal_operation(left, None, values, targets=(lo, hi), **kwargs)
    assert_allclose(fast, slow[:, :, lo:hi], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("targets", [(0, 0), (2, 1), (-1, 2), (0, 6)])
def test_bad_targets_raise(targets):
    image = np.zeros((1, 3, 5, 3), np.float32)
    with pytest.raises(ValueError, match="targets"):
        nonlocal_operation(image, None, image, targets=targets)


@pytest.mark.parametrize("affinity", ["gaussian", "embedded-gaussian"])
def test_target_ranges_of_a_shared_map_equal_the_whole_exactly(affinity, rng):
    # With a shared map every range is computed with the halved offsets, adding each
    # target's terms in the same order, so a clip cut into ranges of frames equals the whole.
    grid = rng.random((2, 9, 7, 8)).astype(np.float32)
    kwargs = dict(affinity=affinity, patch_radius=(1, 0, 1), search_radius=(2, 2, 2),
                  **_params(2, (1, 0, 1)))
    whole = nonlocal_operation(grid, None, grid, **kwargs)
    for cuts in [(0, 1, 2, 3, 4, 5, 6, 7), (0, 3, 7), (0, 2, 6, 7)]:
        parts = [nonlocal_operation(grid, None, grid, targets=(lo, hi), **kwargs)
                 for lo, hi in zip(cuts[:-1], cuts[1:], strict=True)]
        assert_array_equal(np.concatenate(parts, axis=2), whole)


def _carried_calls(grid, values, per_call, kwargs):
    """The clip's frames in calls of *per_call* targets, each grid cut as a stream cuts it."""
    reach = kwargs["search_radius"][1]
    n_frames = grid.shape[2]
    carry = FrameCarry()
    parts, carried = [], []
    for lo in range(0, n_frames, per_call):
        hi = min(lo + per_call, n_frames)
        first, last = max(0, lo - reach), min(n_frames, hi + 2 * reach)
        parts.append(nonlocal_operation(grid[:, :, first:last], None,
                                        values[:, :, first:last],
                                        targets=(lo - first, hi - first), carry=carry,
                                        **kwargs))
        carried.append(None if carry.sums is None else carry.sums.shape[1])
    return np.concatenate(parts, axis=2), carried


@pytest.mark.parametrize("per_call", [1, 2, 3, 5])
@pytest.mark.parametrize("case", ["grey", "second-strength", "patch-15-taps", "window-3"])
def test_calls_that_hand_on_their_sums_equal_the_whole_clip_exactly(case, per_call, rng):
    channels, n_values, patch, search = 1, 1, (1, 0, 2), (2, 2, 1)
    extra = {}
    if case == "second-strength":  # a colour clip's chroma
        channels, n_values, extra = 3, 3, dict(second_h=0.5, second_from=1)
    elif case == "patch-15-taps":  # the general kernel, which computes every call afresh
        patch = (7, 0, 1)
    elif case == "window-3":
        search = (1, 3, 2)
    grid = rng.random((channels, 16, 11, 9)).astype(np.float32)
    values = grid if n_values == channels else rng.random((n_values, 16, 11, 9)).astype(
        np.float32)
    kwargs = dict(affinity="gaussian", patch_radius=patch, search_radius=search,
                  **_params(channels, patch), **extra)
    whole = nonlocal_operation(grid, None, values, **kwargs)
    calls, carried = _carried_calls(grid, values, per_call, kwargs)
    assert_array_equal(calls, whole)
    if case == "patch-15-taps":
        assert set(carried) == {None}
    else:  # each call hands on its sums for the next one's first 2 s frames (in the clip)
        n_frames, reach = grid.shape[2], search[1]
        ends = [min(lo + per_call, n_frames) for lo in range(0, n_frames, per_call)]
        assert carried == [min(2 * reach, n_frames - hi) or None for hi in ends]


def test_sums_carried_from_another_grid_are_refused(rng):
    grid = rng.random((1, 8, 9, 7)).astype(np.float32)
    kwargs = dict(affinity="gaussian", patch_radius=(1, 0, 1), search_radius=(2, 2, 2),
                  **_params(1, (1, 0, 1)))
    carry = FrameCarry()
    nonlocal_operation(grid, None, grid, targets=(0, 3), carry=carry, **kwargs)
    assert carry.sums is not None
    with pytest.raises(ValueError, match="carried sums"):
        nonlocal_operation(grid[:, :6], None, grid[:, :6], targets=(1, 4), carry=carry,
                           **kwargs)


def test_reflect_padding_into_a_given_array_is_numpys(rng):
    from nlmeans_cli.engine import reflect_padded

    for shape, pad in (((3, 5, 4, 6), [(0, 0), (2, 3), (1, 2), (3, 4)]),
                       ((2, 7, 1, 9), [(0, 0), (4, 4), (0, 0), (4, 4)])):
        maps = rng.random(shape).astype(np.float32)
        out = np.full(tuple(n + a + b for n, (a, b) in zip(shape, pad, strict=True)), np.nan,
                      np.float32)
        np.testing.assert_array_equal(reflect_padded(maps, pad, out),
                                      np.pad(maps, pad, mode="reflect"))


def test_maps_written_inside_and_their_borders_reflected_are_numpys_padding(rng):
    from nlmeans_cli.engine import reflect_borders

    shape, pad = (2, 7, 1, 9), [(0, 0), (4, 4), (0, 0), (4, 4)]
    maps = rng.random(shape).astype(np.float32)
    out = np.full(tuple(n + a + b for n, (a, b) in zip(shape, pad, strict=True)), np.nan,
                  np.float32)
    out[:, 4:11, :, 4:13] = maps
    np.testing.assert_array_equal(reflect_borders(out, pad), np.pad(maps, pad, mode="reflect"))
    with pytest.raises(ValueError, match="reach past"):
        reflect_borders(np.zeros((1, 9, 1, 9), np.float32), [(0, 0), (4, 4), (0, 0), (4, 4)])


@pytest.mark.parametrize("affinity", sorted(AFFINITIES))
def test_padded_maps_give_the_same_result_without_the_copy(rng, affinity):
    from nlmeans_cli.engine import reflect_padded

    theta, phi, g = (rng.normal(0, 1, (3, 9, 1, 11)).astype(np.float32) for _ in range(3))
    pad = [(0, 0), (2, 2), (0, 0), (2, 2)]
    padded = [reflect_padded(m, pad, np.empty((3, 13, 1, 15), np.float32))
              for m in (theta, phi, g)]
    kwargs = dict(affinity=affinity, search_radius=(2, 0, 2))
    np.testing.assert_array_equal(nonlocal_operation(*padded, padded=True, **kwargs),
                                  nonlocal_operation(theta, phi, g, **kwargs))
    with pytest.raises(ValueError, match="too small"):
        nonlocal_operation(*(m[:, :5, :, :5] for m in padded), padded=True, **kwargs)
    with pytest.raises(ValueError, match="one position"):
        nonlocal_operation(*padded, padded=True, patch_radius=(1, 0, 1), **kwargs)


def test_a_workspace_changes_nothing_in_the_result(rng):
    from nlmeans_cli.engine import Workspace, nonlocal_operation

    workspace = Workspace()
    for height in (12, 9):  # the second call reuses larger arrays
        theta, phi, g = (rng.normal(0, 1, (3, height, 1, 10)).astype(np.float32)
                         for _ in range(3))
        kwargs = dict(affinity="embedded-gaussian", search_radius=(2, 0, 2))
        np.testing.assert_array_equal(
            nonlocal_operation(theta, phi, g, workspace=workspace, **kwargs),
            nonlocal_operation(theta, phi, g, **kwargs))


_COMPILED = """
import sys
import numpy as np
from numba.core import event
from nlmeans_cli import denoise

recorder = event.RecordingListener()
event.register("numba:compile", recorder)
rng = np.random.default_rng(0)
colour = sys.argv[1] != "grey"
chroma = {"h_chroma": 0.1} if sys.argv[1] == "colour at one strength" else {}
image = rng.random((16, 16, 3) if colour else (16, 16)).astype(np.float32)
denoise(image, sigma=0.1, h=0.1, channel_axis=-1 if colour else None, **chroma)
print(" ".join(sorted({ev.data["dispatcher"].py_func.__name__ for _, ev in recorder.buffer})))
"""


@pytest.mark.parametrize("kind, own, others", [
    ("grey", "_weigh_and_add",
     ("add_group_own", "add_group_partner", "_shared_weigh_and_add", "_deviate_and_add")),
    ("colour", "add_group_own",
     ("_weigh_and_add", "_shared_weigh_and_add", "_deviate_and_add")),
    # The general version prunes the groups only (its squarings is None).
    ("colour at one strength", "_shared_weigh_and_add", ("add_group_own", "add_group_partner")),
])
def test_each_version_of_the_planar_kernel_compiles_its_own_sweep_only(tmp_path, kind, own,
                                                                       others):
    # Numba drops a branch only where the argument it tests is None; a sweep left in a
    # version that never runs it costs that version's first run about a second of compiling.
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _COMPILED, kind], capture_output=True,
                          text=True, timeout=600,
                          env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    compiled = done.stdout.split()
    assert "nonlocal_planar_strips" in compiled and own in compiled
    assert not set(others) & set(compiled)


_AHEAD_THEN_DEFAULTS = """
import numpy as np
from numba.core import event
from nlmeans_cli import denoise
from nlmeans_cli.engine import compile_ahead

compile_ahead("grey")
compile_ahead("colour")
recorder = event.RecordingListener()
event.register("numba:compile", recorder)
rng = np.random.default_rng(0)
for shape, axis in (((48, 40), None), ((40, 48, 3), -1)):
    image = np.clip(128 + rng.normal(0, 25, shape), 0, 255).astype(np.uint8)
    denoise(image, channel_axis=axis)
print(" ".join(sorted({ev.data["dispatcher"].py_func.__name__ for _, ev in recorder.buffer})))
"""


def test_kernels_compiled_ahead_leave_a_default_run_nothing_to_compile(tmp_path):
    # The install compiles these versions (setup.py): a first run with every default, grey
    # or colour, SURE search included, must find each kernel it calls in the cache.
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _AHEAD_THEN_DEFAULTS], capture_output=True,
                          text=True, timeout=600,
                          env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []
    assert list(tmp_path.rglob("planar.nonlocal_planar_strips-*.nbi"))


def test_an_unknown_version_to_compile_ahead_is_refused_with_the_known_ones():
    from nlmeans_cli.engine import compile_ahead
    from nlmeans_cli.engine.ahead import AHEAD_VERSIONS

    with pytest.raises(ValueError, match="known: colour, grey") as raised:
        compile_ahead("sepia")
    assert set(AHEAD_VERSIONS) == {"grey", "colour"} and "'sepia'" in str(raised.value)


def test_an_installed_wheel_carries_the_kernels_compiled_ahead():
    # What setup.py's step adds to the wheel, as pip recorded it. An editable install (or
    # the package run from its source folder) carries none: nothing to check there.
    import json
    from importlib import metadata

    distribution = metadata.distribution("nlmeans_cli")
    origin = distribution.read_text("direct_url.json")
    if origin is not None and json.loads(origin).get("dir_info", {}).get("editable"):
        pytest.skip("an editable install: the kernels compile on the first run")
    recorded = {str(path) for path in distribution.files or ()}
    if not any(path.endswith("engine/planar.py") for path in recorded):
        pytest.skip("not installed from a wheel")
    index = [path for path in recorded
             if "/__pycache__/planar.nonlocal_planar_strips-" in path and path.endswith(".nbi")]
    data = [path for path in recorded
            if "/__pycache__/planar.nonlocal_planar_strips-" in path and path.endswith(".nbc")]
    assert len(index) == 1 and len(data) == 2  # one index, the grey and the colour versions


_FRESH_OR_CACHED = """
import hashlib
import numpy as np
from nlmeans_cli.methods.classic import CLASSIC, ClassicSetting
from nlmeans_cli.pixels import to_grid

rng = np.random.default_rng(1)
digest = hashlib.sha256()
for channels, chroma in ((1, None), (3, 0.16), (3, 0.11)):  # grey, squared, exponentials
    setting = ClassicSetting(method="classic", affinity="gaussian", sigma_unit=0.1,
                             sigma_estimated=False, h_unit=0.08, h_chroma_unit=chroma,
                             patch_size=5, search_window=9, patch_kernel="gaussian",
                             h_chosen_by="given")
    crops = [to_grid(rng.random((30, 40, channels), dtype=np.float32))[0] for _ in range(3)]
    together = CLASSIC.run_crops(crops, [setting])[0]
    for crop, estimate in zip(crops, together):
        alone = CLASSIC.run(crop, setting, axes=(1, 0, 1))
        print(channels, chroma, np.array_equal(estimate, alone))
        digest.update(alone.tobytes())
print(digest.hexdigest())
"""


def test_a_kernel_loaded_from_the_cache_gives_what_the_compiled_one_gave(tmp_path):
    # Most runs load the kernels (the install compiles them): the results must be those of
    # a process that compiled them, and a crop's the same alone as beside others, in both.
    import os
    import subprocess
    import sys

    runs = [subprocess.run([sys.executable, "-c", _FRESH_OR_CACHED], capture_output=True,
                           text=True, timeout=600,
                           env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)})
            for _ in range(2)]
    for done in runs:
        assert done.returncode == 0, done.stderr
        lines = done.stdout.split("\n")
        assert len(lines) == 11 and all(line.endswith("True") for line in lines[:9]), lines
    assert runs[0].stdout == runs[1].stdout
