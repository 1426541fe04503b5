"""What a file holds, in a few words: size, channels, pixel type (and frames), for summaries."""

from __future__ import annotations

__all__ = ["describe_picture", "describe_sequence"]


def describe_picture(picture) -> str:
    """Return a still's size, channels and pixel type (``"256x256 grey uint8"``).

    Parameters
    ----------
    picture : nlmeans_cli.io.stills.Picture
        The image as read.

    Returns
    -------
    str
    """
    shape = picture.pixels.shape
    kind = ("grey" if picture.pixels.ndim == 2
            else f"{shape[2]} {'bands' if picture.bands else 'channels'}")
    if picture.alpha is not None:
        kind += " + alpha"
    return f"{shape[1]}x{shape[0]} {kind} {picture.pixels.dtype}"


def describe_sequence(sequence, *, as_volume: bool = False) -> str:
    """Return a sequence's frames (or a volume's slices), their size, channels and type.

    Parameters
    ----------
    sequence : nlmeans_cli.io.sequences.Sequence
        The file's header.
    as_volume : bool
        Whether it is denoised as one volume (its frames are slices).

    Returns
    -------
    str
        ``"8 frames 128x128 grey int16 at 25 fps"``, ``"volume of 8 slices ..."``.
    """
    shape = sequence.frame_shape
    kind = "grey" if len(shape) == 2 else f"{shape[2]} {'bands' if sequence.bands else 'channels'}"
    kind += " + alpha" if sequence.alpha else ""
    count = "?" if sequence.n_frames is None else sequence.n_frames
    if as_volume:
        return (f"volume of {_counted_noun(count, 'slice')} {shape[1]}x{shape[0]} {kind} "
                f"{sequence.dtype}")
    rate = f" at {sequence.fps:.3g} fps" if sequence.fps else ""
    return f"{_counted_noun(count, 'frame')} {shape[1]}x{shape[0]} {kind} {sequence.dtype}{rate}"


def _counted_noun(count, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
