import json

import imageio.v3 as iio
import numpy as np
import pytest
from typer.testing import CliRunner

from nlmeans_cli.cli import app
from nlmeans_cli.evaluation.compare import COMPARED, compare

runner = CliRunner()


@pytest.fixture(scope="module")
def clean_crops(tmp_path_factory):
    """Two small natural crops from the shipped clean sample, one grey and one colour."""
    from pathlib import Path

    folder = tmp_path_factory.mktemp("clean")
    camera = iio.imread(Path(__file__).parent.parent.parent / "samples" / "camera_clean.png")
    iio.imwrite(folder / "grey.png", camera[64:160, 64:160])
    colour = np.stack([camera[:96, :96], camera[96:192, :96], camera[:96, 96:192]], axis=-1)
    iio.imwrite(folder / "colour.png", colour)
    return folder


def _numbers(result):
    """Every score except timings; the bm3d package's to 4 decimals (its threads make its
    colour results vary by about 1e-7 from run to run)."""
    def scores(name, m):
        if name == "bm3d":
            return round(m["psnr"], 4), round(m["ssim"], 4)
        return m["psnr"], m["ssim"]

    return [(image["path"], image["noisy_psnr"],
             {name: scores(name, m) for name, m in image["methods"].items()})
            for image in result["images"]]


def test_json_schema_and_scores(clean_crops):
    result = runner.invoke(app, ["compare", str(clean_crops / "grey.png"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= {"sigma", "images", "mean"} and data["sigma"] == 25
    (image,) = data["images"]
    assert image["path"].endswith("grey.png")
    assert set(image["methods"]) - {"bm3d"} == set(COMPARED)
    assert set(COMPARED) >= {"ours", "skimage", "skimage_recommended"}
    for scores in image["methods"].values():
        assert set(scores) == {"psnr", "ssim", "seconds"}
        assert 0 < scores["ssim"] <= 1 and scores["seconds"] > 0
    assert image["methods"]["ours"]["psnr"] > image["noisy_psnr"] + 5
    assert data["mean"]["ours"]["psnr"] == pytest.approx(image["methods"]["ours"]["psnr"])


@pytest.mark.parametrize("cached", [False, True])
def test_the_one_time_compile_is_announced(clean_crops, monkeypatch, cached):
    from nlmeans_cli.methods import METHODS

    monkeypatch.setattr(type(METHODS["learned"]), "kernels_cached", lambda self: cached)
    result = runner.invoke(app, ["compare", str(clean_crops / "grey.png"), "--json"])
    assert result.exit_code == 0, result.output
    assert ("compiling the engine for the learned method, once" in result.stderr) is not cached
    assert json.loads(result.stdout)["sigma"] == 25  # the notice is not on stdout


def test_fixed_seed_gives_identical_numbers_and_another_seed_does_not(clean_crops):
    args = ["compare", str(clean_crops), "--json", "--sigma", "30"]
    first = json.loads(runner.invoke(app, args).stdout)
    second = json.loads(runner.invoke(app, args).stdout)
    other = json.loads(runner.invoke(app, [*args, "--seed", "1"]).stdout)
    assert _numbers(first) == _numbers(second)
    assert _numbers(first) != _numbers(other)
    assert len(first["images"]) == 2  # a folder: both crops, grey and colour


def test_noise_is_added_without_clipping_and_sigma_is_on_the_255_scale(clean_crops):
    clean = iio.imread(clean_crops / "grey.png")
    result = compare([("grey", clean)], sigma=20, seed=3, keep_images=True)
    noise = result.images[0].noisy - clean / 255.0
    assert noise.std() * 255 == pytest.approx(20, rel=0.05)
    black = compare([("black", np.zeros((32, 32), np.uint8))], sigma=20, keep_images=True)
    assert black.images[0].noisy.min() < 0  # not clipped to the image's range


def test_noisy_option_takes_a_given_noisy_image(clean_crops, tmp_path, rng):
    clean = iio.imread(clean_crops / "grey.png")
    noisy = np.clip(clean + rng.normal(0, 20, clean.shape), 0, 255).astype(np.uint8)
    iio.imwrite(tmp_path / "noisy.png", noisy)
    result = runner.invoke(app, ["compare", str(clean_crops / "grey.png"), "--noisy",
                                 str(tmp_path / "noisy.png"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["sigma"] == pytest.approx(20, abs=3)  # estimated from the noisy image
    assert data["seed"] is None
    expected = 10 * np.log10(255**2 / np.mean((noisy.astype(float) - clean) ** 2))
    assert data["images"][0]["noisy_psnr"] == pytest.approx(expected, abs=1e-4)


def test_noisy_with_several_clean_images_is_a_usage_error(clean_crops):
    result = runner.invoke(app, ["compare", str(clean_crops), "--noisy",
                                 str(clean_crops / "grey.png")])
    assert result.exit_code == 2 and "exactly one" in result.stderr


def test_table_and_montage(clean_crops, tmp_path):
    montage = tmp_path / "m.png"
    result = runner.invoke(app, ["compare", str(clean_crops), "--montage", str(montage)])
    assert result.exit_code == 0, result.output
    for word in ("ours", "skimage", "mean", "PSNR"):
        assert word in result.stdout
    picture = iio.imread(montage)
    # Two images, each a row of clean | noisy | ours | skimage with a zoom under each.
    assert picture.ndim == 3 and picture.shape[1] > 4 * 96 and picture.shape[0] > 4 * 96
    assert picture.std() > 10


def test_missing_clean_file_is_one_line(tmp_path):
    result = runner.invoke(app, ["compare", str(tmp_path / "none.png")])
    assert result.exit_code == 1
    assert "none.png" in result.stderr and "Traceback" not in result.output


def test_montage_has_the_learned_column_and_readable_labels(tmp_path):
    from nlmeans_cli.evaluation.compare import compare
    from nlmeans_cli.evaluation.montage import draw_montage, label_size

    rng = np.random.default_rng(21)
    rows, columns = np.mgrid[0:128, 0:160]
    clean = (0.5 + 0.3 * np.sin(rows / 9.0) * np.cos(columns / 13.0)).astype(np.float32)
    clean += rng.normal(0, 0.01, clean.shape).astype(np.float32)
    comparison = compare([("wave", clean)], sigma=25, keep_images=True)
    assert "learned" in comparison.images[0].estimates
    path = draw_montage(comparison, [clean], tmp_path / "m.png",
                        methods=("ours", "learned", "skimage"))
    picture = iio.imread(path)
    # clean | noisy | ours | learned | skimage: five panels of the image's width.
    assert picture.shape[1] >= 5 * 160
    assert label_size(256) >= 20 and label_size(96) >= 12


def test_a_black_level_is_added_to_the_noise_and_taken_off_every_result(samples):
    # The whole sample: on a crop of 96x96 the offset is not told from the levels' scatter.
    grey = [("camera", iio.imread(samples / "camera_clean.png"))]
    common = dict(noise="poisson-gaussian", gain=4.0, read_noise=2.0, keep_images=True)
    plain = compare(grey, **common)
    offset = compare(grey, **common, black_level=60.0)
    assert offset.noise["black_level"] == 60.0 and plain.noise["black_level"] == 0.0
    (without,), (with_offset,) = plain.images, offset.images
    # The same draws, the offset taken off what is kept and scored.
    np.testing.assert_allclose(with_offset.noisy, without.noisy, atol=1e-5)
    assert with_offset.noisy_psnr == pytest.approx(without.noisy_psnr, abs=1e-3)
    for name in ("ours_poisson", "skimage"):
        assert with_offset.estimates[name].mean() == pytest.approx(
            without.estimates[name].mean(), abs=2e-3)
    # The stabilised column fits the offset: it scores as it does without one.
    assert with_offset.methods["ours_poisson"]["psnr"] == pytest.approx(
        without.methods["ours_poisson"]["psnr"], abs=0.1)
    assert with_offset.methods["ours_poisson"]["psnr"] > with_offset.noisy_psnr + 3


def test_a_black_level_goes_with_poisson_gaussian_noise(clean_crops):
    grey = [("grey", iio.imread(clean_crops / "grey.png"))]
    with pytest.raises(ValueError, match="black level goes with poisson-gaussian"):
        compare(grey, black_level=10.0)
    with pytest.raises(ValueError, match="black level must be"):
        compare(grey, noise="poisson-gaussian", gain=4.0, black_level=float("nan"))
    refused = runner.invoke(app, ["compare", str(clean_crops / "grey.png"),
                                  "--black-level", "10"])
    assert refused.exit_code == 2 and "--black-level" in refused.output
    shown = runner.invoke(app, ["compare", str(clean_crops / "grey.png"), "--noise",
                                "poisson-gaussian", "--gain", "4", "--black-level", "10"])
    assert shown.exit_code == 0, shown.output
    assert "black level 10" in shown.stdout.splitlines()[0]
