"""The learned variant: gradients, the engine at inference, model files, training, the CLI."""

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from typer.testing import CliRunner

from nlmeans_cli import denoise
from nlmeans_cli.cli import app
from nlmeans_cli.formulation import AFFINITIES
from nlmeans_cli.learned import (
    MODEL_FORMAT,
    Model,
    ModelFileError,
    Stage,
    apply_model,
    load_model,
    save_model,
    shipped_models,
)
from nlmeans_cli.training import (
    TrainingSettings,
    _patches,
    initial_stage,
    stage_loss,
    train_model,
)

runner = CliRunner()


def random_stage(rng, affinity, features=2, patch=3, window=5):
    guide = rng.normal(size=(1, 12, 12))
    stage = initial_stage(affinity, _patches(guide, patch).reshape(-1, patch * patch),
                          features=features, patch_size=patch, search_window=window)
    theta = stage.theta + rng.normal(0, 0.2, stage.theta.shape)
    phi = None if stage.phi is None else stage.phi + rng.normal(0, 0.2, stage.phi.shape)
    g = stage.g + rng.normal(0, 0.2, stage.g.shape)
    return Stage(affinity, theta, phi, g, 0.3, stage.search_radius)


def tiny_batch(rng, shape=(2, 11, 12)):
    clean = rng.random(shape) * 3
    noisy = clean + rng.normal(0, 1, shape)
    return noisy, noisy, clean


def perturbed(stage, name, index, step):
    arrays = {"theta": stage.theta.copy(), "g": stage.g.copy(),
              "phi": None if stage.phi is None else stage.phi.copy()}
    bias = stage.bias
    if name == "bias":
        bias += step
    else:
        arrays[name].reshape(-1)[index] += step
    return Stage(stage.affinity, arrays["theta"], arrays["phi"], arrays["g"], bias,
                 stage.search_radius)


@pytest.mark.parametrize("affinity", sorted(AFFINITIES))
def test_gradient_matches_finite_differences(affinity, rng):
    stage = random_stage(rng, affinity)
    guide, noisy, clean = tiny_batch(rng)
    guide = guide + rng.normal(0, 0.1, guide.shape)  # a guide other than the noisy image
    _, _, grads = stage_loss(stage, guide, noisy, clean)
    step = 1e-6
    for name, grad in grads.items():
        size = 1 if name == "bias" else getattr(stage, name).size
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
        assert "phi" not in grads  # phi = theta
    else:
        assert "phi" in grads


@pytest.mark.parametrize("affinity", sorted(AFFINITIES))
def test_training_forward_is_what_the_engine_computes(affinity, rng):
    stage = random_stage(rng, affinity)
    noisy = rng.normal(size=(1, 14, 15)) + 2
    _, estimate, _ = stage_loss(stage, noisy, noisy, noisy, gradient=False)
    model = Model(25.0, (stage,))
    engine = apply_model(noisy.astype(np.float32)[:, :, np.newaxis, :], 1.0, model)
    border = 1 + stage.search_radius  # patch radius + search radius: no padding involved
    inner = engine[0, border:-border, 0, border:-border]
    assert_allclose(inner, estimate[0], rtol=1e-4, atol=1e-4)


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
        assert (a.phi is None) == (b.phi is None)
    image = rng.random((1, 20, 1, 22)).astype(np.float32)
    assert_array_equal(apply_model(image, 0.1, model), apply_model(image, 0.1, loaded))


def _bad_model(tmp_path, case):
    path = tmp_path / f"{case}.npz"
    if case == "text":
        path.write_text("not a model\n")
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "no-marker":
        np.savez(path, weights=np.zeros(3))
    elif case == "pickle":
        np.savez(path, format=np.array(MODEL_FORMAT), payload=np.array([{"a": 1}], object))
    elif case == "wrong-shape":
        np.savez(path, format=np.array(MODEL_FORMAT), sigma=np.array(25.0),
                 n_stages=np.array(1), stage0_affinity=np.array("gaussian"),
                 stage0_theta=np.zeros((2, 4, 4)), stage0_g=np.zeros((3, 3)),
                 stage0_bias=np.array(0.0), stage0_search_radius=np.array(3))
    elif case == "nan":
        np.savez(path, format=np.array(MODEL_FORMAT), sigma=np.array(25.0),
                 n_stages=np.array(1), stage0_affinity=np.array("gaussian"),
                 stage0_theta=np.full((2, 3, 3), np.nan), stage0_g=np.zeros((3, 3)),
                 stage0_bias=np.array(0.0), stage0_search_radius=np.array(3))
    elif case == "unknown-affinity":
        np.savez(path, format=np.array(MODEL_FORMAT), sigma=np.array(25.0),
                 n_stages=np.array(1), stage0_affinity=np.array("cosine"),
                 stage0_theta=np.zeros((2, 3, 3)), stage0_g=np.zeros((3, 3)),
                 stage0_bias=np.array(0.0), stage0_search_radius=np.array(3))
    elif case == "missing-field":
        np.savez(path, format=np.array(MODEL_FORMAT), sigma=np.array(25.0),
                 n_stages=np.array(1))
    return path


BAD_MODELS = ["text", "empty", "no-marker", "pickle", "wrong-shape", "nan", "unknown-affinity",
              "missing-field", "missing"]


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
        from imageio.v3 import imread

        written = imread(tmp_path / f"o{name}")
        assert written.shape == image.shape and written.dtype == np.uint8


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
def test_gaussian_models_ship_at_three_noise_levels():
    models = shipped_models()
    assert "gaussian" in models and set(models) <= set(AFFINITIES)
    for affinity, by_sigma in models.items():
        assert set(by_sigma) == {15.0, 25.0, 50.0}, affinity
        for sigma, path in by_sigma.items():
            model = load_model(path)
            assert model.sigma == sigma and model.affinity == affinity
            assert json.dumps(model.info)  # plain data
            assert path.stat().st_size < 100_000


@shipped
def test_shipped_learned_beats_classic_on_grey(rng):
    from skimage import data
    from skimage.metrics import peak_signal_noise_ratio

    clean = data.camera()[150:278, 150:278] / 255.0
    noisy = clean + rng.normal(0, 25 / 255, clean.shape)
    classic = denoise(noisy, sigma=25 / 255)
    learned = denoise(noisy, sigma=25 / 255, method="learned")
    assert learned.shape == noisy.shape and learned.dtype == noisy.dtype
    gain = (peak_signal_noise_ratio(clean, learned, data_range=1)
            - peak_signal_noise_ratio(clean, classic, data_range=1))
    assert gain > 0.2


@shipped
def test_shipped_learned_denoises_colour(rng):
    # Colour reuses the grey model on the luminance-like channel: it beats classic on some
    # images and not on others (README), so only a clear denoising gain is asserted here.
    from skimage import data
    from skimage.metrics import peak_signal_noise_ratio

    clean = data.stereo_motorcycle()[0][100:228, 300:428]
    noisy = np.clip(np.rint(clean + rng.normal(0, 25, clean.shape)), 0, 255).astype(np.uint8)
    learned = denoise(noisy, sigma=25.0, method="learned", channel_axis=-1)
    assert learned.shape == noisy.shape and learned.dtype == np.uint8
    assert (peak_signal_noise_ratio(clean, learned) >
            peak_signal_noise_ratio(clean, noisy) + 5.0)
