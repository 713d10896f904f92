"""Runner defaults (pipelines/beam/runner.py): the runner a job gets when none is named."""
from __future__ import annotations

import logging
import os

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

import pytest

from conftest import run_module
from pipelines.beam.runner import LOCAL_RUNNER, add_runner_defaults, check_beam_flags


def test_no_runner_named_gets_the_fn_api_runner():
    args = add_runner_defaults(["--direct_num_workers=1"])
    assert f"--runner={LOCAL_RUNNER}" in args
    assert "--direct_num_workers=1" in args  # the worker count reaches the FnApiRunner unchanged


def test_a_named_runner_wins():
    for named in (["--runner=DirectRunner"], ["--runner", "DirectRunner"], ["--runner=PrismRunner"]):
        args = add_runner_defaults(named)
        assert not any(a == f"--runner={LOCAL_RUNNER}" for a in args), named
        assert args[:len(named)] == named


def test_default_runner_runs_a_pipeline_in_process():
    """The default names Beam's FnApiRunner itself (no Prism attempt): the pipeline result
    comes from it, and the pipeline computes what it should."""
    options = PipelineOptions(add_runner_defaults(["--direct_num_workers=1"]))
    p = beam.Pipeline(options=options)
    assert isinstance(p.runner, FnApiRunner)  # not the DirectRunner, which tries Prism first
    counts = p | beam.Create(["a", "b", "a"]) | beam.combiners.Count.PerElement()
    assert_that(counts, equal_to([("a", 2), ("b", 1)]))
    result = p.run()
    result.wait_until_finish()
    assert "fn_api_runner" in type(result).__module__


def test_worker_processes_get_the_pipeline_options():
    """With worker processes (our default on more than one core) the options must reach
    them: the harness log level set by add_runner_defaults is applied in each worker (a
    bare FnApiRunner hands its workers no options: they logged at INFO)."""
    args = add_runner_defaults(["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    assert "--default_sdk_harness_log_level=WARNING" in args
    parent = os.getpid()

    # Local functions: pickled by value, so the worker processes need not import this module.
    def probe(_):
        return os.getpid(), logging.getLogger().getEffectiveLevel()

    def check(rows):
        assert len(rows) == 4 and all(pid != parent for pid, _ in rows), rows  # ran in workers
        assert all(level == logging.WARNING for _, level in rows), rows

    with beam.Pipeline(options=PipelineOptions(args)) as p:
        seen = p | beam.Create(range(4)) | beam.Reshuffle() | beam.Map(probe)
        assert_that(seen, check)


def test_beam_flags_are_checked_before_a_job_runs():
    """Beam only logs "Discarding unparseable args" for a misspelled flag and runs without
    it: the jobs refuse it instead. A runner's own options (Dask's) count once its module
    is imported, which the check does."""
    for good in ([], ["--direct_num_workers=2"], ["--runner=DirectRunner", "--temp_location=/tmp/t"],
                 ["--runner=apache_beam.runners.dask.dask_runner.DaskRunner", "--dask_client_address=127.0.0.1:1"]):
        check_beam_flags(good)
    with pytest.raises(ValueError, match="--runnr"):
        check_beam_flags(["--runnr=DirectRunner"])
    with pytest.raises(ValueError, match="--direct_num_workrs"):
        check_beam_flags(["--direct_num_workrs", "2"])
    with pytest.raises(ValueError, match="--runner=nosuch.module.Runner"):
        check_beam_flags(["--runner=nosuch.module.Runner"])
    with pytest.raises(ValueError, match="--runner=DirectRuner"):
        check_beam_flags(["--runner=DirectRuner"])


@pytest.mark.parametrize("module", ["pipelines.clean", "pipelines.dedup", "pipelines.tokenize"])
@pytest.mark.parametrize("flag", ["--direct_num_workrs=2", "--direct_num_workers=two"])
def test_a_bad_beam_flag_stops_the_job_in_one_line(tmp_path, module, flag):
    """The clean, dedup and tokenize jobs check Beam's flags first, before their inputs or
    any output: a misspelled flag or a bad value is one line and exit 2."""
    out = tmp_path / "out"
    extra = ["--tokenizer", tmp_path / "none.model"] if module == "pipelines.tokenize" else []
    proc = run_module(module, "--input", tmp_path / "missing", "--output", out, *extra, flag, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and ("direct_num_workrs" in errors[0] or "two" in errors[0]), proc.stderr[-2000:]
    assert "usage:" not in proc.stderr and not out.exists()


def test_run_checks_the_beam_flags_of_every_step_before_any_runs():
    from pipelines.run import SettingsError, check_step
    from pipelines.steps import Step

    argv = ("--input", "x.warc.gz", "--output", "out")
    check_step(Step("clean", "pipelines.clean", argv + ("--direct_num_workers=2",), "out", ()),
               ["--direct_num_workers=2"])
    bad = Step("clean", "pipelines.clean", argv + ("--direct_num_workrs=2",), "out", ())
    with pytest.raises(SettingsError, match="step clean: unknown flag.*direct_num_workrs"):
        check_step(bad, ["--direct_num_workrs=2"])
