"""Airflow DAG: WARC files -> clean -> dedup -> tokenizer -> token shards.

Each Beam job runs as ``python -m pipelines.<job> --runner=... <flags>`` through the Apache
Beam provider's ``BeamHook`` (which streams the job's log into the task log and fails the
task on a non-zero exit), so the same DAG drives the DirectRunner on a laptop and
Dataflow/Flink/Spark/Dask at scale: set the ``runner`` param and pass the runner's options
in ``beam_options``. (The provider's ``BeamRunPythonPipelineOperator`` refuses to start
without the Google provider, ~120 more packages, even for non-Dataflow runners; the hook
is the same launcher without that.) The tokenizer is trained by a plain task
(SentencePiece is not a Beam job).

Trigger it with a run config, e.g. the first 100 files of a Common Crawl snapshot on Dataflow::

    airflow dags trigger corpus_pipeline --conf '{"crawl": "CC-MAIN-2024-10", "max_files": 100,
        "work_dir": "gs://bucket/runs/2024-10", "runner": "DataflowRunner",
        "beam_options": {"project": "my-project", "region": "europe-west4",
                         "temp_location": "gs://bucket/tmp"}}'

or your own WARC files::

    airflow dags trigger corpus_pipeline --conf '{"warcs": "gs://bucket/crawl/*.warc.gz",
        "work_dir": "gs://bucket/runs/2026-11", "runner": "DataflowRunner",
        "beam_options": {"project": "my-project", "region": "europe-west4",
                         "temp_location": "gs://bucket/tmp"}}'

Every step writes into ``work_dir``: ``clean/``, ``dedup/``, ``tokenizer/``, ``shards/``
(each with its ``stats.json``; clean also ``report.html``). Reruns overwrite them
(the jobs write deterministic, fixed-name shards and remove stale ones).
"""
from __future__ import annotations

import pathlib
import subprocess
import sys

from airflow.providers.apache.beam.hooks.beam import BeamHook
from airflow.sdk import DAG, Param, task

REPO = pathlib.Path(__file__).resolve().parents[1]
# Jobs run with the interpreter that runs Airflow's tasks (the project's venv), as modules
# (-m), so the installed package is what runs, not a copied file.
PYTHON = sys.executable


def run_beam_job(module: str, flags: dict, params: dict) -> None:
    """``python -m module --runner=<params.runner> <flags> <params.beam_options>``."""
    BeamHook(runner=params["runner"]).start_python_pipeline(
        variables={**params["beam_options"], **flags},
        py_file=module,
        py_options=["-m"],
        py_interpreter=PYTHON,
    )


def clean_inputs(params: dict) -> dict:
    """The clean job's input flags: a crawl id (with its file count and mirror) or paths."""
    if not params.get("crawl"):
        return {"input": params["warcs"]}
    flags = {"crawl": params["crawl"], "max_files": params["max_files"]}
    if params.get("cc_base_url"):
        flags["cc_base_url"] = params["cc_base_url"]
    return flags


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
        "runner": Param("DirectRunner", type="string", description="Beam runner for the Beam steps"),
        "beam_options": Param({}, type="object",
                              description="extra Beam pipeline options, e.g. project/region/temp_location"),
        "dedup_stages": Param("minhash,substring", type="string", description="--stages of the dedup job"),
        "vocab_size": Param(32000, type="integer", minimum=512, description="tokenizer vocabulary size"),
    },
    tags=["corpus"],
) as dag:
    @task
    def clean(params=None) -> str:
        """WARCs (or a Common Crawl snapshot) -> clean, language-tagged documents (and report.html)."""
        out = f"{params['work_dir']}/clean"
        run_beam_job("pipelines.clean", {**clean_inputs(params), "output": out}, params)
        return f"{out}/documents"

    @task
    def dedup(documents: str, params=None) -> str:
        """MinHash fuzzy dedup and exact-substring removal (``dedup_stages``)."""
        out = f"{params['work_dir']}/dedup"
        run_beam_job("pipelines.dedup", {"input": documents, "output": out, "stages": params["dedup_stages"]},
                     params)
        return f"{out}/documents"

    @task
    def train_tokenizer(documents: str, params=None) -> str:
        """SentencePiece BPE on a stratified sample of the deduplicated documents."""
        out = f"{params['work_dir']}/tokenizer"
        subprocess.run([PYTHON, "-m", "tokenizer_training.train", "--input", documents, "--output", out,
                        "--vocab_size", str(params["vocab_size"])], check=True)
        return f"{out}/tokenizer.model"

    @task
    def tokenize(documents: str, tokenizer_model: str, params=None) -> str:
        """Documents -> shuffled Arrow token shards + manifest.json for the trainer."""
        out = f"{params['work_dir']}/shards"
        run_beam_job("pipelines.tokenize", {"input": documents, "tokenizer": tokenizer_model, "output": out}, params)
        return out

    deduplicated = dedup(clean())
    tokenize(deduplicated, train_tokenizer(deduplicated))
