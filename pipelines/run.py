"""One restartable run from crawl to model.

    python -m pipelines.run --output DIR [--input PATHS | --crawl ID --max_files N]
        [--config run.yaml] [--train_steps N | --no_train] [Beam options, e.g. --runner=...]

Runs clean -> dedup -> tokenizer -> tokenize -> train into DIR/{clean,dedup,tokenizer,
shards,train}, each step as ``python -m <job>`` (the chain is :mod:`pipelines.steps`), and
writes DIR/report.html: every step's headline figures on one page, linking each step's
own report. With no --input and no --crawl it runs the bundled sample crawl
(``pipelines/resources/sample``) with the bundled settings (``sample_run.yaml``).

Restartable like ``make``: a step whose ``_SUCCESS`` records the same flags and the same
input digests is skipped; a step whose inputs or settings changed is rerun, and so is
everything after it. A run killed at any point leaves no step looking finished.

``--config run.yaml`` has one section per step, each key a flag of that job (``true`` for
a bare flag), plus ``beam_args`` (a list passed to every Beam step)::

    clean: {num_shards: 8, languages: "en,de,zh"}
    dedup: {stages: "minhash,substring"}
    tokenizer: {vocab_size: 32000}
    tokenize: {shard_size_mb: 256}
    train: {config: tiny, max_steps: 1000}
    beam_args: ["--direct_num_workers=2"]

Every setting is checked by the step's own flag parser before anything runs.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import signal
import subprocess
import sys
import time
from typing import Optional

import yaml

from pipelines import completion, joblog, steps as run_steps

log = logging.getLogger("pipelines.run")

SAMPLE_DIR = os.path.join(os.path.dirname(__file__), "resources", "sample")
SAMPLE_CRAWL = os.path.join(SAMPLE_DIR, "sample-crawl.warc.gz")
SAMPLE_SETTINGS = os.path.join(SAMPLE_DIR, "sample_run.yaml")


class SettingsError(ValueError):
    """A run setting that cannot work; the message says which and what to do."""


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pipelines.run",
        description="clean -> dedup -> tokenizer -> tokenize -> train, restartable, into one folder.",
        epilog="Any other flag is passed to every Beam step (e.g. --runner, --direct_num_workers).",
    )
    p.add_argument("--output", required=True, help="run folder (gets clean/, dedup/, tokenizer/, shards/, train/)")
    p.add_argument("--input", help="WARC paths, folders or globs, comma-separated (default: the bundled sample, "
                                   "run with pipelines/resources/sample/sample_run.yaml; with --input or --crawl "
                                   "every job keeps its own defaults unless --config says otherwise)")
    p.add_argument("--crawl", help="Common Crawl crawl id, e.g. CC-MAIN-2024-10")
    p.add_argument("--max_files", type=int, help="with --crawl: the first N WARC files")
    p.add_argument("--config", help="YAML with one section of flags per step, each key a flag of that job, e.g. "
                                    "'tokenizer: {vocab_size: 8000}' (example: pipelines/resources/sample/sample_run.yaml)")
    p.add_argument("--train_steps", type=int, help="training steps (sets train.max_steps)")
    p.add_argument("--no_train", action="store_true", help="stop after the token shards")
    return p


def load_settings(path: Optional[str]) -> dict:
    """A YAML settings file as {section: {flag: value}}; only plain data is read."""
    if not path:
        return {}
    if os.path.isdir(path):
        raise SettingsError(f"--config {path} is a folder: give a YAML file")
    if not os.path.isfile(path):
        raise SettingsError(f"--config {path} does not exist")
    with open(path, encoding="utf-8") as f:
        try:
            data = yaml.safe_load(f) or {}  # safe_load: a config never constructs objects
        except yaml.YAMLError as e:
            raise SettingsError(f"--config {path} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"--config {path}: expected sections {', '.join(run_steps.SETTINGS_SECTIONS)}")
    unknown = sorted(set(data) - set(run_steps.SETTINGS_SECTIONS))
    if unknown:
        raise SettingsError(f"--config {path}: unknown section(s) {unknown}; "
                            f"known: {', '.join(run_steps.SETTINGS_SECTIONS)}")
    for name, section in data.items():
        if name == "beam_args":
            if not isinstance(section, list):
                raise SettingsError(f"--config {path}: beam_args must be a list of flags")
        elif section is not None and not isinstance(section, dict):
            raise SettingsError(f"--config {path}: section {name} must map flags to values")
        elif section and set(section) & run_steps.WIRING_FLAGS:
            raise SettingsError(f"--config {path}: {name}.{sorted(set(section) & run_steps.WIRING_FLAGS)[0]} is set "
                                "by the run itself (its folders and --input/--crawl); remove it")
    return data


def merge_settings(base: dict, override: dict) -> dict:
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for name, section in override.items():
        if isinstance(section, dict) and isinstance(merged.get(name), dict):
            merged[name] = {**merged[name], **section}
        else:
            merged[name] = section
    return merged


def _job_parser(name: str) -> tuple[argparse.ArgumentParser, bool]:
    """The step's own flag parser, and whether unknown flags go to Beam."""
    if name == "clean":
        from pipelines.clean import build_arg_parser as parser
        return parser(), True
    if name == "dedup":
        from pipelines.dedup.job import STAGES, build_parser
        return build_parser(STAGES), True
    if name == "tokenizer":
        from tokenizer_training.train import build_arg_parser as parser
        return parser(), False
    if name == "tokenize":
        from pipelines.tokenize import build_arg_parser as parser
        return parser(), True
    from model.train import build_arg_parser as parser  # needs torch: only when training is asked for
    return parser(), False


def check_step(step: run_steps.Step, beam_args: list[str]) -> None:
    """Parse the step's argv with its job's parser, as the job will: a bad setting stops the
    run here, before any step runs. ``beam_args``: every Beam option the steps get."""
    try:
        parser, passes_unknown = _job_parser(step.name)
    except ImportError as e:
        if step.name != "train":
            raise
        raise SettingsError(f"step train needs {e.name}: install the project with its [train] extra "
                            "(pip install -e '.[train]') or pass --no_train") from None
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            if passes_unknown:
                _, unknown = parser.parse_known_args(list(step.argv))
            else:
                parser.parse_args(list(step.argv))
                unknown = []
    except SystemExit:
        last = (err.getvalue().strip().splitlines() or ["invalid flags"])[-1]
        raise SettingsError(f"settings of step {step.name}: {last.split('error: ', 1)[-1]}") from None
    stray = [a for a in unknown if a not in beam_args and a.startswith("--")]
    if stray:
        raise SettingsError(f"settings of step {step.name}: unknown flag(s) {stray}")
    if passes_unknown:  # what the job hands Beam: checked now, not when the step starts
        from pipelines.beam.runner import check_beam_flags
        try:
            check_beam_flags(unknown)
        except ValueError as e:
            raise SettingsError(f"settings of step {step.name}: {e}") from None


def run_step(step: run_steps.Step) -> int:
    """Run one step as ``python -m`` in this process group, so a kill of the group kills it;
    a SIGTERM or Ctrl-C to the run alone is passed on, so no step goes on writing after
    the run is gone."""
    log.info("run: %s: python -m %s %s", step.name, step.module, " ".join(step.argv))
    child = subprocess.Popen(step.command(sys.executable))

    def pass_on(signum, _frame):
        child.send_signal(signum)

    previous = {sig: signal.signal(sig, pass_on) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Optional[list[str]] = None) -> int:
    started = joblog.setup()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_arg_parser()
    args, beam_args = parser.parse_known_args(argv)
    try:
        if args.input and args.crawl:
            raise SettingsError("give --input or --crawl, not both")
        settings = {}
        inputs = [p for p in (args.input or "").split(",") if p]
        if not inputs and not args.crawl:
            inputs = [SAMPLE_CRAWL]
            settings = load_settings(SAMPLE_SETTINGS)
        settings = merge_settings(settings, load_settings(args.config))
        if args.max_files is not None and (args.max_files < 1 or not args.crawl):
            raise SettingsError("--max_files takes a number >= 1, with --crawl")
        if args.train_steps is not None:
            if args.train_steps < 1:
                raise SettingsError("--train_steps must be >= 1")
            settings = merge_settings(settings, {"train": {"max_steps": args.train_steps}})
        completion.check_output(args.output)
        planned = run_steps.plan(args.output, settings, inputs=inputs, crawl=args.crawl, max_files=args.max_files,
                                 train=not args.no_train, beam_args=beam_args)
        for step in planned:
            check_step(step, run_steps.beam_args_of(settings, beam_args))
    except (SettingsError, ValueError) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")

    from pipelines.report.run_page import write_run_report

    completion.begin(args.output)
    stale = False  # once a step reruns, every later step must too (its input changed)
    for i, step in enumerate(planned, start=1):
        if run_steps.can_skip(step, upstream_ran=stale):
            log.info("run: step %d/%d %s: up to date, skipped", i, len(planned), step.name)
            continue
        run_steps.prepare_to_run(step, upstream_ran=stale)
        stale = True
        log.info("run: step %d/%d %s: running", i, len(planned), step.name)
        step_started = time.monotonic()
        code = run_step(step)
        if code != 0:
            log.error("run: step %s failed (exit %d); fix it and rerun the same command: finished steps are skipped",
                      step.name, code)
            return code
        log.info("run: step %s done in %.0f s", step.name, time.monotonic() - step_started)
    report = write_run_report(args.output, planned)
    completion.write_success(args.output, "run", dict(completion.jsonable_flags(args, beam_args), argv=argv),
                             [s.output for s in planned], {})
    log.info("run: done in %.0f s. Report: %s", time.monotonic() - started, report)
    log.info("run: token shards: %s", os.path.join(args.output, run_steps.FOLDERS["tokenize"]))
    if not args.no_train:
        log.info("run: model: %s", os.path.join(args.output, run_steps.FOLDERS["train"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
