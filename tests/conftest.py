"""Shared fixtures. Real third-party inputs live in ../shared/data (never copied here)."""
from __future__ import annotations

import hashlib
import os
import pathlib
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get("SHARED_DATA", REPO.parent / "shared" / "data"))
TEST_DATA = REPO / "tests" / "data"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    """Path to ../shared/data; skips the test with a clear message when absent."""
    if not (SHARED_DATA / "warc").is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (set SHARED_DATA or place shared/ beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def test_data() -> pathlib.Path:
    return TEST_DATA


def run_clean_job(args: list[str], timeout: int = 900) -> "subprocess.CompletedProcess":
    """Run `python -m pipelines.clean` as a user would; raise with its output on failure."""
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.clean", *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout,
    )
    if proc.returncode != 0:
        raise AssertionError(f"clean job failed (rc={proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


@pytest.fixture(scope="session")
def clean_output(shared_data, tmp_path_factory) -> pathlib.Path:
    """The clean job's output over every shared WARC (incl. edge/), with --keep_removed.

    Session-scoped: several test modules (accounting, language tags, report, tokenizer,
    trainer) read the same run.
    """
    out = tmp_path_factory.mktemp("clean_all")
    run_clean_job(["--input", str(shared_data / "warc"), "--output", str(out), "--keep_removed"])
    return out


def tree_digest(directory: pathlib.Path) -> dict[str, str]:
    """sha256 of every data file (.parquet, .json) under ``directory``, by relative path.
    report.html is left out: it is a view of the data and names the output folder."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.suffix in (".parquet", ".json")
    }
