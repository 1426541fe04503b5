"""Property-based tests: random shapes, dtypes, parameters and file contents."""

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from nlmeans_cli import denoise
from nlmeans_cli.cli import app
from nlmeans_cli.formulation import AFFINITIES
from nlmeans_cli.jobs.file import denoise_file
from nlmeans_cli.pixels import OPPONENT

DTYPES = (np.uint8, np.uint16, np.int16, np.float16, np.float32, np.float64)
# Affinities whose weights are never negative: the estimate is a convex combination.
CONVEX = ("gaussian", "embedded-gaussian")

odd = st.integers(0, 4).map(lambda k: 2 * k + 1)


@st.composite
def images(draw):
    layout = draw(st.sampled_from(["grey", "colour", "volume"]))
    if layout == "volume":
        shape = tuple(draw(st.integers(1, 6)) for _ in range(3))
    else:
        shape = (draw(st.integers(1, 14)), draw(st.integers(1, 14)))
        if layout == "colour":
            shape += (draw(st.sampled_from([2, 3])),)
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        pixels = rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
    else:
        pixels = rng.random(shape).astype(dtype) * dtype.type(draw(st.sampled_from([1, 1e-3])))
    return pixels, (-1 if layout == "colour" else None)


@st.composite
def parameters(draw, affinities=tuple(AFFINITIES)):
    return dict(
        sigma=draw(st.one_of(st.none(), st.floats(0, 0.5))),
        h=draw(st.one_of(st.none(), st.floats(1e-3, 1.0))),
        patch_size=draw(st.one_of(st.none(), odd)),
        search_window=draw(st.one_of(st.none(), odd)),
        affinity=draw(st.sampled_from(affinities)),
    )


def _span(dtype):
    """The span of full scale: the unit scale's 1 in the dtype's units."""
    if np.dtype(dtype).kind in "ui":
        return float(np.iinfo(dtype).max) - float(np.iinfo(dtype).min)
    return 1.0


def _scaled(kwargs, dtype):
    """Sigma and h are drawn on the unit scale; integer images take them in their units."""
    scale = _span(dtype)
    return {key: (value * scale if key in ("sigma", "h") and value is not None else value)
            for key, value in kwargs.items()}


@settings(max_examples=80, deadline=None)
@given(images(), parameters())
def test_never_crashes_and_keeps_shape_and_dtype(image, kwargs):
    pixels, channel_axis = image
    out = denoise(pixels, channel_axis=channel_axis, **_scaled(kwargs, pixels.dtype))
    assert out.shape == pixels.shape and out.dtype == pixels.dtype
    assert np.isfinite(out.astype(np.float64)).all()


@settings(max_examples=60, deadline=None)
@given(images(), parameters(CONVEX))
def test_output_stays_within_the_input_range(image, kwargs):
    pixels, channel_axis = image
    out = denoise(pixels, channel_axis=channel_axis, **_scaled(kwargs, pixels.dtype))
    if channel_axis is not None and pixels.shape[-1] == 3 and kwargs["affinity"] == "gaussian":
        # Colour: luminance and chroma are weighted means with weights of their own, so each
        # opponent channel stays within its input range (an RGB channel need not).
        scale = _span(pixels.dtype)
        before = np.tensordot(pixels.astype(np.float64) / scale, OPPONENT.T, axes=1)
        after = np.tensordot(out.astype(np.float64) / scale, OPPONENT.T, axes=1)
        # Rounding to integers moves each channel by half a level at most.
        slack = (0.5 * np.sqrt(3) / scale if pixels.dtype.kind in "ui"
                 else 1e-5 * max(np.abs(before).max(), 1e-30))
        assert (after.min(axis=(0, 1)) >= before.min(axis=(0, 1)) - slack).all()
        assert (after.max(axis=(0, 1)) <= before.max(axis=(0, 1)) + slack).all()
        return
    low, high = pixels.min(), pixels.max()
    if pixels.dtype.kind == "f":  # float32 rounding of a weighted mean
        slack = 1e-5 * max(abs(float(low)), abs(float(high)), 1e-30)
        assert out.min() >= low - slack and out.max() <= high + slack
    else:
        assert out.min() >= low and out.max() <= high


@settings(max_examples=40, deadline=None)
@given(images(), parameters(), st.floats(0, 1))
def test_constant_image_stays_constant(image, kwargs, level):
    pixels, channel_axis = image
    if pixels.dtype.kind in "ui":
        value = np.rint(np.iinfo(pixels.dtype).min + level * _span(pixels.dtype))
    else:
        value = level
    constant = np.full(pixels.shape, value, pixels.dtype)
    out = denoise(constant, channel_axis=channel_axis, **_scaled(kwargs, pixels.dtype))
    if pixels.dtype.kind in "ui":
        assert np.array_equal(out, constant)
    else:
        np.testing.assert_allclose(out, constant, rtol=1e-6, atol=1e-7)


@settings(max_examples=60, deadline=None)
@given(images(), st.sampled_from(["auto", "poisson-gaussian"]),
       st.one_of(st.none(), st.just(0.0), st.floats(0, 0.2)),
       st.one_of(st.none(), st.just(0.0), st.floats(0, 0.2)))
def test_noise_models_keep_shape_and_dtype_and_give_finite_values(image, noise, gain,
                                                                   read_noise):
    pixels, channel_axis = image
    scale = _span(pixels.dtype)
    try:
        out = denoise(pixels, channel_axis=channel_axis, noise=noise,
                      gain=None if gain is None else gain * scale,
                      read_noise=None if read_noise is None else read_noise * scale)
    except ValueError as error:
        assert gain is not None and read_noise is not None
        assert "leave no noise to remove" in str(error)
        return
    assert out.shape == pixels.shape and out.dtype == pixels.dtype
    assert np.isfinite(out).all()


SIGNATURES = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"BM",
              b"RIFF\x00\x00\x00\x00WEBP", b"GIF89a"]
runner = CliRunner()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SIGNATURES), st.binary(max_size=600),
       st.sampled_from([".png", ".jpg", ".tif", ".bmp", ".webp"]))
def test_random_bytes_never_give_a_traceback(signature, body, extension):
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / f"random{extension}"
        source.write_bytes(signature + body)
        target = Path(folder) / "out.png"
        outcome = denoise_file(source, target)
        if outcome.status == "failed":
            assert str(source) in outcome.error and "\n" not in outcome.error
            assert not target.exists()
        result = runner.invoke(app, ["denoise", str(source), str(Path(folder) / "cli.png")])
        assert result.exit_code in (0, 1)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "Traceback" not in result.output
        if result.exit_code == 1:
            assert len(result.stderr.strip().splitlines()) == 1
