"""Run the command line with ``python -m nlmeans_cli``."""

from .cli import main

main()
