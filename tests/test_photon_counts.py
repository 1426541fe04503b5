"""The photon counts' lattice: spacing and spread read off the histogram, or nothing."""

import numpy as np
import pytest
from skimage import data

from nlmeans_cli import estimate_noise
from nlmeans_cli.noise import fit_poisson_gaussian
from nlmeans_cli.photon_counts import (
    LATTICE_POWER,
    faint_photon_lattice,
    fit_photon_lattice,
    search_photon_lattice,
)

PEAK_20 = 255 / 20 / 255  # the gain at a peak of 20 photons, unit scale


def _scene(rng, shape=(180, 180)):
    """A smooth scene from near black to near white, no flat region at black."""
    rows, columns = np.mgrid[0:shape[0], 0:shape[1]]
    return 0.08 + 0.8 * (0.5 + 0.5 * np.sin(rows / 23.0) * np.cos(columns / 31.0))


def _near(gain):
    """The spacings the fit searches around a line's gain."""
    return gain / 1.35, gain * 1.35


def _counts(rng, clean, gain, read):
    return (gain * rng.poisson(clean / gain) + rng.normal(0, read, clean.shape)
            ).astype(np.float32)


@pytest.mark.parametrize(("gain", "read"), [(PEAK_20, 2 / 255), (PEAK_20, 0.0),
                                            (8 / 255, 2.5 / 255), (0.002, 0.0006)])
def test_the_lattice_gives_gain_and_read_noise(gain, read):
    rng = np.random.default_rng(11)
    noisy = _counts(rng, _scene(rng), gain, read)
    found = fit_photon_lattice(noisy, *_near(gain * 1.25))  # the level fit a quarter off
    assert found is not None
    assert found[0] == pytest.approx(gain, rel=0.005)
    assert found[1] == pytest.approx(read, rel=0.1, abs=0.02 * gain)


def test_a_read_noise_that_hides_the_lattice_finds_nothing():
    rng = np.random.default_rng(12)
    noisy = _counts(rng, _scene(rng), 4 / 255, 2.4 / 255)
    assert fit_photon_lattice(noisy, *_near(4 / 255)) is None


@pytest.mark.parametrize("sigma", [2 / 255, 10 / 255])
def test_gaussian_noise_has_no_lattice(sigma):
    rng = np.random.default_rng(13)
    clean = _scene(rng)
    noisy = (clean + rng.normal(0, sigma, clean.shape)).astype(np.float32)
    for gain in (0.5 / 255, 4 / 255, 12 / 255):
        assert fit_photon_lattice(noisy, *_near(gain)) is None


def test_the_levels_of_an_integer_image_are_not_photons():
    rng = np.random.default_rng(14)
    clean = _scene(rng)
    levels = np.rint((clean + rng.normal(0, 3 / 255, clean.shape)) * 255) / 255
    # The 8-bit levels are a lattice of spacing 1/255 with no spread at all.
    assert fit_photon_lattice(levels.astype(np.float32), *_near(1 / 255)) is None
    # Photon counts on top of the levels' rounding are still found.
    counts = np.rint(_counts(rng, clean, PEAK_20, 2 / 255) * 255) / 255
    found = fit_photon_lattice(counts, *_near(PEAK_20))
    assert found is not None and found[0] == pytest.approx(PEAK_20, rel=0.005)
    # The rounding adds a twelfth of a level squared to the read noise's variance.
    assert found[1] == pytest.approx(np.hypot(2, np.sqrt(1 / 12)) / 255, rel=0.1)


def test_the_levels_of_fewer_bits_scaled_up_are_not_photons():
    # 12-bit counts (1.3 levels a photon, little read noise) stored in 16 bits: every value
    # a multiple of 16 levels, a lattice the level fit's gain (about 21 levels) is near.
    rng = np.random.default_rng(18)
    twelve_bit = np.rint(_counts(rng, _scene(rng) * 0.2, 1.3 / 4095, 0.3 / 4095) * 4095)
    unit = (twelve_bit * 16).astype(np.uint16) / 65535
    assert fit_photon_lattice(unit, *_near(21 / 65535)) is None


def test_a_black_level_or_a_spread_that_is_not_gaussian_is_refused():
    rng = np.random.default_rng(15)
    clean = _scene(rng)
    counts = _counts(rng, clean, PEAK_20, 1 / 255)
    assert fit_photon_lattice(counts, *_near(PEAK_20)) is not None
    # Counts that start half a photon up: the model has no black level.
    assert fit_photon_lattice(counts + np.float32(PEAK_20 / 2), *_near(PEAK_20)) is None
    # Points on a lattice spread evenly over 0.8 of its spacing.
    uniform = (PEAK_20 * rng.poisson(clean / PEAK_20)
               + rng.uniform(-0.4, 0.4, clean.shape) * PEAK_20).astype(np.float32)
    assert fit_photon_lattice(uniform, *_near(PEAK_20)) is None


def test_a_lattice_in_part_of_the_range_only_is_refused():
    # Half the values on a comb (spread a quarter of its spacing), half a smooth bump above
    # it: strong, in phase, with a Gaussian second harmonic, but not the same at every level.
    rng = np.random.default_rng(21)
    comb = PEAK_20 * rng.integers(2, 8, 30_000) + rng.normal(0, 0.25 * PEAK_20, 30_000)
    smooth = rng.normal(14 * PEAK_20, 2 * PEAK_20, 30_000)
    assert fit_photon_lattice(comb, *_near(PEAK_20)) is not None
    assert fit_photon_lattice(np.concatenate([comb, smooth]), *_near(PEAK_20)) is None


def test_a_harmonic_of_the_lattice_is_not_taken_for_it():
    # Searched below the counts' spacing only, the search meets its second harmonic (half the
    # spacing, the same spread): the stronger lattice at twice that spacing refuses it.
    rng = np.random.default_rng(23)
    noisy = _counts(rng, _scene(rng), PEAK_20, 1 / 255)
    assert fit_photon_lattice(noisy, PEAK_20 / 2 / 1.2, PEAK_20 / 2 * 1.2) is None


def test_too_few_values_or_no_gain_find_nothing():
    rng = np.random.default_rng(16)
    noisy = _counts(rng, _scene(rng), PEAK_20, 1 / 255)
    assert fit_photon_lattice(noisy.ravel()[: int(2 * LATTICE_POWER)], *_near(PEAK_20)) is None
    assert fit_photon_lattice(noisy, *_near(0.0)) is None
    assert fit_photon_lattice(noisy, *_near(float("nan"))) is None


@pytest.mark.parametrize("spacing", [1e-9, 1e-12])
def test_a_spacing_far_below_the_values_range_is_not_searched(spacing):
    # A float image whose line reads next to no noise: a trillion photons across the range
    # would need a histogram of tens of gigabytes.
    values = np.random.default_rng(17).random(100_000)
    assert fit_photon_lattice(values, *_near(spacing)) is None
    assert faint_photon_lattice(values, spacing) is None


def test_a_sixteen_bit_stack_of_counts_gives_its_gain_and_read_noise_in_levels():
    # A photon-counting camera: 30 levels a photon, read noise 6 levels, a few hundred
    # photons at most; the line alone puts the read noise anywhere from 0 up.
    rng = np.random.default_rng(24)
    frames = np.stack([_scene(rng, (96, 96)) * (0.2 + 0.1 * k) for k in range(4)])
    stack = np.clip(np.rint(_counts(rng, frames, 30 / 65535, 6 / 65535) * 65535), 0, 65535)
    gain, read = estimate_noise(stack.astype(np.uint16), model="poisson-gaussian")
    assert gain == pytest.approx(30, rel=0.01)
    assert read == pytest.approx(np.hypot(6, np.sqrt(1 / 12)), rel=0.05)


def _cells(rng, side, count, background):
    """Bright Gaussian cells (sigma 6 pixels) on a dark background, unit scale."""
    rows, columns = np.mgrid[0:side, 0:side]
    brightness = np.zeros((side, side))
    for _ in range(count):
        centre_row, centre_column = rng.uniform(0, side, 2)
        brightness += rng.uniform(0.2, 0.8) * np.exp(
            -((rows - centre_row) ** 2 + (columns - centre_column) ** 2) / (2 * 6.0**2))
    return background + np.clip(brightness, 0, 0.9)


def _sixteen_bit_cells(seed, side, count, background, gain, read):
    """Counts of :func:`_cells` at *gain* and *read* noise in 16-bit levels.

    The counts on the unit scale, and the 16-bit file that holds them (rounded, clipped).
    """
    rng = np.random.default_rng(seed)
    counts = _counts(rng, _cells(rng, side, count, background), gain / 65535, read / 65535)
    return counts, np.clip(np.rint(counts * 65535), 0, 65535).astype(np.uint16)


def test_a_dark_background_clipped_at_black_does_not_hide_the_lattice():
    # A 16-bit field at 100 levels a photon and read noise 40, its background 1.3 photons:
    # half of that clips at 0, and where the taper for the widest spacings weighs the
    # background down the lattice falls under the bar. The read noise was fitted as 0.
    counts, stack = _sixteen_bit_cells(2, 544, 60, 131 / 65535, 100, 40)
    gain, read = 100 / 65535, 40 / 65535
    values = counts[counts > 0]
    found = fit_photon_lattice(values, np.ptp(values) / 1024, np.ptp(values) / 4)
    assert found is not None
    assert found[0] == pytest.approx(gain, rel=0.005)
    assert found[1] == pytest.approx(read, rel=0.05)
    fitted_gain, fitted_read = estimate_noise(stack, model="poisson-gaussian")
    assert fitted_gain == pytest.approx(100, rel=0.01)
    assert fitted_read == pytest.approx(np.hypot(40, np.sqrt(1 / 12)), rel=0.05)


def test_a_clipped_field_whose_lattice_lies_beyond_the_wide_search_gives_it():
    # 10 levels a photon over 65535 levels is more photons than the search over every
    # spacing tries, and the line's gain is 7 % off: the lattice is found near it (the read
    # noise had come out 0).
    _, stack = _sixteen_bit_cells(2, 384, 40, 0.0005, 10, 3)
    assert np.mean(stack == 0) > 0.01
    gain, read = estimate_noise(stack, model="poisson-gaussian")
    assert gain == pytest.approx(10, rel=0.005)
    assert read == pytest.approx(np.hypot(3, np.sqrt(1 / 12)), rel=0.05)


def _flat_discs(seed, gain=30.0, read=5.0):
    """A 16-bit stack of flat bright discs on a background that clips at black."""
    rng = np.random.default_rng(seed)
    frames, side = 4, 128
    rows, columns = np.mgrid[0:side, 0:side]
    clean = np.full((frames, side, side), 60.0)
    for frame in clean:
        for _ in range(12):
            centre_row, centre_column = rng.uniform(0, side, 2)
            radius = rng.uniform(6, 14)
            inside = (rows - centre_row) ** 2 + (columns - centre_column) ** 2 < radius**2
            frame[inside] = rng.uniform(8000, 30000)
    counts = gain * rng.poisson(clean / gain) + rng.normal(0, read, clean.shape)
    return np.clip(np.rint(counts), 0, 65535).astype(np.uint16)


@pytest.mark.parametrize("seed", [0, 7])
def test_a_few_flat_discs_on_a_clipped_background_give_their_lattice(seed):
    # The background is left out where it clips, and the discs' levels alone place the
    # read noise poorly. Seed 0: the values' few narrow clumps fitted a lattice 135 times
    # the gain (its variances a hundred times the levels'). Seed 7: the line's intercept put
    # the read noise above twice the gain, and the lattice was not looked for near it
    # (read noise 28 times the truth).
    stack = _flat_discs(seed)
    assert np.mean(stack == 0) > 0.01
    gain, read = estimate_noise(stack, model="poisson-gaussian")
    assert gain == pytest.approx(30, rel=0.01)
    assert read == pytest.approx(np.hypot(5, np.sqrt(1 / 12)), rel=0.1)


def test_more_photons_across_the_range_than_the_histogram_spans_still_show_the_lattice():
    # 5 levels a photon: 12 000 photons across a 16-bit range, over the histogram's 8192;
    # its densest stretch is searched (the read noise had come out 1.1 to 3.4 times the truth).
    _, stack = _sixteen_bit_cells(1, 384, 40, 0.002, 5, 1.5)
    gain, read = estimate_noise(stack, model="poisson-gaussian")
    assert gain == pytest.approx(5, rel=0.005)
    assert read == pytest.approx(np.hypot(1.5, np.sqrt(1 / 12)), rel=0.05)


def test_a_megapixel_shows_a_lattice_that_a_small_image_hides():
    # Read noise 0.45 of the gain: N |c|^2 is about 11 on 180x180 values, 350 on a megapixel.
    rng = np.random.default_rng(19)
    gain, read = 4 / 255, 1.8 / 255
    small = _counts(rng, _scene(rng), gain, read)
    assert fit_photon_lattice(small, *_near(gain)) is None
    large = _counts(rng, _scene(rng, (1024, 1024)), gain, read)
    found = fit_photon_lattice(large, *_near(gain))
    assert found is not None
    assert found[0] == pytest.approx(gain, rel=0.002)
    assert found[1] == pytest.approx(read, rel=0.05)


def test_clipping_that_misleads_the_line_does_not_hide_the_lattice():
    # Low light saved as 8 bits, clipped at black and (14 % of it) at white: the levels' line
    # puts the gain at a sixth of the truth. The lattice is then looked for over every gain.
    rng = np.random.default_rng(22)
    clean = data.page().astype(np.float64) / 255
    noisy = np.clip(np.rint(_counts(rng, clean, PEAK_20, 2 / 255) * 255), 0, 255) / 255
    assert np.mean(noisy == 1) > 0.1 and np.mean(noisy == 0) > 0.001
    fitted = fit_poisson_gaussian(noisy.astype(np.float32))
    assert fitted.gain == pytest.approx(PEAK_20, rel=0.01)
    assert fitted.read_noise == pytest.approx(2 / 255, rel=0.1)


@pytest.mark.parametrize("peak", [5, 7])
def test_a_few_photons_saved_as_eight_bits_give_their_lattice(peak):
    # At a peak of 5 or 7 photons an 8-bit file holds a handful of levels, most near black
    # and white: the line put the gain at a third to two thirds of the truth, and lattices of
    # fewer than 10 photons across the range were not looked for.
    rng = np.random.default_rng(peak)
    clean = data.camera()[96:352, 128:384].astype(np.float64) / 255
    noisy = np.clip(np.rint(_counts(rng, clean, 1 / peak, 2 / 255) * 255), 0, 255) / 255
    fitted = fit_poisson_gaussian(noisy.astype(np.float32))
    assert fitted.gain == pytest.approx(1 / peak, rel=0.01)
    assert fitted.read_noise == pytest.approx(2 / 255, rel=0.1)


def test_the_fit_takes_the_lattice_where_the_levels_cannot_tell_the_read_noise():
    # No black region: the levels' line leaves the read noise to an extrapolation from
    # variances 40 to 250 times its own. The lattice reads it within a few percent, from
    # float values and from the 8-bit image's clipped, rounded levels alike.
    rng = np.random.default_rng(17)
    noisy = _counts(rng, _scene(rng), PEAK_20, 2 / 255)
    for image in (noisy, np.clip(np.rint(noisy * 255), 0, 255) / 255):
        fitted = fit_poisson_gaussian(image)
        assert fitted.gain == pytest.approx(PEAK_20, rel=0.01)
        assert fitted.read_noise == pytest.approx(2 / 255, rel=0.1)
    # In the image's own units, from its 8-bit file's levels.
    eight_bit = np.clip(np.rint(noisy * 255), 0, 255).astype(np.uint8)
    gain, read = estimate_noise(eight_bit, model="poisson-gaussian")
    assert gain == pytest.approx(12.75, rel=0.01)
    assert read == pytest.approx(2, rel=0.1)


@pytest.mark.parametrize("share", [0.42, 0.5, 0.7])
def test_a_hidden_lattice_bounds_the_read_noise_from_below(share):
    # Read noise too large for the lattice to show on 180x180 values: the search tells the
    # least read noise that hides it, which is at most the truth and, on so many values, at
    # least 0.37 of the gain.
    gain = 4 / 255
    for seed in range(8):
        rng = np.random.default_rng(30 + seed)
        noisy = _counts(rng, _scene(rng), gain, share * gain)
        search = search_photon_lattice(noisy, *_near(gain))
        assert search.found is None
        floor = search.least_read_noise(gain)
        assert 0.37 * gain <= floor <= share * gain
        # Only for the spacings searched.
        assert search.least_read_noise(2 * gain) == 0
    # A lattice that shows is fitted, and bounds nothing.
    found = search_photon_lattice(_counts(rng, _scene(rng), gain, 0.2 * gain), *_near(gain))
    assert found.found is not None and found.least_read_noise(gain) == 0


def test_the_bound_from_a_hidden_lattice_allows_for_rounding_and_gaussian_noise():
    rng = np.random.default_rng(31)
    clean = _scene(rng)
    gain = 4 / 255
    # Rounded to 8 bits, the lattice is spread further by a twelfth of a level squared,
    # which the bound takes off.
    read = 0.45 * gain
    rounded = np.rint(_counts(rng, clean, gain, read) * 255) / 255
    assert 0 < search_photon_lattice(rounded, *_near(gain)).least_read_noise(gain) <= read
    # Gaussian noise has no lattice: taken for counts of a spacing up to twice its sigma
    # (where the fit looks for one), its sigma is above the bound.
    sigma = 10 / 255
    noisy = (clean + rng.normal(0, sigma, clean.shape)).astype(np.float32)
    for spacing in (4 / 255, 12 / 255, 20 / 255):
        assert search_photon_lattice(noisy, *_near(spacing)).least_read_noise(spacing) <= sigma


def test_a_faint_lattice_is_found_near_the_lines_gain():
    # Read noise half the gain over 600x600 values: N |c|^2 about 19, under the blind search's
    # bar, over the faint one's, near a line's gain 4 % off.
    rng = np.random.default_rng(40)
    gain, read = 4 / 255, 2 / 255
    noisy = _counts(rng, _scene(rng, (600, 600)), gain, read)
    assert search_photon_lattice(noisy, *_near(gain)).found is None
    found = faint_photon_lattice(noisy, gain * 1.04)
    assert found is not None
    assert found[0] == pytest.approx(gain, rel=0.003)
    assert found[1] == pytest.approx(read, rel=0.05)
    # From an 8-bit image's levels too, whose rounding adds a twelfth of a level squared.
    levels = np.rint(noisy * 255) / 255
    found = faint_photon_lattice(levels, gain / 1.04)
    assert found is not None and found[0] == pytest.approx(gain, rel=0.003)
    assert found[1] == pytest.approx(np.hypot(2, np.sqrt(1 / 12)) / 255, rel=0.05)
    # Only near the line's gain.
    assert faint_photon_lattice(noisy, gain * 1.2) is None


def test_the_same_variances_without_a_lattice_show_no_faint_one():
    gain, read = 4 / 255, 2 / 255
    for seed in range(6):
        rng = np.random.default_rng(50 + seed)
        clean = _scene(rng, (600, 600))
        noisy = clean + np.sqrt(gain * clean + read**2) * rng.normal(0, 1, clean.shape)
        assert faint_photon_lattice(noisy, gain) is None
        # Nor Gaussian noise searched at many photons across the range.
        gaussian = clean + rng.normal(0, read, clean.shape)
        assert faint_photon_lattice(gaussian, gain / 16) is None


def test_the_fit_reads_a_faint_lattice_past_an_images_own_grain():
    # A photograph's own fine variance that does not grow with the level (grain) reads as
    # read noise to the levels' line; the lattice's spread is the read noise added alone.
    rng = np.random.default_rng(41)
    gain, read = 4 / 255, 2 / 255
    grainy = _scene(rng, (600, 600)) + rng.normal(0, 3 / 255, (600, 600))
    noisy = _counts(rng, np.clip(grainy, 0, 1), gain, read)
    fitted = fit_poisson_gaussian(noisy)
    assert fitted.gain == pytest.approx(gain, rel=0.005)
    assert fitted.read_noise == pytest.approx(read, rel=0.1)
    # Without the lattice (the same variances drawn freely) the line reads the grain too.
    free = np.clip(grainy, 0, 1)
    free = (free + np.sqrt(gain * free + read**2) * rng.normal(0, 1, free.shape))
    assert fit_poisson_gaussian(free.astype(np.float32)).read_noise > 1.3 * read


def test_a_faint_lattice_is_read_from_a_clipped_eight_bit_file():
    # Saved as 8 bits, black clipped: the faint lattice is looked for there too, near the
    # line's gain, in the values clear of the clipped end.
    rng = np.random.default_rng(42)
    gain, read = 4 / 255, 2 / 255
    clean = np.clip(_scene(rng, (600, 600)) - 0.12, 0, 1)
    noisy = np.clip(np.rint(_counts(rng, clean, gain, read) * 255), 0, 255) / 255
    assert np.mean(noisy == 0) > 0.01
    fitted = fit_poisson_gaussian(noisy.astype(np.float32))
    assert fitted.gain == pytest.approx(gain, rel=0.005)
    assert fitted.read_noise == pytest.approx(np.hypot(2, np.sqrt(1 / 12)) / 255, rel=0.1)
