"""Per-record outcome accounting, computed inside the pipeline: the one home of every
outcome string and of the shape of ``stats.json``.

A reader hands each record on as ``(READ_OK, document)`` or with its final outcome.
Every record produces exactly one outcome string:
  ``kept``                      the document survived every stage
  ``dropped:<stage>.<reason>``  a stage dropped it (non-HTML, revisit, blocklist, ...)
  ``error:<reason>``            something broke (unreadable WARC, stage exception, ...)

Outcomes are counted with a combiner (the number of distinct outcome keys is small,
so the global combine is bounded) and written as ``stats.json`` by the pipeline
itself. Beam metrics counters mirror the same keys. We do not query the runner's
metrics because the Dask runner does not implement that.
"""
from __future__ import annotations

import hashlib
import json
import pathlib
from typing import Callable, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pipelines.beam.transforms import MergeNamedNumbers

READ_OK = "ok"  # a record the reader hands on to the stages (not yet an outcome)
KEPT = "kept"
DROPPED = "dropped:"
ERROR = "error:"
DOCUMENTS_IN = "documents_in"  # counted once per input document by jobs that read documents
# A top-level section of stats.json for counts outside the accounting invariant.
NOTES = "notes"
CONFLICTING_RECORD_ID = "warc.conflicting_record_id"  # records kept under a shared id
BY_LANGUAGE = "by_language"  # the stats.json section of outcomes per language
UNKNOWN_LANGUAGE = "unknown"  # the language of a page that left before language id


def dropped(key: str) -> str:
    return DROPPED + key


def error(key: str) -> str:
    return ERROR + key


def count_metric(outcome: str) -> None:
    """Mirror one outcome to a Beam counter: namespace = stage, name = reason."""
    if outcome == KEPT:
        Metrics.counter("pipeline", "documents_kept").inc()
        return
    kind, _, key = outcome.partition(":")
    stage, _, reason = key.partition(".")
    Metrics.counter(f"{kind}.{stage}" if reason else kind, reason or key).inc()


def _split_counts(counts: dict[str, int]) -> tuple[int, dict, dict]:
    kept = counts.get(KEPT, 0)
    drops = {k[len(DROPPED):]: v for k, v in counts.items() if k.startswith(DROPPED)}
    errors = {k[len(ERROR):]: v for k, v in counts.items() if k.startswith(ERROR)}
    return kept, dict(sorted(drops.items())), dict(sorted(errors.items()))


def outcome_counts_to_stats(counts: dict[str, int]) -> dict:
    """Shape counts like ``{"records_read", "documents_kept", "dropped", "errors"}``
    (the clean job's accounting: every record read is counted once)."""
    kept, drops, errors = _split_counts(counts)
    return {
        "records_read": kept + sum(drops.values()) + sum(errors.values()),
        "documents_kept": kept,
        "dropped": drops,
        "errors": errors,
    }


def language_outcomes_to_stats(counts: dict[tuple[str, str], int]) -> dict:
    """{(language, outcome): n} -> {language: {"documents", "documents_kept", "dropped",
    "errors"}}, the largest language first. Counted over the documents that entered the
    stages (HTML responses; record types the reader decides have no language), so the
    documents add up to the funnel's "warc" row and the kept ones to documents_kept."""
    per_language: dict[str, dict[str, int]] = {}
    for (language, outcome), n in counts.items():
        per_language.setdefault(language, {})[outcome] = n
    shaped = {}
    for language, outcomes in per_language.items():
        kept, drops, errors = _split_counts(outcomes)
        shaped[language] = {"documents": kept + sum(drops.values()) + sum(errors.values()),
                            "documents_kept": kept, "dropped": drops, "errors": errors}
    return dict(sorted(shaped.items(), key=lambda kv: (-kv[1]["documents"], kv[0])))


def document_counts_to_stats(counts: dict[str, int], stages: list[str]) -> dict:
    """Shape counts like ``{"documents_in", "documents_kept", "dropped", "stages"}``
    (the dedup job's accounting: documents_in == documents_kept + sum(dropped))."""
    kept, drops, _ = _split_counts(counts)
    return {
        "documents_in": counts.get(DOCUMENTS_IN, 0),
        "documents_kept": kept,
        "dropped": drops,
        "stages": stages,
    }


# Keys of stats.json that measure the run, not the data (the funnel's CPU seconds per
# stage): they differ between identical reruns, so byte-identity checks leave them out.
TIMING_KEYS = ("cpu_s",)


def without_timings(obj):
    """``obj`` (parsed stats.json, or any part of it) without the TIMING_KEYS, at any depth."""
    if isinstance(obj, dict):
        return {k: without_timings(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [without_timings(v) for v in obj]
    return obj


def data_digest(path) -> str:
    """sha256 of a job output file's bytes; a .json file that holds timings is hashed
    without them (as canonical JSON), every other file as it is."""
    data = pathlib.Path(path).read_bytes()
    if str(path).endswith(".json"):
        obj = json.loads(data)
        stable = without_timings(obj)
        if stable != obj:
            data = json.dumps(stable, sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()


def write_json(path: str, obj: dict) -> str:
    data = (json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n").encode()
    with FileSystems.create(path) as f:
        f.write(data)
    return path


_COUNTS_KEY = "__outcome_counts__"


class WriteStats(beam.PTransform):
    """Count outcome strings and write ``path`` as JSON.

    ``shape`` turns the counts dict into the final JSON object; ``extras`` is an
    optional PCollection of (key, value) pairs merged in as top-level keys (e.g.
    histograms). Extras are merged with a Flatten + combine rather than a side input
    (Dask limit 3 in :mod:`pipelines.beam.runner`).
    """

    def __init__(self, path: str, shape: Callable[[dict], dict] = outcome_counts_to_stats,
                 extras: Optional[beam.PCollection] = None):
        super().__init__()
        self.path = path
        self.shape = shape
        self.extras = extras

    def expand(self, outcomes):
        counts = (
            outcomes
            | "CountOutcomes" >> beam.combiners.Count.PerElement()
            | "MergeCounts" >> beam.CombineGlobally(MergeNamedNumbers())
            | "KeyCounts" >> beam.Map(lambda c: (_COUNTS_KEY, c))
        )
        parts = counts if self.extras is None else (counts, self.extras) | "WithExtras" >> beam.Flatten()
        path, shape = self.path, self.shape

        def build(merged: dict) -> str:
            stats = shape(merged.pop(_COUNTS_KEY, {}))
            stats.update(dict(sorted(merged.items())))
            return write_json(path, stats)

        return (
            parts
            | "Merge" >> beam.combiners.ToDict()  # one entry per key: bounded
            | "WriteStatsJson" >> beam.Map(build)
        )
