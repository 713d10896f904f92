"""Helpers shared by the dedup-stage tests."""
from __future__ import annotations

import importlib.util
import pickle

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline

from conftest import REPO


def run_dedup_stage(transform: beam.PTransform, docs: list, tmp_path):
    """Run a dedup stage (kept/removed/stats outputs) on the DirectRunner over test-sized
    input; outputs come back through pickle files. Returns (kept, removed, stats dict)."""

    def dump(name):
        return lambda items: (tmp_path / name).write_bytes(pickle.dumps(items))

    with TestPipeline() as p:
        result = p | beam.Create(docs) | transform
        for name in ("kept", "removed", "stats"):
            result[name] | f"List{name}" >> beam.combiners.ToList() | f"Dump{name}" >> beam.Map(dump(name))

    def load(name):
        return pickle.loads((tmp_path / name).read_bytes())

    return load("kept"), load("removed"), dict(load("stats"))


def extracted_pages(warc_path, limit: int, keep=bool) -> list:
    """Documents from the first response records of a WARC, text extracted with
    trafilatura; only texts for which ``keep(text)`` holds, at most ``limit``."""
    import trafilatura
    from warcio.archiveiterator import ArchiveIterator

    from pipelines.stages.base import Document, stable_id

    docs = []
    with open(warc_path, "rb") as fh:
        for record in ArchiveIterator(fh):
            if record.rec_type != "response":
                continue
            url = record.rec_headers.get_header("WARC-Target-URI")
            text = trafilatura.extract(record.content_stream().read(), url=url, fast=True) or ""
            if keep(text):
                docs.append(Document(id=stable_id(url), url=url, text=text))
            if len(docs) >= limit:
                break
    return docs


def load_minhash_eval():
    """bench/minhash_eval.py as a module: its labelled near-duplicate corpus builder."""
    spec = importlib.util.spec_from_file_location("minhash_eval", REPO / "bench" / "minhash_eval.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
