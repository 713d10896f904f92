"""Progress lines: one per interval crossed, with the running count."""
from __future__ import annotations

import logging

import pytest

from pipelines.progress import Progress


def test_logs_once_per_interval_crossed(caplog):
    progress = Progress("minhash", "documents hashed", every=100)
    with caplog.at_level(logging.INFO, logger="pipelines"):
        for batch in (60, 30, 20, 250, 5):  # crosses 100, 200, 300 (the 250 batch crosses two: one line)
            progress.add(batch)
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(" documents")[0] for line in lines] == ["minhash: 110", "minhash: 360"]
    assert progress.count == 365
    assert all("documents hashed/s" in line for line in lines)


def test_interval_must_be_positive():
    with pytest.raises(ValueError, match="interval"):
        Progress("x", "items", every=0)
