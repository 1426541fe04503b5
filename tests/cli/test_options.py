"""Bad option values: usage errors with exit code 2 on the command line, ValueError in the API."""

import imageio.v3 as iio
import numpy as np
import pytest
from typer.testing import CliRunner

from nlmeans_cli.cli import app
from nlmeans_cli.cli.options import parse_sigma, request

runner = CliRunner()


def _noisy(rng, shape):
    return np.clip(128 + rng.normal(0, 30, shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    "extra, message",
    [(["--sigma", "-3"], "--sigma"), (["--patch-size", "0"], "--patch-size"),
     (["--patch-size", "4"], "odd"), (["--search-window", "0"], "--search-window"),
     (["--h", "0"], "positive"), (["--h", "-1"], "positive"),
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

    asked = request("51", 25.5, 5, None, AffinityName("gaussian"), MethodName("classic"), None)
    assert asked.sigma_unit == pytest.approx(0.2) and asked.h_unit == pytest.approx(0.1)
    assert asked.patch_size == 5 and asked.search_window is None
    assert parse_sigma("auto") is None and parse_sigma(" AUTO ") is None
