"""Runner defaults, and the one place that explains the Dask runner's limits.

Beam's DirectRunner runs everything in one thread unless told otherwise, which leaves
all but one core idle on a laptop. When the user picked no runner (or the
DirectRunner) and no worker count, we use one worker process per core. Any explicit
Beam flag wins.

When the user picked no runner at all we name Beam's FnApiRunner, the runner the
DirectRunner ends up on for every batch pipeline of ours. Beam 2.77's DirectRunner
first tries the Prism runner: it translates the whole pipeline, starts a job server
and fetches (or, offline, fails to fetch) a Go binary before falling back. That cost
the clean job ~0.45 CPU-s: its start-up (the job on a WARC without HTML pages, as
bench/clean.py measures it) went from 2.90 to 2.44 CPU-s, its CPU outside the stages
on the 884 shared pages from 4.27 to 3.78. Where the download succeeds, the job would
also run on another runner than the one tested. The FnApiRunner reads the same
--direct_num_workers/--direct_running_mode. It is named as ``LocalRunner`` (below), which
hands the pipeline options to the workers as the DirectRunner does: a bare
``--runner=FnApiRunner`` gives worker processes (multi_processing, our default on more
than one core) no options at all, so the log levels set below and any filesystem flags
(s3, gcs, hdfs) never reach them.

DASK RUNNER LIMITS (Beam 2.77). The clean and dedup jobs run byte-identically on a real
Dask cluster, and tokenize writes the same documents and tokens (its shard sizes differ,
limit 3; all tested), because the code works around four bugs of Beam's DaskRunner; other
modules point here instead of repeating this:

1. Multi-output ParDos (``with_outputs``) and ``beam.Partition`` mis-route elements
   between their outputs. Steps with several outputs therefore emit ONE output of
   ``(kind, payload)`` pairs, split afterwards by ``SplitByKind`` (plain Filters, which
   fuse into the same stage on every runner).
2. Only the graph of the last applied transform is computed, so a sink that is not
   upstream of it is silently never written. Every job ends with ``JoinSinks``.
3. A side input is evaluated by recomputing everything upstream of it. Stats are merged
   with a Flatten and a combine instead (``stats.WriteStats``); where a side input
   remains, its consumer must tolerate that cost (tokenize's shard totals over-count
   there; documented in docs/tokenizer.md).
4. What a DoFn emits in ``finish_bundle`` is dropped, which is where ``BatchElements``
   emits its last batch. ``BatchDocuments`` makes one-element batches there.
The Dask runner also re-uses input elements when it recomputes a branch, so stages get
a private copy of each document (``pipelines.stages.base.run_stages``).
"""
from __future__ import annotations

import os

from apache_beam.portability.api import beam_provision_api_pb2
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.runners.portability.portable_runner import JobServiceHandle


class LocalRunner(fn_runner.FnApiRunner):
    """Beam's FnApiRunner with the pipeline options in its provision info, as the
    DirectRunner builds it (Beam 2.77 ``DirectRunner.run_pipeline``): worker processes read
    their options (log levels, filesystem flags) from there, and a bare FnApiRunner's is
    empty. The options are known only here, hence the private attribute."""

    def run_pipeline(self, pipeline, options):
        encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
        self._provision_info = fn_runner.ExtendedProvisionInfo(
            beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
        return super().run_pipeline(pipeline, options)


# The runner a job gets when the user names none (see the module doc).
LOCAL_RUNNER = f"{__name__}.{LocalRunner.__name__}"


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


def check_beam_flags(beam_args: list[str]) -> None:
    """Raise ValueError naming the flags of ``beam_args`` that no pipeline-options class
    knows: Beam only logs "Discarding unparseable args" and runs without them, so a
    misspelled --runnr or --direct_num_workrs would silently run something else. A named
    runner is resolved first, as Beam will (an unknown name is refused here too): one named
    by module path (the Dask runner) defines its options in its own module, which then count."""
    import contextlib
    import io
    import logging

    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.runner import create_runner

    if _has_flag(beam_args, "runner"):
        runner = runner_name(beam_args)
        try:
            create_runner(runner)
        except (ImportError, ValueError) as e:
            raise ValueError(f"--runner={runner}: {e}") from None
    options = PipelineOptions(beam_args)
    beam_log = logging.getLogger("apache_beam.options.pipeline_options")
    level = beam_log.level
    beam_log.setLevel(logging.ERROR)  # its "Discarding unparseable args" warning: we say it better
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):  # a bad value (--direct_num_workers=two): argparse's usage dump
            known = options.get_all_options()
            unknown = sorted(options.get_all_options(retain_unknown_options=True).keys() - known.keys())
    except SystemExit:
        last = (err.getvalue().strip().splitlines() or ["invalid Beam flags"])[-1]
        raise ValueError(last.split("error: ", 1)[-1]) from None
    finally:
        beam_log.setLevel(level)
    if unknown:
        raise ValueError(f"unknown flag(s) {', '.join('--' + u for u in unknown)}: neither this job's "
                         f"(see --help) nor a Beam pipeline option")


def is_dask_pipeline(pipeline) -> bool:
    """Whether ``pipeline`` runs on Beam's Dask runner (read from its options)."""
    options = pipeline.options
    runner = str((options.get_all_options().get("runner") if options else None) or "")
    return "DaskRunner" in runner


def add_runner_defaults(beam_args: list[str]) -> list[str]:
    args = list(beam_args)
    if runner_name(args) in ("DirectRunner", "direct") and not _has_flag(args, "direct_num_workers"):
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        if workers > 1:
            args += [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
    if not _has_flag(args, "runner"):
        args.append(f"--runner={LOCAL_RUNNER}")  # no Prism attempt first (module doc)
    # Beam's worker harness logs every channel it opens at INFO; keep our own progress
    # lines (logger "pipelines") and silence the rest unless the user asks otherwise.
    if not _has_flag(args, "default_sdk_harness_log_level"):
        args += ["--default_sdk_harness_log_level=WARNING",
                 '--sdk_harness_log_level_overrides={"pipelines": "INFO"}']
    return args
