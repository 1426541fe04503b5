"""nlmeans_cli: image denoising with the non-local operation.

``denoise`` is the entry point; :mod:`nlmeans_cli.formulation` defines the operation and its
registries, :mod:`nlmeans_cli.engine` evaluates it with Numba.
"""

from importlib.metadata import PackageNotFoundError, version

from .denoising import denoise, denoise_with_report

try:
    __version__ = version("nlmeans_cli")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__", "denoise", "denoise_with_report"]
