"""Model files of the learned method: plain ``.npz`` arrays (never pickles), shipped or trained.

:func:`save_model` writes a :class:`~nlmeans_cli.methods.model.Model` atomically,
:func:`load_model` reads and checks one, and :func:`shipped_model` picks the model inside the
package nearest to a noise level.
"""

from __future__ import annotations

import json
import os
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from ..formulation import AFFINITIES, lookup
from ..io.atomic import staged
from .model import Model, Stage

__all__ = [
    "COLOUR_MARK",
    "MODEL_FORMAT",
    "ModelFileError",
    "cached_model",
    "load_model",
    "model_path",
    "pick_model",
    "save_model",
    "scan_models",
    "shipped_folder",
    "shipped_model",
    "shipped_model_path",
    "shipped_models",
]

#: Written into every model file; a file without it, or with another value, is not a model.
MODEL_FORMAT = "nlmeans_cli.learned/1"


class ModelFileError(ValueError):
    """A model file is missing, unreadable or not a model; the message names the file."""


def model_path(path: str | os.PathLike) -> Path:
    """Return the file :func:`save_model` writes for *path*: ``.npz`` appended when missing.

    Parameters
    ----------
    path : path-like
        As given by a user.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def save_model(model: Model, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write a model as an ``.npz`` of plain arrays, atomically.

    Parameters
    ----------
    model : Model
        The model.
    path : path-like
        Target file; ``.npz`` is appended when missing (as :func:`numpy.savez` does).
    overwrite : bool
        Whether an existing file may be replaced.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    nlmeans_cli.io.atomic.OutputExistsError
        If the file exists and *overwrite* is false.
    nlmeans_cli.io.atomic.FileError
        If the file cannot be written (nothing is left behind).
    """
    path = model_path(path)
    arrays = {
        "format": np.array(MODEL_FORMAT),
        "sigma": np.array(float(model.sigma)),
        "n_stages": np.array(len(model.stages)),
        "info": np.array(json.dumps(model.info)),
    }
    for k, stage in enumerate(model.stages):
        arrays[f"stage{k}_affinity"] = np.array(stage.affinity)
        arrays[f"stage{k}_theta"] = np.asarray(stage.theta, np.float64)
        if stage.phi is not None:
            arrays[f"stage{k}_phi"] = np.asarray(stage.phi, np.float64)
        arrays[f"stage{k}_g"] = np.asarray(stage.g, np.float64)
        arrays[f"stage{k}_bias"] = np.array(float(stage.bias))
        arrays[f"stage{k}_theta_offset"] = np.asarray(stage.theta_offset, np.float64)
        if stage.phi_offset is not None:
            arrays[f"stage{k}_phi_offset"] = np.asarray(stage.phi_offset, np.float64)
        arrays[f"stage{k}_g_offset"] = np.array(float(stage.g_offset))
        arrays[f"stage{k}_search_radius"] = np.array(int(stage.search_radius))
    with staged(path, overwrite=overwrite) as temporary:
        np.savez(temporary, **arrays)
    return path


def load_model(path: str | os.PathLike) -> Model:
    """Read and check a model file.

    Parameters
    ----------
    path : path-like
        An ``.npz`` written by :func:`save_model` (``nlm train``).

    Returns
    -------
    Model

    Raises
    ------
    ModelFileError
        If the file is missing, not an ``.npz`` archive, holds objects (pickles are never
        loaded), lacks the format marker or a field, or has fields of the wrong shape or
        value. The message names the file and the problem.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file" if not path.exists()
                             else f"{path}: not a file")
    try:
        with open(path, "rb") as handle:
            signature = handle.read(8)
    except OSError as error:
        raise ModelFileError(f"{path}: cannot read ({error.strerror or error})") from None
    if not signature.startswith(b"PK"):
        # np.load would take any other content for a pickle and say it holds objects.
        kind = _content_kind(signature)
        raise ModelFileError(f"{path}: not a model file (model files are .npz archives; "
                             f"this is {kind})")
    try:
        with np.load(path, allow_pickle=False) as archive:
            fields = {name: archive[name] for name in archive.files}
    except ValueError as error:
        if "pickle" in str(error).lower() or "object" in str(error).lower():
            raise ModelFileError(f"{path}: holds Python objects; model files are plain "
                                 "arrays and pickles are never loaded") from None
        raise ModelFileError(f"{path}: not a model file ({error})") from None
    except Exception as error:  # zipfile, OSError, EOFError, ...
        raise ModelFileError(f"{path}: not a model file (not a readable .npz archive: "
                             f"{type(error).__name__})") from None
    try:
        return _model_from_fields(fields)
    except (KeyError, ValueError, TypeError) as error:
        reason = f"missing field {error}" if isinstance(error, KeyError) else str(error)
        raise ModelFileError(f"{path}: not a valid model ({reason})") from None


def _content_kind(signature: bytes) -> str:
    """Name what a file's first bytes say it is, for a message."""
    known = {b"\x89PNG": "PNG image data", b"\xff\xd8\xff": "JPEG image data",
             b"II*\x00": "TIFF image data", b"MM\x00*": "TIFF image data",
             b"\x93NUMPY": "a single .npy array", b"\x80": "a Python pickle"}
    for start, kind in known.items():
        if signature.startswith(start):
            return kind
    return "not an archive" if signature else "an empty file"


def _model_from_fields(fields: dict) -> Model:
    if "format" not in fields or str(fields["format"]) != MODEL_FORMAT:
        found = str(fields["format"]) if "format" in fields else "none"
        raise ValueError(f"format marker {found!r}, expected {MODEL_FORMAT!r}")
    sigma = float(fields["sigma"])
    if not 0 < sigma < 1000:
        raise ValueError(f"sigma {sigma} out of range")
    n_stages = int(fields["n_stages"])
    if not 1 <= n_stages <= 8:
        raise ValueError(f"{n_stages} stages")
    stages = []
    for k in range(n_stages):
        affinity = str(fields[f"stage{k}_affinity"])
        lookup(AFFINITIES, affinity, "affinity")
        theta = _embedding(fields[f"stage{k}_theta"], f"stage{k}_theta")
        if stages and theta.shape[1] != stages[0].channels:
            raise ValueError(f"stage{k} reads {theta.shape[1]} channels, stage0 "
                             f"{stages[0].channels}")
        phi = fields.get(f"stage{k}_phi")
        if phi is not None:
            phi = _embedding(phi, f"stage{k}_phi")
            if phi.shape != theta.shape:
                raise ValueError(f"stage{k}_phi has shape {phi.shape}, theta {theta.shape}")
        g = _filters(fields[f"stage{k}_g"][np.newaxis], f"stage{k}_g")[0]
        radius = int(fields[f"stage{k}_search_radius"])
        if not 0 <= radius <= 50:
            raise ValueError(f"stage{k} search radius {radius}")
        # Offsets are optional: files written before they existed have none (zero).
        offsets = {}
        for name in ("theta_offset", "phi_offset"):
            if f"stage{k}_{name}" in fields:
                offset = np.asarray(fields[f"stage{k}_{name}"], np.float64)
                if offset.shape != theta.shape[:1] or not np.isfinite(offset).all():
                    raise ValueError(f"stage{k}_{name} must be {theta.shape[0]} finite values")
                offsets[name] = offset
        g_offset = float(fields.get(f"stage{k}_g_offset", 0.0))
        if not np.isfinite(g_offset):
            raise ValueError(f"stage{k}_g_offset is not finite")
        stages.append(Stage(affinity, theta, phi, g, float(fields[f"stage{k}_bias"]), radius,
                            g_offset=g_offset, **offsets))
    return Model(sigma, tuple(stages), json.loads(str(fields.get("info", "{}"))))


def _embedding(array: np.ndarray, name: str) -> np.ndarray:
    """``(K, C, P, P)`` embedding filters, C in (1, 3); ``(K, P, P)`` means one channel."""
    array = np.asarray(array)
    if array.ndim == 4:
        if array.shape[1] not in (1, 3):
            raise ValueError(f"{name} reads {array.shape[1]} channels; 1 or 3 expected")
        return _filters(array.reshape(-1, *array.shape[2:]), name).reshape(array.shape)
    return _filters(array, name)[:, np.newaxis]


def _filters(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if (array.ndim != 3 or array.shape[1] != array.shape[2] or array.shape[1] % 2 == 0
            or array.dtype.kind != "f" or not np.isfinite(array).all()):
        raise ValueError(f"{name} must be finite (K, P, P) filters with P odd, got "
                         f"{array.shape} {array.dtype}")
    return array.astype(np.float64)


# Shipped models ----------------------------------------------------------------------------

#: File-name mark of a shipped colour model: ``AFFINITY-colour-sigmaS.npz``.
COLOUR_MARK = "-colour"


def shipped_models(channels: int = 1) -> dict[str, dict[float, Path]]:
    """List the models inside the package.

    Parameters
    ----------
    channels : int
        1: the grey models (files ``AFFINITY-sigmaS.npz``); 3: the colour models (files
        ``AFFINITY-colour-sigmaS.npz``).

    Returns
    -------
    dict
        ``{affinity: {sigma: path}}``, a fresh copy.
    """
    return {affinity: dict(by_sigma)
            for affinity, by_sigma in _scan_shipped().get(channels, {}).items()}


def shipped_folder() -> Path:
    """Return the package's folder of shipped models."""
    return Path(str(resources.files("nlmeans_cli") / "models"))


@cache
def _scan_shipped() -> dict[int, dict[str, dict[float, Path]]]:
    # The package folder does not change while a process runs: scan it once, not per frame.
    folder = shipped_folder()
    return scan_models(folder) if folder.is_dir() else {}


def scan_models(folder: Path) -> dict[int, dict[str, dict[float, Path]]]:
    """List the model files of a folder named as the shipped ones are.

    Parameters
    ----------
    folder : pathlib.Path
        Holds ``AFFINITY-sigmaS.npz`` (grey) and ``AFFINITY-colour-sigmaS.npz`` files.

    Returns
    -------
    dict
        ``{channels: {affinity: {sigma: path}}}``.
    """
    found: dict[int, dict[str, dict[float, Path]]] = {}
    for entry in folder.glob("*-sigma*.npz"):
        affinity, _, sigma = entry.stem.rpartition("-sigma")
        channels = 1
        if affinity.endswith(COLOUR_MARK):
            affinity, channels = affinity[: -len(COLOUR_MARK)], 3
        if affinity in AFFINITIES:
            found.setdefault(channels, {}).setdefault(affinity, {})[float(sigma)] = entry
    return found


def shipped_model(affinity: str, sigma_255: float, channels: int = 1) -> Model:
    """Load the shipped model for *affinity* nearest to *sigma_255* (in log sigma).

    Parameters
    ----------
    affinity : str
        Name in :data:`~nlmeans_cli.formulation.AFFINITIES`.
    sigma_255 : float
        The image's noise level on the 0-255 scale.
    channels : int
        The image's channels: 3 takes a colour model, or the grey model where no colour one
        ships for *affinity*.

    Returns
    -------
    Model

    Raises
    ------
    ValueError
        If no model ships for *affinity*; the message lists those that do.
    """
    return cached_model(shipped_model_path(affinity, sigma_255, channels))


def shipped_model_path(affinity: str, sigma_255: float, channels: int = 1) -> Path:
    """Return the file of the model :func:`shipped_model` loads (same parameters and errors)."""
    return pick_model(_scan_shipped(), affinity, sigma_255, channels)


def pick_model(scanned: dict[int, dict[str, dict[float, Path]]], affinity: str, sigma_255: float,
          channels: int) -> Path:
    """Choose the model file for an image, as :func:`shipped_model` does.

    Parameters
    ----------
    scanned : dict
        As :func:`scan_models` returns.
    affinity : str
        The affinity.
    sigma_255 : float
        The image's noise level, 0-255 scale; the model nearest in log sigma is taken.
    channels : int
        3 prefers a colour model, falling back to grey.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        If no model of *affinity* is in *scanned*; the message lists those that are.
    """
    lookup(AFFINITIES, affinity, "affinity")
    models = scanned.get(channels, {}).get(affinity) or scanned.get(1, {}).get(affinity)
    if not models:
        known = ", ".join(sorted({a for by_affinity in scanned.values() for a in by_affinity}))
        raise ValueError(f"no shipped learned model for affinity {affinity!r}; shipped: "
                         f"{known or 'none'} (give --model, or train one with nlm train)")
    level = max(float(sigma_255), 1e-3)
    return models[min(models, key=lambda s: abs(np.log(s / level)))]


_CACHE: dict[tuple[str, int, int], Model] = {}


def cached_model(path: str | os.PathLike) -> Model:
    """Load a model file once per process (again only if the file changes).

    Parameters
    ----------
    path : path-like
        As for :func:`load_model`.

    Returns
    -------
    Model

    Raises
    ------
    ModelFileError
        As :func:`load_model`.
    """
    path = Path(path)
    try:
        status = path.stat()
    except OSError:
        return load_model(path)  # which names the problem
    key = (str(path.resolve()), status.st_mtime_ns, status.st_size)
    if key not in _CACHE:
        _CACHE[key] = load_model(path)
    return _CACHE[key]

