"""The learned network: JAX training against the package's inference, model files, training,
the command line, and the shipped networks' quality as properties."""

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from typer.testing import CliRunner

from nlmeans_cli import denoise, resolve_parameters
from nlmeans_cli.cli import app
from nlmeans_cli.formulation import AFFINITIES
from nlmeans_cli.methods.learned import CLIP_NETWORK_SHARE
from nlmeans_cli.methods.model_files import (
    MODEL_FORMAT,
    ModelFileError,
    load_model,
    save_model,
    shipped_models,
)
from nlmeans_cli.methods.network import Network, apply_network, denoise_with_network
from nlmeans_cli.methods.refinement import guided_chroma, refine_estimate

jax = pytest.importorskip("jax", reason="training needs the 'train' extra")
from nlmeans_cli.methods.training import (  # noqa: E402
    TrainingSettings,
    deepened,
    forward,
    initial_layers,
    train_network,
)

runner = CliRunner()

SMALL = dict(features=4, embed=3, before=1, after=1, window=5)


def random_network(rng, affinity="embedded-gaussian", block=True, **sizes):
    """A network with every weight perturbed (so the block is not the identity)."""
    settings = TrainingSettings(affinity=affinity, block=block, **{**SMALL, **sizes})
    layers = initial_layers(rng, settings)
    for entry in layers.values():
        entry["w"] = entry["w"] + rng.normal(0, 0.3, entry["w"].shape).astype(np.float32)
        entry["b"] = entry["b"] + rng.normal(0, 0.1, entry["b"].shape).astype(np.float32)
    return Network(layers, settings.window, affinity, 25.0, {"command": "test"})


@pytest.mark.parametrize("block", [True, False])
@pytest.mark.parametrize("affinity", sorted(AFFINITIES))
def test_training_forward_equals_the_packages_inference(affinity, block, rng):
    network = random_network(rng, affinity, block)
    noisy = rng.random((13, 11)).astype(np.float32)
    trained_side = forward(network.layers, noisy[None, :, :, None], affinity=affinity,
                           window=network.window)
    assert_allclose(np.asarray(trained_side)[0, :, :, 0], apply_network(network, noisy),
                    rtol=1e-4, atol=1e-4)


def _tiny_set(rng):
    from skimage import data

    camera = data.camera()[::4, ::4] / 255.0
    return [camera[:64, :64], camera[64:, 64:], camera[:64, 64:]], [camera[64:, :64]]


def test_training_is_deterministic_and_lowers_the_validation_error(rng):
    train, val = _tiny_set(rng)
    settings = TrainingSettings(sigma=25.0, steps=40, crop=24, batch=4, every=40,
                                learning_rate=3e-3, **SMALL)
    first = train_network(train, settings, validation=val)
    second = train_network(train, settings, validation=val)
    for name, entry in first.layers.items():
        for key, value in entry.items():
            assert_array_equal(value, second.layers[name][key])
    start = Network(initial_layers(np.random.default_rng(0), settings), settings.window,
                    settings.affinity, 25.0)
    noisy = val[0] + np.random.default_rng(1).normal(0, 25 / 255, val[0].shape)

    def error(network):
        return np.mean((apply_network(network, noisy.astype(np.float32)) - val[0]) ** 2)

    assert error(first) < 0.8 * error(start)
    assert first.info["validation_psnr"] > 10 * np.log10(1 / np.mean((noisy - val[0]) ** 2))


def test_fine_tuning_starts_from_the_given_network(rng):
    train, _ = _tiny_set(rng)
    start = random_network(rng)
    settings = TrainingSettings(sigma=15.0, steps=1, crop=24, batch=2, learning_rate=1e-9,
                                **SMALL)
    tuned = train_network(train, settings, start=start)
    assert_allclose(tuned.layers["stem"]["w"], start.layers["stem"]["w"], atol=1e-6)
    assert tuned.sigma == 15.0
    with pytest.raises(ValueError, match="window"):
        train_network(train, TrainingSettings(window=7, steps=1, crop=24), start=start)


def test_a_deepened_start_computes_what_the_start_did(rng):
    start = random_network(rng)
    settings = TrainingSettings(**{**SMALL, "before": 3, "after": 2})
    deeper = Network(deepened({k: dict(v) for k, v in start.layers.items()}, settings),
                     start.window, start.affinity)
    assert (deeper.count("before"), deeper.count("after")) == (3, 2)
    noisy = rng.random((12, 14)).astype(np.float32)
    assert_allclose(apply_network(deeper, noisy), apply_network(start, noisy), atol=1e-5)
    # and it trains: the added layers move
    train, _ = _tiny_set(rng)
    tuned = train_network(train, TrainingSettings(**{**SMALL, "before": 3, "after": 2,
                                                     "steps": 2, "crop": 24, "batch": 2}),
                          start=start)
    assert tuned.count("before") == 3
    assert not np.array_equal(tuned.layers["before2"]["w"], deeper.layers["before2"]["w"])


def test_model_file_round_trip(tmp_path, rng):
    network = random_network(rng, "concatenation")
    path = save_model(network, tmp_path / "m")
    assert path.name == "m.npz"
    loaded = load_model(path)
    assert (loaded.sigma, loaded.window, loaded.affinity) == (25.0, 5, "concatenation")
    assert loaded.info == {"command": "test"}
    image = rng.random((20, 22)).astype(np.float32)
    assert_array_equal(apply_network(loaded, image), apply_network(network, image))


def _bad_model(tmp_path, rng, case):
    path = tmp_path / f"{case}.npz"
    good = random_network(rng)
    fields = {"format": np.array(MODEL_FORMAT), "sigma": np.array(25.0),
              "window": np.array(5), "affinity": np.array("embedded-gaussian"),
              **good.flat_arrays()}
    broken = {
        "wrong-shape": {"before0/w": np.zeros((3, 3, 5, 4), np.float32)},
        "nan": {"head/w": np.full((3, 3, 4, 1), np.nan, np.float32)},
        "unknown-affinity": {"affinity": np.array("cosine")},
        "even-window": {"window": np.array(4)},
    }
    if case == "text":
        path.write_text("not a model\n")
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "no-marker":
        np.savez(path, weights=np.zeros(3))
    elif case == "old-format":
        np.savez(path, **{**fields, "format": np.array("nlmeans_cli.learned/1")})
    elif case == "pickle":
        np.savez(path, format=np.array(MODEL_FORMAT), payload=np.array([{"a": 1}], object))
    elif case in broken:
        np.savez(path, **{**fields, **broken[case]})
    elif case == "missing-layer":
        np.savez(path, **{k: v for k, v in fields.items() if not k.startswith("head/")})
    return path


BAD_MODELS = ["text", "empty", "no-marker", "old-format", "pickle", "wrong-shape", "nan",
              "unknown-affinity", "even-window", "missing-layer", "missing"]


@pytest.mark.parametrize("case", BAD_MODELS)
def test_a_model_file_that_is_not_a_model(tmp_path, samples, rng, case):
    path = _bad_model(tmp_path, rng, case)
    with pytest.raises(ModelFileError, match=str(path).replace(".", r"\.")):
        load_model(path)
    out = tmp_path / "out.png"
    result = runner.invoke(app, ["denoise", str(samples / "camera_noisy.png"), str(out),
                                 "--method", "learned", "--model", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "Traceback" not in result.output
    assert not out.exists()
    with pytest.raises(ValueError, match="model"):
        denoise(np.zeros((16, 16), np.uint8), sigma=10.0, method="learned", model=path)


def test_model_without_learned_method_is_a_usage_error(tmp_path, samples):
    result = runner.invoke(app, ["denoise", str(samples / "camera_noisy.png"),
                                 str(tmp_path / "o.png"), "--model", "m.npz"])
    assert result.exit_code == 2 and "--method learned" in result.stderr


def test_train_command_writes_a_usable_model(tmp_path):
    from imageio.v3 import imwrite
    from skimage import data

    folder = tmp_path / "clean"
    folder.mkdir()
    for k, (top, left) in enumerate([(100, 100), (200, 250), (300, 50), (50, 300)]):
        imwrite(folder / f"{k}.png", data.camera()[top:top + 48, left:left + 48])
    out = tmp_path / "model.npz"
    arguments = ["train", str(folder), "--hold-out-every", "2", "--val", "skimage:coins",
                 "--out", str(out), "--steps", "3", "--crop", "24", "--batch", "2",
                 "--features", "3", "--embed", "2", "--before", "1", "--after", "0",
                 "--search-window", "3", "--affinity", "dot-product", "--quiet"]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "validation PSNR" in result.stderr and "on 3 images" in result.stderr
    model = load_model(out)
    assert model.affinity == "dot-product" and model.window == 3
    assert [name[-5:] for name in model.info["images"]] == ["0.png", "2.png"]
    assert [name[-5:] for name in model.info["validation_images"][:2]] == ["1.png", "3.png"]
    assert "nlm train" in model.info["command"] and "--steps=3" in model.info["command"]
    assert json.dumps(model.info)
    noisy = tmp_path / "noisy.png"
    imwrite(noisy, data.camera()[:40, :50])
    result = runner.invoke(app, ["denoise", str(noisy), str(tmp_path / "o.png"), "--sigma",
                                 "20", "--method", "learned", "--model", str(out)])
    assert result.exit_code == 0, result.output
    assert "dot-product, learned" in result.stderr


def test_train_without_a_block_and_refusals(tmp_path):
    stem = tmp_path / "m"  # written as m.npz
    arguments = ["train", "skimage:camera", "--out", str(stem), "--steps", "1", "--crop", "16",
                 "--batch", "1", "--features", "2", "--before", "0", "--after", "0",
                 "--no-block", "--quiet"]
    assert runner.invoke(app, arguments).exit_code == 0
    written = tmp_path / "m.npz"
    assert not load_model(written).has_block
    before = written.read_bytes()
    again = runner.invoke(app, arguments)
    assert again.exit_code == 1
    assert "already exists" in again.stderr and "--overwrite" in again.stderr
    assert written.read_bytes() == before
    assert runner.invoke(app, [*arguments, "--overwrite"]).exit_code == 0
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]
    result = runner.invoke(app, ["train", "skimage:nonexistent", "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and "skimage:nonexistent" in result.stderr
    result = runner.invoke(app, ["train", "skimage:camera", "--out", str(tmp_path / "y"),
                                 "--init", str(written), "--search-window", "5"])
    assert result.exit_code == 1 and "window" in result.stderr


def test_train_refuses_what_it_cannot_train_on_before_starting(tmp_path, rng):
    import imageio.v3 as iio

    empty = tmp_path / "empty"
    empty.mkdir()
    small = tmp_path / "small.png"
    iio.imwrite(small, rng.integers(0, 256, (30, 36), dtype=np.uint8))
    for source, problem in ((empty, f"{empty}: no images in this folder"),
                            (small, "no training image is at least 40 pixels on each side "
                                    "(the largest is 36x30; lower --crop)")):
        result = runner.invoke(app, ["train", str(source), "--out", str(tmp_path / "m.npz")])
        assert result.exit_code == 1
        assert result.stderr.strip() == f"nlm: error: {problem}"
        assert not (tmp_path / "m.npz").exists()


def test_other_noise_levels_are_scaled_to_the_networks(rng):
    # Scaling the image by 25/sigma gives noise of the network's level: a network that
    # returns its input scaled back is the identity, whatever sigma.
    network = random_network(rng)
    network.layers["head"]["w"][:] = 0
    network.layers["head"]["b"][:] = 0
    image = rng.random((1, 9, 10)).astype(np.float32)
    colour = rng.random((3, 9, 10)).astype(np.float32)
    for sigma in (5 / 255, 60 / 255):
        # What comes out is the input, refined (the network's part is the identity).
        assert_allclose(denoise_with_network(image, sigma, network)[0],
                        refine_estimate(image[0], image[0], sigma), atol=1e-5)
        # Colour: the luminance too (the chroma then takes its guided average).
        luminance = colour.sum(axis=0) / np.sqrt(3)
        assert_allclose(denoise_with_network(colour, sigma, network).mean(axis=0),
                        refine_estimate(luminance, luminance, sigma) / np.sqrt(3), atol=1e-5)


shipped = pytest.mark.skipif(not shipped_models(), reason="no shipped networks in this tree")


@shipped
def test_shipped_networks_are_small_and_documented():
    models = shipped_models()
    assert "embedded-gaussian" in models
    for affinity, by_sigma in models.items():
        for sigma, path in by_sigma.items():
            network = load_model(path)
            assert network.sigma == sigma and network.affinity == affinity
            assert path.stat().st_size < 300_000 and network.parameters < 300_000
            assert "command" in network.info and json.dumps(network.info)


@shipped
@pytest.mark.parametrize("sigma", [15, 25, 40])
def test_shipped_learned_beats_classic_on_a_grey_photograph(rng, sigma):
    from skimage import data
    from skimage.metrics import peak_signal_noise_ratio

    clean = data.camera()[150:278, 150:278] / 255.0
    noisy = clean + rng.normal(0, sigma / 255, clean.shape)
    classic = denoise(noisy, sigma=sigma / 255)
    learned = denoise(noisy, sigma=sigma / 255, method="learned")
    assert learned.shape == noisy.shape and learned.dtype == noisy.dtype
    gain = (peak_signal_noise_ratio(clean, learned, data_range=1)
            - peak_signal_noise_ratio(clean, classic, data_range=1))
    assert gain > 0.2


@shipped
def test_shipped_learned_denoises_colour_better_than_classic(rng):
    from skimage import data
    from skimage.metrics import peak_signal_noise_ratio

    clean = data.astronaut()[100:228, 150:278]
    noisy = np.clip(np.rint(clean + rng.normal(0, 25, clean.shape)), 0, 255).astype(np.uint8)
    learned = denoise(noisy, sigma=25.0, method="learned", channel_axis=-1)
    classic = denoise(noisy, sigma=25.0, channel_axis=-1)
    assert learned.shape == noisy.shape and learned.dtype == np.uint8
    assert peak_signal_noise_ratio(clean, learned) > peak_signal_noise_ratio(clean, classic)


@shipped
def test_a_clip_goes_through_the_network_frame_by_frame(rng):
    from nlmeans_cli import denoise_frames

    frames = [np.clip(rng.normal(0.5, 0.1, (24, 30)), 0, 1).astype(np.float32)
              for _ in range(5)]
    # Without a temporal window, each frame as the image alone.
    streamed = list(denoise_frames(iter(frames), sigma=0.08, method="learned",
                                   temporal_window=0))
    assert len(streamed) == 5
    for frame, out in zip(frames, streamed, strict=True):
        assert_allclose(out, denoise(frame, sigma=0.08, method="learned"), atol=1e-6)


@shipped
def test_a_clip_mixes_each_frames_network_result_with_the_classic_spacetime_one(rng):
    from nlmeans_cli import denoise_frames
    from nlmeans_cli.parameters import Request
    from nlmeans_cli.spacetime import resolve_frames

    # At the sigma-25 network's own level the network takes all of a still, and a clip's
    # frame its share CLIP_NETWORK_SHARE, the classic method's spacetime result after its
    # second look over the frames either side (as the classic method gives it) the rest.
    y, x = np.mgrid[0:24, 0:30]
    clean = [(0.3 + 0.4 * (((x + k) // 5 + y // 4) % 2)).astype(np.float32) for k in range(6)]
    frames = [(c + rng.normal(0, 25 / 255, c.shape)).astype(np.float32) for c in clean]
    mixed = list(denoise_frames(iter(frames), sigma=25 / 255, method="learned"))
    assert resolve_frames(Request(sigma_unit=25 / 255, method="learned"), (24, 30)).second_look
    classic = list(denoise_frames(iter(frames), sigma=25 / 255))
    for frame, out, other in zip(frames, mixed, classic, strict=True):
        alone = denoise(frame, sigma=25 / 255, method="learned")
        expected = CLIP_NETWORK_SHARE * alone + (1 - CLIP_NETWORK_SHARE) * other
        assert_allclose(out, expected, atol=1e-5)


@shipped
def test_the_command_line_says_how_a_clips_frames_were_mixed(tmp_path, rng):
    clip = np.clip(rng.normal(120, 25, (4, 32, 40)), 0, 255).astype(np.uint8)
    np.save(tmp_path / "clip.npy", clip)
    runner = CliRunner()
    said = runner.invoke(app, ["denoise", str(tmp_path / "clip.npy"), str(tmp_path / "a.npy"),
                               "--method", "learned", "--sigma", "25"])
    assert said.exit_code == 0, said.output
    # The shipped sigma-25 network at sigma 25: the clip's share, whole.
    assert (f"each frame's network result takes {round(100 * CLIP_NETWORK_SHARE)}% of each "
            "pixel, the classic method's over the temporal window (refined) the rest"
            ) in said.output
    said = runner.invoke(app, ["denoise", str(tmp_path / "clip.npy"), str(tmp_path / "b.npy"),
                               "--method", "learned", "--sigma", "25", "--temporal-window", "0"])
    assert said.exit_code == 0, said.output
    assert "classic method" not in said.output


def test_train_without_jax_says_what_to_install(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "optax", None)  # as if the extra were not installed
    result = runner.invoke(app, ["train", "skimage:camera", "--out", str(tmp_path / "m")])
    assert result.exit_code == 1
    assert "pip install 'nlmeans_cli[train]'" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "m.npz").exists()


def test_checkpoints_let_a_stopped_run_go_on(tmp_path):
    saved = tmp_path / "partial.npz"
    out = tmp_path / "m.npz"
    arguments = ["train", "skimage:camera", "--out", str(out), "--steps", "4", "--every", "2",
                 "--crop", "16", "--batch", "1", "--features", "2", "--embed", "2",
                 "--before", "0", "--after", "0", "--search-window", "3",
                 "--checkpoint", str(saved), "--quiet"]
    assert runner.invoke(app, arguments).exit_code == 0
    partial = load_model(saved)
    assert partial.info["steps_done"] == 2 and load_model(out).info["steps_done"] == 4
    result = runner.invoke(app, ["train", "skimage:camera", "--out", str(tmp_path / "on.npz"),
                                 "--init", str(saved), "--steps", "1", "--crop", "16",
                                 "--search-window", "3", "--quiet"])
    assert result.exit_code == 0, result.output


def test_guided_chroma_keeps_a_constant_image_and_smooths_noisy_chroma(rng):
    # A constant colour stays exactly what it was.
    constant = np.stack([np.full((20, 24), v) for v in (0.6, -0.1, 0.05)])
    assert_allclose(guided_chroma(constant, constant, 0.1), constant[1:], rtol=0, atol=1e-6)
    # With a fair estimate (its chroma still a little noisy, as a network's per-channel
    # result is), the noisy chroma averaged over the positions of like estimated colour
    # comes closer to the truth than the estimate itself.
    y, x = np.mgrid[0:64, 0:64]
    clean = np.stack([0.5 + 0.3 * (x > 20), 0.1 * (x > 20) - 0.05, 0.08 * (y > 30) - 0.04])
    noisy = clean + rng.normal(0, 0.1, clean.shape)
    estimate = clean + np.concatenate([np.zeros((1, 64, 64)), rng.normal(0, 0.03, (2, 64, 64))])
    out = guided_chroma(estimate, noisy, 0.1)
    assert out.shape == (2, 64, 64)
    error = np.mean((out - clean[1:]) ** 2)
    assert error < 0.5 * np.mean((estimate[1:] - clean[1:]) ** 2)


def test_guided_chroma_in_bands_is_the_whole_image_s(rng):
    estimate = rng.random((3, 100, 37))
    noisy = estimate + rng.normal(0, 0.1, estimate.shape)
    whole = guided_chroma(estimate, noisy, 0.1)
    # Bands of 41 rows (the least), 60 rows, and one band.
    for band_pixels in (1, 60 * 37, 10**9):
        assert_array_equal(guided_chroma(estimate, noisy, 0.1, band_pixels=band_pixels), whole)


def test_the_refinement_keeps_a_constant_image_and_finds_repeats_beyond_the_network(rng):
    constant = np.full((20, 24), 0.6)
    assert_allclose(refine_estimate(constant, constant, 0.1), constant, rtol=0, atol=1e-6)
    # An estimate of a repeating pattern whose errors differ from repeat to repeat (as a
    # network's do where each repeat lies beyond its receptive field): averaging the
    # repeats found by patch comparison brings it closer to the truth.
    y, x = np.mgrid[0:64, 0:64]
    clean = 0.5 + 0.3 * ((x // 4 + y // 4) % 2)
    # Small errors, as after a network: patches alike within h = 0.15 sigma are averaged
    # (the estimate standing for the noisy image too: its own repeats alone).
    estimate = clean + rng.normal(0, 0.005, clean.shape)
    out = refine_estimate(estimate, estimate, 0.1)
    assert out.shape == clean.shape and out.dtype == np.float64
    assert np.mean((out - clean) ** 2) < 0.6 * np.mean((estimate - clean) ** 2)


def test_the_refinement_averages_the_noisy_repeats_the_estimate_finds(rng):
    # Where the estimate is biased alike on every repeat (its own average cannot undo that),
    # the noisy image's repeats, found through the estimate's patches and averaged over the
    # wide window, pull it back towards the truth: their noise averages out.
    y, x = np.mgrid[0:96, 0:96]
    clean = 0.4 + 0.2 * ((x // 3 + y // 5) % 2)
    noisy = clean + rng.normal(0, 0.1, clean.shape)
    estimate = clean + 0.02 * ((x // 3 + y // 5) % 2)
    out = refine_estimate(estimate, noisy, 0.1)
    before, after = np.mean((estimate - clean) ** 2), np.mean((out - clean) ** 2)
    assert after < 0.6 * before
    # The noisy image enters: with the truth as the estimate the result stays near it
    # (its noise averaged over many repeats), not at the noisy image.
    near = refine_estimate(clean, noisy, 0.1)
    assert np.mean((near - clean) ** 2) < 0.05 * np.mean((noisy - clean) ** 2)


def test_the_refinement_in_bands_is_the_whole_image_s(rng):
    estimate = rng.random((70, 33))
    noisy = estimate + rng.normal(0, 0.1, estimate.shape)
    whole = refine_estimate(estimate, noisy, 0.1)
    # Bands of 33 rows (the least), 50 rows, and one band.
    for band_pixels in (1, 50 * 33, 10**9):
        assert_array_equal(refine_estimate(estimate, noisy, 0.1, band_pixels=band_pixels),
                           whole)


@pytest.mark.parametrize("sigma_255", [25.0, 10.0])
def test_a_volume_mixes_each_slices_network_result_with_the_classic_3d_one(rng, tmp_path,
                                                                           sigma_255):
    from nlmeans_cli.methods.learned import VOLUME_NETWORK_SHARE, network_share

    # Each slice goes through the network alone (as a still at the network's level), and
    # takes VOLUME_NETWORK_SHARE of the voxel, times the share below the network's level;
    # the classic method's 3-D result the rest.
    path = save_model(random_network(rng), tmp_path / "m.npz")
    volume = rng.random((4, 14, 17)).astype(np.float32)
    sigma = sigma_255 / 255
    mixed = denoise(volume, sigma=sigma, method="learned", model=path)
    network = load_model(path)
    slices = np.stack([denoise_with_network(plane[np.newaxis], sigma, network)[0]
                       for plane in volume])
    share = VOLUME_NETWORK_SHARE * network_share(sigma_255, network.sigma)
    assert 0 < share <= VOLUME_NETWORK_SHARE
    # The classic part as the classic method gives it (its slices' second look included).
    assert resolve_parameters(volume, sigma=sigma, method="learned", model=path).classic.refined
    expected = share * slices + (1 - share) * denoise(volume, sigma=sigma)
    assert mixed.shape == volume.shape and mixed.dtype == volume.dtype
    assert_allclose(mixed, expected, atol=1e-5)


@shipped
def test_the_command_line_denoises_a_volume_with_the_learned_method(tmp_path, rng):
    import tifffile

    z, y, x = np.mgrid[0:6, 0:40, 0:44]
    clean = 120 + 80 * np.sin(x / 5.0 + z / 3.0) * np.cos(y / 7.0)
    noisy = np.clip(np.rint(clean + rng.normal(0, 25, clean.shape)), 0, 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "volume.tif", noisy)
    target = tmp_path / "out.tif"
    said = CliRunner().invoke(app, ["denoise", str(tmp_path / "volume.tif"), str(target),
                                    "--volume", "--method", "learned", "--sigma", "25"])
    assert said.exit_code == 0, said.output
    assert ("each slice's network result takes 20% of each voxel, the classic method's 3-D "
            "result the rest") in said.output
    out = tifffile.imread(target)
    assert out.shape == noisy.shape and out.dtype == noisy.dtype
    error = np.mean((out - clean) ** 2)
    assert error < 0.25 * np.mean((noisy - clean) ** 2)
