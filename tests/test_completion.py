"""Completion markers and early failures: nothing half-written may look finished, and a bad
flag or path stops a job with one line before any work (pipelines.completion)."""
from __future__ import annotations

import json
import shutil

import pytest

from conftest import TEST_DATA, run_module
from pipelines import completion

SAMPLE = TEST_DATA / "sample.warc.gz"


@pytest.fixture(scope="module")
def clean_sample(tmp_path_factory):
    """The clean job on the bundled sample WARC, with removed/ (a finished output root)."""
    out = tmp_path_factory.mktemp("clean_sample")
    run_module("pipelines.clean", "--input", SAMPLE, "--output", out, "--keep_removed", "--no_report", timeout=600)
    return out


def test_a_finished_job_writes_its_marker_last_with_flags_and_counts(clean_sample):
    marker = json.loads((clean_sample / "_SUCCESS").read_text())
    stats = json.loads((clean_sample / "stats.json").read_text())
    assert marker["job"] == "clean" and marker["version"]
    assert marker["flags"]["keep_removed"] is True and "--keep_removed" in marker["flags"]["argv"]
    assert marker["counts"]["records_read"] == stats["records_read"]
    assert marker["counts"]["documents_kept"] == stats["documents_kept"]
    # The marker is the newest file: written after every file it vouches for.
    newest = max((p for p in clean_sample.rglob("*") if p.is_file()), key=lambda p: p.stat().st_mtime_ns)
    assert newest.name == "_SUCCESS"


def test_an_output_root_reads_its_documents_never_removed(clean_sample, tmp_path):
    assert any((clean_sample / "removed").rglob("*.parquet"))
    out = tmp_path / "dedup"
    run_module("pipelines.dedup", "--input", clean_sample, "--output", out, "--no_report", timeout=600)
    stats = json.loads((out / "stats.json").read_text())
    clean_stats = json.loads((clean_sample / "stats.json").read_text())
    assert stats["documents_in"] == clean_stats["documents_kept"]
    marker = json.loads((out / "_SUCCESS").read_text())
    assert marker["inputs"] == [{"path": str(clean_sample),
                                 "success_sha256": completion.success_digest(str(clean_sample))}]


@pytest.mark.parametrize("given", ["root", "documents"])
def test_an_unfinished_input_is_refused_unless_allowed(clean_sample, tmp_path, given):
    partial = tmp_path / "clean"
    shutil.copytree(clean_sample, partial)
    (partial / "_SUCCESS").unlink()
    (partial / "stats.json").unlink()  # as a job killed while writing leaves it
    spec = partial if given == "root" else partial / "documents"
    proc = run_module("pipelines.dedup", "--input", spec, "--output", tmp_path / "out", check=False, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{partial} has no _SUCCESS" in proc.stderr and "--allow_incomplete_input" in proc.stderr
    assert not (tmp_path / "out" / "stats.json").exists()
    proc = run_module("tokenizer_training.train", "--input", spec, "--output", tmp_path / "tok", check=False,
                      timeout=300)
    assert proc.returncode == 2 and "has no _SUCCESS" in proc.stderr and "Traceback" not in proc.stderr
    # A glob inside the unfinished folder is judged by that folder too.
    proc = run_module("pipelines.dedup", "--input", f"{partial}/documents/*.parquet", "--output", tmp_path / "out",
                      check=False, timeout=300)
    assert proc.returncode == 2 and f"{partial} has no _SUCCESS" in proc.stderr
    if given == "root":  # (one allowed run is enough)
        run_module("pipelines.dedup", "--input", spec, "--output", tmp_path / "out", "--allow_incomplete_input",
                   "--no_report", timeout=600)
        assert json.loads((tmp_path / "out" / "stats.json").read_text())["documents_in"] > 0


def test_users_own_parquet_files_need_no_marker(tmp_path):
    """Files the user wrote (not named like our shards, no stats.json) are read as given."""
    from pipelines.io.documents import document_to_row, write_parquet_file
    from pipelines.stages.base import Document

    write_parquet_file(str(tmp_path / "in" / "mine.parquet"), [document_to_row(Document(id="a", text="x y z"))])
    assert completion.resolve_input(str(tmp_path / "in")) == (str(tmp_path / "in"), None)


def test_an_output_that_overlaps_its_input_is_refused(clean_sample, tmp_path):
    for output in (clean_sample, clean_sample / "documents", clean_sample.parent):
        proc = run_module("pipelines.dedup", "--input", clean_sample, "--output", output, check=False, timeout=300)
        assert proc.returncode == 2 and "overlaps the input" in proc.stderr
    assert (clean_sample / "_SUCCESS").exists()  # nothing of the input was touched


def test_begin_removes_what_would_make_an_old_run_look_finished(tmp_path):
    for name in ("_SUCCESS", "stats.json", "report.html"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "documents").mkdir()
    completion.begin(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["documents"]


@pytest.mark.parametrize("make_args,message", [
    (lambda t: ["--output", str(t / "file")], "is an existing file: give a folder"),
    (lambda t: ["--output", str(t / "file" / "sub")], "cannot be written"),
    (lambda t: ["--output", str(t / "o"), "--config", str(t)], "is a folder: pass a YAML file"),
    (lambda t: ["--output", str(t / "o"), "--languages", "en,cn"], "has no label cn"),
])
def test_early_failures_exit_2_with_one_line(tmp_path, make_args, message):
    (tmp_path / "file").write_text("not a folder")
    proc = run_module("pipelines.clean", "--input", SAMPLE, *make_args(tmp_path), check=False, timeout=300)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o" / "stats.json").exists()
