"""Beam plumbing shared by the jobs: the stage wrapper, small transforms, runner defaults.

Nothing here knows HTML or n-grams (that is ``pipelines.stages``), and nothing here
knows which job it serves (that is ``pipelines.clean``, ``pipelines.dedup``, ...).
The limits of Beam's Dask runner that shape these transforms are explained once, in
:mod:`pipelines.beam.runner`.
"""
