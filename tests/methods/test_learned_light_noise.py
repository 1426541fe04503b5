"""The learned method below its networks' noise level: mixed with the classic method's result."""

import math

import imageio.v3 as iio
import numpy as np
import pytest
from skimage import data
from skimage.metrics import peak_signal_noise_ratio
from typer.testing import CliRunner

from nlmeans_cli import denoise, denoise_frames
from nlmeans_cli.cli import app
from nlmeans_cli.methods.learned import network_share
from nlmeans_cli.methods.model_files import shipped_models

shipped = pytest.mark.skipif(not shipped_models(), reason="no shipped networks in this tree")


def test_the_network_share_is_whole_from_its_level_and_falls_below_it():
    assert network_share(15.0, 15.0) == 1.0
    assert network_share(40.0, 15.0) == 1.0
    assert network_share(1.0, 15.0) == 0.0
    assert network_share(0.01, 15.0) == 0.0
    assert network_share(5.0, 15.0) == pytest.approx(math.log(5) / math.log(15))
    shares = [network_share(sigma, 25.0) for sigma in np.linspace(0.5, 30, 60)]
    assert all(a <= b for a, b in zip(shares, shares[1:], strict=False))
    assert all(0.0 <= share <= 1.0 for share in shares)
    # A network trained at sigma 1 or less (a --model): under its level, the classic method.
    assert network_share(0.5, 1.0) == 0.0 and network_share(0.2, 0.5) == 0.0
    assert network_share(1.0, 1.0) == 1.0


@shipped
@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0])
def test_light_noise_is_not_made_worse(sigma, rng):
    # The image scaled up to the network's level (15 / sigma times) showed the network edges
    # it was never trained on: at sigma 1 its result was 4 dB worse than the noisy image.
    clean = data.camera()[96:224, 160:288].astype(np.float64)
    noisy = clean + rng.normal(0, sigma, clean.shape)
    out = denoise(noisy / 255, sigma=sigma / 255, method="learned") * 255
    assert (peak_signal_noise_ratio(clean, out, data_range=255)
            > peak_signal_noise_ratio(clean, noisy, data_range=255) + 0.1)


@shipped
def test_the_mix_is_the_network_and_the_classic_method_in_the_share(rng):
    # At sigma 5 the sigma-15 network takes ln 5 / ln 15 of each pixel: the result lies
    # between the network alone (the refinement's) and the classic method's table result.
    clean = data.camera()[96:224, 160:288].astype(np.float32) / 255
    noisy = (clean + rng.normal(0, 5 / 255, clean.shape)).astype(np.float32)
    mixed = denoise(noisy, sigma=5 / 255, method="learned")
    scores = peak_signal_noise_ratio(clean, mixed, data_range=1)
    assert scores > peak_signal_noise_ratio(clean, noisy, data_range=1) + 3.0
    # A frame of a clip without a temporal window takes the same mix as the image alone.
    frames = list(denoise_frames(iter([noisy, noisy]), sigma=5 / 255, method="learned",
                                 temporal_window=0))
    np.testing.assert_allclose(frames[0], mixed, atol=1e-6)


@shipped
def test_from_the_networks_level_up_no_classic_result_mixes_in(tmp_path, rng):
    clean = data.camera()[96:160, 160:224].astype(np.float64)
    light, heavy = tmp_path / "light.png", tmp_path / "heavy.png"
    for path, sigma in ((light, 3.0), (heavy, 25.0)):
        noisy = np.clip(np.rint(clean + rng.normal(0, sigma, clean.shape)), 0, 255)
        iio.imwrite(path, noisy.astype(np.uint8))
    runner = CliRunner()
    args = ["--method", "learned", "--overwrite"]
    said = runner.invoke(app, ["denoise", str(light), str(tmp_path / "a.png"), "--sigma", "3",
                               *args])
    assert said.exit_code == 0, said.output
    assert "its result takes 41% of each pixel, the classic method's the rest" in said.output
    said = runner.invoke(app, ["denoise", str(heavy), str(tmp_path / "b.png"), "--sigma", "25",
                               *args])
    assert said.exit_code == 0, said.output
    assert "classic method" not in said.output
