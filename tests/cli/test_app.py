import os
import shutil
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
from typer.testing import CliRunner

from nlmeans_cli.cli import app
from nlmeans_cli.formulation import AFFINITIES

runner = CliRunner()


def test_help_lists_every_registered_affinity():
    result = runner.invoke(app, ["denoise", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in AFFINITIES:
        assert name in result.output
    for option in ("--sigma", "--h", "--patch-size", "--search-window", "--method",
                   "--overwrite", "--quiet"):
        assert option in result.output


def test_denoise_writes_same_shape_and_dtype(tmp_path, samples):
    out = tmp_path / "out.png"
    result = runner.invoke(app, ["denoise", str(samples / "camera_noisy.png"), str(out)])
    assert result.exit_code == 0, result.output
    noisy = iio.imread(samples / "camera_noisy.png")
    denoised = iio.imread(out)
    assert denoised.shape == noisy.shape and denoised.dtype == noisy.dtype
    assert "sigma" in result.stderr and "(estimated)" in result.stderr
    clean = iio.imread(samples / "camera_clean.png").astype(float)
    assert np.abs(denoised - clean).mean() < np.abs(noisy - clean).mean()


def test_sixteen_bit_sigma_is_on_the_255_scale(tmp_path, samples):
    out = tmp_path / "out.tif"
    result = runner.invoke(app, ["denoise", str(samples / "camera16_noisy.png"), str(out),
                                 "--sigma", "20"])
    assert result.exit_code == 0, result.output
    assert "sigma 20.00 (given)" in result.stderr
    assert iio.imread(out).dtype == np.uint16


def test_quiet_prints_nothing(tmp_path, samples):
    result = runner.invoke(app, ["denoise", str(samples / "astronaut_noisy.png"),
                                 str(tmp_path / "o.png"), "--quiet", "--sigma", "20"])
    assert result.exit_code == 0
    assert result.stderr == "" and result.stdout == ""


def test_existing_output_is_an_error_without_overwrite(tmp_path, samples):
    out = tmp_path / "o.png"
    out.write_bytes(b"keep me")
    args = ["denoise", str(samples / "camera_noisy.png"), str(out), "--sigma", "20", "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "already exists" in result.stderr and "Traceback" not in result.output
    assert out.read_bytes() == b"keep me"
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0
    assert iio.imread(out).shape == (256, 256)


@pytest.mark.parametrize(
    "extra, message",
    [(["--sigma", "loud"], "auto"), (["--patch-size", "4"], "odd"),
     (["--search-window", "0"], "--search-window"), (["--h", "0"], "positive"),
     (["--affinity", "cosine"], "cosine")],
)
def test_bad_options_are_usage_errors(tmp_path, samples, extra, message):
    result = runner.invoke(app, ["denoise", str(samples / "camera_noisy.png"),
                                 str(tmp_path / "o.png"), *extra])
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "o.png").exists()


def test_unreadable_input_is_one_line_and_exit_1(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG not really")
    result = runner.invoke(app, ["denoise", str(bad), str(tmp_path / "o.png")])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and lines[0].startswith("nlm: error:")


def test_installed_command_runs_in_a_subprocess(tmp_path, samples):
    command = shutil.which("nlm")
    if command is None:
        pytest.skip("the nlm command is not installed in this environment")
    out = tmp_path / "o.png"
    done = subprocess.run([command, "denoise", str(samples / "camera_noisy.png"), str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert iio.imread(out).shape == (256, 256)
    assert "camera_noisy.png" in done.stderr


def test_python_dash_m_shows_help():
    done = subprocess.run([sys.executable, "-m", "nlmeans_cli", "--help"], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0
    assert "denoise" in done.stdout


def test_version():
    from nlmeans_cli import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"nlm {__version__}"


def test_help_shows_every_affinity_formula_and_method_from_the_registries():
    import typer

    from nlmeans_cli.methods import METHODS

    params = {p.name: p for p in typer.main.get_command(app).commands["denoise"].params}
    for spec in AFFINITIES.values():
        assert spec.formula in params["affinity"].help
        assert "[" not in spec.formula  # rich would take it for markup and drop it
    for method in METHODS.values():
        assert method.description in params["method"].help
    assert runner.invoke(app, ["denoise", "--help"]).exit_code == 0


def test_nlm_alone_prints_the_help_and_no_empty_error():
    result = runner.invoke(app, [])
    assert "Usage" in result.output
    assert "nlm: error:" not in result.output


def test_an_output_that_is_a_folder_says_so(tmp_path, rng):
    source = tmp_path / "in.png"
    iio.imwrite(source, np.clip(128 + rng.normal(0, 20, (16, 16)), 0, 255).astype(np.uint8))
    (tmp_path / "folder").mkdir()
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "folder")])
    assert result.exit_code == 1 and "is a folder" in result.stderr


@pytest.mark.parametrize("method", ["classic", "learned"])
@pytest.mark.parametrize("cached, quiet, announced", [(False, False, True), (True, False, False),
                                                      (False, True, False)])
def test_the_one_time_compile_is_announced(tmp_path, rng, monkeypatch, method, cached, quiet,
                                           announced):
    from nlmeans_cli.methods import METHODS

    monkeypatch.setattr(type(METHODS[method]), "kernels_cached", lambda self: cached)
    source = tmp_path / "in.png"
    iio.imwrite(source, np.clip(128 + rng.normal(0, 20, (16, 16)), 0, 255).astype(np.uint8))
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "o.png"),
                                 "--method", method, *(["-q"] if quiet else [])])
    assert result.exit_code == 0, result.output
    assert (f"compiling the engine for the {method} method, once" in result.stderr) is announced


def test_kernels_are_found_in_the_cache_once_they_have_run():
    from nlmeans_cli import denoise
    from nlmeans_cli.methods import METHODS

    denoise(np.full((8, 8), 0.5, np.float32), sigma=0.1)
    assert METHODS["classic"].kernels_cached()
    denoise(np.full((24, 24), 0.5, np.float32), sigma=0.1, method="learned")
    assert METHODS["learned"].kernels_cached()


def test_the_learned_method_needs_more_kernels_than_the_engine_s_main_one(monkeypatch):
    # A cache holding only the classic kernel must not pass for the learned method's.
    from nlmeans_cli.engine import cache
    from nlmeans_cli.methods import METHODS

    monkeypatch.setattr(cache, "in_cache",
                        lambda dispatcher: dispatcher.__name__ == "nonlocal_planar_strips")
    assert METHODS["classic"].kernels_cached()
    assert not METHODS["learned"].kernels_cached()


@pytest.mark.parametrize("command", ["denoise", "batch", "compare", "train"])
def test_help_names_values_not_python_types(command):
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for label in ("<bool>", "<int range>", "<float range>", "<list[", "<path>", "{", "<int>",
                  "table in README"):
        assert label not in result.output, label
    assert "Usage: nlm " + command in result.output


def test_classic_with_an_affinity_that_does_not_compare_patches_is_refused(tmp_path, samples):
    out = tmp_path / "out.png"
    result = runner.invoke(app, ["denoise", str(samples / "camera_noisy.png"), str(out),
                                 "--affinity", "dot-product"])
    assert result.exit_code == 2
    assert "--method learned" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_a_png_given_as_model_is_named_as_png(tmp_path, samples):
    result = runner.invoke(app, ["denoise", str(samples / "camera_noisy.png"),
                                 str(tmp_path / "out.png"), "--method", "learned",
                                 "--model", str(samples / "camera_noisy.png")])
    assert result.exit_code == 2
    assert "this is PNG image data" in result.stderr
    assert "Python objects" not in result.stderr


def test_an_unreadable_input_says_permission_denied(tmp_path, samples, monkeypatch):
    from pathlib import Path

    locked = tmp_path / "locked.png"
    locked.write_bytes((samples / "camera_noisy.png").read_bytes())
    real_read_bytes = Path.read_bytes

    def read_bytes(self):
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    # Permissions do not stop root, so the refusal is simulated where the file is read.
    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    result = runner.invoke(app, ["denoise", str(locked), str(tmp_path / "out.png")])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"nlm: error: {locked}: permission denied"


def test_learned_with_an_affinity_that_ships_no_network_is_refused(tmp_path, samples):
    out = tmp_path / "out.png"
    result = runner.invoke(app, ["denoise", str(samples / "camera_noisy.png"), str(out),
                                 "--method", "learned", "--affinity", "dot-product"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "shipped: embedded-gaussian" in lines[0]
    assert "nlm train" in lines[0] and not out.exists()


def test_the_cache_index_tells_the_kernel_s_versions_apart(rng):
    from nlmeans_cli import denoise
    from nlmeans_cli.engine import in_cache
    from nlmeans_cli.engine.cache import PLANAR_VERSIONS
    from nlmeans_cli.engine.planar import nonlocal_planar_strips

    names = nonlocal_planar_strips.py_func.__code__.co_varnames
    split, inv_h2 = names.index("split"), names.index("inv_h2")

    def version(nones):
        return lambda types: ((str(types[split]) == "none") == ("split" in nones)
                              and (str(types[inv_h2]) == "none") == ("inv_h2" in nones))

    colour = rng.random((12, 12, 3)).astype(np.float32)
    denoise(rng.random((12, 12)).astype(np.float32), sigma=0.1)
    denoise(colour, sigma=0.1, h=0.1, channel_axis=-1)  # chroma at 2h: squared weights
    denoise(colour, sigma=0.1, h=0.1, h_chroma=0.1, channel_axis=-1)
    assert sorted(PLANAR_VERSIONS) == ["exponentials", "own strengths", "squared"]
    for _, nones in PLANAR_VERSIONS.values():
        assert in_cache(nonlocal_planar_strips, accepts=version(nones))
    assert not in_cache(nonlocal_planar_strips, accepts=version(("split", "inv_h2")))


def test_a_missing_version_is_announced_once_per_block(rng, monkeypatch):
    from nlmeans_cli import denoise
    from nlmeans_cli.engine import announcing_compiles, cache

    monkeypatch.setattr(cache, "in_cache", lambda dispatcher, accepts=None: accepts is None)
    grey = rng.random((12, 12)).astype(np.float32)
    colour = rng.random((12, 12, 3)).astype(np.float32)
    heard: list[str] = []
    denoise(grey, sigma=0.1)  # no one listening
    with announcing_compiles(heard.append):
        for image in (grey, colour, grey, colour):
            denoise(image, sigma=0.1, h=0.1, channel_axis=-1 if image.ndim == 3 else None)
    assert heard == ["grey images", "colour images"]
    with announcing_compiles(heard.append):
        denoise(colour, sigma=0.1, h=0.1, channel_axis=-1)
        denoise(colour, sigma=0.1, h=0.1, h_chroma=0.13, channel_axis=-1)
    assert heard[2:] == ["colour images", "colour images at this chroma strength"]


def test_the_command_line_announces_a_further_version(tmp_path, rng, monkeypatch):
    from numba import types

    from nlmeans_cli.engine import cache
    from nlmeans_cli.methods import METHODS

    # The cache holds the grey images' version only (every argument typed None).
    monkeypatch.setattr(type(METHODS["classic"]), "kernels_cached", lambda self: True)
    monkeypatch.setattr(cache, "in_cache", lambda dispatcher, accepts=None: (
        accepts is None or accepts((types.none,) * 30)))
    source = tmp_path / "in.png"
    iio.imwrite(source, np.clip(128 + rng.normal(0, 20, (16, 16, 3)), 0, 255).astype(np.uint8))
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "o.png")])
    assert result.exit_code == 0, result.output
    assert "compiling the engine for colour images, once" in result.stderr
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "p.png"), "-q"])
    assert result.exit_code == 0 and "compiling" not in result.stderr


def test_an_index_numba_would_not_use_holds_no_kernel(tmp_path, monkeypatch):
    # After an upgrade that replaces the package's files and leaves Numba's cache beside
    # them, or from a wheel built on another CPU, an index must not pass for a compiled
    # kernel (the compile would go unannounced).
    import pickle
    from pathlib import Path

    import numba
    from numba import config

    from nlmeans_cli import denoise
    from nlmeans_cli.engine import in_cache
    from nlmeans_cli.engine.planar import nonlocal_planar_strips

    denoise(np.full((8, 8), 0.5, np.float32), sigma=0.1)
    code = nonlocal_planar_strips.py_func.__code__
    source = Path(code.co_filename)
    folder = Path(config.CACHE_DIR) if config.CACHE_DIR else source.parent / "__pycache__"
    index = next(folder.rglob(
        f"{source.stem}.nonlocal_planar_strips-{code.co_firstlineno}.py*.nbi"))
    with open(index, "rb") as file:
        version = pickle.load(file)
        stamp, versions = pickle.loads(file.read())
    monkeypatch.setattr(config, "CACHE_DIR", str(tmp_path))

    def written(numba_version, source_stamp, entries=versions):
        with open(tmp_path / index.name, "wb") as file:
            pickle.dump(numba_version, file)
            file.write(pickle.dumps((source_stamp, entries)))
        return in_cache(nonlocal_planar_strips)

    # A wheel built on another machine carries versions compiled for its CPU.
    elsewhere = {(key[0], (key[1][0], "another-cpu", key[1][2]), key[2]): name
                 for key, name in versions.items()}
    assert version == numba.__version__
    assert written(version, stamp)
    assert not written(version, b"another source")
    assert not written("0.1.0", stamp)
    assert not written(version, stamp, elsewhere)
