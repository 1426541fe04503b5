r"""The learned variant: non-local blocks whose ``f`` and ``g`` are learned linear maps.

A *stage* is one non-local block

.. math::

    z_i = \frac{1}{C(x)} \sum_{j \in \mathcal{W}(i)} f(\theta_i, \phi_j)\, g_j
    \quad(+\, x_i \text{ when } C = N)

where ``theta = A p_i + a`` and ``phi = B p_j + b`` are learned affine embeddings
(``K x patch``) of the patches ``p`` of a *guide* image, ``g_j = c^T q_j + c_0`` a learned
affine map of the noisy patch ``q_j`` (initialised to its centre pixel), ``f`` any affinity of
:data:`~nlmeans_cli.formulation.AFFINITIES` and ``C`` its paired normaliser. With ``C = sum f``
the block's output is a direct estimate; with ``C = N`` (dot product, concatenation) it is a
residual added to the block's input, as in Wang et al.'s blocks. The first stage's input (and
guide) is the noisy image; a second stage's is the first stage's estimate, which is cleaner,
while its ``g`` still reads the noisy pixels (BM3D's second step, NLRN's recurrence).

Inference runs on the engine (:func:`nlmeans_cli.engine.nonlocal_operation`), the one that
runs NL-means: the embeddings are feature maps of ``K`` channels compared at a single position
(patch radius 0). Training (:mod:`nlmeans_cli.training`) evaluates the same definition in
NumPy with analytic gradients.

Everything is computed on the image divided by the noise level, so one model serves nearby
noise levels; models are trained for a few levels and the nearest (in log sigma) is used.
Colour images are denoised in an orthonormal opponent colour space, ``g`` applied to each
channel. A colour model's embeddings read all three channels; a grey model given a colour
image reads the luminance-like one.

Models are ``.npz`` files of plain arrays (no pickle); see :func:`load_model`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from .formulation import AFFINITIES, lookup

__all__ = [
    "MODEL_FORMAT",
    "Model",
    "ModelFileError",
    "Stage",
    "apply_model",
    "cached_model",
    "load_model",
    "save_model",
    "shipped_model",
    "shipped_models",
]

#: Written into every model file; a file without it, or with another value, is not a model.
MODEL_FORMAT = "nlmeans_cli.learned/1"

# Orthonormal opponent colour transform: rows are luminance-like, red-green, blue-yellow.
OPPONENT = np.array([[1, 1, 1], [1, 0, -1], [1, -2, 1]], np.float64) / np.sqrt(
    [[3.0], [2.0], [6.0]])


class ModelFileError(ValueError):
    """A model file is missing, unreadable or not a model; the message names the file."""


@dataclass(frozen=True)
class Stage:
    """One learned non-local block.

    Attributes
    ----------
    affinity : str
        Name in :data:`~nlmeans_cli.formulation.AFFINITIES`.
    theta : numpy.ndarray
        ``(K, C, P, P)`` filters: ``theta_k = sum_c theta[k, c] * guide_c`` (correlation)
        over the guide's ``C`` channels (1 grey, 3 colour); ``(K, P, P)`` is taken as
        ``C = 1``.
    phi : numpy.ndarray or None
        Shaped as *theta*, or ``None`` when ``phi = theta`` (symmetric, half the work).
    g : numpy.ndarray
        ``(Q, Q)`` filter applied to the noisy image: the unary map ``g``.
    bias : float
        Gaussian affinity only: ``f = exp(-max(|theta_i - phi_j|^2 - bias, 0))``.
    search_radius : int
        The window is ``2 r + 1`` pixels square.
    theta_offset, phi_offset : numpy.ndarray or None
        ``(K,)`` constants added to the embeddings (``theta_i = A p_i + a``: the affine maps
        of Wang et al.'s 1x1 convolutions). ``None``: zero; *phi_offset* is unused when
        ``phi = theta``.
    g_offset : float
        Constant added to ``g``. With the offsets a ``C = N`` block can express a smoothing
        of its input, which its purely linear maps cannot.
    """

    affinity: str
    theta: np.ndarray
    phi: np.ndarray | None
    g: np.ndarray
    bias: float
    search_radius: int
    theta_offset: np.ndarray | None = None
    phi_offset: np.ndarray | None = None
    g_offset: float = 0.0

    def __post_init__(self):
        if self.theta.ndim == 3:
            object.__setattr__(self, "theta", self.theta[:, np.newaxis])
        if self.phi is not None and self.phi.ndim == 3:
            object.__setattr__(self, "phi", self.phi[:, np.newaxis])
        features = self.theta.shape[0]
        if self.theta_offset is None:
            object.__setattr__(self, "theta_offset", np.zeros(features))
        if self.phi is None:
            object.__setattr__(self, "phi_offset", None)
        elif self.phi_offset is None:
            object.__setattr__(self, "phi_offset", np.zeros(features))

    @property
    def channels(self) -> int:
        """The guide channels the embeddings read: 1 (grey) or 3 (colour)."""
        return self.theta.shape[1]

    @property
    def residual(self) -> bool:
        """Whether the block adds its output to the noisy input (``C = N``)."""
        return lookup(AFFINITIES, self.affinity, "affinity").normaliser == "count"


@dataclass(frozen=True)
class Model:
    """A trained learned denoiser.

    Attributes
    ----------
    sigma : float
        The noise level it was trained for, 0-255 scale.
    stages : tuple of Stage
        Applied in order; stage ``k > 0`` takes stage ``k - 1``'s estimate as its guide.
    info : dict
        How it was trained (command, seed, images, validation PSNR per stage), JSON-able.
    """

    sigma: float
    stages: tuple[Stage, ...]
    info: dict = field(default_factory=dict)

    @property
    def affinity(self) -> str:
        """The affinity of the first stage."""
        return self.stages[0].affinity

    @property
    def channels(self) -> int:
        """1 for a grey model, 3 for a colour model."""
        return self.stages[0].channels


def apply_model(pixels: np.ndarray, sigma: float, model: Model, *,
                stages: int | None = None) -> np.ndarray:
    """Denoise planar unit-scale pixels with a model.

    Parameters
    ----------
    pixels : numpy.ndarray
        float32 ``(C, n0, 1, n2)``: a 2-D grey (C = 1) or colour (C = 3) image on the engine's
        grid, values on the unit scale.
    sigma : float
        Noise standard deviation on the unit scale.
    model : Model
        The model.
    stages : int, optional
        Use only the first *stages* stages (for ablations). ``None``: all.

    Returns
    -------
    numpy.ndarray
        float32, the shape of *pixels*.

    Raises
    ------
    ValueError
        For a volume, a channel count other than 1 or 3, a grey image given a colour model,
        or *stages* out of range.

    Notes
    -----
    Cost per stage ``O(N * S * K)`` for ``N`` pixels, ``S`` window positions and ``K``
    features (half the positions when ``phi = theta``), plus ``C K + C`` small correlations.
    """
    if pixels.ndim != 4 or pixels.shape[2] != 1:
        raise ValueError("the learned method takes 2-D images (grey or colour), not volumes")
    channels = pixels.shape[0]
    if channels not in (1, 3):
        raise ValueError(f"the learned method takes 1 or 3 channels, got {channels}")
    if model.channels > channels:
        raise ValueError("this model was trained for colour images; the image is grey")
    used = model.stages if stages is None else model.stages[:stages]
    if not used:
        raise ValueError(f"stages must be between 1 and {len(model.stages)}")
    # Work in units of sigma; a noiseless image is returned as it is.
    if sigma <= 0:
        return pixels.astype(np.float32, copy=True)
    planes = pixels[:, :, 0, :].astype(np.float64) / sigma
    if channels == 3:
        planes = np.tensordot(OPPONENT, planes, axes=1)
    reads = model.channels
    estimate = planes
    for stage in used:
        estimate = _apply_stage(stage, estimate, planes, reads)
    if channels == 3:
        estimate = np.tensordot(OPPONENT.T, estimate, axes=1)
    return (estimate * sigma).astype(np.float32)[:, :, np.newaxis, :]


def _apply_stage(stage: Stage, previous: np.ndarray, noisy: np.ndarray,
                 reads: int) -> np.ndarray:
    """One block on the engine.

    ``previous`` (the block's input: the noisy image or the previous stage's estimate) and
    ``noisy`` are ``(C, rows, columns)``; the embeddings read the first *reads* channels of
    ``previous``.
    """
    from .engine import correlate_filters, nonlocal_operation

    guide = previous[:reads]

    def embed(filters, offset):
        mapped = sum(correlate_filters(plane, filters[:, c]) for c, plane in enumerate(guide))
        return mapped + offset.astype(np.float32)[:, np.newaxis, np.newaxis]

    theta = embed(stage.theta, stage.theta_offset)
    phi = None if stage.phi is None else embed(stage.phi, stage.phi_offset)
    values = np.concatenate([correlate_filters(channel, stage.g[np.newaxis])
                             for channel in noisy]) + np.float32(stage.g_offset)
    spec = lookup(AFFINITIES, stage.affinity, "affinity")
    out = nonlocal_operation(
        theta[:, :, np.newaxis, :],
        None if phi is None else phi[:, :, np.newaxis, :],
        values[:, :, np.newaxis, :],
        affinity=spec.name,
        normaliser=spec.normaliser,
        patch_radius=(0, 0, 0),
        search_radius=(stage.search_radius, 0, stage.search_radius),
        scale=1.0,
        bias=stage.bias,
        h=1.0,
    )[:, :, 0, :].astype(np.float64)
    if stage.residual:
        out += previous
    return out


# Files -------------------------------------------------------------------------------------


def save_model(model: Model, path: str | os.PathLike) -> Path:
    """Write a model as an ``.npz`` of plain arrays, atomically.

    Parameters
    ----------
    model : Model
        The model.
    path : path-like
        Target file; ``.npz`` is appended when missing (as :func:`numpy.savez` does).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    nlmeans_cli.files.ImageFileError
        If the file cannot be written (nothing is left behind).
    """
    from .files import _staged

    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
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
    with _staged(path, overwrite=True) as temporary:
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


@cache
def _scan_shipped() -> dict[int, dict[str, dict[float, Path]]]:
    # The package folder does not change while a process runs: scan it once, not per frame.
    folder = resources.files("nlmeans_cli") / "models"
    return _scan(Path(str(folder))) if folder.is_dir() else {}


def _scan(folder: Path) -> dict[int, dict[str, dict[float, Path]]]:
    """``{channels: {affinity: {sigma: path}}}`` of the ``AFFINITY[-colour]-sigmaS.npz`` files."""
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
    return cached_model(_pick(_scan_shipped(), affinity, sigma_255, channels))


def _pick(scanned: dict[int, dict[str, dict[float, Path]]], affinity: str, sigma_255: float,
          channels: int) -> Path:
    """Choose the file of *scanned* (as :func:`_scan` returns) that :func:`shipped_model` loads."""
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

