"""Bad option values: usage errors with exit code 2 on the command line, ValueError in the API."""

import imageio.v3 as iio
import numpy as np
import pytest
from typer.testing import CliRunner

from nlmeans_cli.cli import app
from nlmeans_cli.cli.options import parse_h, parse_sigma, request

runner = CliRunner()


def _noisy(rng, shape):
    return np.clip(128 + rng.normal(0, 30, shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    "extra, message",
    [(["--sigma", "-3"], "--sigma"), (["--patch-size", "0"], "--patch-size"),
     (["--patch-size", "4"], "odd"), (["--search-window", "0"], "--search-window"),
     (["--h", "0"], "positive"), (["--h", "-1"], "positive"), (["--h", "x"], "auto"),
     (["--h-chroma", "0"], "positive"), (["--patch-kernel", "tri"], "--patch-kernel"),
     (["--max-pixels", "0"], "--max-pixels")],
)
def test_bad_parameters_are_usage_errors(tmp_path, rng, extra, message):
    source = tmp_path / "in.png"
    iio.imwrite(source, _noisy(rng, (16, 16)))
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "o.png"), *extra])
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [({"sigma": -1.0}, "sigma"), ({"patch_size": 0}, "patch_size"),
     ({"patch_size": 4}, "patch_size"), ({"search_window": 0}, "search_window"),
     ({"h": 0.0}, "h must be positive")],
)
def test_bad_parameters_through_the_api(kwargs, message):
    from nlmeans_cli import denoise

    with pytest.raises(ValueError, match=message):
        denoise(np.zeros((8, 8), np.float32), **kwargs)


def test_options_are_converted_to_the_unit_scale_once():
    from nlmeans_cli.cli.options import AffinityName, MethodName

    asked = request("51", "25.5", 5, None, AffinityName("gaussian"), MethodName("classic"),
                    None, h_chroma=51.0)
    assert asked.sigma_unit == pytest.approx(0.2) and asked.h_unit == pytest.approx(0.1)
    assert asked.h_chroma_unit == pytest.approx(0.2)
    assert asked.patch_size == 5 and asked.search_window is None
    assert parse_sigma("auto") is None and parse_sigma(" AUTO ") is None
    assert parse_h("auto") is None and parse_h("3") == 3.0


@pytest.mark.parametrize("extra", [["--h", "auto"], ["--h", "12"], ["--patch-kernel", "box"],
                                   ["--patch-kernel", "gaussian"], ["--h-chroma", "30"]])
def test_quality_options_are_accepted(tmp_path, rng, extra):
    source = tmp_path / "in.png"
    iio.imwrite(source, np.stack([_noisy(rng, (20, 22))] * 3, -1))
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "o.png"), *extra])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o.png").exists()


def test_summary_says_how_h_was_chosen(tmp_path, rng):
    source = tmp_path / "in.png"
    iio.imwrite(source, _noisy(rng, (40, 40)))
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "o.png")])
    assert "(SURE)" in result.stderr
    fixed = runner.invoke(app, ["denoise", str(source), str(tmp_path / "p.png"), "--h", "9"])
    assert "h 9.00," in fixed.stderr and "(SURE)" not in fixed.stderr


def test_extreme_h_values_print_briefly_and_warn_nothing(tmp_path, rng):
    source = tmp_path / "in.png"
    iio.imwrite(source, _noisy(rng, (24, 24)))
    for h, shown in (("1e300", "h 1e+300,"), ("1e-30", "h 1e-30,")):
        result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "o.png"),
                                     "--overwrite", "--h", h])
        assert result.exit_code == 0, result.output
        assert shown in result.stderr and "Warning" not in result.stderr
        assert len(result.stderr.splitlines()) == 1


def test_sigma_zero_says_the_input_comes_back(tmp_path, rng):
    source = tmp_path / "in.png"
    pixels = _noisy(rng, (24, 24))
    iio.imwrite(source, pixels)
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "o.png"), "--sigma", "0"])
    assert result.exit_code == 0, result.output
    assert "note: sigma is 0" in result.stderr
    assert np.array_equal(iio.imread(tmp_path / "o.png"), pixels)


@pytest.mark.parametrize("rows", [1, 3])
def test_a_strip_too_thin_to_read_sigma_says_so(tmp_path, rng, rows):
    # Pure noise one pixel high read sigma 0, and the note said there was no noise.
    source = tmp_path / "line.png"
    pixels = rng.integers(0, 256, (rows, 400)).astype(np.uint8)
    iio.imwrite(source, pixels)
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "o.png")])
    assert result.exit_code == 0, result.output
    assert "sigma cannot be read from an image under 4 pixels across" in result.stderr
    assert "no noise to remove" not in result.stderr
    given = runner.invoke(app, ["denoise", str(source), str(tmp_path / "g.png"),
                                "--sigma", "40"])
    assert given.exit_code == 0 and "sigma cannot be read" not in given.stderr
    assert not np.array_equal(iio.imread(tmp_path / "g.png"), pixels)


def test_a_chroma_strength_without_colour_is_noted(tmp_path, rng):
    # Grey, two channels varying of three (the third constant), or the learned method: no
    # chroma strength is used, which went without a word.
    grey, colour = tmp_path / "grey.png", tmp_path / "colour.png"
    iio.imwrite(grey, _noisy(rng, (32, 32)))
    two = _noisy(rng, (32, 32, 3))
    two[..., 2] = 0
    iio.imwrite(colour, two)
    for source, extra in ((grey, []), (colour, []), (colour, ["--method", "learned"])):
        result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "o.png"),
                                     "--overwrite", "--h-chroma", "5", *extra])
        assert result.exit_code == 0, result.output
        assert "note: --h-chroma applies to colour images" in result.stderr
    iio.imwrite(colour, _noisy(rng, (32, 32, 3)))
    result = runner.invoke(app, ["denoise", str(colour), str(tmp_path / "o.png"), "--overwrite",
                                 "--h-chroma", "5"])
    assert "h chroma 5.00" in result.stderr and "--h-chroma applies" not in result.stderr
