"""A file's noise read without denoising it: the unit of work of ``nlm noise``.

:func:`read_file_noise` reads a still or a sequence and estimates its noise as ``nlm denoise``
would (:func:`nlmeans_cli.estimate_noise`; over frames spread across a clip or stack,
:func:`nlmeans_cli.clip_noise.estimate_frames_noise`), on the command line's 0-255 scale, so
that a dark frame's sigma is the read noise to give ``--read-noise``. Like
:func:`nlmeans_cli.jobs.file.denoise_file`, it returns what is wrong with a file rather than
raising, so that a list of files carries on past a bad one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..io.atomic import ImageFileError
from ..io.stills import DEFAULT_MAX_PIXELS
from .descriptions import describe_picture, describe_sequence
from .noise_notes import UNREADABLE_SIGMA, sigma_unreadable

__all__ = ["NOISE_READINGS", "NoiseReading", "read_file_noise"]

#: The models a reading takes: sigma, or the gain and read noise (``auto`` chooses between
#: them when denoising; a reading names the one it wants).
NOISE_READINGS = ("gaussian", "poisson-gaussian")


@dataclass
class NoiseReading:
    """One file's noise, on the 0-255 scale (as ``--sigma``, ``--gain``, ``--read-noise``).

    Attributes
    ----------
    input : str
        The file.
    description : str
        Size, channels and pixel type (and frames).
    noise : str
        ``"gaussian"`` or ``"poisson-gaussian"``: the model read.
    parts : list of dict
        One reading for the file, or one per channel where a stack's channels are denoised
        apart: ``{"sigma": ...}``, or ``{"gain": ..., "read_noise": ...}``.
    file_scale : float
        The file's values per step of the 0-255 scale (257 for 16 bits, 1 for 8 bits,
        1/255 for floats).
    error : str
        One line naming the file and the problem, for a file that could not be read.
    notes : list of str
        What the reading cannot say: a sigma of 0 read from an image under
        :data:`nlmeans_cli.pixels.SMALLEST_READ_SIDE` pixels across, where none can be read.
    """

    input: str
    description: str = ""
    noise: str = "gaussian"
    parts: list[dict] = field(default_factory=list)
    file_scale: float = 1.0
    error: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True unless the file could not be read."""
        return not self.error


def read_file_noise(path: str | os.PathLike, *, noise: str = "gaussian",
                    max_pixels: int = DEFAULT_MAX_PIXELS, bands: bool = False) -> NoiseReading:
    """Read *path*'s noise as ``nlm denoise`` estimates it, without denoising.

    Parameters
    ----------
    path : path-like
        A still image, or a clip or stack (video, GIF, multi-page TIFF, ``.npy``).
    noise : str
        ``"gaussian"`` (sigma) or ``"poisson-gaussian"`` (gain and read noise).
    max_pixels : int
        Refuse images (or frames) larger than this many pixels.
    bands : bool
        Take three channels for bands or stains, not red, green and blue (a TIFF's bands
        are taken so anyway), as ``nlm denoise --bands``.

    Returns
    -------
    NoiseReading
        The reading, or its :attr:`NoiseReading.error`.

    Raises
    ------
    ValueError
        For an unknown *noise* (nothing about the file raises).

    Notes
    -----
    A still: ``O(N)``, as :func:`nlmeans_cli.estimate_noise`. A sequence: every frame is
    read, up to 16 (sigma) or 8 (Poisson-Gaussian) spread over it analysed, as
    :func:`nlmeans_cli.clip_noise.estimate_frames_noise`; a stack whose channels are kept
    apart is read once per channel.
    """
    if noise not in NOISE_READINGS:
        raise ValueError(f"unknown noise model {noise!r}; known: {', '.join(NOISE_READINGS)}")
    reading = NoiseReading(str(path), noise=noise)
    try:
        _read(reading, path, max_pixels, bands)
    except ImageFileError as error:
        reading.error = str(error)
    except MemoryError:
        reading.error = f"{path}: not enough memory to read this image's noise"
    except OSError as error:
        reading.error = f"{path}: {error.strerror or error}"
    except (TypeError, ValueError) as error:  # NaN pixels, a layout the estimate refuses
        reading.error = f"{path}: {error}"
    return reading


def _read(reading: NoiseReading, path, max_pixels: int, bands: bool) -> None:
    from ..clip_noise import estimate_frames_noise
    from ..io.sequences import is_sequence, open_sequence
    from ..io.stills import read_picture
    from ..pixels import estimate_noise
    from ..scales import unit_scale

    if is_sequence(path):
        sequence = open_sequence(path, max_pixels=max_pixels)
        reading.description = describe_sequence(sequence)
        dtype, shape = sequence.dtype, sequence.frame_shape[:2]
        if sequence.separate_channels:
            values = [estimate_frames_noise((frame[..., c] for frame in sequence.frames()),
                                            n_frames=sequence.n_frames, model=reading.noise)
                      for c in range(sequence.frame_shape[-1])]
        else:
            values = [estimate_frames_noise(sequence.frames(),
                                            channel_axis=sequence.channel_axis,
                                            n_frames=sequence.n_frames, model=reading.noise,
                                            colour=not (bands or sequence.bands))]
    else:
        picture = read_picture(path, max_pixels=max_pixels)
        reading.description = describe_picture(picture)
        dtype, shape = picture.pixels.dtype, picture.pixels.shape[:2]
        values = [estimate_noise(picture.pixels, model=reading.noise,
                                 channel_axis=picture.channel_axis,
                                 colour=not (bands or picture.bands))]
    reading.file_scale = unit_scale(dtype) / 255.0
    if reading.noise == "gaussian" and sigma_unreadable(shape):
        reading.notes.append(f"{UNREADABLE_SIGMA}: 0 stands for unknown")
    for value in values:
        if reading.noise == "gaussian":
            reading.parts.append({"sigma": float(value) / reading.file_scale})
        else:
            gain, read_noise = value
            reading.parts.append({"gain": float(gain) / reading.file_scale,
                                  "read_noise": float(read_noise) / reading.file_scale})
