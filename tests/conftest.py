"""Shared fixtures. Real third-party inputs live in ../shared/data (never copied here)."""
from __future__ import annotations

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
