"""Reading a job's output folder for the reports (local or any Beam filesystem): files by
glob, small text files, stats.json (read once), Parquet in record batches, and the seeded
bottom-k sample that keeps memory bounded.

Sampling is deterministic: an item is kept when the hash of (seed, id) is among the ``k``
smallest, so the choice does not depend on file or row order.
"""
from __future__ import annotations

import dataclasses
import hashlib
import heapq
import json
from typing import Any, Callable, Iterator, Optional

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

BATCH_ROWS = 1024


def match(pattern: str) -> list[str]:
    """Sorted paths matching a glob; a missing folder is "no files", not an error."""
    try:
        return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except Exception:
        return []


def read_text(path: str) -> Optional[str]:
    """The file as UTF-8 text, or None when it is missing or unreadable."""
    try:
        with FileSystems.open(path) as f:
            return f.read().decode("utf-8")
    except Exception:
        return None


def iter_batches(path: str, columns: list[str]) -> Iterator[Any]:
    """pyarrow RecordBatches of one Parquet file, with those of ``columns`` it has."""
    with FileSystems.open(path) as f:
        pf = pq.ParquetFile(f)
        present = [c for c in columns if c in pf.schema_arrow.names]
        yield from pf.iter_batches(batch_size=BATCH_ROWS, columns=present)


@dataclasses.dataclass(frozen=True)
class StatsFile:
    """An output folder's stats.json, read once. ``found``: it could be read; ``data``: the
    parsed JSON (None when missing or invalid); ``error``: why it is not valid JSON."""

    found: bool
    data: Optional[dict] = None
    error: Optional[str] = None


def read_stats(output_dir: str) -> StatsFile:
    text = read_text(FileSystems.join(output_dir, "stats.json"))
    if text is None:
        return StatsFile(found=False)
    try:
        return StatsFile(found=True, data=json.loads(text))
    except json.JSONDecodeError as e:
        return StatsFile(found=True, error=str(e))


def sample_key(seed: int, doc_id: str) -> int:
    """Order-independent pseudo-random rank of a document for seeded sampling."""
    return int.from_bytes(hashlib.sha1(f"{seed}\x1f{doc_id}".encode("utf-8", "surrogatepass")).digest()[:8], "big")


class BottomK:
    """Keep the ``k`` items with the smallest keys (a bounded, deterministic sample)."""

    def __init__(self, k: int):
        self.k = k
        self._heap: list[tuple[int, str, Any]] = []  # (-key, id, item): max-heap on key

    def offer(self, key: int, doc_id: str, make_item: Callable[[], Any]) -> None:
        """Consider one item; ``make_item`` builds it only when it enters the sample."""
        if self.k <= 0:
            return
        if len(self._heap) < self.k:
            heapq.heappush(self._heap, (-key, doc_id, make_item()))
        elif -key > self._heap[0][0] or (-key == self._heap[0][0] and doc_id < self._heap[0][1]):
            heapq.heapreplace(self._heap, (-key, doc_id, make_item()))

    def items(self) -> list[Any]:
        """The sampled items, smallest key first."""
        return [item for _, _, item in sorted(self._heap, key=lambda t: (-t[0], t[1]))]
