"""From a spec to steps: every variant's chain of jobs, sharing folders by content.

Each step is a :class:`pipelines.steps.Step` (``python -m <job> <argv>`` into a folder,
complete when its ``_SUCCESS`` records the same argv and input digests), so skipping,
restarting and signal handling are ``pipelines.run``'s. What is new is the folder name:
``DIR/steps/<kind>-<digest>``, the digest of the job and its argv with the folder itself
left out. The argv names the folders of the steps it reads, which are digests of theirs,
so two variants whose clean settings are equal plan the very same clean step (run once,
read by both), and a spec edit gives new folders exactly to the steps it changes and to
the ones downstream of them; every other step is found complete and skipped.

    per variant and source:  clean -> [dedup]                 (documents)
    all variants:            sample -> tokenizer              (one tokenizer; or --tokenizer)
    per variant:             tokenize (every source, with the variant's mixture weights)
    per variant and seed:    train -> evaluate
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Optional

import yaml

from pipelines import steps as run_steps
from pipelines.ablation.spec import Spec

# Our own jobs beside those of pipelines.steps.STEPS: (module, takes Beam options).
JOBS = {**run_steps.STEPS, "sample": ("pipelines.ablation.sample", False),
        "evaluate": ("pipelines.ablation.evaluate", False)}
FOLDER_PREFIX = {**run_steps.FOLDERS, "sample": "sample", "evaluate": "eval"}
_OUT = "\x00OUT\x00"  # stands for the step's own folder while its digest is computed


@dataclasses.dataclass
class Task:
    """One step of the plan and what it is for (a step shared by variants has one Task)."""
    step: run_steps.Step
    label: str  # what the step is for beside its kind and variants, e.g. the source or the seed
    variants: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Plan:
    root: str
    tasks: list  # of Task, in an order where every step comes after the steps it reads
    documents: dict  # variant -> {source: documents folder (dedup's or clean's)}
    cleans: dict  # variant -> {source: clean folder}
    shards: dict  # variant -> shards folder
    tokenizer_model: str
    models: dict  # (variant, seed) -> train folder
    evals: dict  # (variant, seed) -> evaluate folder
    max_steps: int
    seeds: tuple


class Planner:
    def __init__(self, root: str, beam_args: list):
        self.root = os.path.abspath(root)
        self.beam_args = list(beam_args)
        self.tasks: dict[str, Task] = {}  # output folder -> task, in insertion (topological) order

    def add(self, kind: str, argv: list, inputs: tuple, label: str, variant: Optional[str]) -> str:
        module, is_beam = JOBS[kind]
        argv = [str(a) for a in argv] + (self.beam_args if is_beam else [])
        # The folder is part of the argv, so it cannot be part of the digest; the run
        # folder itself is left out too, so a moved DIR keeps its digests.
        key = json.dumps([module, [a.replace(self.root, "$DIR") for a in argv]])
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
        out = os.path.join(self.root, "steps", f"{FOLDER_PREFIX[kind]}-{digest}")
        argv = [a.replace(_OUT, out) for a in argv]
        task = self.tasks.get(out)
        if task is None:
            task = self.tasks[out] = Task(run_steps.Step(kind, module, tuple(argv), out, tuple(inputs)), label)
        if variant and variant not in task.variants:
            task.variants.append(variant)
        return out

    def config_file(self, clean_config: dict) -> str:
        """A variant's filter config as a file named by its content (its path is in the
        clean argv, so equal configs share a clean step and a changed one does not)."""
        text = yaml.safe_dump(clean_config, sort_keys=True, allow_unicode=True)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        path = os.path.join(self.root, "configs", f"clean-{digest}.yaml")
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(path + ".tmp", path)
        return path


def _weight(w: float) -> str:
    """A weight as pipelines.tokenize's NAME=PATH:WEIGHT reads it (digits, no exponent)."""
    return f"{w:.6f}".rstrip("0").rstrip(".") or "0"


def plan(spec: Spec, root: str, *, max_steps: int, seeds: int, tokenizer: Optional[str] = None,
         beam_args: tuple = (), device: Optional[str] = None, model: Optional[str] = None) -> Plan:
    """Every step of the ablation, in order (nothing is run or checked here except that
    clean config files are written, named by their content)."""
    p = Planner(root, list(beam_args) + list(spec.beam_args))
    documents, cleans = {}, {}
    for v in spec.variants:
        clean_flags = dict(v.clean)
        if v.clean_config is not None:
            clean_flags["config"] = p.config_file(v.clean_config)
        documents[v.name], cleans[v.name] = {}, {}
        for source, paths in spec.sources.items():
            if v.mixture[source] == 0:
                continue  # a source the variant does not train on is not built for it
            clean = p.add("clean", ["--input", ",".join(paths), "--output", _OUT] + run_steps.setting_flags(clean_flags),
                          (), f"{source}", v.name)
            cleans[v.name][source] = documents[v.name][source] = clean
            if v.dedup is not None:
                documents[v.name][source] = p.add(
                    "dedup", ["--input", clean, "--output", _OUT] + run_steps.setting_flags(v.dedup), (clean,),
                    f"{source}", v.name)

    if tokenizer:
        tokenizer_model = os.path.abspath(tokenizer)
        tokenizer_inputs: tuple = ()
    else:
        groups = sorted(documents.items())  # the sample does not depend on the spec's variant order
        group_flags = [a for name, docs in groups for a in ("--group", f"{name}={','.join(sorted(docs.values()))}")]
        folders = tuple(sorted({f for _, docs in groups for f in docs.values()}))
        sample = p.add("sample", group_flags + ["--mb_per_group", spec.tokenizer_sample_mb, "--output", _OUT],
                       folders, "(an equal share of every variant)", None)
        # The tokenizer takes the whole sample: the equal shares were drawn by the sample step.
        total_mb = spec.tokenizer_sample_mb * len(groups) + 1
        tok_dir = p.add("tokenizer", ["--input", sample, "--output", _OUT, "--sample_mb", _weight(total_mb)]
                        + run_steps.setting_flags(spec.tokenizer), (sample,), "", None)
        tokenizer_model = os.path.join(tok_dir, "tokenizer.model")
        tokenizer_inputs = (tok_dir,)

    shards = {}
    for v in spec.variants:
        sources = [a for s, folder in sorted(documents[v.name].items())
                   for a in ("--source", f"{s}={folder}:{_weight(v.mixture[s])}")]
        shards[v.name] = p.add("tokenize", sources + ["--tokenizer", tokenizer_model, "--output", _OUT]
                               + run_steps.setting_flags(spec.tokenize),
                               tuple(sorted(documents[v.name].values())) + tokenizer_inputs, "", v.name)

    train_flags = dict(spec.train)
    if model:
        train_flags["config"] = model
    if device:
        train_flags["device"] = device
    eval_flags = ["--tokenizer", tokenizer_model]
    for e in spec.eval_sets:
        eval_flags += ["--eval", f"{e.name}={e.format}:{e.field}:{e.path}"]
    for v in spec.variants:
        eval_flags += ["--shards", f"{v.name}={shards[v.name]}"]
    if device:
        eval_flags += ["--device", device]
    models, evals = {}, {}
    seed_list = tuple(range(seeds))  # the trainer's --seed: initial weights and data order
    for v in spec.variants:
        for seed in seed_list:
            train = p.add("train", ["--data", shards[v.name], "--out", _OUT, "--seed", seed, "--max_steps", max_steps]
                          + run_steps.setting_flags(train_flags), (shards[v.name],), f"seed {seed}", v.name)
            models[v.name, seed] = train
            evals[v.name, seed] = p.add(
                "evaluate", ["--model", train, "--output", _OUT] + eval_flags,
                (train,) + tokenizer_inputs + tuple(shards[w.name] for w in spec.variants), f"seed {seed}",
                v.name)
    return Plan(p.root, list(p.tasks.values()), documents, cleans, shards, tokenizer_model, models, evals,
                max_steps, seed_list)
