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
* Explicit shares (``language_weights``, e.g. ``{"zh": 0.33}``) take precedence: a named
  language gets that share of the byte budget; the languages not named share the rest
  by the alpha rule. Why both: temperature sampling can only flatten the natural mix,
  while a target such as "a third Chinese" (Chinese-LLaMA's lesson: LLaMA's tokenizer
  spends 1.45 tokens per Chinese character) has to be stated directly.
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
import math
from typing import Iterable, Iterator, Optional

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


def parse_language_weights(spec: str) -> dict[str, float]:
    """``"zh=0.33,en=0.3"`` -> ``{"zh": 0.33, "en": 0.3}``: shares of the sample's byte budget.

    Raises ValueError with one line saying what to write instead: each item must be
    LANG=SHARE, a share a finite number >= 0, no language twice, shares summing to <= 1
    (the languages not named share what is left)."""
    weights: dict[str, float] = {}
    example = "write LANG=SHARE items separated by commas, e.g. --language_weights zh=0.33,en=0.3"
    for item in filter(None, (part.strip() for part in spec.split(","))):
        lang, sep, value = (x.strip() for x in item.partition("="))
        if not sep or not lang or "=" in value:
            raise ValueError(f"--language_weights: {item!r} is not LANG=SHARE; {example}")
        try:
            share = float(value)
        except ValueError:
            raise ValueError(f"--language_weights: share {value!r} of {lang!r} is not a number; {example}") from None
        if not math.isfinite(share) or share < 0:
            raise ValueError(f"--language_weights: share of {lang!r} is {value}; shares are fractions of the "
                             "sample in [0, 1] (0 leaves a language out)")
        if lang in weights:
            raise ValueError(f"--language_weights: {lang!r} is named twice; name each language once")
        weights[lang] = share
    if not weights:
        raise ValueError(f"--language_weights: no shares in {spec!r}; {example}")
    total = sum(weights.values())
    if total > 1 + 1e-9:
        raise ValueError(f"--language_weights: shares sum to {total:g} > 1; lower them so they sum to at most 1 "
                         "(the languages not named share what is left)")
    return weights


def _water_fill(room: dict[str, int], weights: dict[str, float], total: int) -> dict[str, int]:
    """Split ``total`` bytes over languages in proportion to ``weights``; a language capped
    by its ``room`` passes its leftover on to the others."""
    budget = {lang: 0 for lang in room}
    open_langs = {lang for lang, n in room.items() if n > 0}
    remaining = total
    while open_langs and remaining > 0:
        norm = sum(weights[lang] for lang in open_langs) or 1.0
        capped = set()
        spent = 0
        for lang in sorted(open_langs):
            give = min(int(remaining * weights[lang] / norm), room[lang] - budget[lang])
            budget[lang] += give
            spent += give
            if budget[lang] >= room[lang]:
                capped.add(lang)
        remaining -= spent
        if not capped:
            break  # every open language took its full share
        open_langs -= capped
    return budget


def allocate_budget(available: dict[str, int], seen: dict[str, int], total: int, alpha: float,
                    language_weights: Optional[dict[str, float]] = None) -> dict[str, int]:
    """Split ``total`` bytes over languages, water-filling (no language gets more than its
    reservoir ``available`` holds; what it cannot fill goes to the others).

    Without ``language_weights``: in proportion to ``seen ** alpha``. With them: a named
    language first gets ``share * total``; the languages not named then share the rest
    (``1 - sum(shares)`` plus whatever a named language could not fill) by ``seen ** alpha``;
    only if they cannot fill it either does it go to the named languages, by their shares
    (so a share is a target, exceeded only when nothing else is left to sample)."""
    weights = language_weights or {}
    budget = {lang: 0 for lang in available}
    for lang, share in weights.items():
        if lang in available:
            budget[lang] = min(int(share * total), available[lang])
    unnamed = {lang: n for lang, n in available.items() if lang not in weights}
    rest = _water_fill(unnamed, {lang: float(seen[lang]) ** alpha for lang in unnamed},
                       total - sum(budget.values()))
    for lang, give in rest.items():
        budget[lang] += give
    if any(budget[lang] < n for lang, n in unnamed.items()):
        return budget  # the unnamed languages took their full shares (up to rounding)
    named_room = {lang: available[lang] - budget[lang] for lang in available if lang in weights}
    for lang, give in _water_fill(named_room, weights, total - sum(budget.values())).items():
        budget[lang] += give
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
    language_weights: Optional[dict[str, float]] = None,
) -> Sample:
    """Stream the corpus once and return the stratified training sample + held-out docs.
    ``language_weights``: explicit shares of ``max_bytes`` per language (see allocate_budget)."""
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
    budget = allocate_budget(available, seen, max_bytes, alpha, language_weights)
    absent = sorted(set(language_weights or {}) - set(reservoirs))
    if absent:
        log.warning("--language_weights names languages with no training documents: %s", ", ".join(absent))
    train: list[SampledDocument] = []
    per_language = {}
    for lang in sorted(reservoirs):
        taken = 0
        docs = []
        for doc in reservoirs[lang].ordered(lang) if budget[lang] > 0 else ():  # share 0: left out
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
    sampled_total = sum(v["sampled_bytes"] for v in per_language.values())
    for v in per_language.values():
        v["share"] = round(v["sampled_bytes"] / max(sampled_total, 1), 4)  # of the sample's UTF-8 bytes
    stats = {
        "files": len(files),
        "seed": seed,
        "alpha": alpha,
        "language_weights": dict(language_weights or {}),
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
