"""Ablations: does a filter make a better model? Train the same small model on every corpus
variant, at equal tokens and seeds, and compare them on the same texts.

    python -m pipelines.ablate --spec ablation.yaml --output DIR [--tokens N] [--seeds 3]
        [--model tiny] [--device auto|cpu|cuda] [--tokenizer tokenizer.model] [Beam options]

The spec (``pipelines/ablation/spec.py``; example: ``bench/ablation.yaml``) names the
inputs, the variants (clean flags and filter config, dedup, mixture weights), the
tokenizer, tokenize and training flags, and the evaluation sets. The command:

1. builds every variant's documents and token shards with the jobs of ``pipelines.run``,
   one folder per distinct step (``DIR/steps/<kind>-<digest>``): variants with equal
   clean settings share one clean output; one tokenizer, trained on an equal sample of
   every variant (or ``--tokenizer``), tokenizes them all;
2. checks that every variant has ``--tokens`` training tokens (else it stops, saying how
   many the short variant has), then trains the same model with ``--seeds`` seeds on each
   for exactly ``--tokens`` tokens (rounded down to whole steps);
3. evaluates every model on every evaluation set of the spec and on every variant's
   validation split, in loss and bits per byte;
4. writes DIR/results.json and DIR/report.html (docs/ablation.md says how to read it).

Restartable like ``pipelines.run``: a step whose ``_SUCCESS`` matches its argv and inputs
is skipped, so a rerun after a kill or a spec edit redoes only what is unfinished or changed.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import sys
import time
from typing import Optional

from pipelines import completion, joblog, steps as run_steps
from pipelines.ablation import report as ablation_report
from pipelines.ablation.spec import SpecError, load_spec
from pipelines.ablation.variants import plan as plan_steps

log = logging.getLogger("pipelines.ablate")
_EXIT_REFUSED = 2
DEFAULT_SEEDS = 3


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pipelines.ablate",
        description="Corpus variants -> one tokenizer -> the same model, same tokens, same seeds on each -> "
                    "loss and bits per byte on the same texts (results.json, report.html).",
        epilog="Any other flag is passed to every Beam step (e.g. --direct_num_workers=2).")
    p.add_argument("--spec", required=True, help="ablation YAML (example: bench/ablation.yaml)")
    p.add_argument("--output", required=True, help="folder for steps/, results.json, report.html (restartable)")
    p.add_argument("--tokens", type=float, help="training tokens per model (default: the spec's tokens)")
    p.add_argument("--seeds", type=int, help=f"models per variant, seeds 0..N-1 (default: the spec's, else "
                                             f"{DEFAULT_SEEDS})")
    p.add_argument("--model", help="model preset (model/config.py), overriding the spec's train.config")
    p.add_argument("--device", help="auto | cpu | cuda, for training and evaluation (default: the trainer's auto)")
    p.add_argument("--tokenizer", help="a tokenizer.model to use for every variant instead of training one")
    return p


class AblationError(ValueError):
    """Settings that cannot work; the message is one line saying what to do."""


def training_shape(train_flags: dict, model: Optional[str], device: Optional[str] = None) -> dict:
    """The trainer's own reading of the spec's train flags (its defaults filled in)."""
    from model.train import parse_args as trainer_args

    flags = dict(train_flags, **({"config": model} if model else {}), **({"device": device} if device else {}))
    err = io.StringIO()
    try:  # the trainer's own checks (choices, counts >= 1), before any data step runs
        with contextlib.redirect_stderr(err):
            args = trainer_args(["--data", "-", "--out", "-"] + run_steps.setting_flags(flags))
    except SystemExit:
        last = (err.getvalue().strip().splitlines() or ["invalid flags"])[-1]
        raise AblationError(f"settings of train: {last.split('error: ', 1)[-1]}") from None
    return {"seq_len": args.seq_len, "tokens_per_step": args.batch_size * args.grad_accum * args.seq_len,
            "config": args.config}


def check_before_work(planned, beam_args: list) -> None:
    """Every job's argv through its own parser, every clean config through the config
    loader: a bad setting stops here, before anything runs."""
    from pipelines.config import load_config
    from pipelines.run import SettingsError, check_step

    for task in planned.tasks:
        step = task.step
        if step.name not in run_steps.STEPS:
            continue  # our own jobs: their argv is written by variants.plan
        try:
            check_step(step, beam_args)
        except SettingsError as e:
            raise AblationError(str(e)) from None
        if step.name == "clean" and "--config" in step.argv:
            load_config(step.argv[step.argv.index("--config") + 1])  # ConfigError names file and key


def check_eval_sets(spec) -> None:
    """Every evaluation set of the spec has documents: the evaluate step would leave an empty
    one out with a warning, after training, and the report would silently lack it."""
    from pipelines.ablation.evaluate import read_texts

    for e in spec.eval_sets:
        skipped: dict = {}
        if not read_texts(e.format, e.field, e.path, skipped):
            hint = f" (skipped: {skipped}; is field {e.field!r} right?)" if skipped else ""
            raise AblationError(f"eval_sets.{e.name}: {e.path} has no {e.format} documents{hint}")


def available_training_tokens(shards: str, seq_len: int) -> int:
    """Tokens one epoch of the trainer's reader yields from a variant's train split: whole
    windows of seq_len + 1 tokens, with the mixture weights applied, seq_len counted each
    (the trainer counts its tokens the same way)."""
    from model.data import TokenWindowReader

    try:
        return TokenWindowReader(shards, split="train", seq_len=seq_len, batch_size=1).windows_per_epoch * seq_len
    except ValueError:
        return 0  # not one window


class Runner:
    """Runs the plan's tasks in order, skipping up-to-date ones (pipelines.steps.can_skip)."""

    def __init__(self, tasks: list):
        self.tasks = tasks
        self.ran: set = set()  # output folders (re)written in this invocation

    def run(self, tasks: list) -> int:
        from pipelines.run import run_step

        for task in tasks:
            i = self.tasks.index(task) + 1
            step = task.step
            shown = " ".join(x for x in (f"step {i}/{len(self.tasks)} {step.name}", task.label,
                                         f"[{', '.join(task.variants)}]" if task.variants else "") if x)
            upstream_ran = any(folder in self.ran for folder in step.inputs)
            if run_steps.can_skip(step, upstream_ran):
                log.info("ablate: %s: up to date, skipped", shown)
                continue
            run_steps.prepare_to_run(step, upstream_ran)
            self.ran.add(step.output)
            log.info("ablate: %s: running (%s)", shown, os.path.relpath(step.output))
            started = time.monotonic()
            code = run_step(step)
            if code != 0:
                log.error("ablate: %s failed (exit %d); fix it and rerun the same command: finished steps are "
                          "skipped", shown, code)
                return code
            log.info("ablate: %s: done in %.0f s", shown, time.monotonic() - started)
        return 0


def main(argv: Optional[list] = None) -> int:
    started = joblog.setup()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_arg_parser()
    args, beam_args = parser.parse_known_args(argv)
    stray = [a for a in beam_args if not a.startswith("--")]
    try:
        if stray:
            raise AblationError(f"unexpected argument(s) {stray}")
        spec = load_spec(args.spec)
        check_eval_sets(spec)
        tokens = args.tokens if args.tokens is not None else spec.tokens
        if tokens is None or tokens < 1:
            raise AblationError("give --tokens N (training tokens per model) or tokens: N in the spec")
        seeds = args.seeds if args.seeds is not None else (spec.seeds or DEFAULT_SEEDS)
        if seeds < 1:
            raise AblationError("--seeds must be >= 1")
        if args.tokenizer and not os.path.isfile(args.tokenizer):
            raise AblationError(f"--tokenizer {args.tokenizer}: no such file (give a tokenizer.model)")
        shape = training_shape(spec.train, args.model, args.device)
        max_steps = int(tokens) // shape["tokens_per_step"]
        if max_steps < 1:
            raise AblationError(f"--tokens {int(tokens)} is less than one training step "
                                f"({shape['tokens_per_step']} tokens = batch_size x grad_accum x seq_len)")
        completion.check_output(args.output)
        planned = plan_steps(spec, args.output, max_steps=max_steps, seeds=seeds, tokenizer=args.tokenizer,
                             beam_args=beam_args, device=args.device, model=args.model)
        check_before_work(planned, list(beam_args) + list(spec.beam_args))
    except (SpecError, AblationError, ValueError) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")

    completion.begin(args.output, extra=("results.json",))
    runner = Runner(planned.tasks)
    data_tasks = [t for t in planned.tasks if t.step.name not in ("train", "evaluate")]
    code = runner.run(data_tasks)
    if code:
        return code
    trained = planned.max_steps * shape["tokens_per_step"]
    available = {v.name: available_training_tokens(planned.shards[v.name], shape["seq_len"]) for v in spec.variants}
    short = {name: n for name, n in available.items() if n < trained}
    if short:
        name, n = min(short.items(), key=lambda kv: kv[1])
        log.error("ablate: variant %s has %s training tokens (train split, whole windows of seq_len+1 = %d, mixture "
                  "weights applied); every model is to train on %s. Lower --tokens to at most %s, or give the "
                  "variant more data. Short: %s", name, f"{n:,}", shape["seq_len"] + 1, f"{trained:,}",
                  f"{min(available.values()):,}", ", ".join(f"{k} {v:,}" for k, v in sorted(short.items())))
        return _EXIT_REFUSED
    log.info("ablate: %s training tokens per model (%d steps x %d); available: %s", f"{trained:,}",
             planned.max_steps, shape["tokens_per_step"], ", ".join(f"{k} {v:,}" for k, v in available.items()))
    if args.device != "cuda" and "OMP_NUM_THREADS" not in os.environ:
        # Ablation models are small: on CPU, torch's one thread per core spins more than it
        # computes (tiny preset, 40 steps: 54.6 CPU-s with 2 threads, 11.5 with 1, same
        # losses). Set OMP_NUM_THREADS yourself to override; GPU math is unaffected.
        os.environ["OMP_NUM_THREADS"] = "1"
    code = runner.run([t for t in planned.tasks if t.step.name in ("train", "evaluate")])
    if code:
        return code

    with open(os.path.join(planned.models[spec.baseline, planned.seeds[0]], "run_config.json"), encoding="utf-8") as f:
        run_config = json.load(f)
    model = {"config": shape["config"], "parameters": run_config["parameters"], "seq_len": shape["seq_len"],
             "vocab_size": run_config["model"]["vocab_size"]}
    results = ablation_report.collect(planned, spec, tokens_per_step=shape["tokens_per_step"],
                                      train_tokens=available, model=model)
    path = os.path.join(args.output, "results.json")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(json.dumps(results, indent=2, sort_keys=True) + "\n")
    os.replace(path + ".tmp", path)
    page = ablation_report.write_report(args.output, results, os.path.basename(args.spec))
    for line in ablation_report.verdict_lines(results):
        log.info("ablate: %s", line)
    completion.write_success(args.output, "ablate", dict(completion.jsonable_flags(args, beam_args), argv=argv),
                             sorted(planned.evals.values()), {"variants": len(spec.variants), "seeds": seeds,
                                                             "tokens_per_model": trained})
    log.info("ablate: done in %.0f s. Results: %s, report: %s", time.monotonic() - started, path, page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
