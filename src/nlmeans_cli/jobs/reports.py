"""Per-file reports of a batch, CSV or JSON, written atomically."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from ..io.atomic import staged
from .file import FileOutcome

__all__ = ["NOTE_SEPARATOR", "REPORT_FIELDS", "write_report"]

REPORT_FIELDS = ("input", "output", "status", "sigma", "noise", "gain", "read_noise",
                 "black_level", "seconds", "error", "notes")

#: Between a file's notes in a CSV report (a note may hold semicolons and commas).
NOTE_SEPARATOR = " | "


def write_report(path: str | os.PathLike, outcomes: Sequence[FileOutcome]) -> Path:
    """Write a per-file report, CSV or JSON by the extension of *path*.

    Parameters
    ----------
    path : path-like
        ``.csv`` or ``.json``; written atomically.
    outcomes : sequence of FileOutcome
        The files.

    Returns
    -------
    pathlib.Path
        The report's path.

    Raises
    ------
    ValueError
        If the extension is neither ``.csv`` nor ``.json``.
    nlmeans_cli.io.atomic.ImageFileError
        If the file cannot be written (nothing is left behind).

    Notes
    -----
    Fields: input, output, status, sigma (0-255 scale, empty when not reached or for
    Poisson-Gaussian noise), noise (``gaussian`` or ``poisson-gaussian``), gain, read_noise
    and black_level (0-255 scale, five significant digits, Poisson-Gaussian only; the black
    level where the image carries one), seconds, error, notes
    (what ``nlm denoise`` prints as notes: conversions on reading, each channel's noise, a
    Poisson-Gaussian request denoised as Gaussian noise, metadata dropped; a list in JSON,
    joined by ``" | "`` in CSV).
    """
    path = Path(path)
    extension = path.suffix.lower()
    if extension not in (".csv", ".json"):
        raise ValueError(f"{path}: report must be .csv or .json, got {extension or '(none)'}")
    rows = []
    for outcome in outcomes:
        row = {key: value for key, value in asdict(outcome).items() if key in REPORT_FIELDS}
        row["seconds"] = round(row["seconds"], 4)
        if row["noise"] == "poisson-gaussian":
            row["sigma"] = None  # the stabilised image's, not the file's
        if row["sigma"] is not None:
            row["sigma"] = round(row["sigma"], 4)
        # Significant digits: a 16-bit image's gain on the 0-255 scale is a few thousandths.
        for key in ("gain", "read_noise", "black_level"):
            if row[key] is not None:
                row[key] = float(f"{row[key]:.5g}")
        if extension == ".csv":
            row["notes"] = NOTE_SEPARATOR.join(row["notes"])
        rows.append(row)
    with staged(path, overwrite=True) as temporary, open(temporary, "w", newline="") as handle:
        if extension == ".json":
            json.dump(rows, handle, indent=1)
            handle.write("\n")
        else:
            writer = csv.DictWriter(handle, fieldnames=REPORT_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    return path
