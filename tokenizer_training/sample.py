"""A reproducible, language-stratified, size-capped sample of a document corpus.

Why this design
---------------
* Streaming: documents are read batch by batch from Parquet (only the id, text and
  language columns); the corpus never sits in memory.
* Order-independent and seeded: every document gets a priority ``hash(seed, id)``; each
  language keeps the documents with the *smallest* priorities (a bottom-k sample, which
  is a uniform sample without replacement). The result does not depend on file order,
  bundle order or how many workers wrote the corpus, only on the seed.
* Stratified: after the pass, the byte budget is split across languages in proportion
  to ``bytes_seen ** alpha`` (alpha < 1 up-weights small languages, as in XLM-R/mT5
  temperature sampling); budget a language cannot fill goes to the others.
* Held out: documents with ``hash("tokenizer-heldout", id) < holdout_fraction`` are kept
  apart (also bottom-k, capped) for the evaluation and never used for training.

Memory bound: each language's reservoir holds at most ``max_bytes`` of text (the total
budget, since one language might get all of it), so peak memory is about
``languages x max_bytes``; the held-out reservoirs hold ``heldout_max_bytes`` each.
"""
from __future__ import annotations

import dataclasses
import heapq
import logging
from typing import Iterable, Iterator

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from tqdm import tqdm

from pipelines.io.documents import expand_document_inputs
from pipelines.io.shards import hash_unit

log = logging.getLogger("tokenizer_training.sample")

UNKNOWN_LANGUAGE = "und"


@dataclasses.dataclass
class SampledDocument:
    id: str
    language: str
    text: str
    priority: float


class BottomK:
    """Keeps the lowest-priority documents up to a byte cap (a seeded uniform sample)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.heap: list[tuple[float, str, str]] = []  # (-priority, id, text): max-heap
        self.bytes = 0
        self.seen_docs = 0
        self.seen_bytes = 0

    def offer(self, priority: float, doc_id: str, text: str, size: int) -> None:
        self.seen_docs += 1
        self.seen_bytes += size
        if self.heap and self.bytes >= self.max_bytes and -self.heap[0][0] < priority:
            return  # full, and this document would be the first to go
        heapq.heappush(self.heap, (-priority, doc_id, text))
        self.bytes += size
        # Evict the highest priorities while the rest still fills the cap.
        while len(self.heap) > 1 and self.bytes - _size(self.heap[0][2]) >= self.max_bytes:
            self.bytes -= _size(heapq.heappop(self.heap)[2])

    def ordered(self, language: str) -> list[SampledDocument]:
        items = sorted(self.heap, key=lambda t: (-t[0], t[1]))
        return [SampledDocument(doc_id, language, text, -neg) for neg, doc_id, text in items]


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


@dataclasses.dataclass
class Sample:
    train: list[SampledDocument]
    heldout: list[SampledDocument]
    stats: dict


def iter_text_rows(files: list[str], batch_size: int = 1024) -> Iterator[tuple[str, str, str]]:
    """(id, language, text) of every document, reading only the needed columns."""
    for path in files:
        with FileSystems.open(path) as f:
            pf = pq.ParquetFile(f)
            columns = [c for c in ("id", "language", "text") if c in pf.schema_arrow.names]
            if "text" not in columns or "id" not in columns:
                raise ValueError(f"{path}: not a documents file (needs id and text columns)")
            for batch in pf.iter_batches(batch_size=batch_size, columns=columns):
                cols = batch.to_pydict()
                langs = cols.get("language") or [UNKNOWN_LANGUAGE] * batch.num_rows
                yield from zip(cols["id"], langs, cols["text"])


def allocate_budget(available: dict[str, int], seen: dict[str, int], total: int, alpha: float) -> dict[str, int]:
    """Split ``total`` bytes over languages proportional to seen**alpha, water-filling:
    a language capped by what its reservoir holds passes its leftover to the others."""
    budget = {lang: 0 for lang in available}
    open_langs = {lang for lang, n in available.items() if n > 0}
    remaining = total
    while open_langs and remaining > 0:
        weights = {lang: float(seen[lang]) ** alpha for lang in open_langs}
        norm = sum(weights.values()) or 1.0
        capped = set()
        spent = 0
        for lang in sorted(open_langs):
            share = int(remaining * weights[lang] / norm)
            room = available[lang] - budget[lang]
            give = min(share, room)
            budget[lang] += give
            spent += give
            if budget[lang] >= available[lang]:
                capped.add(lang)
        remaining -= spent
        if not capped:
            break  # every open language took its full share
        open_langs -= capped
    return budget


def sample_documents(
    inputs: Iterable[str],
    *,
    max_bytes: int = 256 * 1024 * 1024,
    seed: int = 0,
    alpha: float = 0.3,
    holdout_fraction: float = 0.02,
    heldout_max_bytes: int = 2 * 1024 * 1024,
    min_chars: int = 1,
    progress: bool = True,
) -> Sample:
    """Stream the corpus once and return the stratified training sample + held-out docs."""
    files = expand_document_inputs(list(inputs))
    reservoirs: dict[str, BottomK] = {}
    heldout: dict[str, BottomK] = {}
    skipped = {"empty_text": 0}
    bar = tqdm(desc="sampling documents", unit="doc", disable=not progress)
    for doc_id, language, text in iter_text_rows(files):
        bar.update()
        if not text or len(text.strip()) < min_chars:
            skipped["empty_text"] += 1
            continue
        language = language or UNKNOWN_LANGUAGE
        size = _size(text)
        if hash_unit("tokenizer-heldout", doc_id) < holdout_fraction:
            pool = heldout.setdefault(language, BottomK(heldout_max_bytes))
            pool.offer(hash_unit(str(seed), "heldout", doc_id), doc_id, text, size)
            continue
        pool = reservoirs.setdefault(language, BottomK(max_bytes))
        pool.offer(hash_unit(str(seed), doc_id), doc_id, text, size)
    bar.close()

    available = {lang: r.bytes for lang, r in reservoirs.items()}
    seen = {lang: r.seen_bytes for lang, r in reservoirs.items()}
    budget = allocate_budget(available, seen, max_bytes, alpha)
    train: list[SampledDocument] = []
    per_language = {}
    for lang in sorted(reservoirs):
        taken = 0
        docs = []
        for doc in reservoirs[lang].ordered(lang):
            if taken >= budget[lang] and docs:
                break
            size = _size(doc.text)
            if taken + size > budget[lang] and docs:
                continue  # a smaller, later document may still fit
            docs.append(doc)
            taken += size
        train.extend(docs)
        per_language[lang] = {
            "seen_documents": reservoirs[lang].seen_docs,
            "seen_bytes": reservoirs[lang].seen_bytes,
            "sampled_documents": len(docs),
            "sampled_bytes": taken,
        }
    held = [d for lang in sorted(heldout) for d in heldout[lang].ordered(lang)]
    stats = {
        "files": len(files),
        "seed": seed,
        "alpha": alpha,
        "max_bytes": max_bytes,
        "holdout_fraction": holdout_fraction,
        "skipped": skipped,
        "languages": per_language,
        "heldout": {lang: len(p.heap) for lang, p in sorted(heldout.items())},
    }
    log.info("sampled %d documents (%d bytes) in %d languages; %d held out",
             len(train), sum(v["sampled_bytes"] for v in per_language.values()), len(per_language), len(held))
    return Sample(train=train, heldout=held, stats=stats)


def training_lines(docs: Iterable[SampledDocument], max_line_bytes: int) -> Iterator[str]:
    """SentencePiece trains on lines: split documents on newlines, skip blank lines, and
    cut over-long lines (SentencePiece would silently drop them) at a character boundary."""
    for doc in docs:
        for line in doc.text.split("\n"):
            if not line.strip():
                continue
            data = line.encode("utf-8", "surrogatepass")
            if len(data) <= max_line_bytes:
                yield line
                continue
            start = 0
            while start < len(data):
                end = min(start + max_line_bytes, len(data))
                while end < len(data) and (data[end] & 0xC0) == 0x80:
                    end -= 1  # never cut inside a UTF-8 character
                yield data[start:end].decode("utf-8", "replace")
                start = end
