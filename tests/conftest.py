"""Shared fixtures. Real third-party inputs live in ../shared/data (never copied here).

Tests marked ``slow`` (pyproject.toml) run whole jobs end to end; ``pytest -m "not slow"``
is the fast lane. Any test that uses ``clean_output`` or ``trainer_shards`` is slow: the
first use runs the clean job over every shared WARC.
"""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get("SHARED_DATA", REPO.parent / "shared" / "data")).resolve()  # ../shared may be a link
TEST_DATA = REPO / "tests" / "data"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def repo_env() -> dict:
    """This process's environment with the repository first on PYTHONPATH, for children
    started by other launchers (torchrun) that do not run from the repository root."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_module(module: str, *args, timeout: float = 900, check: bool = True,
               env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m <module> <args>`` in the repo root as a user would, output captured.

    With ``check`` (the default) a non-zero exit raises AssertionError with the command and
    the tail of its stdout and stderr; with ``check=False`` the caller asserts on
    ``returncode``/``stderr`` itself. A timeout always raises AssertionError. ``env`` is the
    whole environment (default: this process's).
    """
    cmd = [sys.executable, "-m", module, *(str(a) for a in args)]
    shown = "python " + " ".join(cmd[1:])
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out, err = (_text(s) for s in (exc.stdout, exc.stderr))
        raise AssertionError(f"{shown} timed out after {timeout}s:\n{out[-4000:]}\n{err[-8000:]}") from None
    if check and proc.returncode != 0:
        raise AssertionError(f"{shown} failed (rc={proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


def _text(stream) -> str:
    if stream is None:
        return ""
    return stream.decode("utf-8", "replace") if isinstance(stream, bytes) else stream


def run_clean_job(args: list[str], timeout: float = 900) -> subprocess.CompletedProcess:
    """Run `python -m pipelines.clean` as a user would; raise with its output on failure."""
    return run_module("pipelines.clean", *args, timeout=timeout)


def kill_group_when_printed(module_args: list, marker: str, before_kill) -> str:
    """Run ``python -m <module_args>`` in its own process group; once a printed line contains
    ``marker``, call ``before_kill()`` and SIGKILL the whole group (the job and every child
    step). Returns what it printed."""
    import signal

    proc = subprocess.Popen([sys.executable, "-m", *map(str, module_args)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    printed = []
    try:
        for line in proc.stdout:
            printed.append(line)
            if marker in line:
                before_kill()
                os.killpg(proc.pid, signal.SIGKILL)
                break
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return "".join(printed)


def read_documents(directory: pathlib.Path) -> list[dict]:
    """Every row of a job's documents folder (part-*.parquet, in file order) as dicts."""
    import pyarrow.parquet as pq

    rows = []
    for f in sorted(directory.glob("part-*.parquet")):
        rows.extend(pq.read_table(f).to_pylist())
    return rows


def tree_digest(directory: pathlib.Path) -> dict[str, str]:
    """sha256 of every data file (.parquet, .json) under ``directory``, by relative path.
    report.html is left out: it is a view of the data and names the output folder; the
    CPU seconds in stats.json measure the run, not the data (``stats.data_digest``)."""
    from pipelines.stats import data_digest

    return {
        str(p.relative_to(directory)): data_digest(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.suffix in (".parquet", ".json")
    }


def tokenizer_dir_of(shards: pathlib.Path) -> pathlib.Path:
    """The tokenizer folder (tokenizer.model, tokenizer.json) next to test shards."""
    return shards.parent / "tokenizer"


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    """Path to ../shared/data; skips the test with a clear message when absent."""
    if not (SHARED_DATA / "warc").is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (set SHARED_DATA or place shared/ beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def test_data() -> pathlib.Path:
    return TEST_DATA


@pytest.fixture(scope="session")
def clean_output(shared_data, tmp_path_factory) -> pathlib.Path:
    """The clean job's output over every shared WARC (incl. edge/), with --keep_removed.

    Session-scoped: several test modules (accounting, language tags, report, tokenizer,
    trainer) read the same run. Slow (minutes): mark tests that use it ``slow``.
    """
    out = tmp_path_factory.mktemp("clean_all")
    run_clean_job(["--input", str(shared_data / "warc"), "--output", str(out), "--keep_removed"])
    return out


@pytest.fixture(scope="session")
def trainer_shards(clean_output, tmp_path_factory) -> pathlib.Path:
    """Token shards of ``clean_output``'s documents with a 1000-piece SentencePiece
    tokenizer (in ``tokenizer_dir_of(shards)``); built once per session for the trainer
    and export tests. Slow: it needs ``clean_output``."""
    from tests.shard_fixtures import build_test_shards

    return build_test_shards(clean_output / "documents", tmp_path_factory.mktemp("trainer_shards"), vocab_size=1000)
