"""Model files of the learned method: plain ``.npz`` arrays (never pickles), shipped or trained.

:func:`save_model` writes a :class:`~nlmeans_cli.methods.network.Network` atomically,
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
from .network import Network

__all__ = [
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
MODEL_FORMAT = "nlmeans_cli.network/1"


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


def save_model(model: Network, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write a network as an ``.npz`` of plain arrays, atomically.

    Parameters
    ----------
    model : Network
        The network.
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
        "window": np.array(int(model.window)),
        "affinity": np.array(model.affinity),
        "info": np.array(json.dumps(model.info)),
        **{key: np.asarray(value, np.float32) for key, value in model.flat_arrays().items()},
    }
    with staged(path, overwrite=overwrite) as temporary:
        np.savez_compressed(temporary, **arrays)
    return path


def load_model(path: str | os.PathLike) -> Network:
    """Read and check a model file.

    Parameters
    ----------
    path : path-like
        An ``.npz`` written by :func:`save_model` (``nlm train``).

    Returns
    -------
    Network

    Raises
    ------
    ModelFileError
        If the file is missing, not an ``.npz`` archive, holds objects (pickles are never
        loaded), lacks the format marker or a field, or has layers of the wrong shape or
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


def _model_from_fields(fields: dict) -> Network:
    if "format" not in fields or str(fields["format"]) != MODEL_FORMAT:
        found = str(fields["format"]) if "format" in fields else "none"
        raise ValueError(f"format marker {found!r}, expected {MODEL_FORMAT!r}")
    sigma = float(fields["sigma"])
    if not 0 < sigma < 1000:
        raise ValueError(f"sigma {sigma} out of range")
    window = int(fields["window"])
    if window < 1 or window % 2 == 0 or window > 101:
        raise ValueError(f"search window {window} (odd, 1 to 101)")
    affinity = lookup(AFFINITIES, str(fields["affinity"]), "affinity").name
    network = Network.from_arrays(fields, window=window, affinity=affinity, sigma=sigma,
                                  info=json.loads(str(fields.get("info", "{}"))))
    _check_layers(network)
    return network


def _check_layers(network: Network) -> None:
    """Raise ValueError unless the layers chain: each one reads what the previous one gives."""
    layers = network.layers

    def expect(name, size, cin, cout=None):
        if name not in layers:
            raise KeyError(f"{name}/w")
        w, b = layers[name].get("w"), layers[name].get("b")
        if w is None or b is None:
            raise KeyError(f"{name}/{'w' if w is None else 'b'}")
        if (w.ndim != 4 or w.shape[:3] != (size, size, cin)
                or (cout is not None and w.shape[3] != cout) or b.shape != w.shape[3:]):
            raise ValueError(f"layer {name} has shape {w.shape} (bias {b.shape}); expected "
                             f"({size}, {size}, {cin}, {cout if cout is not None else 'D'})")
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise ValueError(f"layer {name} holds values that are not finite")
        return w.shape[3]

    features = expect("stem", 3, 1)
    for k in range(network.count("before")):
        expect(f"before{k}", 3, features, features)
    if network.has_block:
        spec = lookup(AFFINITIES, network.affinity, "affinity")
        embed = expect("theta", 1, features)
        if not spec.symmetric:
            expect("phi", 1, features, embed)
        values = expect("g", 1, features)
        expect("wz", 1, values, features)
    for k in range(network.count("after")):
        expect(f"after{k}", 3, features, features)
    expect("head", 3, features, 1)


# Shipped models ----------------------------------------------------------------------------


def shipped_models() -> dict[str, dict[float, Path]]:
    """List the models inside the package (files ``AFFINITY-sigmaS.npz``).

    Returns
    -------
    dict
        ``{affinity: {sigma: path}}``, a fresh copy.
    """
    return {affinity: dict(by_sigma) for affinity, by_sigma in _scan_shipped().items()}


def shipped_folder() -> Path:
    """Return the package's folder of shipped models."""
    return Path(str(resources.files("nlmeans_cli") / "models"))


@cache
def _scan_shipped() -> dict[str, dict[float, Path]]:
    # The package folder does not change while a process runs: scan it once, not per frame.
    folder = shipped_folder()
    return scan_models(folder) if folder.is_dir() else {}


def scan_models(folder: Path) -> dict[str, dict[float, Path]]:
    """List the model files of a folder named as the shipped ones are.

    Parameters
    ----------
    folder : pathlib.Path
        Holds ``AFFINITY-sigmaS.npz`` files.

    Returns
    -------
    dict
        ``{affinity: {sigma: path}}``.
    """
    found: dict[str, dict[float, Path]] = {}
    for entry in folder.glob("*-sigma*.npz"):
        affinity, _, sigma = entry.stem.rpartition("-sigma")
        if affinity in AFFINITIES:
            found.setdefault(affinity, {})[float(sigma)] = entry
    return found


def shipped_model(affinity: str, sigma_255: float) -> Network:
    """Load the shipped network for *affinity* nearest to *sigma_255* (in log sigma).

    Parameters
    ----------
    affinity : str
        Name in :data:`~nlmeans_cli.formulation.AFFINITIES`.
    sigma_255 : float
        The image's noise level on the 0-255 scale.

    Returns
    -------
    Network

    Raises
    ------
    ValueError
        If no model ships for *affinity*; the message lists those that do.
    """
    return cached_model(shipped_model_path(affinity, sigma_255))


def shipped_model_path(affinity: str, sigma_255: float) -> Path:
    """Return the file of the model :func:`shipped_model` loads (same parameters and errors)."""
    return pick_model(_scan_shipped(), affinity, sigma_255)


def pick_model(scanned: dict[str, dict[float, Path]], affinity: str, sigma_255: float) -> Path:
    """Choose the model file for an image, as :func:`shipped_model` does.

    Parameters
    ----------
    scanned : dict
        As :func:`scan_models` returns.
    affinity : str
        The affinity.
    sigma_255 : float
        The image's noise level, 0-255 scale; the model nearest in log sigma is taken.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        If no model of *affinity* is in *scanned*; the message lists those that are.
    """
    lookup(AFFINITIES, affinity, "affinity")
    models = scanned.get(affinity)
    if not models:
        known = ", ".join(sorted(scanned))
        raise ValueError(f"no shipped learned model for affinity {affinity!r}; shipped: "
                         f"{known or 'none'} (give --model, or train one with nlm train)")
    level = max(float(sigma_255), 1e-3)
    return models[min(models, key=lambda s: abs(np.log(s / level)))]


_CACHE: dict[tuple[str, int, int], Network] = {}


def cached_model(path: str | os.PathLike) -> Network:
    """Load a model file once per process (again only if the file changes).

    Parameters
    ----------
    path : path-like
        As for :func:`load_model`.

    Returns
    -------
    Network

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

