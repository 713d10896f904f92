"""The clean job on a real local Dask cluster gives the same documents as DirectRunner.

The cluster is a `dask scheduler` and two `dask worker` processes on 127.0.0.1, started
and stopped by this test (tests/dask_cluster.py).
"""
from __future__ import annotations

import json

import pytest

from conftest import read_documents, run_clean_job, tree_digest
from dask_cluster import DASK_RUNNER, local_dask_cluster
from pipelines.stats import without_timings

pytestmark = pytest.mark.slow  # starts a Dask scheduler and two workers, runs the clean job twice


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
    assert without_timings(dask_stats) == without_timings(direct_stats)  # CPU seconds differ per run
    assert dask_stats["documents_kept"] > 10
    assert read_documents(on_dask / "documents") == read_documents(direct / "documents")
    # Sorted fixed shards make even the files identical, removed/<stage>/ included
    # (the Dask runner skips sinks that the last transform does not depend on).
    assert any(p.startswith("removed/") for p in tree_digest(direct))
    assert tree_digest(on_dask) == tree_digest(direct)
