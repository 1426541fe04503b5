"""Folders of images: finding the files of a batch and pairing each with its output."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .sequences import SEQUENCE_FORMATS
from .stills import FORMATS

__all__ = ["DEFAULT_PATTERNS", "BatchItem", "find_images", "plan_batch"]

#: Every readable image extension, in upper and lower case.
DEFAULT_PATTERNS: tuple[str, ...] = tuple(
    f"*{extension}" for extension in sorted(set(FORMATS) | set(SEQUENCE_FORMATS)))

@dataclass(frozen=True)
class BatchItem:
    """One file of a batch: where it is read and where its result goes.

    An unreadable folder is an item too, with *problem* saying why, so that a batch reports
    the files it cannot see instead of leaving them out silently.
    """

    source: Path
    target: Path
    problem: str | None = None


def find_images(root: str | os.PathLike, *, patterns: Sequence[str] = DEFAULT_PATTERNS,
                recursive: bool = False, exclude: str | os.PathLike | None = None,
                unreadable: list[tuple[Path, str]] | None = None) -> list[Path]:
    """List the files under *root* whose names match any of *patterns*.

    Parameters
    ----------
    root : path-like
        The folder to search.
    patterns : sequence of str
        Shell patterns matched against file names, case-insensitively.
    recursive : bool
        Descend into subfolders.
    exclude : path-like, optional
        A folder left out of the search (the output folder, when it lies inside *root*).
    unreadable : list, optional
        Receives ``(folder, reason)`` for each folder that could not be listed; without it
        such folders are passed over.

    Returns
    -------
    list of pathlib.Path
        Sorted paths. Hidden files and folders (names starting with ``.``), among them the
        temporary files of writes in progress, are left out.

    Raises
    ------
    NotADirectoryError
        If *root* is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder")
    lowered = [pattern.lower() for pattern in patterns]
    excluded = Path(exclude).resolve() if exclude is not None else None
    found = []
    def note_unreadable(error: OSError) -> None:
        if unreadable is not None:
            unreadable.append((Path(error.filename), error.strerror or str(error)))

    for folder, subfolders, names in os.walk(root, onerror=note_unreadable):
        here = Path(folder)
        subfolders[:] = sorted(
            name for name in subfolders
            if recursive and not name.startswith(".")
            and (excluded is None or (here / name).resolve() != excluded)
        )
        for name in names:
            if name.startswith("."):
                continue
            if any(fnmatch.fnmatchcase(name.lower(), pattern) for pattern in lowered):
                found.append(here / name)
    return sorted(found)


def plan_batch(in_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
               patterns: Sequence[str] = DEFAULT_PATTERNS,
               recursive: bool = False) -> list[BatchItem]:
    """Pair every image under *in_dir* with its place in *out_dir* (the same relative path).

    Parameters
    ----------
    in_dir, out_dir : path-like
        Source and destination folders. *out_dir* may lie inside *in_dir*; it is not searched.
    patterns, recursive
        As for :func:`find_images`.

    Returns
    -------
    list of BatchItem
        In sorted order of the sources; an unreadable folder is an item with a *problem*.

    Raises
    ------
    NotADirectoryError
        If *in_dir* is not a folder.
    ValueError
        If *out_dir* is *in_dir*: every output would replace its input.
    """
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    if out_dir.exists() and in_dir.exists() and os.path.samefile(in_dir, out_dir):
        raise ValueError(f"{out_dir}: the output folder is the input folder")
    unreadable: list[tuple[Path, str]] = []
    sources = find_images(in_dir, patterns=patterns, recursive=recursive, exclude=out_dir,
                          unreadable=unreadable)
    items = [BatchItem(source, out_dir / source.relative_to(in_dir)) for source in sources]
    items += [BatchItem(folder, out_dir / folder.relative_to(in_dir),
                        f"{folder}: cannot read this folder ({why.lower()}); its images are "
                        "not denoised") for folder, why in unreadable]
    return sorted(items, key=lambda item: item.source)
