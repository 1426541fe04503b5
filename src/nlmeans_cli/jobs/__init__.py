"""Jobs: files in, files out.

One file (:mod:`~nlmeans_cli.jobs.file`), a batch on local worker processes
(:mod:`~nlmeans_cli.jobs.pool`) or on a Dask cluster (:mod:`~nlmeans_cli.jobs.cluster`), and
their reports (:mod:`~nlmeans_cli.jobs.reports`).
"""
