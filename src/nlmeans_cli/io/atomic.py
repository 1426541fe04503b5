"""Writing files so that nothing is lost: outputs appear complete or not at all.

Every output of the package (images, clips, stacks, models, reports) is written through
:func:`staged`: to a hidden temporary file in the target folder, renamed over the target only
once complete. :func:`check_target` runs the checks every output gets before any work is done:
never the input, never a folder, never an existing file unless replacing was asked for.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = [
    "ImageFileError",
    "OutputExistsError",
    "check_target",
    "reason",
    "same_file",
    "staged",
]


class ImageFileError(Exception):
    """A file cannot be read or written; the message names the file and the problem."""


class OutputExistsError(ImageFileError):
    """The output file exists and replacing it was not asked for."""


def reason(error: Exception) -> str:
    """Return the first line of an exception's message (its type's name if it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def check_target(output: Path, formats: dict[str, tuple[str, ...]], *,
                 source: str | os.PathLike | None, overwrite: bool, dtype: np.dtype | None,
                 what: str) -> Path:
    """Run the checks every output gets once its extension is known to be in *formats*.

    Parameters
    ----------
    output : pathlib.Path
        The file to write.
    formats : dict
        Extension -> dtype names it can store.
    source : path-like or None
        The input, which is never written.
    overwrite : bool
        Whether an existing *output* may be replaced.
    dtype : numpy.dtype or None
        The pixel type to be written.
    what : str
        What is written (``"pixels"``, ``"frames"``), for the message.

    Returns
    -------
    pathlib.Path
        *output*.

    Raises
    ------
    ImageFileError
        If *output* is the input or a folder, or cannot store *dtype*;
        :class:`OutputExistsError` if it exists and *overwrite* is false.
    """
    if source is not None and same_file(Path(source), output):
        raise ImageFileError(f"{output}: output is the input file; refusing to overwrite it")
    if output.is_dir():
        raise ImageFileError(f"{output}: is a folder")
    if output.exists() and not overwrite:
        raise OutputExistsError(f"{output}: already exists (use --overwrite to replace it)")
    extension = output.suffix.lower()
    if dtype is not None and np.dtype(dtype).name not in formats[extension]:
        name = np.dtype(dtype).name
        kinds = ", ".join(e for e, dtypes in formats.items() if name in dtypes)
        raise ImageFileError(f"{output}: {extension} cannot store {name} {what}; use {kinds}")
    return output


@contextmanager
def staged(output: Path, *, overwrite: bool,
           passthrough: tuple[type[BaseException], ...] = (ImageFileError,)
           ) -> Iterator[Path]:
    """Yield a hidden temporary file beside *output*; move it into place if the block ends.

    Parameters
    ----------
    output : pathlib.Path
        The file to write. Missing folders are created.
    overwrite : bool
        Whether an existing *output* may be replaced; without it the move never replaces a
        file, even one that appeared while the block ran.
    passthrough : tuple of exception types
        Errors that propagate as they are; others become an :class:`ImageFileError` naming
        *output*.

    Yields
    ------
    pathlib.Path
        The temporary file, named ``.NAME.*.partial.EXT``.

    Raises
    ------
    ImageFileError
        If the folder or the file cannot be written; :class:`OutputExistsError` if *output*
        appeared and *overwrite* is false.

    Notes
    -----
    The temporary file is removed whatever happens, so an output is complete or absent.
    """
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.",
                                             suffix=f".partial{output.suffix.lower()}")
        os.close(handle)
    except OSError as error:
        raise ImageFileError(f"{output}: cannot write ({error.strerror})") from None
    try:
        yield Path(temporary)
        _commit(Path(temporary), output, overwrite)
    except passthrough:
        raise
    except Exception as error:
        raise ImageFileError(f"{output}: cannot write ({reason(error)})") from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _file_mode(output: Path) -> int:
    """Return the mode a plain ``open()`` would give (the replaced file's, else umask's)."""
    try:
        return output.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _commit(temporary: Path, output: Path, overwrite: bool) -> None:
    """Move the finished file into place; without *overwrite* never replace a file."""
    # mkstemp makes private files; the output gets the mode any other new file would get.
    os.chmod(temporary, _file_mode(output))
    if overwrite:
        os.replace(temporary, output)
        return
    try:
        # A hard link fails if the target appeared meanwhile: no check-then-write race.
        os.link(temporary, output)
    except FileExistsError:
        raise OutputExistsError(
            f"{output}: already exists (use --overwrite to replace it)") from None
    except OSError:
        if output.exists():
            raise OutputExistsError(
                f"{output}: already exists (use --overwrite to replace it)") from None
        os.replace(temporary, output)


def same_file(a: Path, b: Path) -> bool:
    """Tell whether two paths name one file (``False`` when either is missing)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # either is missing: a file that does not exist is not the input
        return False
