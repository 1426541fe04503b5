"""The learned variant: gradients, the engine at inference, model files, training, the CLI."""

import json
from dataclasses import replace

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from typer.testing import CliRunner

from nlmeans_cli import denoise
from nlmeans_cli.cli import app
from nlmeans_cli.formulation import AFFINITIES
from nlmeans_cli.methods.model import Model, Stage, apply_model
from nlmeans_cli.methods.model_files import (
    MODEL_FORMAT,
    ModelFileError,
    load_model,
    save_model,
    shipped_models,
)
from nlmeans_cli.methods.training import (
    TrainingSettings,
    guide_patches,
    initial_stage,
    stage_loss,
    train_model,
)
from nlmeans_cli.pixels import OPPONENT

runner = CliRunner()


def random_stage(rng, affinity, features=2, patch=3, window=5, channels=1):
    guide = rng.normal(size=(1, channels, 12, 12))
    stage = initial_stage(affinity, guide_patches(guide, patch).reshape(-1, channels * patch**2),
                          features=features, patch_size=patch, search_window=window)
    assert stage.channels == channels
    theta = stage.theta + rng.normal(0, 0.2, stage.theta.shape)
    phi = None if stage.phi is None else stage.phi + rng.normal(0, 0.2, stage.phi.shape)
    g = stage.g + rng.normal(0, 0.2, stage.g.shape)
    offsets = {"theta_offset": rng.normal(0, 0.3, len(theta)), "g_offset": 0.2}
    if phi is not None:
        offsets["phi_offset"] = rng.normal(0, 0.3, len(theta))
    return Stage(affinity, theta, phi, g, 0.3, stage.search_radius, **offsets)


def tiny_batch(rng, shape=(2, 11, 12)):
    clean = rng.random(shape) * 3
    noisy = clean + rng.normal(0, 1, shape)
    return noisy, noisy, clean


def perturbed(stage, name, index, step):
    value = getattr(stage, name)
    if np.ndim(value) == 0:
        return replace(stage, **{name: value + step})
    value = np.array(value, np.float64)
    value.reshape(-1)[index] += step
    return replace(stage, **{name: value})


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("affinity", sorted(AFFINITIES))
def test_gradient_matches_finite_differences(affinity, channels, rng):
    # Grey crops as (B, H, W); colour as (B, 3, H, W), the embeddings reading all channels.
    stage = random_stage(rng, affinity, channels=channels)
    guide, noisy, clean = tiny_batch(rng, (2, 11, 12) if channels == 1 else (2, 3, 9, 10))
    guide = guide + rng.normal(0, 0.1, guide.shape)  # a guide other than the noisy image
    _, _, grads = stage_loss(stage, guide, noisy, clean)
    step = 1e-6
    for name, grad in grads.items():
        size = np.size(getattr(stage, name))
        numeric = np.empty(size)
        for index in range(size):
            up, _, _ = stage_loss(perturbed(stage, name, index, step), guide, noisy, clean,
                                  gradient=False)
            down, _, _ = stage_loss(perturbed(stage, name, index, -step), guide, noisy, clean,
                                    gradient=False)
            numeric[index] = (up - down) / (2 * step)
        assert_allclose(np.reshape(grad, -1), numeric, rtol=1e-5, atol=1e-8,
                        err_msg=f"{affinity}: d loss / d {name}")
    if AFFINITIES[affinity].name == "gaussian":
        assert "phi" not in grads and "phi_offset" not in grads  # phi = theta
    else:
        assert "phi" in grads and "phi_offset" in grads
    assert {"theta", "g", "bias", "theta_offset", "g_offset"} <= set(grads)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("affinity", sorted(AFFINITIES))
def test_training_forward_is_what_the_engine_computes(affinity, channels, rng):
    stage = random_stage(rng, affinity, channels=channels)
    noisy = rng.normal(size=(channels, 14, 15)) + 2
    # Training works in the opponent space; the engine path converts RGB itself.
    opponent = np.tensordot(OPPONENT, noisy, axes=1) if channels == 3 else noisy
    _, estimate, _ = stage_loss(stage, opponent[np.newaxis], opponent[np.newaxis],
                                opponent[np.newaxis], gradient=False)
    if channels == 3:
        estimate = np.tensordot(OPPONENT.T, estimate[0], axes=1)[np.newaxis]
    model = Model(25.0, (stage,))
    engine = apply_model(noisy.astype(np.float32)[:, :, np.newaxis, :], 1.0, model)
    border = 1 + stage.search_radius  # patch radius + search radius: no padding involved
    inner = engine[:, border:-border, 0, border:-border]
    assert_allclose(inner, estimate[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("affinity", ["dot-product", "concatenation"])
def test_a_residual_stage_adds_to_the_previous_estimate(affinity, rng):
    # A C = N block is residual on its input: a second stage with g = 0 returns the first
    # stage's estimate (not the noisy image), in training and on the engine.
    first = random_stage(rng, affinity)
    silent = replace(random_stage(rng, affinity), g=np.zeros((3, 3)), g_offset=0.0)
    noisy = (rng.normal(size=(1, 14, 15)) + 2).astype(np.float32)
    one = apply_model(noisy[:, :, np.newaxis, :], 1.0, Model(25.0, (first,)))
    two = apply_model(noisy[:, :, np.newaxis, :], 1.0, Model(25.0, (first, silent)))
    assert_allclose(two, one, atol=1e-6)
    assert np.abs(one - noisy[:, :, np.newaxis, :]).max() > 1e-3
    previous = one[:, :, 0, :].astype(np.float64)[np.newaxis]
    _, estimate, _ = stage_loss(silent, previous, noisy[np.newaxis], noisy[np.newaxis],
                                gradient=False)
    border = 1 + silent.search_radius
    assert_allclose(estimate[0, 0], previous[0, 0, border:-border, border:-border], atol=1e-12)


def small_settings(**changes):
    base = dict(sigma=25.0, stages=2, features=2, patch_size=3, search_window=5, steps=4,
                crop=24, batch=2)
    base.update(changes)
    return TrainingSettings(**base)


def training_images(rng):
    from skimage import data

    camera = data.camera()[200:300, 200:300] / 255.0
    return [camera, camera.T.copy()], [data.camera()[50:110, 300:360] / 255.0]


@pytest.mark.parametrize("affinity", sorted(AFFINITIES))
def test_training_is_deterministic_and_never_worse_than_its_start(affinity, rng):
    images, validation = training_images(rng)
    losses = []
    model = train_model(images, small_settings(affinity=affinity, steps=30),
                        validation=validation,
                        progress=lambda stage, step, steps, loss, val: losses.append(
                            (stage, loss, val)))
    again = train_model(images, small_settings(affinity=affinity, steps=30),
                        validation=validation)
    for a, b in zip(model.stages, again.stages, strict=True):
        assert_array_equal(a.theta, b.theta)
        assert_array_equal(a.g, b.g)
    assert [stage for stage, _, _ in losses] == [0] * 30 + [1] * 30
    assert all(np.isfinite(loss) for _, loss, _ in losses)
    # The noisy validation crop is at 20.17 dB. A softmax block starts as a weighted mean
    # and must denoise; a residual block starts as the identity and must not get worse.
    assert len(model.info["validation_psnr"]) == 2
    if AFFINITIES[affinity].normaliser == "sum":
        assert model.info["validation_psnr"][0] > 25.0
    else:
        assert model.info["validation_psnr"][0] > 20.17 - 0.05


def test_model_file_round_trip(tmp_path, rng):
    model = Model(25.0, (random_stage(rng, "embedded-gaussian"), random_stage(rng, "gaussian")),
                  {"command": "nlm train x"})
    path = save_model(model, tmp_path / "m.npz")
    loaded = load_model(path)
    assert loaded.sigma == 25.0 and loaded.info == {"command": "nlm train x"}
    for a, b in zip(model.stages, loaded.stages, strict=True):
        assert a.affinity == b.affinity and a.search_radius == b.search_radius
        assert_array_equal(a.theta, b.theta)
        assert_array_equal(a.theta_offset, b.theta_offset)
        assert a.g_offset == b.g_offset
        assert (a.phi is None) == (b.phi is None) == (b.phi_offset is None)
    image = rng.random((1, 20, 1, 22)).astype(np.float32)
    assert_array_equal(apply_model(image, 0.1, model), apply_model(image, 0.1, loaded))


def _stage_fields(**changes):
    """The fields of a valid one-stage model file, with *changes*."""
    fields = dict(format=np.array(MODEL_FORMAT), sigma=np.array(25.0), n_stages=np.array(1),
                  stage0_affinity=np.array("gaussian"), stage0_theta=np.zeros((2, 3, 3)),
                  stage0_g=np.zeros((3, 3)), stage0_bias=np.array(0.0),
                  stage0_search_radius=np.array(3))
    fields.update(changes)
    return fields


def _bad_model(tmp_path, case):
    path = tmp_path / f"{case}.npz"
    broken = {
        "wrong-shape": {"stage0_theta": np.zeros((2, 4, 4))},
        "nan": {"stage0_theta": np.full((2, 3, 3), np.nan)},
        "unknown-affinity": {"stage0_affinity": np.array("cosine")},
        "two-channel-theta": {"stage0_theta": np.zeros((2, 2, 3, 3))},
        "wrong-offset": {"stage0_theta_offset": np.zeros(5)},
    }
    if case == "text":
        path.write_text("not a model\n")
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "no-marker":
        np.savez(path, weights=np.zeros(3))
    elif case == "pickle":
        np.savez(path, format=np.array(MODEL_FORMAT), payload=np.array([{"a": 1}], object))
    elif case in broken:
        np.savez(path, **_stage_fields(**broken[case]))
    elif case == "missing-field":
        np.savez(path, format=np.array(MODEL_FORMAT), sigma=np.array(25.0),
                 n_stages=np.array(1))
    return path


BAD_MODELS = ["text", "empty", "no-marker", "pickle", "wrong-shape", "nan", "unknown-affinity",
              "two-channel-theta", "wrong-offset", "missing-field", "missing"]


@pytest.mark.parametrize("case", BAD_MODELS)
def test_a_model_file_that_is_not_a_model(tmp_path, samples, case):
    path = _bad_model(tmp_path, case)
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


def test_train_command_writes_a_usable_model(tmp_path, rng):
    from imageio.v3 import imwrite
    from skimage import data

    folder = tmp_path / "clean"
    folder.mkdir()
    imwrite(folder / "a.png", data.camera()[100:200, 100:200])
    imwrite(folder / "b.png", data.astronaut()[100:180, 100:190])
    out = tmp_path / "model.npz"
    arguments = ["train", str(folder), "--val", "skimage:coins", "--out", str(out),
                 "--steps", "3", "--crop", "24", "--batch", "2", "--features", "2",
                 "--patch-size", "3", "--search-window", "5", "--stages", "2", "--quiet"]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "validation PSNR stage 1" in result.stderr
    model = load_model(out)
    assert len(model.stages) == 2 and model.info["images"][0].endswith("a.png")
    assert "nlm train" in model.info["command"]
    again = tmp_path / "again.npz"
    result = runner.invoke(app, arguments[:4] + ["--out", str(again)] + arguments[6:])
    assert result.exit_code == 0, result.output
    assert_array_equal(load_model(again).stages[1].theta, model.stages[1].theta)
    # Used through the CLI on grey and colour images.
    for name, image in (("grey.png", data.camera()[:40, :50]),
                        ("colour.png", data.astronaut()[:40, :50])):
        imwrite(tmp_path / name, image)
        result = runner.invoke(app, ["denoise", str(tmp_path / name), str(tmp_path / f"o{name}"),
                                     "--method", "learned", "--model", str(out),
                                     "--sigma", "20"])
        assert result.exit_code == 0, result.output
        # The report names the model, not NL-means parameters the model does not use.
        assert f"learned ({out})" in result.stderr and ", h " not in result.stderr
        from imageio.v3 import imread

        written = imread(tmp_path / f"o{name}")
        assert written.shape == image.shape and written.dtype == np.uint8


def test_colour_model_reads_all_channels_and_refuses_grey(tmp_path, rng):
    from imageio.v3 import imread, imwrite
    from skimage import data

    out = tmp_path / "colour.npz"
    arguments = ["train", "skimage:astronaut", "--val", "skimage:coffee", "--colour",
                 "--out", str(out), "--steps", "3", "--crop", "24", "--batch", "2",
                 "--features", "2", "--patch-size", "3", "--search-window", "5", "--quiet"]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "colour images" in result.stderr
    model = load_model(out)
    assert model.channels == 3 and all(stage.theta.shape[1] == 3 for stage in model.stages)
    assert "--colour" in model.info["command"]
    # The chroma filters take part: without them the weights, and the estimate, change.
    image = data.astronaut()[:40, :50] / 255.0
    planar = np.moveaxis(image, -1, 0)[:, :, np.newaxis, :].astype(np.float32)
    luminance_only = Model(model.sigma, tuple(
        replace(stage, theta=stage.theta * np.array([1.0, 0, 0])[:, None, None])
        for stage in model.stages))
    difference = apply_model(planar, 0.1, model) - apply_model(planar, 0.1, luminance_only)
    assert np.abs(difference).max() > 1e-3
    # A colour model on a grey image is refused, by the API and by the CLI (one line).
    with pytest.raises(ValueError, match="colour"):
        denoise(data.camera()[:32, :32], sigma=20.0, method="learned", model=out)
    imwrite(tmp_path / "grey.png", data.camera()[:40, :50])
    result = runner.invoke(app, ["denoise", str(tmp_path / "grey.png"), str(tmp_path / "o.png"),
                                 "--method", "learned", "--model", str(out), "--sigma", "20"])
    assert result.exit_code != 0 and "colour" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "o.png").exists()
    imwrite(tmp_path / "rgb.png", data.astronaut()[:40, :50])
    result = runner.invoke(app, ["denoise", str(tmp_path / "rgb.png"), str(tmp_path / "o.png"),
                                 "--method", "learned", "--model", str(out), "--sigma", "20"])
    assert result.exit_code == 0 and imread(tmp_path / "o.png").shape == (40, 50, 3)


def test_colour_training_refuses_a_grey_image(tmp_path):
    result = runner.invoke(app, ["train", "skimage:camera", "--colour", "--out",
                                 str(tmp_path / "m.npz"), "--steps", "1", "--quiet"])
    assert result.exit_code == 1 and "skimage:camera" in result.stderr
    assert "grey" in result.stderr and not (tmp_path / "m.npz").exists()


def test_train_refuses_unknown_sample(tmp_path):
    result = runner.invoke(app, ["train", "skimage:nonexistent", "--out", str(tmp_path / "m")])
    assert result.exit_code == 1 and "skimage:nonexistent" in result.stderr


def test_learned_refuses_volumes(rng, tmp_path):
    model = Model(25.0, (random_stage(rng, "gaussian"),))
    path = save_model(model, tmp_path / "m.npz")
    with pytest.raises(ValueError, match="volumes"):
        denoise(rng.random((5, 6, 7)), sigma=0.1, method="learned", model=path)


shipped = pytest.mark.skipif(not shipped_models(), reason="no shipped models in this tree")


@shipped
def test_softmax_affinities_ship_grey_and_colour_models():
    # What scripts/train_shipped_models.sh trains: gaussian with two stages, embedded-gaussian
    # with one (its second stage measured worse); the C = N blocks learn little as
    # single-layer denoisers and do not ship (README's ablation).
    expected = {"gaussian": ({5.0, 15.0, 25.0, 50.0}, 2),
                "embedded-gaussian": ({15.0, 25.0, 50.0}, 1)}
    for channels in (1, 3):
        models = shipped_models(channels)
        assert set(models) == set(expected), channels
        for affinity, by_sigma in models.items():
            sigmas, n_stages = expected[affinity]
            assert set(by_sigma) == sigmas, (affinity, channels)
            for sigma, path in by_sigma.items():
                model = load_model(path)
                assert model.sigma == sigma and model.affinity == affinity
                assert model.channels == channels and len(model.stages) == n_stages
                assert json.dumps(model.info)  # plain data
                assert path.stat().st_size < 100_000
                # Trained only on bundled images, none of them a test image of README.
                assert all(name.split(":")[0] in ("skimage", "pywt")
                           for name in model.info["images"] + model.info["validation_images"])
                # Every stage denoises the held-back image.
                noisy_psnr = 20 * np.log10(255 / sigma)
                assert min(model.info["validation_psnr"]) > noisy_psnr + 0.5


def test_every_affinity_has_a_positive_learning_rate():
    assert all(0 < spec.learning_rate < 1 for spec in AFFINITIES.values())


@shipped
def test_shipped_learned_denoises_grey_about_as_well_as_classic(rng):
    # The classic method's Gaussian patches and SURE have caught up with today's learned
    # blocks (a gain of 0.6 dB before them, about 0.05 dB now).
    from skimage import data
    from skimage.metrics import peak_signal_noise_ratio

    clean = data.camera()[150:278, 150:278] / 255.0
    noisy = clean + rng.normal(0, 25 / 255, clean.shape)
    classic = denoise(noisy, sigma=25 / 255)
    learned = denoise(noisy, sigma=25 / 255, method="learned")
    assert learned.shape == noisy.shape and learned.dtype == noisy.dtype
    learned_psnr = peak_signal_noise_ratio(clean, learned, data_range=1)
    assert learned_psnr > peak_signal_noise_ratio(clean, noisy, data_range=1) + 7
    assert learned_psnr > peak_signal_noise_ratio(clean, classic, data_range=1) - 0.3


@shipped
def test_shipped_learned_denoises_colour_about_as_well_as_classic(rng):
    # The colour models' embeddings read all three channels.
    from skimage import data
    from skimage.metrics import peak_signal_noise_ratio

    clean = data.stereo_motorcycle()[0][100:228, 300:428]
    noisy = np.clip(np.rint(clean + rng.normal(0, 25, clean.shape)), 0, 255).astype(np.uint8)
    learned = denoise(noisy, sigma=25.0, method="learned", channel_axis=-1)
    classic = denoise(noisy, sigma=25.0, channel_axis=-1)
    assert learned.shape == noisy.shape and learned.dtype == np.uint8
    assert peak_signal_noise_ratio(clean, learned) > peak_signal_noise_ratio(clean, noisy) + 6
    assert peak_signal_noise_ratio(clean, learned) > peak_signal_noise_ratio(clean, classic) - 0.3


def test_train_refuses_to_replace_a_model_without_overwrite(tmp_path):
    stem = tmp_path / "m"  # written as m.npz
    arguments = ["train", "skimage:camera", "--out", str(stem), "--steps", "1", "--crop", "24",
                 "--batch", "1", "--features", "1", "--patch-size", "3", "--search-window", "3",
                 "--stages", "1", "--quiet"]
    assert runner.invoke(app, arguments).exit_code == 0
    written = tmp_path / "m.npz"
    before = written.read_bytes()
    again = runner.invoke(app, arguments)
    assert again.exit_code == 1
    assert "already exists" in again.stderr and "--overwrite" in again.stderr
    assert written.read_bytes() == before
    assert runner.invoke(app, [*arguments, "--overwrite"]).exit_code == 0
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]
