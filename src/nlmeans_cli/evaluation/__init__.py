"""Evaluation: ours against scikit-image on images with known clean versions.

:mod:`~nlmeans_cli.evaluation.compare` is ``nlm compare``; :mod:`~nlmeans_cli.evaluation.montage`
draws its side-by-side montages.
"""
