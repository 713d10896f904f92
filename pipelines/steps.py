"""The chain of jobs from crawl to model, in one place: ``pipelines.run`` and the Airflow DAG
both build their steps from here.

A step is one job run as ``python -m <module> <argv>`` into ``RUN_DIR/<step>``. Its argv
comes from the run's inputs, the folders of the steps before it, and the user's settings
for that step (one YAML section per step, each key a flag of that job). A step is
*complete* when its ``_SUCCESS`` (see :mod:`pipelines.completion`) records the same argv
and the same ``_SUCCESS`` digests of its inputs as the step about to run: then it is
skipped, like an up-to-date ``make`` target. Anything else reruns it, and, since its
marker changes, every step after it.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import subprocess
from typing import Any, Optional

from pipelines import completion

log = logging.getLogger("pipelines.run")

# Step name -> (python -m module, whether it is a Beam job that takes runner options).
STEPS: dict[str, tuple[str, bool]] = {
    "clean": ("pipelines.clean", True),
    "dedup": ("pipelines.dedup", True),
    "tokenizer": ("tokenizer_training.train", False),
    "tokenize": ("pipelines.tokenize", True),
    "train": ("model.train", False),
}
ORDER = tuple(STEPS)
# Step name -> its folder in the run directory.
FOLDERS = {"clean": "clean", "dedup": "dedup", "tokenizer": "tokenizer", "tokenize": "shards", "train": "train"}
SETTINGS_SECTIONS = ORDER + ("beam_args",)


@dataclasses.dataclass(frozen=True)
class Step:
    name: str
    module: str
    argv: tuple[str, ...]
    output: str
    inputs: tuple[str, ...]  # output folders of earlier steps this one reads

    def command(self, python: str) -> list[str]:
        return [python, "-m", self.module, *self.argv]

    def is_complete(self) -> bool:
        """Its marker records this argv and the current digests of its inputs."""
        done = completion.read_success(self.output)
        if not done or done.get("flags", {}).get("argv") != list(self.argv):
            return False
        recorded = {i.get("path"): i.get("success_sha256") for i in done.get("inputs", [])}
        for path in self.inputs:
            current = completion.success_digest(path)
            if current is None or recorded.get(path) != current:
                return False
        return True


def can_skip(step: Step, upstream_ran: bool) -> bool:
    """A step is skipped when nothing before it ran in this run and its marker matches.
    (One rule for pipelines.run and the Airflow DAG.)"""
    return not upstream_ran and step.is_complete()


def prepare_to_run(step: Step, upstream_ran: bool) -> None:
    """Before a step runs: its old marker goes at once (not when the job gets to it), and a
    train folder whose model no longer fits the shards or the flags is cleared."""
    if step.name == "train":
        start_training_afresh_if_changed(step, data_changed=upstream_ran)
    completion.begin(step.output)


def start_training_afresh_if_changed(step: Step, data_changed: bool) -> None:
    """The trainer resumes from the newest checkpoint in its folder. That is right after a
    kill, wrong when the shards or the training flags changed since: the old checkpoints
    then belong to another model, so the run's train folder is cleared first."""
    config_path = os.path.join(step.output, "run_config.json")
    if not os.path.isdir(step.output) or not os.path.exists(config_path):
        return
    try:
        with open(config_path, encoding="utf-8") as f:
            recorded = json.load(f).get("train", {}).get("argv")
    except (OSError, ValueError):
        recorded = None
    if data_changed or recorded != list(step.argv):
        why = "the token shards changed" if data_changed else "the training settings changed"
        log.info("train: %s since the model in %s was trained; starting it afresh", why, step.output)
        shutil.rmtree(step.output)


def setting_flags(settings: dict[str, Any]) -> list[str]:
    """{"num_shards": 4, "keep_removed": true, "stages": "minhash,substring"} ->
    ["--keep_removed", "--num_shards", "4", "--stages", "minhash,substring"] (sorted, so
    the argv, and with it the step's marker, does not depend on the YAML's key order).
    ``true`` is a bare flag, ``false``/``null`` leave the flag out, a list is joined with
    commas (``languages: [en, de]`` -> ``--languages en,de``, as every list flag reads)."""
    argv: list[str] = []
    for key in sorted(settings):
        value = settings[key]
        if value is None or value is False:
            continue
        if value is True:
            argv.append(f"--{key}")
        elif isinstance(value, (list, tuple)):
            argv += [f"--{key}", ",".join(str(v) for v in value)]
        else:
            argv += [f"--{key}", str(value)]
    return argv


# Flags that wire a step to the run folder: set by the plan, never by settings.
WIRING_FLAGS = frozenset({"input", "output", "crawl", "max_files", "tokenizer", "data", "out"})


def beam_args_of(settings: dict, beam_args: Optional[list[str]] = None) -> list[str]:
    """The Beam options every Beam step gets: the command line's, then the settings'."""
    return list(beam_args or []) + [str(a) for a in settings.get("beam_args") or []]


def plan(run_dir: str, settings: dict[str, dict], *, inputs: Optional[list[str]] = None,
         crawl: Optional[str] = None, max_files: Optional[int] = None, train: bool = True,
         beam_args: Optional[list[str]] = None) -> list[Step]:
    """The steps of one run, in order, with their argv (nothing is run or checked here)."""
    folder = {name: os.path.join(run_dir, sub) for name, sub in FOLDERS.items()}
    beam = beam_args_of(settings, beam_args)
    if inputs:
        source = ["--input", ",".join(inputs)]
    else:
        source = ["--crawl", crawl or ""] + (["--max_files", str(max_files)] if max_files is not None else [])
    # Step -> (the flags that wire it to the run, the earlier steps' folders it reads).
    wiring: dict[str, tuple[list[str], tuple[str, ...]]] = {
        "clean": (source + ["--output", folder["clean"]], ()),
        "dedup": (["--input", folder["clean"], "--output", folder["dedup"]], (folder["clean"],)),
        "tokenizer": (["--input", folder["dedup"], "--output", folder["tokenizer"]], (folder["dedup"],)),
        "tokenize": (["--input", folder["dedup"], "--tokenizer", os.path.join(folder["tokenizer"], "tokenizer.model"),
                      "--output", folder["tokenize"]], (folder["dedup"], folder["tokenizer"])),
        "train": (["--data", folder["tokenize"], "--out", folder["train"]], (folder["tokenize"],)),
    }
    steps = []
    for name in ORDER:
        if name == "train" and not train:
            continue
        module, is_beam = STEPS[name]
        argv, step_inputs = wiring[name]
        argv = argv + setting_flags(settings.get(name) or {}) + (beam if is_beam else [])
        steps.append(Step(name, module, tuple(argv), folder[name], step_inputs))
    return steps


_LEVEL_WORD = re.compile(r"\b(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)\b")


def log_level_of(line: str) -> int:
    """The logging level a job's output line was written at (its first level word near the
    start: our format and Beam's ``WARNING:root:`` both put it there); INFO otherwise, so a
    scheduler that logs each line does not tag every INFO line written to stderr as a warning."""
    found = _LEVEL_WORD.search(line[:80])
    if not found:
        return logging.INFO
    return logging.WARNING if found.group(1) == "WARN" else getattr(logging, found.group(1))


def run_logged(step: Step, python: str, logger: logging.Logger) -> int:
    """Run ``step``, passing each line of its output to ``logger`` at the line's own level
    (Airflow's task log); returns the exit status."""
    proc = subprocess.Popen(step.command(python), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace")
    for line in proc.stdout:
        logger.log(log_level_of(line), "%s", line.rstrip())
    return proc.wait()
