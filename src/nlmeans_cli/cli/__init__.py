"""The ``nlm`` command line.

:mod:`~nlmeans_cli.cli.app` holds the commands (``nlm train`` in
:mod:`~nlmeans_cli.cli.training`), :mod:`~nlmeans_cli.cli.options` the shared options,
:mod:`~nlmeans_cli.cli.output` the progress bars, summaries and tables.
"""

from .app import app, main

__all__ = ["app", "main"]
