"""The Airflow DAG (dags/corpus_pipeline.py) runs the whole pipeline with ``dag.test()``:
clean -> dedup -> tokenizer -> token shards on the bundled sample WARC, and a bad input
path fails the clean task with the job's own message and stops the run there.

Airflow runs in a subprocess with its own AIRFLOW_HOME (a fresh SQLite metadata DB made
by ``airflow db migrate``), so its configuration and logging stay out of this process.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os

import pytest

from conftest import REPO, run_module

pytest.importorskip("airflow", reason="Airflow is not installed: pip install -e '.[airflow]'")

pytestmark = pytest.mark.slow  # Airflow's metadata DB, then the whole DAG: clean, dedup, tokenizer, shards

RUN_DAG = """
import json, sys
sys.path.insert(0, {repo!r})
from dags.corpus_pipeline import dag
run = dag.test(run_conf=json.loads(sys.argv[1]))
order = [t.task_id for t in dag.topological_sort()]
states = {{ti.task_id: str(ti.state) for ti in run.get_task_instances()}}
print("RESULT " + json.dumps({{"state": str(run.state), "order": order, "states": states}}))
"""


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow_home")
    # RUN_DAG as a module on PYTHONPATH, so run_module starts it like any other job.
    scripts = tmp_path_factory.mktemp("airflow_scripts")
    (scripts / "run_dag_test.py").write_text(RUN_DAG.format(repo=str(REPO)), encoding="utf-8")
    env = dict(os.environ, AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(scripts), os.environ.get("PYTHONPATH")])))
    run_module("airflow", "db", "migrate", env=env, timeout=300)
    return env


def run_dag(env: dict, conf: dict) -> tuple[dict, str]:
    proc = run_module("run_dag_test", json.dumps(conf), env=env, timeout=900, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"dag.test() printed no result:\n{proc.stderr[-4000:]}"
    return json.loads(lines[-1][len("RESULT "):]), proc.stdout + proc.stderr


def test_dag_runs_clean_dedup_tokenizer_and_shards(airflow_env, test_data, tmp_path):
    """From a Common Crawl look-alike: crawl-data/<id>/warc.paths.gz listing the sample WARC."""
    crawl = "CC-MAIN-2099-01"
    mirror = tmp_path / "cc"
    listed = f"crawl-data/{crawl}/segments/0/warc/sample.warc.gz"
    (mirror / listed).parent.mkdir(parents=True)
    (mirror / listed).write_bytes((test_data / "sample.warc.gz").read_bytes())
    (mirror / "crawl-data" / crawl / "warc.paths.gz").write_bytes(gzip.compress(f"{listed}\n".encode()))
    work = tmp_path / "run"
    result, log = run_dag(airflow_env, {"crawl": crawl, "max_files": 1, "cc_base_url": str(mirror),
                                        "work_dir": str(work), "vocab_size": 1000})
    assert result["order"] == ["clean", "dedup", "train_tokenizer", "tokenize", "train"]
    assert result["state"] == "success", log[-4000:]
    assert set(result["states"].values()) == {"success"}

    clean = json.loads((work / "clean" / "stats.json").read_text())
    dedup = json.loads((work / "dedup" / "stats.json").read_text())
    assert clean["documents_kept"] > 0 and (work / "clean" / "report.html").is_file()
    assert clean["records_read"] == 17  # every record of the one listed file
    # Each step read what the previous one wrote.
    assert dedup["documents_in"] == clean["documents_kept"]
    assert dedup["stages"] == ["minhash", "substring"]
    manifest = json.loads((work / "shards" / "manifest.json").read_text())
    model = work / "tokenizer" / "tokenizer.model"
    assert manifest["tokenizer_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert manifest["vocab_size"] == 1000
    assert sum(s["documents"] for s in manifest["shards"]) == dedup["documents_kept"]
    for step in ("clean", "dedup", "tokenizer", "shards"):
        assert (work / step / "_SUCCESS").is_file(), step
    # The jobs' INFO lines reach the task log as INFO, not as warnings.
    assert "INFO" in log and not any("WARNING" in line and "pipelines.clean: clean: done" in line
                                     for line in log.splitlines())
    # Triggered again with the same conf: every step is up to date and skipped.
    again, log = run_dag(airflow_env, {"crawl": crawl, "max_files": 1, "cc_base_url": str(mirror),
                                       "work_dir": str(work), "vocab_size": 1000})
    assert again["state"] == "success", log[-4000:]
    for step in ("clean", "dedup", "tokenizer", "tokenize"):
        assert f"{step}: up to date" in log, step
    assert all((work / "shards" / s["path"]).is_file() and s["tokens"] > 0 for s in manifest["shards"])


def test_bad_input_path_fails_the_clean_task_and_stops_the_run(airflow_env, tmp_path):
    result, log = run_dag(airflow_env, {"warcs": str(tmp_path / "no-such.warc.gz"),
                                        "work_dir": str(tmp_path / "run")})
    assert result["state"] == "failed"
    assert result["states"]["clean"] == "failed"
    assert result["states"]["dedup"] == "upstream_failed"
    # The clean job's own error (Airflow's command line also names the path).
    assert "no-such.warc.gz' does not exist; pass an existing WARC file" in log
    assert not (tmp_path / "run" / "dedup").exists()
