"""The ``nlm`` command line.

:mod:`~nlmeans_cli.cli.app` holds the commands,
:mod:`~nlmeans_cli.cli.options` (the shared options) and :mod:`~nlmeans_cli.cli.output`
(progress bars, summaries, tables).
"""

from .app import app, main

__all__ = ["app", "main"]
