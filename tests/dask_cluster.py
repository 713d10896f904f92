"""A real local Dask cluster for tests: `dask scheduler` + N `dask worker` processes on
127.0.0.1, started and stopped by the test that uses it."""
from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time

import pytest

from conftest import REPO

DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_workers(address: str, n: int, timeout: float = 60.0) -> None:
    from distributed import Client

    with Client(address, timeout=timeout) as client:
        client.wait_for_workers(n, timeout=timeout)


def scheduler_task_prefixes(address: str) -> int:
    """How many kinds of task the scheduler has seen (its task_prefixes are never cleared)."""
    from distributed import Client

    with Client(address, timeout=60) as client:
        return client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.task_prefixes))


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
        # A job that silently ran on the DirectRunner (runner flags lost on the way) would
        # write the same bytes: make sure the cluster really ran tasks.
        assert scheduler_task_prefixes(address) > 0, "the job did not run on the Dask cluster"
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
