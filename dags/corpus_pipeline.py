"""Airflow DAG: WARC files -> clean -> dedup -> tokenizer -> token shards (-> train).

The chain is the one ``python -m pipelines.run`` runs (:mod:`pipelines.steps` is its one
home): each task runs its step as ``python -m <job> <flags>``, with the same completion
markers, so a task whose step is already complete for the same inputs and settings is
skipped (its ``_SUCCESS`` matches), and a rerun of the DAG redoes only what changed. Each
line a job prints goes to the task log at the level the job wrote it (Beam's INFO lines
are not tagged as warnings). Set the ``runner`` param and the runner's options in
``beam_options`` to run the Beam steps on Dataflow/Flink/Spark/Dask; ``settings`` holds
per-step flags exactly like ``pipelines.run --config`` (one section per step).

Trigger it with a run config, e.g. the first 100 files of a Common Crawl snapshot on Dataflow::

    airflow dags trigger corpus_pipeline --conf '{"crawl": "CC-MAIN-2024-10", "max_files": 100,
        "work_dir": "gs://bucket/runs/2024-10", "runner": "DataflowRunner",
        "beam_options": {"project": "my-project", "region": "europe-west4",
                         "temp_location": "gs://bucket/tmp"}}'

or your own WARC files, and a small model trained at the end::

    airflow dags trigger corpus_pipeline --conf '{"warcs": "/data/crawl/", "work_dir": "/data/runs/1",
        "train_steps": 1000, "settings": {"train": {"config": "small"}}}'

Every step writes into ``work_dir``: ``clean/``, ``dedup/``, ``tokenizer/``, ``shards/``,
``train/`` (each with its ``_SUCCESS``, ``stats.json`` and, for clean and dedup,
``report.html``).
"""
from __future__ import annotations

import logging
import pathlib
import sys

from airflow.sdk import DAG, Param, task

from pipelines import steps as run_steps
from pipelines.run import merge_settings

REPO = pathlib.Path(__file__).resolve().parents[1]
# Jobs run with the interpreter that runs Airflow's tasks (the project's venv), as modules
# (-m), so the installed package is what runs, not a copied file.
PYTHON = sys.executable
log = logging.getLogger("corpus_pipeline")


def planned_steps(params: dict) -> dict[str, run_steps.Step]:
    """The run's steps from the DAG params, exactly as ``pipelines.run`` would plan them."""
    settings = {"dedup": {"stages": params["dedup_stages"]}, "tokenizer": {"vocab_size": params["vocab_size"]}}
    if params.get("crawl") and params.get("cc_base_url"):
        settings["clean"] = {"cc_base_url": params["cc_base_url"]}
    if params.get("train_steps"):
        settings["train"] = {"max_steps": params["train_steps"]}
    settings = merge_settings(settings, params.get("settings") or {})
    # No runner named: the jobs' own local default (pipelines.beam.runner), as pipelines.run uses.
    beam_args = ([f"--runner={params['runner']}"] if params.get("runner") else []) + [
        f"--{k}={v}" for k, v in sorted(params["beam_options"].items())]
    inputs = None if params.get("crawl") else [p for p in params["warcs"].split(",") if p]
    steps = run_steps.plan(params["work_dir"], settings, inputs=inputs, crawl=params.get("crawl") or None,
                           max_files=params.get("max_files"), train=bool(params.get("train_steps")),
                           beam_args=beam_args)
    return {s.name: s for s in steps}


def run_step(name: str, params: dict, upstream_ran: bool = False) -> bool:
    """Run one step unless nothing before it ran and its marker says it is complete (the
    rule of ``pipelines.run``); returns whether it ran, for the tasks after it."""
    step = planned_steps(params)[name]
    if run_steps.can_skip(step, upstream_ran):
        log.info("%s: up to date (its _SUCCESS matches these inputs and settings), skipped", name)
        return False
    run_steps.prepare_to_run(step, upstream_ran)
    code = run_steps.run_logged(step, PYTHON, log)
    if code != 0:
        raise RuntimeError(f"step {name} failed with exit status {code}: its log is above")
    return True


with DAG(
    dag_id="corpus_pipeline",
    description="Common Crawl WARCs -> clean -> dedup -> tokenizer -> Arrow token shards",
    schedule=None,  # triggered per crawl snapshot; set a schedule to follow new crawls
    catchup=False,
    params={
        "warcs": Param(str(REPO / "tests" / "data" / "sample.warc.gz"), type="string",
                       description="WARC paths, folders, globs or URLs (comma-separated); ignored with crawl"),
        "crawl": Param("", type="string", description="Common Crawl id (e.g. CC-MAIN-2024-10): read its "
                                                      "warc.paths.gz instead of warcs"),
        "max_files": Param(1, type="integer", minimum=1, description="with crawl: the first N WARC files"),
        "cc_base_url": Param("", type="string", description="with crawl: a Common Crawl mirror (URL or folder); "
                                                            "empty = the clean job's default endpoint"),
        "work_dir": Param(str(REPO / "out" / "airflow"), type="string",
                          description="folder (or gs:// / s3:// prefix) for every step's output"),
        "runner": Param("", type="string", description="Beam runner for the Beam steps; empty = the jobs' "
                                                       "local default (Beam's FnApiRunner, as pipelines.run)"),
        "beam_options": Param({}, type="object",
                              description="extra Beam pipeline options, e.g. project/region/temp_location"),
        "dedup_stages": Param("minhash,substring", type="string", description="--stages of the dedup job"),
        "vocab_size": Param(32000, type="integer", minimum=512, description="tokenizer vocabulary size"),
        "train_steps": Param(0, type="integer", minimum=0, description="train a model for N steps at the end "
                                                                      "(0 = no training task work)"),
        "settings": Param({}, type="object", description="per-step flags, as pipelines.run --config: "
                                                         "{\"clean\": {...}, \"train\": {...}}"),
    },
    tags=["corpus"],
) as dag:
    # Each task returns whether its step ran: a step after one that ran reruns too.
    @task
    def clean(params=None) -> bool:
        """WARCs (or a Common Crawl snapshot) -> clean, language-tagged documents (and report.html)."""
        return run_step("clean", params)

    @task
    def dedup(clean_ran: bool, params=None) -> bool:
        """MinHash fuzzy dedup and exact-substring removal (``dedup_stages``)."""
        return run_step("dedup", params, clean_ran)

    @task
    def train_tokenizer(dedup_ran: bool, params=None) -> bool:
        """SentencePiece BPE on a stratified sample of the deduplicated documents."""
        return run_step("tokenizer", params, dedup_ran)

    @task
    def tokenize(dedup_ran: bool, tokenizer_ran: bool, params=None) -> bool:
        """Documents -> shuffled Arrow token shards + manifest.json for the trainer."""
        return run_step("tokenize", params, dedup_ran or tokenizer_ran)

    @task
    def train(shards_ran: bool, params=None) -> bool:
        """A causal LM on the shards (only when ``train_steps`` > 0; otherwise nothing to do)."""
        if not params.get("train_steps"):
            log.info("train: train_steps is 0, no model is trained")
            return False
        return run_step("train", params, shards_ran)

    deduplicated = dedup(clean())
    train(tokenize(deduplicated, train_tokenizer(deduplicated)))
