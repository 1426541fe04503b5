"""Clips, stacks and volumes: file round trips, the spacetime window, streaming memory."""

import gc
import weakref
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from skimage.metrics import peak_signal_noise_ratio
from typer.testing import CliRunner

from images import panned_clip
from nlmeans_cli import denoise, spacetime
from nlmeans_cli.cli import app
from nlmeans_cli.clip_noise import estimate_frames_noise
from nlmeans_cli.io.sequences import Sequence, is_sequence, open_sequence, write_sequence
from nlmeans_cli.jobs.file import JobOptions, denoise_file
from nlmeans_cli.parameters import Request
from nlmeans_cli.spacetime import (
    FRAMES_PER_CALL,
    denoise_clip,
    denoise_frames,
)

runner = CliRunner()


def as_uint8(frames):
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def sequence_like(frames, fps=12.5):
    return Sequence(Path("synthetic"), "array", len(frames), frames.shape[1:], frames.dtype,
                    fps=fps)


def test_temporal_window_zero_is_frame_by_frame_exactly(rng):
    _, noisy = panned_clip(rng)
    frames = as_uint8(noisy)
    # h given: a still image's h is otherwise chosen by SURE, a clip's from the table.
    streamed = list(denoise_frames(iter(frames), sigma=25.0, h=18.0, temporal_window=0))
    for frame, result in zip(frames, streamed, strict=True):
        assert_array_equal(result, denoise(frame, sigma=25.0, h=18.0))


def test_spacetime_window_gains_over_frame_by_frame(rng):
    clean, noisy = panned_clip(rng, n_frames=7)
    unit_clean, unit_noisy = clean / 255, noisy / 255
    by_frame = denoise_clip(unit_noisy, sigma=25 / 255, temporal_window=0)
    spacetime = denoise_clip(unit_noisy, sigma=25 / 255, temporal_window=2)

    def mean_psnr(estimate):
        return np.mean([peak_signal_noise_ratio(c, e, data_range=1)
                        for c, e in zip(unit_clean, estimate, strict=True)])

    assert spacetime.dtype == np.float32 and spacetime.shape == noisy.shape
    assert mean_psnr(spacetime) > mean_psnr(by_frame) + 0.5


def test_colour_clip_keeps_shape_and_dtype(rng):
    _, noisy = panned_clip(rng, n_frames=4, colour=True)
    frames = as_uint8(noisy)
    out = denoise_clip(frames, sigma=25.0, temporal_window=1, channel_axis=-1)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert np.abs(out.astype(float) - frames).mean() > 1  # it did smooth


@pytest.mark.parametrize("noise", ["auto", "gaussian"])
def test_constant_and_copied_channels_of_a_clip(rng, noise):
    # A fluorescence time-lapse saved in colour: green alone, red empty, blue one level.
    clean, _ = panned_clip(rng, n_frames=6)
    green = as_uint8(rng.poisson(clean / 4) * 4.0)  # photon noise
    clip = np.zeros(green.shape + (3,), np.uint8)
    clip[..., 1] = green
    clip[..., 2] = 9
    for temporal_window in (0, 2):
        out = denoise_clip(clip, channel_axis=-1, noise=noise, temporal_window=temporal_window)
        assert_array_equal(out[..., [0, 2]], clip[..., [0, 2]])
        assert_array_equal(out[..., 1], denoise_clip(green, noise=noise,
                                                     temporal_window=temporal_window))
    streamed = np.stack(list(denoise_frames(iter(clip), channel_axis=-1, sigma=20.0)))
    assert_array_equal(streamed[..., [0, 2]], clip[..., [0, 2]])
    assert_array_equal(streamed[..., 1], np.stack(list(denoise_frames(iter(green), sigma=20.0))))
    assert estimate_frames_noise(iter(clip), channel_axis=-1) == estimate_frames_noise(
        iter(green))
    # A grey clip saved in colour: its channels are one, denoised once.
    grey = np.repeat(green[..., np.newaxis], 3, axis=-1)
    for temporal_window in (0, 2):
        out = denoise_clip(grey, channel_axis=-1, noise=noise, temporal_window=temporal_window)
        assert_array_equal(out, np.repeat(denoise_clip(
            green, noise=noise, temporal_window=temporal_window)[..., np.newaxis], 3, axis=-1))
    assert estimate_frames_noise(iter(grey), channel_axis=-1) == estimate_frames_noise(
        iter(green))
    streamed = np.stack(list(denoise_frames(iter(grey), channel_axis=-1, sigma=20.0)))
    assert_array_equal(streamed[..., 2], np.stack(list(denoise_frames(iter(green), sigma=20.0))))
    floats = clip / 255.0 + np.array([0.1, 0.0, 0.0])  # float64, to the bit
    out = denoise_clip(floats, channel_axis=-1, noise=noise)
    assert out.dtype == np.float64
    assert_array_equal(out[..., [0, 2]], floats[..., [0, 2]])


def grey_title_then_colour(rng):
    """A grey title (red, green and blue equal, as an encoder's grey holds them), then colour."""
    _, noisy = panned_clip(rng, n_frames=5, colour=True)
    frames = as_uint8(noisy)
    frames[0] = np.repeat(frames[0].mean(axis=-1, keepdims=True).astype(np.uint8), 3, axis=-1)
    return frames


@pytest.mark.parametrize("noise", ["auto", "gaussian"])
@pytest.mark.parametrize("temporal_window", [0, 2])
def test_a_grey_title_does_not_make_a_colour_clip_grey(rng, noise, temporal_window):
    # At a given sigma the channels were planned on the first frame alone: its copies made
    # every frame after it grey.
    frames = grey_title_then_colour(rng)
    out = denoise_clip(frames, sigma=20.0, channel_axis=-1, noise=noise,
                       temporal_window=temporal_window)
    for k in range(1, len(frames)):
        held = frames[k].reshape(-1, 3).mean(axis=0)
        kept = out[k].reshape(-1, 3).mean(axis=0)
        # The channels differ, and still do (the window blends in a little of the title).
        assert np.ptp(held) > 20 and np.ptp(kept) > 0.75 * np.ptp(held)


def test_a_stream_keeps_the_colour_its_first_frame_did_not_show(rng):
    # A stream is planned on its first frame: a later frame whose channels differ keeps
    # those the plan took for copies as it holds them, rather than lose them.
    frames = grey_title_then_colour(rng)
    out = list(denoise_frames(iter(frames), sigma=20.0, channel_axis=-1))
    for k in range(1, len(frames)):
        assert_array_equal(out[k][..., 1:], frames[k][..., 1:])
        assert np.abs(out[k][..., 0].astype(float) - frames[k][..., 0]).mean() > 1


def test_constant_clip_is_a_fixed_point():
    clip = np.full((5, 12, 14), 77, np.uint8)
    assert_array_equal(denoise_clip(clip, sigma=10.0, temporal_window=2), clip)


def test_float32_close_to_float64(rng):
    _, noisy = panned_clip(rng, n_frames=4)
    single = denoise_clip((noisy / 255).astype(np.float32), sigma=0.1, temporal_window=1)
    double = denoise_clip(noisy.astype(np.float64) / 255, sigma=0.1, temporal_window=1)
    assert double.dtype == np.float64
    np.testing.assert_allclose(single, double, atol=1e-5)


@pytest.mark.parametrize("noise", ["gaussian", "auto"])
def test_a_float_clip_in_other_units_is_denoised_as_on_the_unit_scale(rng, noise):
    # Counts saved as floats (0 to 4095, and beyond with noise) read the default table at
    # sigma in counts: the largest patches and windows.
    clean, noisy = panned_clip(rng, n_frames=4, sigma=12.0)
    unit = (noisy / 255).astype(np.float32)
    expected = peak_signal_noise_ratio(clean / 255, denoise_clip(unit, temporal_window=1,
                                                                 noise=noise), data_range=1)
    for scale in (4095, 1e-6):
        scaled = denoise_clip(unit * np.float32(scale), temporal_window=1, noise=noise)
        psnr = peak_signal_noise_ratio(clean / 255, scaled / scale, data_range=1)
        assert abs(psnr - expected) < 0.05, (scale, psnr, expected)


def test_stream_holds_at_most_a_call_of_frames_and_three_temporal_windows(rng):
    # A call's frames, twice the window ahead (the pairs handed on to the next call) and
    # once behind (the reflection at the clip's end).
    temporal_window, n_frames = 2, 120
    alive = set()

    def stream():
        for k in range(n_frames):
            frame = rng.integers(0, 256, (10, 12), dtype=np.uint8)
            weakref.finalize(frame, alive.discard, k)
            alive.add(k)
            yield frame

    most = 0
    produced = 0
    for _ in denoise_frames(stream(), sigma=20.0, temporal_window=temporal_window):
        gc.collect()
        most = max(most, len(alive))
        produced += 1
    assert produced == n_frames
    assert most <= FRAMES_PER_CALL + 3 * temporal_window


@pytest.mark.parametrize("colour", [False, True])
def test_frames_per_engine_call_do_not_change_the_result(rng, monkeypatch, colour):
    _, noisy = panned_clip(rng, n_frames=9, colour=colour)
    frames = (noisy / 255).astype(np.float32)  # float out: no rounding to hide a difference
    axis = -1 if colour else None
    default = denoise_clip(frames, sigma=0.1, temporal_window=2, channel_axis=axis)
    for per_call in (1, 3):
        monkeypatch.setattr(spacetime, "FRAMES_PER_CALL", per_call)
        assert_array_equal(denoise_clip(frames, sigma=0.1, temporal_window=2,
                                        channel_axis=axis), default)


def test_frames_of_another_shape_are_refused(rng):
    frames = [np.zeros((8, 8), np.uint8), np.zeros((8, 9), np.uint8)]
    with pytest.raises(ValueError, match="frame 1"):
        list(denoise_frames(frames, sigma=5.0))


def test_noise_estimate_over_the_clip(rng):
    clip = np.full((40, 64, 64), 0.5) + rng.normal(0, 0.08, (40, 64, 64))
    estimate = estimate_frames_noise(iter(clip), n_frames=len(clip))
    assert abs(estimate - 0.08) < 0.008


@pytest.mark.parametrize("extension, shape", [(".mp4", (32, 48, 3)), (".mp4", (31, 45, 3)),
                                              (".mkv", (32, 40, 3)), (".avi", (24, 32)),
                                              (".mov", (32, 48, 3)), (".gif", (30, 40, 3)),
                                              (".tif", (20, 30)), (".npy", (20, 30, 3))])
def test_round_trip_keeps_frames_size_dtype_and_rate(tmp_path, rng, extension, shape):
    frames = rng.integers(0, 256, (6, *shape), dtype=np.uint8)
    source = tmp_path / f"in{extension}"
    write_sequence(source, iter(frames), sequence_like(frames, fps=12.5))
    out = tmp_path / f"out{extension}"
    result = runner.invoke(app, ["denoise", str(source), str(out), "--sigma", "20"])
    assert result.exit_code == 0, result.output
    assert "6 frames" in result.stderr
    read = open_sequence(out, max_pixels=10**6)
    frames_read = list(read.frames())
    assert len(frames_read) == read.n_frames == 6
    assert frames_read[0].shape == shape and frames_read[0].dtype == np.uint8
    if extension == ".gif":
        assert read.durations == [80] * 6
    elif extension in (".tif", ".npy"):
        assert read.fps is None
    else:
        assert read.fps == pytest.approx(12.5)
    assert is_sequence(out)


@pytest.mark.parametrize("extension", [".mp4", ".mov", ".mkv"])
def test_grey_frames_keep_their_levels_in_a_video(tmp_path, extension):
    # H.264 takes grey frames as its luma, untouched: untagged, a decoder read them as video
    # range and stretched them (levels 0 to 16 went to black, 235 to 255 to white).
    ramp = np.tile(np.round(np.arange(48) * 255 / 47).astype(np.uint8), (32, 1))
    frames = np.stack([ramp] * 4)
    out = tmp_path / f"grey{extension}"
    write_sequence(out, iter(frames), sequence_like(frames))
    read = [np.atleast_3d(frame)[..., 0] for frame in open_sequence(
        out, max_pixels=10**6).frames()]
    assert len(read) == 4
    for frame in read:
        assert np.abs(frame.astype(int) - ramp).max() <= 3


def test_a_gif_keeps_its_transparency(tmp_path, rng):
    from PIL import Image, ImageSequence

    _, noisy = panned_clip(rng, n_frames=4, shape=(32, 40), colour=True)
    alpha = np.full((32, 40), 255, np.uint8)
    alpha[:6] = 0  # a transparent band
    frames = [Image.fromarray(np.dstack([frame, alpha])) for frame in as_uint8(noisy)]
    source = tmp_path / "in.gif"
    frames[0].save(source, format="GIF", save_all=True, append_images=frames[1:],
                   duration=80, loop=0, disposal=2)

    def alphas(path):
        with Image.open(path) as image:
            return [np.asarray(frame.convert("RGBA"))[..., 3].copy()
                    for frame in ImageSequence.Iterator(image)]

    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.gif"),
                                 "--sigma", "20"])
    assert result.exit_code == 0, result.output
    assert "transparency" not in result.stderr
    kept = alphas(tmp_path / "out.gif")
    assert len(kept) == 4 and all(np.array_equal(each, alphas(source)[0]) for each in kept)
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.mp4"),
                                 "--sigma", "20"])
    assert result.exit_code == 0, result.output
    assert "GIF transparency dropped: .mp4 cannot hold it" in result.stderr


# A quarter turn anticlockwise (FFmpeg's display matrix: 16.16 fixed point, 2.30 last).
QUARTER_TURN = (0, -65536, 0, 65536, 0, 0, 0, 0, 1 << 30)


def test_a_video_keeps_its_rotation(tmp_path, rng):
    # A phone held upright records a quarter turn in the container, not in the frames.
    av = pytest.importorskip("av")
    if not hasattr(av.video.stream.VideoStream, "set_display_matrix"):
        pytest.skip("PyAV before 18 cannot write a display matrix")
    frames = rng.integers(0, 256, (5, 32, 48, 3), dtype=np.uint8)
    source = tmp_path / "portrait.mp4"
    like = Sequence(Path("synthetic"), "video", len(frames), frames.shape[1:], frames.dtype,
                    fps=10.0, display_matrix=QUARTER_TURN)
    write_sequence(source, iter(frames), like)
    assert open_sequence(source, max_pixels=10**6).display_matrix == QUARTER_TURN
    for extension in (".mp4", ".mkv", ".mov"):
        out = tmp_path / f"out{extension}"
        result = runner.invoke(app, ["denoise", str(source), str(out), "--sigma", "20"])
        assert result.exit_code == 0, result.output
        assert "rotation" not in result.stderr
        assert open_sequence(out, max_pixels=10**6).display_matrix == QUARTER_TURN
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.avi"),
                                 "--sigma", "20"])
    assert result.exit_code == 0, result.output
    assert "video rotation dropped: .avi cannot hold it" in result.stderr
    plain = tmp_path / "plain.mp4"
    write_sequence(plain, iter(frames), sequence_like(frames))
    assert open_sequence(plain, max_pixels=10**6).display_matrix is None


def test_a_video_keeps_its_colour_matrix(tmp_path, rng):
    # Tagged BT.709, read to RGB by it; written untagged by BT.601's matrix, a player that
    # takes HD video for BT.709 showed a saturated red 10 levels off.
    bt709 = {"colorspace": 1, "color_range": 1, "color_primaries": 1, "color_trc": 1}
    frames = np.clip(np.array([200, 60, 30]) + rng.normal(0, 4, (4, 32, 48, 3)), 0, 255)
    frames = frames.astype(np.uint8)
    source = tmp_path / "hd.mp4"
    like = Sequence(Path("synthetic"), "video", len(frames), frames.shape[1:], frames.dtype,
                    fps=10.0, colour=bt709)
    write_sequence(source, iter(frames), like)
    read = open_sequence(source, max_pixels=10**6)
    assert read.colour == bt709
    held = read.read_all().reshape(-1, 3).mean(axis=0)
    assert np.abs(held - [200, 60, 30]).max() < 4  # 4:2:0 and H.264 at quality 17
    out = tmp_path / "out.mp4"
    result = runner.invoke(app, ["denoise", str(source), str(out), "--sigma", "4"])
    assert result.exit_code == 0, result.output
    assert open_sequence(out, max_pixels=10**6).colour == bt709

    def as_bt709(path):  # as a player that takes HD video for BT.709 shows it
        av = pytest.importorskip("av")
        with av.open(str(path)) as container:
            return np.mean([frame.reformat(format="rgb24", src_colorspace="ITU709",
                                           src_color_range="MPEG").to_ndarray()
                            for frame in container.decode(video=0)], axis=(0, 1, 2))

    assert np.abs(as_bt709(out) - as_bt709(source)).max() < 2


def test_an_anamorphic_video_keeps_its_pixel_aspect(tmp_path, rng):
    from fractions import Fraction

    frames = rng.integers(0, 256, (3, 32, 48, 3), dtype=np.uint8)
    source = tmp_path / "wide.mp4"
    like = Sequence(Path("synthetic"), "video", len(frames), frames.shape[1:], frames.dtype,
                    fps=10.0, pixel_aspect=Fraction(4, 3))
    write_sequence(source, iter(frames), like)
    assert open_sequence(source, max_pixels=10**6).pixel_aspect == Fraction(4, 3)
    for extension in (".mp4", ".mov"):
        out = tmp_path / f"out{extension}"
        result = runner.invoke(app, ["denoise", str(source), str(out), "--sigma", "20"])
        assert result.exit_code == 0 and "aspect" not in result.stderr, result.output
        assert open_sequence(out, max_pixels=10**6).pixel_aspect == Fraction(4, 3)
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.mkv"),
                                 "--sigma", "20"])
    assert "pixel aspect ratio 4:3 dropped: the .mkv written here" in result.stderr
    plain = tmp_path / "plain.mp4"
    write_sequence(plain, iter(frames), sequence_like(frames))
    assert open_sequence(plain, max_pixels=10**6).pixel_aspect is None


def _ten_bit_video(path, frames, pixel_format="yuv420p10le", **colour):
    """Write 16-bit RGB frames as a 10-bit video (H.264 or FFV1 by *path*'s extension)."""
    with av.open(str(path), "w") as container:
        codec = "ffv1" if path.suffix == ".mkv" else "libx264"
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pixel_format
        if codec == "libx264":
            stream.options = {"qp": "0"}  # lossless: the noise as it was made
        for name, value in colour.items():
            setattr(stream.codec_context, name, value)
        for frame in frames:
            picture = av.VideoFrame.from_ndarray(frame, format="rgb48le").reformat(
                format=pixel_format, dst_colorspace=colour.get("colorspace"))  # as tagged
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_a_ten_bit_video_keeps_its_ten_bits(tmp_path, rng):
    # Read as uint16 on the full scale and written back with 10 bits (it was read and
    # written as 8: an HDR video's gradients banded, and a level of 8 bits is 4 of 10).
    rows, columns = np.mgrid[0:32, 0:48]
    clean = np.stack([columns * 1300, rows * 2000, np.full_like(rows, 30000)], axis=-1)
    noisy = np.stack([np.clip(clean + rng.normal(0, 3000, clean.shape), 0, 65535)
                      for _ in range(6)]).astype(np.uint16)
    source = tmp_path / "hdr.mp4"
    _ten_bit_video(source, noisy, color_primaries=9, color_trc=16, colorspace=9)
    read = open_sequence(source, max_pixels=10**6)
    assert read.dtype == np.uint16 and read.bits == 10
    frames = list(read.frames())
    assert frames[0].dtype == np.uint16 and frames[0].shape == (32, 48, 3)
    # Finer than 8 bits: the frames take far more than 256 distinct values.
    assert np.unique(frames[0]).size > 1024
    for extension, pixel_format in ((".mp4", "yuv420p10le"), (".mkv", "gbrp10le")):
        out = tmp_path / f"out{extension}"
        result = runner.invoke(app, ["denoise", str(source), str(out)])
        assert result.exit_code == 0, result.output
        assert "bits" not in result.stderr and "uint16" in result.stderr
        with av.open(str(out)) as container:
            context = container.streams.video[0].codec_context
            assert context.pix_fmt == pixel_format
            assert (context.color_primaries, context.color_trc) == (9, 16)  # BT.2020, PQ
        denoised = list(open_sequence(out, max_pixels=10**6).frames())
        assert len(denoised) == 6 and denoised[0].dtype == np.uint16
        error = [np.sqrt(np.mean((np.asarray(frame, float) - clean) ** 2))
                 for frame in (frames[3], denoised[3])]
        assert error[1] < 0.7 * error[0]  # 3 dB or more


def test_ten_bit_frames_round_trip_exactly_through_ffv1(tmp_path, rng):
    levels = rng.integers(0, 1024, (3, 16, 20, 3)).astype(np.uint16)
    frames = (levels << 6) | (levels >> 4)  # 10 bits on the full 16-bit scale
    source = tmp_path / "ten.mkv"
    _ten_bit_video(source, frames, pixel_format="gbrp10le")
    read = open_sequence(source, max_pixels=10**6)
    assert read.bits == 10
    assert_array_equal(np.stack(list(read.frames())), frames)
    copy = tmp_path / "copy.mkv"
    write_sequence(copy, iter(frames), read)
    assert_array_equal(np.stack(list(open_sequence(copy, max_pixels=10**6).frames())), frames)


def test_a_sixteen_bit_stack_becomes_a_deep_video(tmp_path, rng):
    frames = rng.integers(0, 65536, (3, 16, 16), dtype=np.uint16)
    source = tmp_path / "clip.tif"
    write_sequence(source, iter(frames), sequence_like(frames))
    lossless = tmp_path / "out.mkv"
    result = runner.invoke(app, ["denoise", str(source), str(lossless), "--sigma", "0.001"])
    assert result.exit_code == 0 and "bits" not in result.stderr, result.output
    with av.open(str(lossless)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "gray16le"
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.mp4")])
    assert result.exit_code == 0, result.output
    assert "16-bit frames written with 10 bits" in result.stderr
    read = open_sequence(tmp_path / "out.mp4", max_pixels=10**6)
    assert read.dtype == np.uint16 and read.bits == 10
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.gif")])
    assert result.exit_code == 1 and "cannot store uint16" in result.stderr


def _encode_black_frames(out, stream, count):
    """Encode *count* black 32x32 frames into *stream* of the container *out*, and flush it."""
    for _ in range(count):
        picture = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
        for packet in stream.encode(picture):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)


def test_subtitles_and_attachments_are_carried_where_the_container_holds_them(tmp_path):
    (tmp_path / "talk.srt").write_text("1\n00:00:00,000 --> 00:00:00,400\nHello\n\n"
                                       "2\n00:00:00,500 --> 00:00:00,900\nWorld\n")
    font = bytes(range(256))
    source = tmp_path / "talk.mkv"
    with av.open(str(tmp_path / "talk.srt")) as text, av.open(str(source), "w") as out:
        video = out.add_stream("ffv1", rate=10)
        video.width, video.height, video.pix_fmt = 32, 32, "bgr0"
        subtitles = out.add_stream_from_template(text.streams.subtitles[0])
        out.add_attachment("talk.ttf", "application/x-truetype-font", font)
        _encode_black_frames(out, video, 10)
        for packet in text.demux(text.streams.subtitles[0]):
            if packet.dts is not None:
                packet.stream = subtitles
                out.mux(packet)

    def carried(path):
        with av.open(str(path)) as container:
            lines = [(packet.pts * packet.time_base, bytes(packet))
                     for stream in container.streams.subtitles
                     for packet in container.demux(stream) if packet.size]
            return lines, {each.name: bytes(each.data) for each in container.streams.attachments}

    assert open_sequence(source, max_pixels=10**6).subtitles == ("srt",)
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.mkv")])
    assert result.exit_code == 0 and "note" not in result.stderr, result.output
    assert carried(tmp_path / "out.mkv") == carried(source)
    assert carried(source) == ([(0, b"Hello"), (Fraction(1, 2), b"World")], {"talk.ttf": font})
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.mp4")])
    assert result.exit_code == 0, result.output
    assert "subtitles dropped: .mp4 cannot hold srt" in result.stderr
    assert "attachments dropped: .mp4 cannot hold them (talk.ttf)" in result.stderr


def test_a_timecode_track_is_carried_by_its_tag(tmp_path):
    source = tmp_path / "shot.mov"
    with av.open(str(source), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        video.metadata["timecode"] = "01:02:03:04"
        _encode_black_frames(out, video, 3)
    out = tmp_path / "out.mov"
    result = runner.invoke(app, ["denoise", str(source), str(out), "--sigma", "5"])
    assert result.exit_code == 0 and "note" not in result.stderr, result.output
    with av.open(str(out)) as container:
        timecodes = [each.metadata.get("timecode") for each in container.streams.data]
    assert timecodes == ["01:02:03:04"]


def test_lossless_formats_round_trip_exactly(tmp_path, rng):
    frames = rng.integers(0, 256, (4, 16, 20, 3), dtype=np.uint8)
    for extension in (".mkv", ".avi", ".tif", ".npy"):
        path = tmp_path / f"x{extension}"
        write_sequence(path, iter(frames), sequence_like(frames))
        assert_array_equal(open_sequence(path, max_pixels=10**6).read_all(), frames)


def test_sixteen_bit_stack_kept(tmp_path, rng):
    frames = rng.integers(0, 65536, (5, 20, 24), dtype=np.uint16)
    source = tmp_path / "stack.tif"
    write_sequence(source, iter(frames), sequence_like(frames))
    out = tmp_path / "out.tif"
    options = JobOptions(Request(sigma_unit=20.0 / 255, h_unit=15.0 / 255), temporal_window=0)
    outcome = denoise_file(source, out, options)
    assert outcome.ok, outcome.error
    result = open_sequence(out, max_pixels=10**6).read_all()
    assert result.dtype == np.uint16 and result.shape == frames.shape
    # Window 0: each frame exactly as a still image with the same sigma (20 on 0-255).
    for frame, denoised in zip(frames, result, strict=True):
        assert_array_equal(denoised, denoise(frame, sigma=20.0 * 65535 / 255,
                                             h=15.0 * 65535 / 255))


def test_volume_flag_denoises_in_3d(tmp_path, rng):
    volume = np.clip(128 + rng.normal(0, 25, (8, 14, 16)), 0, 255).astype(np.uint8)
    for extension in (".tif", ".npy"):
        source = tmp_path / f"volume{extension}"
        write_sequence(source, iter(volume), sequence_like(volume))
        out = tmp_path / f"out{extension}"
        result = runner.invoke(app, ["denoise", str(source), str(out), "--volume",
                                     "--sigma", "25", "--patch-size", "3",
                                     "--search-window", "5"])
        assert result.exit_code == 0, result.output
        assert "volume of 8 slices" in result.stderr
        expected = denoise(volume, sigma=25.0, patch_size=3, search_window=5)
        assert_array_equal(open_sequence(out, max_pixels=10**6).read_all(), expected)


def talking_clip(path, rng, codec="aac", audio_format="fltp"):
    """Five frames and half a second of sound (a tone), muxed as they come."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 32, 24, "yuv420p"
        audio = container.add_stream(codec, rate=48000, layout="mono")
        for _ in range(5):
            frame = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(24000) / 48000)[np.newaxis]
        if audio_format == "s16":
            tone = (tone * 32767).astype(np.int16)
        sound = av.AudioFrame.from_ndarray(tone.astype(tone.dtype if audio_format == "s16"
                                                      else np.float32),
                                           format=audio_format, layout="mono")
        sound.sample_rate = 48000
        for packet in audio.encode(sound):
            container.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode():
                container.mux(packet)


def samples_of(path):
    with av.open(str(path)) as container:
        return sum(frame.samples for frame in container.decode(audio=0))


def test_audio_is_copied(tmp_path, rng):
    source = tmp_path / "talk.mp4"
    talking_clip(source, rng)
    for extension in (".mp4", ".mov", ".mkv", ".avi"):
        out = tmp_path / f"out{extension}"
        result = runner.invoke(app, ["denoise", str(source), str(out), "--sigma", "10"])
        assert result.exit_code == 0, result.output
        assert "audio dropped" not in result.stderr
        with av.open(str(out)) as container:
            assert [each.type for each in container.streams] == ["video", "audio"]
        assert samples_of(out) == samples_of(source)  # copied, not re-encoded
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.gif"),
                                 "--sigma", "10"])
    assert result.exit_code == 0, result.output
    assert "note: audio dropped: .gif cannot hold sound" in result.stderr


def frame_times(path):
    """A video's frame times in seconds from its first (packets' presentation times)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stamps = sorted(packet.pts for packet in container.demux(stream)
                        if packet.pts is not None)
        return [float((stamp - stamps[0]) * stream.time_base) for stamp in stamps]


def test_a_variable_frame_rate_keeps_its_times(tmp_path, rng):
    # A phone's low-light stretch: 20 frames at 30 per second, then 10 at 10 per second. At
    # the average rate the frames ran 0.3 s ahead of their times (and of the sound).
    from fractions import Fraction

    times = [k / 30 for k in range(20)] + [20 / 30 + k / 10 for k in range(10)]
    source = tmp_path / "vfr.mp4"
    with av.open(str(source), "w") as container:
        video = container.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 32, 24, "yuv420p"
        video.codec_context.time_base = video.time_base = Fraction(1, 90000)
        for seconds in times:
            frame = av.VideoFrame.from_ndarray(
                rng.integers(0, 256, (24, 32, 3), dtype=np.uint8), format="rgb24")
            frame.pts, frame.time_base = round(seconds * 90000), Fraction(1, 90000)
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
    np.testing.assert_allclose(frame_times(source), times, atol=2e-3)
    for extension in (".mp4", ".mkv"):
        out = tmp_path / f"out{extension}"
        result = runner.invoke(app, ["denoise", str(source), str(out), "--sigma", "10"])
        assert result.exit_code == 0, result.output
        np.testing.assert_allclose(frame_times(out), times, atol=2e-3)


def test_audio_a_container_cannot_hold_is_dropped_with_a_note(tmp_path, rng):
    source = tmp_path / "talk.mkv"
    try:
        talking_clip(source, rng, codec="libopus", audio_format="s16")
    except (av.error.FFmpegError, ValueError) as error:  # a PyAV built without Opus
        pytest.skip(f"no Opus encoder: {error}")
    out = tmp_path / "out.mov"
    result = runner.invoke(app, ["denoise", str(source), str(out), "--sigma", "10"])
    assert result.exit_code == 0, result.output
    assert "note: audio dropped: .mov cannot hold opus" in result.stderr
    with av.open(str(out)) as container:
        assert not container.streams.audio and len(container.streams.video) == 1


def test_clip_to_still_format_is_refused(tmp_path, rng):
    frames = rng.integers(0, 256, (3, 16, 16), dtype=np.uint8)
    source = tmp_path / "clip.tif"
    write_sequence(source, iter(frames), sequence_like(frames))
    result = runner.invoke(app, ["denoise", str(source), str(tmp_path / "out.png")])
    assert result.exit_code == 1
    assert "cannot hold several frames" in result.stderr and str(source) in result.stderr


@pytest.mark.parametrize("extension", [".mp4", ".gif", ".npy", ".mkv"])
def test_corrupt_sequence_fails_cleanly(tmp_path, rng, extension):
    source = tmp_path / f"broken{extension}"
    source.write_bytes(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    out = tmp_path / f"out{extension}"
    result = runner.invoke(app, ["denoise", str(source), str(out)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(source) in lines[0] and "Traceback" not in result.output
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_truncated_video_leaves_no_output(tmp_path, rng):
    frames = rng.integers(0, 256, (30, 32, 48, 3), dtype=np.uint8)
    source = tmp_path / "clip.mp4"
    write_sequence(source, iter(frames), sequence_like(frames))
    raw = source.read_bytes()
    source.write_bytes(raw[: len(raw) // 2])
    out = tmp_path / "out.mp4"
    outcome = denoise_file(source, out, JobOptions(Request(sigma_unit=10.0 / 255)))
    # A cut file either fails with one line or yields the frames it still holds; never a
    # partial output.
    if outcome.ok:
        assert out.exists()
    else:
        assert str(source) in outcome.error and not out.exists()
    assert not list(tmp_path.glob(".out*"))


@pytest.mark.parametrize("shape", [(25,), (2, 2, 5, 5, 3)])
def test_npy_of_wrong_rank_is_refused(tmp_path, shape):
    source = tmp_path / "flat.npy"
    np.save(source, np.zeros(shape, np.uint8))
    outcome = denoise_file(source, tmp_path / "out.npy")
    assert not outcome.ok and "expected a 2-D image, a 3-D stack" in outcome.error
    assert not (tmp_path / "out.npy").exists()


def test_batch_processes_clips_and_stills(tmp_path, rng):
    folder = tmp_path / "in"
    folder.mkdir()
    frames = rng.integers(0, 256, (4, 16, 20), dtype=np.uint8)
    write_sequence(folder / "clip.gif", iter(frames), sequence_like(frames))
    write_sequence(folder / "stack.tif", iter(frames), sequence_like(frames))
    from imageio.v3 import imwrite

    imwrite(folder / "still.png", frames[0])
    result = runner.invoke(app, ["batch", str(folder), str(tmp_path / "out"), "-j", "1",
                                 "--quiet", "--sigma", "15"])
    assert result.exit_code == 0, result.output
    assert "3 processed" in result.stderr
    assert open_sequence(tmp_path / "out" / "clip.gif", max_pixels=10**6).n_frames == 4
    assert open_sequence(tmp_path / "out" / "stack.tif", max_pixels=10**6).n_frames == 4


def test_a_clip_s_three_bands_are_not_colours(rng):
    # Three bands (colour=False), or three left of four once a constant one is set aside,
    # are denoised without the chroma path, their sigma read on their channels.
    from nlmeans_cli.parameters import Request

    y, x = np.mgrid[0:40, 0:48]
    scenes = np.stack([[np.sign(np.sin((x + k) / 4.0)), np.cos(np.hypot(y - 20, x - k) / 3.0),
                        np.sign(np.cos(y / 3.0 + k))] for k in range(5)])
    clip = np.moveaxis(0.5 + 0.3 * scenes, 1, -1) + rng.normal(0, 0.05, (5, 40, 48, 3))
    clip = clip.astype(np.float32)

    def resolved(frames, **asked):
        return spacetime.resolve_clip(lambda: frames, Request(**asked), frames.shape[1:],
                                      channel_axis=-1, n_frames=len(frames))

    assert resolved(clip).h_chroma_unit is not None
    bands = resolved(clip, colour=False)
    assert bands.h_chroma_unit is None
    four = np.concatenate([clip, np.full((*clip.shape[:3], 1), 0.5, np.float32)], axis=-1)
    assert resolved(four).h_chroma_unit is None
    assert resolved(four).sigma_unit == bands.sigma_unit
    out = spacetime.denoise_clip(clip, channel_axis=-1, colour=False, temporal_window=1)
    assert out.shape == clip.shape and out.dtype == clip.dtype
    assert np.abs(out - 0.5 - 0.3 * np.moveaxis(scenes, 1, -1)).mean() < 0.5 * 0.05 * 0.8
