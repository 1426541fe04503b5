"""A clip's and a volume's second look: each frame or slice refined over those either side."""

import re

import numpy as np
import pytest
from numpy.testing import assert_allclose
from skimage.metrics import peak_signal_noise_ratio

import naive
from images import fluorescence_cells, panned_clip
from nlmeans_cli import denoise, denoise_clip, denoise_frames, resolve_parameters
from nlmeans_cli.formulation import PATCH_KERNELS
from nlmeans_cli.methods.classic import (
    COLOUR_H_FACTOR,
    SURE_FACTORS,
    SURE_FINE_FACTORS,
)
from nlmeans_cli.methods.refinement import (
    CLASSIC_CLIP_CHROMA,
    CLASSIC_CLIP_REFINEMENT,
    CLASSIC_VOLUME_REFINEMENT,
    guided_chroma,
    refine_estimate,
    refine_volume,
)
from nlmeans_cli.parameters import Request, default_parameters
from nlmeans_cli.pixels import OPPONENT
from nlmeans_cli.spacetime import resolve_frames


def plain_clip(frames, sigma, **keywords):
    """NL-means alone at the clip's own table parameters: h given, so no second look."""
    channels = keywords.get("channel_axis") is not None
    setting = resolve_frames(Request(sigma_unit=sigma), frames.shape[1:],
                             channel_axis=-1 if channels else None,
                             temporal_window=keywords.get("temporal_window", 2))
    assert setting.refined
    return denoise_clip(frames, sigma=sigma, h=setting.h_unit, patch_size=setting.patch_size,
                        search_window=setting.search_window, **keywords)


def test_a_clip_takes_its_second_look_only_where_h_is_not_given():
    assert resolve_frames(Request(sigma_unit=0.1), (20, 24)).refined
    assert resolve_frames(Request(sigma_unit=0.1), (20, 24, 3), channel_axis=-1).refined
    assert not resolve_frames(Request(sigma_unit=0.1, h_unit=0.1), (20, 24)).refined
    assert not resolve_frames(Request(sigma_unit=0.1, affinity="dot-product"), (20, 24)).refined
    assert not resolve_frames(Request(sigma_unit=0.1), (20, 24, 2), channel_axis=-1).refined
    assert not resolve_frames(Request(sigma_unit=0.0), (20, 24)).refined
    # The learned method's classic part stays NL-means alone.
    learned = resolve_frames(Request(sigma_unit=25 / 255, method="learned"), (20, 24))
    assert not learned.classic.refined


def test_a_clip_with_a_temporal_window_takes_the_clips_table_and_colour_a_lower_h():
    def resolved(shape=(20, 24), temporal_window=2, **request):
        axis = -1 if len(shape) == 3 else None
        return resolve_frames(Request(sigma_unit=0.1, **request), shape, channel_axis=axis,
                              temporal_window=temporal_window)

    still = default_parameters(25.5, 2)
    clip = default_parameters(25.5, 2, frames=True)
    assert clip.patch_size > still.patch_size and clip.h_factor < still.h_factor
    for window in (1, 2, 3):
        setting = resolved(temporal_window=window)
        assert setting.h_unit == pytest.approx(clip.h_factor * 0.1)
        assert setting.patch_size == clip.patch_size
        assert setting.search_window == clip.search_window
    frame_by_frame = resolved(temporal_window=0)
    assert frame_by_frame.h_unit == pytest.approx(still.h_factor * 0.1)
    assert frame_by_frame.patch_size == still.patch_size
    assert resolved((20, 24, 3)).h_unit == pytest.approx(COLOUR_H_FACTOR * clip.h_factor * 0.1)
    assert resolved((20, 24, 3), temporal_window=0).h_unit == pytest.approx(
        COLOUR_H_FACTOR * still.h_factor * 0.1)
    # Only where the frames are refined: a given h is NL-means alone, at the images' table.
    given = resolved(h_unit=0.05)
    assert given.h_unit == 0.05 and given.patch_size == still.patch_size
    dot = resolved(affinity="dot-product")
    assert dot.patch_size == still.patch_size
    # The learned method's classic part alike.
    learned = resolve_frames(Request(sigma_unit=0.1, method="learned"), (20, 24),
                             temporal_window=2)
    assert learned.classic.h_unit == pytest.approx(clip.h_factor * 0.1)
    assert learned.classic.patch_size == clip.patch_size


def test_a_colour_stills_sure_searches_around_the_grey_table_and_a_colour_volume_lower(rng):
    still = rng.random((48, 48, 3)).astype(np.float32)
    chosen = resolve_parameters(still, sigma=0.1, channel_axis=-1).h_unit
    table = default_parameters(25.5, 2).h_factor * 0.1
    low = min(SURE_FACTORS) * min(SURE_FINE_FACTORS)
    high = max(SURE_FACTORS) * max(SURE_FINE_FACTORS)
    assert low * table <= chosen <= high * table
    volume = rng.random((6, 16, 16, 3)).astype(np.float32)
    grey = resolve_parameters(volume[..., 0], sigma=0.1).h_unit
    assert resolve_parameters(volume, sigma=0.1, channel_axis=-1).h_unit == pytest.approx(
        COLOUR_H_FACTOR * grey)


def test_the_command_line_prints_a_clips_lower_h(tmp_path, rng):
    from typer.testing import CliRunner

    from nlmeans_cli.cli import app

    clip = np.clip(rng.normal(120, 25, (4, 32, 40)), 0, 255).astype(np.uint8)
    np.save(tmp_path / "clip.npy", clip)
    printed = []
    for window in ("2", "0"):
        said = CliRunner().invoke(app, ["denoise", str(tmp_path / "clip.npy"),
                                        str(tmp_path / f"out{window}.npy"), "--sigma", "25",
                                        "--temporal-window", window])
        assert said.exit_code == 0, said.output
        printed.append(float(re.search(r", h (\d+\.\d+),", said.output).group(1)))
    ratio = (default_parameters(25, 2, frames=True).h_factor
             / default_parameters(25, 2).h_factor)
    assert printed[0] == pytest.approx(ratio * printed[1], abs=0.01)


def slow_second_look(estimates, noisy, sigma, refinement):
    """Each frame's refinement by direct summation over the whole clip (reflected in time)."""
    grid = estimates.transpose(1, 0, 2)[np.newaxis]
    values = noisy.transpose(1, 0, 2)[np.newaxis]
    radius, frames = refinement.patch_radius, refinement.temporal_radius
    weights = [PATCH_KERNELS["gaussian"].weights(r) for r in (radius, 0, radius)]
    compare = dict(affinity="gaussian", patch_radius=(radius, 0, radius),
                   scale=1 / (2 * radius + 1) ** 2, patch_weights=weights)
    first = (refinement.search_radius, frames, refinement.search_radius)
    wide = (refinement.noisy_radius, frames, refinement.noisy_radius)
    average = naive.nonlocal_operation(grid, None, grid, search_radius=first,
                                       h=refinement.h * sigma, **compare)[0]
    second = dict(search_radius=wide, h=refinement.noisy_strength(sigma), **compare)
    noisy_average = naive.nonlocal_operation(grid, None, values, **second)[0]
    # The weights' sum: the count normaliser's mean of ones, times the window's positions.
    positions = np.prod([2 * min(r, n - 1) + 1 for r, n in zip(wide, grid.shape[1:],
                                                                 strict=True)])
    sums = naive.nonlocal_operation(grid, None, np.ones_like(values), normaliser="count",
                                    **second)[0] * positions
    kept = (1 - refinement.estimate_share) * average + refinement.estimate_share * grid[0]
    share = refinement.noisy_share * np.clip((sums - 1) / refinement.noisy_count, 0, 1)
    return (share * noisy_average + (1 - share) * kept).transpose(1, 0, 2)


def test_a_clips_second_look_is_its_slow_reference(rng):
    clean = np.tile(np.linspace(0.2, 0.8, 8), (4, 7, 1))
    noisy = (clean + rng.normal(0, 0.1, clean.shape)).astype(np.float32)
    plain = plain_clip(noisy, 0.1, temporal_window=1)
    expected = slow_second_look(plain.astype(np.float64), noisy.astype(np.float64), 0.1,
                                CLASSIC_CLIP_REFINEMENT)
    assert_allclose(denoise_clip(noisy, sigma=0.1, temporal_window=1), expected, rtol=0,
                    atol=2e-6)
    # The streamed frames are the same: each given out once the frame after it is in.
    streamed = np.stack(list(denoise_frames(iter(noisy), sigma=0.1, temporal_window=1)))
    assert_allclose(streamed, expected, rtol=0, atol=2e-6)


def test_a_frames_second_look_within_its_window_is_the_clips(rng):
    # refine_estimate on a window of frames sees only those: the frame's result is the one
    # the whole clip gives, as its window reaches one frame either side.
    estimates = rng.random((5, 12, 13))
    noisy = estimates + rng.normal(0, 0.1, estimates.shape)
    refinement = CLASSIC_CLIP_REFINEMENT
    whole = refine_estimate(estimates, noisy, 0.1, refinement=refinement, targets=(0, 5))
    for k in range(5):
        lo, hi = max(k - 1, 0), min(k + 2, 5)
        alone = refine_estimate(estimates[lo:hi], noisy[lo:hi], 0.1, refinement=refinement,
                                targets=(k - lo, k - lo + 1))
        # A pair of targets is summed once for both, a target and another frame from the
        # target's side: the same terms, in another order.
        assert_allclose(alone[0], whole[k], rtol=0, atol=1e-6)
    # One frame alone is a still's refinement with the same windows.
    assert_allclose(refine_estimate(estimates[:1], noisy[:1], 0.1, refinement=refinement,
                                    targets=(0, 1))[0],
                    refine_estimate(estimates[0], noisy[0], 0.1, refinement=refinement),
                    rtol=0, atol=0)


def test_a_colour_clips_second_look_is_luminance_then_chroma(rng):
    _, noisy = panned_clip(rng, n_frames=4, shape=(30, 36), colour=True)
    frames = (noisy / 255).astype(np.float32)
    sigma = 25 / 255
    plain = plain_clip(frames, sigma, channel_axis=-1, temporal_window=1)

    def opponent(clip):
        return np.tensordot(OPPONENT, np.moveaxis(clip.astype(np.float64), -1, 0), axes=1)

    estimate, plain_noisy = opponent(plain), opponent(frames)
    expected = np.empty_like(estimate)
    for k in range(len(frames)):
        lo, hi = max(k - 1, 0), min(k + 2, len(frames))
        look = estimate[:, k].copy()
        look[0] = refine_estimate(estimate[0, lo:hi], plain_noisy[0, lo:hi], sigma,
                                  refinement=CLASSIC_CLIP_REFINEMENT,
                                  targets=(k - lo, k - lo + 1))[0]
        look[1:] = guided_chroma(look, plain_noisy[:, k], sigma, guide=CLASSIC_CLIP_CHROMA)
        expected[:, k] = look
    expected = np.moveaxis(np.tensordot(OPPONENT.T, expected, axes=1), 0, -1)
    result = denoise_clip(frames, sigma=sigma, channel_axis=-1, temporal_window=1)
    # The opponent transform there and back rounds in float32 on the engine's side.
    assert_allclose(result, expected, rtol=0, atol=3e-5)


@pytest.mark.parametrize("colour", [False, True])
def test_a_clips_second_look_gains_over_nl_means_alone(rng, colour):
    clean, noisy = panned_clip(rng, n_frames=6, shape=(64, 80), colour=colour)
    axis = -1 if colour else None
    frames, sigma = (noisy / 255).astype(np.float32), 25 / 255
    refined = denoise_clip(frames, sigma=sigma, channel_axis=axis)
    plain = plain_clip(frames, sigma, channel_axis=axis)
    assert refined.shape == frames.shape and refined.dtype == np.float32

    def psnr(estimate):
        return peak_signal_noise_ratio(clean / 255, estimate, data_range=1)

    assert psnr(refined) > psnr(plain) + 0.2


def test_a_still_in_counts_is_refined_as_on_the_unit_scale(rng):
    # The second average's strength follows sigma against the image's level: a float image
    # in counts (0 to 4095) was refined as if its noise were 190 times full scale.
    clean, noisy = panned_clip(rng, n_frames=3, sigma=12.0)
    unit = (noisy / 255).astype(np.float32)
    for scale in (4095.0, 1e-6):
        scaled = unit * np.float32(scale)
        assert_allclose(denoise(scaled[0]) / scale, denoise(unit[0]), rtol=0, atol=2e-5)
        assert_allclose(denoise_clip(scaled, temporal_window=1) / scale,
                        denoise_clip(unit, temporal_window=1), rtol=0, atol=2e-5)


@pytest.mark.parametrize("shape", [(4, 1, 1), (4, 1, 6), (4, 2, 9), (1, 8, 8), (2, 5, 5),
                                   (4, 1, 1, 3), (4, 2, 7, 3), (1, 6, 6, 3)])
@pytest.mark.parametrize("method", ["classic", "learned"])
def test_tiny_and_short_clips_take_their_second_look_without_refusal(shape, method):
    # Frames narrower than the 3x3 patch keep their estimate; a clip of one or two frames
    # reflects its window in time.
    clip = np.random.default_rng(7).random(shape).astype(np.float32)
    axis = -1 if len(shape) == 4 else None
    out = denoise_clip(clip, sigma=0.1, channel_axis=axis, method=method)
    assert out.shape == clip.shape and out.dtype == clip.dtype and np.isfinite(out).all()


@pytest.mark.parametrize("colour", [False, True])
def test_frames_per_second_look_pass_change_only_the_rounding(rng, monkeypatch, colour):
    from nlmeans_cli.methods import classic

    _, noisy = panned_clip(rng, n_frames=9, shape=(30, 34), colour=colour)
    frames = (noisy / 255).astype(np.float32)
    axis = -1 if colour else None
    default = denoise_clip(frames, sigma=0.1, channel_axis=axis)
    for per_pass in (1, 3, 20):
        monkeypatch.setattr(classic, "SECOND_LOOK_FRAMES", per_pass)
        assert_allclose(denoise_clip(frames, sigma=0.1, channel_axis=axis), default, rtol=0,
                        atol=2e-6)


def test_a_volumes_second_look_is_nl_means_then_its_slices_refined(rng):
    clean = fluorescence_cells(rng, 12, 40, 10)
    noisy = (clean + rng.normal(0, 0.1, clean.shape)).astype(np.float32)
    setting = resolve_parameters(noisy, sigma=0.1)
    assert setting.refined and setting.volume_refinement() == CLASSIC_VOLUME_REFINEMENT
    plain = denoise(noisy, sigma=0.1, h=setting.h_unit)
    expected = refine_estimate(plain.astype(np.float64), noisy.astype(np.float64), 0.1,
                               refinement=CLASSIC_VOLUME_REFINEMENT, targets=(0, 12))
    refined = denoise(noisy, sigma=0.1)
    assert_allclose(refined, expected, rtol=0, atol=1e-6)

    def psnr(estimate):
        return peak_signal_noise_ratio(clean, estimate, data_range=1)

    assert psnr(refined) > psnr(plain) + 0.1


def test_a_volume_refined_in_slabs_is_refined_whole(rng):
    estimate = rng.random((9, 14, 15))
    noisy = estimate + rng.normal(0, 0.1, estimate.shape)
    whole = refine_volume(estimate, noisy, 0.1)
    assert_allclose(whole, refine_estimate(estimate, noisy, 0.1,
                                           refinement=CLASSIC_VOLUME_REFINEMENT,
                                           targets=(0, 9)), rtol=0, atol=0)
    # Slabs of one, two and four slices, each read with two slices either side.
    for slab in (1, 2 * 14 * 15, 4 * 14 * 15):
        assert_allclose(refine_volume(estimate, noisy, 0.1, slab_voxels=slab), whole,
                        rtol=0, atol=1e-6)


def test_a_constant_volume_stays_constant_through_its_second_look():
    volume = np.full((6, 20, 22), 0.41, np.float32)
    assert resolve_parameters(volume, sigma=0.05).refined
    assert_allclose(denoise(volume, sigma=0.05), volume, rtol=0, atol=1e-6)


def test_a_two_channel_volume_takes_its_second_look_channel_by_channel(rng):
    # Two stains of a microscope volume: NL-means weighs them together, then each channel's
    # slices are refined over their own estimate; a colour volume is not refined.
    clean = np.stack([fluorescence_cells(rng, 8, 30, 6) for _ in range(2)], axis=-1)
    noisy = (clean + rng.normal(0, 0.1, clean.shape)).astype(np.float32)
    setting = resolve_parameters(noisy, sigma=0.1, channel_axis=-1)
    assert setting.refined
    plain = denoise(noisy, sigma=0.1, channel_axis=-1, h=setting.h_unit)
    expected = np.stack([refine_volume(plain[..., c].astype(np.float64),
                                       noisy[..., c].astype(np.float64), 0.1)
                         for c in range(2)], axis=-1)
    refined = denoise(noisy, sigma=0.1, channel_axis=-1)
    assert_allclose(refined, expected, rtol=0, atol=1e-6)
    assert (peak_signal_noise_ratio(clean, refined, data_range=1)
            > peak_signal_noise_ratio(clean, plain, data_range=1) + 0.1)
    colour = np.concatenate([noisy, 1 - noisy[..., :1] * noisy[..., 1:]], axis=-1)
    assert not resolve_parameters(colour, sigma=0.1, channel_axis=-1).refined
