"""``-`` for standard input and output, as Unix image tools take it.

The library reads and writes files (metadata, formats sniffed from contents, atomic writes),
so standard input is spooled to a private temporary folder first and the result is written
there before it goes to standard output whole: a failed run writes nothing to the pipe.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["STREAM", "StreamError", "Streams", "standard_streams"]

#: The name that means standard input (as INPUT) or standard output (as OUTPUT).
STREAM = "-"

#: Signatures of what standard input may hold besides still images: (offset, bytes, kind).
_SEQUENCE_SIGNATURES = (
    (0, b"\x93NUMPY", ".npy"),
    (0, b"GIF87a", ".gif"),
    (0, b"GIF89a", ".gif"),
    (4, b"ftypqt", ".mov"),
    (4, b"ftyp", ".mp4"),
    (0, b"\x1aE\xdf\xa3", ".mkv"),
    (8, b"AVI ", ".avi"),
)


class StreamError(Exception):
    """Standard input or output cannot be used; the message says why, naming ``-``."""


@dataclass
class Streams:
    """The files a command reads and writes in place of ``-``, and how to name them back."""

    input: Path
    output: Path | None
    from_stdin: bool = False
    to_stdout: bool = False

    def named(self, text: str) -> str:
        """Return *text* with the temporary files' paths put back as ``-``."""
        if self.from_stdin:
            text = text.replace(str(self.input), STREAM)
        if self.to_stdout:
            text = text.replace(str(self.output), STREAM)
        return text

    def send(self) -> None:
        """Copy the written result to standard output, whole."""
        if not self.to_stdout:
            return
        try:
            with open(self.output, "rb") as handle:
                shutil.copyfileobj(handle, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            # Python flushes standard output again at exit; the closed pipe would raise there.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise StreamError(f"{STREAM}: standard output was closed before the whole result "
                              "was written") from None


def _kind(head: bytes) -> str | None:
    """Return the extension for what *head* (a file's first 16 bytes) starts."""
    from ..io.stills import sniff_kind

    for offset, signature, kind in _SEQUENCE_SIGNATURES:
        if head[offset:offset + len(signature)] == signature:
            return kind
    return sniff_kind(head)


@contextmanager
def standard_streams(input: Path, output: Path | None = None) -> Iterator[Streams]:
    """Stand files in for ``-`` as *input* or *output* while a command runs.

    Parameters
    ----------
    input : pathlib.Path
        The command's input; ``-`` names standard input.
    output : pathlib.Path, optional
        Its output; ``-`` names standard output. ``None`` for a command that writes none.

    Yields
    ------
    Streams
        The paths to read and write; call :meth:`Streams.send` once the output is written.

    Raises
    ------
    StreamError
        If standard input is a terminal, empty or not image data, or standard output is a
        terminal (an image would fill the screen with bytes).

    Notes
    -----
    Standard input is copied whole into a temporary file, a chunk at a time; the output is
    written beside it and copied to standard output at the end. Both are removed on the way
    out, signals included. A ``-`` output takes the input's format.
    """
    from_stdin = str(input) == STREAM
    to_stdout = output is not None and str(output) == STREAM
    if not (from_stdin or to_stdout):
        yield Streams(input, output)
        return
    if from_stdin and sys.stdin.isatty():
        raise StreamError(f"{STREAM}: standard input is a terminal; pipe an image in "
                          "(nlm denoise - out.png < in.png)")
    if to_stdout and sys.stdout.isatty():
        raise StreamError(f"{STREAM}: standard output is a terminal; redirect it to a file or a "
                          "pipe (nlm denoise in.png - > out.png)")
    with tempfile.TemporaryDirectory(prefix="nlm-stream-") as folder:
        if from_stdin:
            # A buffered read of 16 bytes waits for them all (or the end of the input).
            head = sys.stdin.buffer.read(16)
            if not head:
                raise StreamError(f"{STREAM}: standard input is empty")
            kind = _kind(head)
            if kind is None:
                raise StreamError(f"{STREAM}: not an image (standard input holds no PNG, JPEG, "
                                  "TIFF, BMP, WebP, GIF, NumPy, MP4, MOV, MKV or AVI data)")
            input = Path(folder) / f"stdin{kind}"
            with open(input, "wb") as spool:
                spool.write(head)
                shutil.copyfileobj(sys.stdin.buffer, spool)
        if to_stdout:
            output = Path(folder) / f"stdout{input.suffix.lower()}"
        yield Streams(input, output, from_stdin, to_stdout)
