import numpy as np
import pytest

from nlmeans_cli import denoise, resolve_parameters
from nlmeans_cli.methods.classic import SURE_FACTORS, SURE_FINE_FACTORS, Classic
from nlmeans_cli.methods.sure import choose_by_sure, sample_crops, sure
from nlmeans_cli.parameters import default_parameters
from nlmeans_cli.pixels import to_grid


def _scene(rng, shape=(96, 96)):
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    clean = 0.5 + 0.25 * np.sin(x / 7.0) * np.cos(y / 11.0) + 0.2 * (x > shape[1] // 2)
    return clean.astype(np.float32)


def _box_blur(array, radius):
    padded = np.pad(array, radius, mode="reflect")
    out = np.zeros_like(array, dtype=np.float64)
    for a in range(2 * radius + 1):
        for b in range(2 * radius + 1):
            out += padded[a : a + array.shape[0], b : b + array.shape[1]]
    return (out / (2 * radius + 1) ** 2).astype(array.dtype)


@pytest.mark.parametrize("radius", [0, 1, 2])
def test_sure_estimates_the_true_error_of_a_linear_smoother(rng, radius):
    clean = _scene(rng)
    sigma = 0.08
    noisy = clean + rng.normal(0, sigma, clean.shape).astype(np.float32)
    estimate = sure(lambda a: _box_blur(a, radius), noisy, sigma)
    true = float(np.mean((_box_blur(noisy, radius) - clean) ** 2))
    assert estimate == pytest.approx(true, rel=0.1)


def test_sure_picks_an_h_close_to_the_best_in_hindsight(rng):
    clean = _scene(rng)
    sigma = 0.1
    noisy = clean + rng.normal(0, sigma, clean.shape).astype(np.float32)
    candidates = [0.03, 0.06, 0.1, 0.2, 0.4]

    def run(array, h):
        return denoise(array, sigma=sigma, h=h, patch_size=5, search_window=11)

    errors = {h: float(np.mean((run(noisy, h) - clean) ** 2)) for h in candidates}
    chosen = choose_by_sure(candidates,
                            lambda arrays, hs: [[run(a, h) for a in arrays] for h in hs],
                            [noisy], sigma)
    # Within 10 % of the smallest true error, and far from the worst.
    assert errors[chosen] <= 1.1 * min(errors.values())
    assert errors[chosen] < max(errors.values())


def test_sample_crops_takes_small_images_whole_and_spreads_crops_over_large_ones(rng):
    small = rng.random((100, 120)).astype(np.float32)
    assert len(sample_crops(small)) == 1 and sample_crops(small)[0].shape == small.shape
    large = rng.random((400, 500, 3)).astype(np.float32)
    crops = sample_crops(large, side=64, count=4)
    assert len(crops) == 4 and all(c.shape == (64, 64, 3) for c in crops)
    assert len({c.tobytes() for c in crops}) == 4


@pytest.mark.parametrize("shape", [(20000, 50), (50, 20000), (8000, 7, 3)])
def test_a_strip_gets_crops_of_its_width_and_the_same_area(rng, shape):
    # Narrower than a crop, a strip was measured whole: 12 times a square megapixel's time.
    strip = rng.random(shape).astype(np.float32)
    crops = sample_crops(strip, side=96, count=4)
    short = min(shape[:2])
    length = -(-96 * 96 // short)
    expected = (short, length) if shape[0] == short else (length, short)
    assert len(crops) == 4 and all(c.shape == expected + shape[2:] for c in crops)
    assert len({c.tobytes() for c in crops}) == 4
    # Each crop is a piece of the strip, where it lies
    long_axis = int(shape[0] == short)
    for crop in crops:
        found = [start for start in range(shape[long_axis] - length + 1)
                 if np.array_equal(np.take(strip, range(start, start + length),
                                           axis=long_axis), crop)]
        assert len(found) == 1


def test_default_h_is_chosen_by_sure_deterministically(rng):
    noisy = _scene(rng) + rng.normal(0, 0.1, (96, 96)).astype(np.float32)
    first = resolve_parameters(noisy, sigma=0.1)
    assert first.h_chosen_by == "sure"
    assert resolve_parameters(noisy, sigma=0.1) == first
    table = resolve_parameters(noisy, sigma=0.1, h=0.05)
    assert table.h_chosen_by == "given" and table.h_unit == 0.05
    table_h = default_parameters(0.1 * 255, 2).h_factor * 0.1
    low, high = min(SURE_FACTORS) * min(SURE_FINE_FACTORS), max(SURE_FACTORS) * max(
        SURE_FINE_FACTORS)
    assert low * table_h <= first.h_unit <= high * table_h


def test_sure_choice_beats_or_matches_the_table_h(rng):
    clean = _scene(rng, (120, 120))
    noisy = clean + rng.normal(0, 0.1, clean.shape).astype(np.float32)
    chosen = denoise(noisy, sigma=0.1)
    fixed = denoise(noisy, sigma=0.1, h=default_parameters(0.1 * 255, 2).h_factor * 0.1)
    mse = [float(np.mean((x - clean) ** 2)) for x in (chosen, fixed)]
    assert mse[0] <= mse[1] * 1.02


def test_sure_refines_only_what_the_request_leaves_open(rng):
    noisy = _scene(rng) + rng.normal(0, 0.1, (96, 96)).astype(np.float32)
    row = default_parameters(0.1 * 255, 2)
    fixed = resolve_parameters(noisy, sigma=0.1, patch_size=3, search_window=5)
    assert (fixed.patch_size, fixed.search_window) == (3, 5)
    assert fixed.h_chosen_by == "sure"
    free = resolve_parameters(noisy, sigma=0.1)
    assert free.patch_size - row.patch_size in (-2, 0, 2)
    assert free.search_window - row.search_window in (-2, 0, 4)


@pytest.mark.parametrize("channels", [1, 3])
def test_crops_denoised_side_by_side_equal_each_denoised_alone(rng, channels):
    # SURE runs its crops and their perturbations in one engine call, along the grid's
    # unused axis; each must come out exactly as if denoised on its own.
    crops = [rng.random((40, 52, channels)).astype(np.float32) for _ in range(5)]
    setting = resolve_parameters(crops[0] if channels == 3 else crops[0][..., 0], sigma=0.1,
                                 h=0.08, channel_axis=-1 if channels == 3 else None)
    grids = [to_grid(crop)[0] for crop in crops]
    method = Classic()
    together = method.run(np.concatenate(grids, axis=2), setting, axes=(1, 0, 1))
    for k, grid in enumerate(grids):
        alone = method.run(grid, setting, axes=(1, 0, 1))
        assert np.array_equal(together[:, :, k : k + 1], alone)


def test_choose_by_sure_denoises_the_pending_candidates_in_one_call_and_checks_the_count(rng):
    sigma = 0.1
    noisy = (0.5 + rng.normal(0, sigma, (32, 32))).astype(np.float32)
    calls = []

    def blur(arrays, radii):
        calls.append(list(radii))
        return [[_box_blur(a, r) for a in arrays] for r in radii]

    memo: dict = {}
    chosen = choose_by_sure([1, 2, 1, 3], blur, [noisy], sigma, memo)
    # On a flat image the widest blur has the lowest risk; a repeated candidate runs once.
    assert chosen == 3
    assert calls == [[1, 2, 3]]
    assert choose_by_sure([2, 3], blur, [noisy], sigma, memo) == 3
    assert calls == [[1, 2, 3]]  # both measured already
    with pytest.raises(ValueError):
        choose_by_sure([4, 5], lambda arrays, radii: blur(arrays, radii)[:1], [noisy], sigma)
