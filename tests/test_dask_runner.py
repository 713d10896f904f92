"""The clean job on a real local Dask cluster gives the same documents as DirectRunner.

The cluster is a `dask scheduler` and two `dask worker` processes on 127.0.0.1, started
and stopped by this test.
"""
from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time

import pytest

from conftest import REPO, run_clean_job
from test_clean_job import read_documents, tree_digest

DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_workers(address: str, n: int, timeout: float = 60.0) -> None:
    from distributed import Client

    with Client(address, timeout=timeout) as client:
        client.wait_for_workers(n, timeout=timeout)


@contextlib.contextmanager
def local_dask_cluster(n_workers: int = 2):
    dask_bin = pathlib.Path(sys.executable).with_name("dask")
    if not dask_bin.exists():
        dask_bin = shutil.which("dask")
    if not dask_bin:
        pytest.skip("the `dask` command (dask[distributed]) is not installed")
    port = free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen(
        [str(dask_bin), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=REPO,
    )]
    try:
        time.sleep(1.0)
        for _ in range(n_workers):
            procs.append(subprocess.Popen(
                [str(dask_bin), "worker", address, "--nthreads", "1", "--no-dashboard",
                 "--host", "127.0.0.1"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=REPO,
            ))
        wait_for_workers(address, n_workers)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_dask_cluster_gives_the_same_documents_as_direct_runner(shared_data, test_data, tmp_path):
    warc = shared_data / "warc"
    inputs = ",".join([str(test_data / "sample.warc.gz")] + [
        str(warc / n) for n in ("cc-main-2020-34-excerpt.warc.gz", "edge/truncated.warc.gz", "edge/not-a-warc.warc.gz")
    ])
    direct, on_dask = tmp_path / "direct", tmp_path / "dask"
    run_clean_job(["--input", inputs, "--output", str(direct), "--no_report", "--keep_removed"])
    with local_dask_cluster(2) as address:
        run_clean_job(["--input", inputs, "--output", str(on_dask), "--no_report", "--keep_removed",
                       f"--runner={DASK_RUNNER}", f"--dask_client_address={address}"])

    direct_stats = json.loads((direct / "stats.json").read_text())
    dask_stats = json.loads((on_dask / "stats.json").read_text())
    assert dask_stats == direct_stats
    assert dask_stats["documents_kept"] > 10
    assert read_documents(on_dask / "documents") == read_documents(direct / "documents")
    # Sorted fixed shards make even the files identical, removed/<stage>/ included
    # (the Dask runner skips sinks that the last transform does not depend on).
    assert any(p.startswith("removed/") for p in tree_digest(direct))
    assert tree_digest(on_dask) == tree_digest(direct)
