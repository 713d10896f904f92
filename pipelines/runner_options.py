"""Runner defaults shared by the jobs.

Beam's DirectRunner runs everything in one thread unless told otherwise, which leaves
all but one core idle on a laptop. When the user picked no runner (or the
DirectRunner) and no worker count, we use one worker process per core. Any explicit
Beam flag wins.
"""
from __future__ import annotations

import logging
import os

import apache_beam as beam


def _has_flag(beam_args: list[str], name: str) -> bool:
    return any(a == f"--{name}" or a.startswith(f"--{name}=") for a in beam_args)


def runner_name(beam_args: list[str]) -> str:
    """The --runner given in Beam's arguments (DirectRunner when none)."""
    for i, a in enumerate(beam_args):
        if a.startswith("--runner="):
            return a.split("=", 1)[1]
        if a == "--runner" and i + 1 < len(beam_args):
            return beam_args[i + 1]
    return "DirectRunner"


def add_runner_defaults(beam_args: list[str]) -> list[str]:
    args = list(beam_args)
    if runner_name(args) in ("DirectRunner", "direct") and not _has_flag(args, "direct_num_workers"):
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        if workers > 1:
            args += [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
    # Beam's worker harness logs every channel it opens at INFO; keep our own progress
    # lines (logger "pipelines") and silence the rest unless the user asks otherwise.
    if not _has_flag(args, "default_sdk_harness_log_level"):
        args += ["--default_sdk_harness_log_level=WARNING",
                 '--sdk_harness_log_level_overrides={"pipelines": "INFO"}']
    return args


class JoinSinks(beam.PTransform):
    """One last step that depends on every sink's output (written paths).

    Beam 2.77's Dask runner computes only the graph of the last applied transform, so a
    sink that is not upstream of it (documents/, removed/) would silently never be
    written there. Joining all sinks into the last transform makes every runner run them.
    """

    def __init__(self, job: str):
        super().__init__()
        self.job = job

    def expand(self, written: tuple):
        job = self.job
        return (
            written
            | "AllWritten" >> beam.Flatten()
            | "CountWritten" >> beam.combiners.Count.Globally()
            | "LogWritten" >> beam.Map(lambda n: logging.getLogger("pipelines").info("%s: wrote %d files", job, n))
        )


class BatchDocuments(beam.PTransform):
    """``beam.BatchElements`` (lists of up to ``max_batch_size`` elements), on every runner.

    Beam 2.77's Dask runner drops what a DoFn emits in ``finish_bundle``, which is where
    BatchElements emits its last batch: those elements would silently vanish. There
    every element becomes its own batch instead (same results, less vectorization). The
    runner is read from the pipeline's options, so jobs need no runner plumbing.
    """

    def __init__(self, min_batch_size: int, max_batch_size: int):
        super().__init__()
        self.min_batch_size, self.max_batch_size = min_batch_size, max_batch_size

    def expand(self, pcoll):
        options = pcoll.pipeline.options
        runner = str((options.get_all_options().get("runner") if options else None) or "")
        if "DaskRunner" in runner:
            return pcoll | "OneElementBatches" >> beam.Map(lambda element: [element])
        return pcoll | "BatchElements" >> beam.BatchElements(min_batch_size=self.min_batch_size,
                                                             max_batch_size=self.max_batch_size)

