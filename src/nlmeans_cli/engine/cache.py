"""What Numba's on-disk cache holds of the engine's kernels, and a notice before a compile.

The planar kernel compiles in three versions, told apart by which of its ``split`` and
``inv_h2`` arguments are ``None`` (:data:`PLANAR_VERSIONS`). The first run after installing
compiles the one it needs; a later run may need another. :func:`announcing_compiles` lets a
caller hear of that before it happens (the command line says so), the library itself printing
nothing.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import os
import pickle
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numba
from numba import config

from .planar import nonlocal_planar_strips
from .pointwise import nonlocal_pointwise_strips

__all__ = ["PLANAR_VERSIONS", "announcing_compiles", "in_cache", "kernels_cached",
           "notice_compile"]

# Who hears that a kernel is about to compile, in this context, if anyone, and the
# versions looked up for it already (each is looked up once).
_NOTICE: contextvars.ContextVar[tuple[Callable[[str], None], set] | None] = (
    contextvars.ContextVar("nlmeans_compile_notice", default=None))

#: The planar kernel's versions, by name: what each serves (as the notice names it), and
#: which of the arguments ``split`` and ``inv_h2`` are ``None`` in it (the others are not).
PLANAR_VERSIONS = {
    "own strengths": ("grey images", ("split",)),
    "squared": ("colour images", ("inv_h2",)),
    "exponentials": ("colour images at this chroma strength", ()),
}


def in_cache(dispatcher, *, accepts: Callable[[tuple], bool] | None = None) -> bool:
    """Tell whether Numba's on-disk cache holds a compiled version of *dispatcher*.

    Parameters
    ----------
    dispatcher : numba.core.registry.CPUDispatcher
        An ``@njit(cache=True)`` function.
    accepts : callable, optional
        Ask for a version whose argument types (a tuple of Numba types) it accepts; any
        version without it.

    Returns
    -------
    bool
        Looks where Numba will: under ``NUMBA_CACHE_DIR`` when it is set, else beside the
        function's module (``__pycache__``, where the package's build leaves the kernels of
        :mod:`.ahead`) when that folder is writable; not in Numba's user-wide folder
        (``False`` there). An index that Numba would not use counts as none: written by
        another Numba version, or for another content of the function's source file (after
        an upgrade that replaced the package's files and left their cache beside them), and
        so do its versions for another CPU. Costs a file lookup (a folder search with
        ``NUMBA_CACHE_DIR``), the reading of the cache's index (a few kilobytes) and the
        hashing of the source file.
    """
    kernel = dispatcher.py_func
    code = kernel.__code__
    name = (f"{Path(code.co_filename).stem}.{kernel.__name__}-{code.co_firstlineno}"
            f".py{sys.version_info.major}{sys.version_info.minor}.nbi")
    if config.CACHE_DIR:  # then Numba caches there only
        folder = Path(config.CACHE_DIR)
        index = next(folder.rglob(name), None) if folder.is_dir() else None
    else:
        index = Path(code.co_filename).parent / "__pycache__" / name
        if not os.access(index.parent, os.W_OK):
            # Numba writes, and so reads, beside the module only where it may write.
            return False
    if index is None or not index.is_file():
        return False
    signatures = _cached_signatures(index, Path(code.co_filename))
    return any(accepts is None or accepts(types) for types in signatures)


def _cached_signatures(index: Path, source: Path) -> list[tuple]:
    """Return the argument types of the versions a Numba cache index lists for *source*.

    Numba's index holds its version, then the pickled pair (source stamp, versions), each
    version keyed by (argument types, target, code hash). None if the index cannot be read,
    or if Numba would not use it: another version wrote it, or its stamp is not the
    source's (the SHA-256 of its content in the Numba versions of today, its modification
    time and size in older ones); nor the versions compiled for another CPU (a wheel built
    on another machine carries those, :mod:`.ahead`).
    """
    try:
        with open(index, "rb") as file:
            version = pickle.load(file)
            stamp, versions = pickle.loads(file.read())
        if version != numba.__version__:
            return []
        status = source.stat()
        if stamp not in _source_stamps(str(source), status.st_mtime, status.st_size):
            return []
        return [key[0] for key in versions if key[1] == _target_key()]
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError,
            AttributeError, ImportError):
        return []


@functools.cache
def _target_key() -> tuple:
    """Return what Numba's cache keys record of this machine: triple, CPU name, features."""
    from numba.core.registry import cpu_target

    return cpu_target.target_context.codegen().magic_tuple()


@functools.cache
def _source_stamps(path: str, modified: float, size: int) -> tuple:
    """Return the stamps Numba may have recorded for a source file: its SHA-256, (time, size).

    Keyed on the modification time and size, as Numba's own hash, so that the kernels of
    one module (the convolutions' three) read and hash their file once.
    """
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).digest(), (modified, size)


def kernels_cached(*, pointwise: bool = False) -> bool:
    """Tell whether Numba's on-disk cache already holds the engine's kernel for images.

    Parameters
    ----------
    pointwise : bool
        Ask for the kernel of a patch of one position (the network's block) as well.

    Returns
    -------
    bool
        ``False`` right after installing (or after the engine's source changed): the first
        call then compiles the kernels, once. See :func:`in_cache`.

    Notes
    -----
    The kernel for images and clips is :func:`~.planar.nonlocal_planar_strips` (any of
    its versions: :func:`notice_compile` tells of the others); volumes and the other
    affinities compile the general kernel on their first call, which this does not ask about.
    """
    kernels = ((nonlocal_planar_strips, nonlocal_pointwise_strips) if pointwise
               else (nonlocal_planar_strips,))
    return all(in_cache(kernel) for kernel in kernels)


@contextmanager
def announcing_compiles(callback: Callable[[str], None]) -> Iterator[None]:
    """Have the operations run inside the block tell *callback* before a kernel compiles.

    Parameters
    ----------
    callback : callable
        Called as ``callback(what)`` (what the version serves, as ``"colour
        images"``) from the calling thread, before the first operation in the block that
        needs a version of the planar kernel missing from Numba's cache.

    Yields
    ------
    None
    """
    token = _NOTICE.set((callback, set()))
    try:
        yield
    finally:
        _NOTICE.reset(token)


def notice_compile(dispatcher, *, version: str) -> None:
    """Tell the listener, if any, that the planar kernel's *version* will compile.

    Parameters
    ----------
    dispatcher : numba.core.registry.CPUDispatcher
        The planar kernel.
    version : str
        A name in :data:`PLANAR_VERSIONS`.

    Notes
    -----
    Looks each version up once per :func:`announcing_compiles` block (:func:`in_cache`);
    later calls cost a set lookup.
    """
    listening = _NOTICE.get()
    if listening is None:
        return
    callback, looked_up = listening
    key = (dispatcher.__name__, version)
    if key in looked_up:
        return
    looked_up.add(key)
    what, nones = PLANAR_VERSIONS[version]
    names = dispatcher.py_func.__code__.co_varnames
    positions = {name: names.index(name) for name in ("split", "inv_h2")}

    def accepts(types: tuple) -> bool:
        return all((str(types[at]) == "none") == (name in nones)
                   for name, at in positions.items())

    if not in_cache(dispatcher, accepts=accepts):
        callback(what)
