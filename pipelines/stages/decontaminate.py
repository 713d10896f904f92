"""Decontamination against evaluation sets (GPT-3 style n-gram overlap), no Beam.

A training document is contaminated when it shares at least one word n-gram (13 by
default, as in GPT-3, Brown et al. 2020, appendix C) with an evaluation item. Words come
from ``segmentation.words`` after ``normalize_for_matching`` (lowercase, no accents,
punctuation or digits), so each character of Chinese/Japanese/Thai text is a word and a
"13-gram" there is 13 characters.

Evaluation sets are small, so their n-grams are held in memory on every worker (the
Beam job ships the index as a side input). Memory bound: 16 bytes per distinct
evaluation n-gram (a 64-bit key and the item number, in two sorted NumPy arrays), e.g.
~1 M n-grams for MMLU + HellaSwag + ARC -> ~16 MB. Items shorter than n words cannot
hold an n-gram: they are counted (``items_too_short``) and never matched, as in GPT-3
where such items are skipped by the n-gram filter.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from pipelines.stages.base import Document, Stage, StageResult
from pipelines.stages.minhash import shingle_hashes_from_words, text_word_hashes

DEFAULT_NGRAM = 13
ACTIONS = ("remove", "flag")


@dataclasses.dataclass(frozen=True)
class EvalItem:
    file: str
    item_id: str
    text: str


def ngram_keys(texts: Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable 64-bit keys (uint64) of every word n-gram of each text, and how many per text.

    The MinHash shingle hash (position-weighted sums of 64-bit word hashes), identical
    across processes (unlike ``hash()``), computed for the whole batch at once. A text
    with fewer than ``n`` words has no n-gram.
    """
    word_hash, counts = text_word_hashes(texts)
    keys, per_text = shingle_hashes_from_words(word_hash, counts, n)
    short = counts < n  # shingle_hashes_from_words gives these one shingle of all words
    if short.any():
        keys = keys[np.repeat(~short, per_text)]
        per_text = np.where(short, 0, per_text)
    return keys, per_text


class EvalIndex:
    """n-gram key -> evaluation item number (first item holding it); picklable.

    Built with ``add``; looked up with ``matches``, which searches one sorted uint64 array
    (16 bytes per distinct n-gram with the item numbers, a tenth of a dict's footprint).
    """

    def __init__(self, n: int = DEFAULT_NGRAM):
        if n < 1:
            raise ValueError("--decontam_ngram must be >= 1")
        self.n = n
        self.items: list[tuple[str, str]] = []  # (file, item id)
        self.files: list[str] = []
        self.items_too_short = 0
        self.skipped: dict[str, int] = {}
        # Sorted distinct keys and the first item holding each; add() queues an item's keys
        # in _pending until the next lookup merges them in.
        self._keys, self._key_items = np.zeros(0, np.uint64), np.zeros(0, np.int64)
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []  # (keys, item of each key)

    def add(self, item: EvalItem) -> None:
        self.add_many([item])

    def add_many(self, items: Sequence[EvalItem]) -> None:
        """Index a batch of items (one vectorized pass over their n-grams)."""
        keys, per_item = ngram_keys([item.text for item in items], self.n)
        first = len(self.items)
        indexed = [item for item, count in zip(items, per_item) if count]
        self.items_too_short += len(items) - len(indexed)
        self.items.extend((item.file, item.item_id) for item in indexed)
        owners = np.arange(first, first + len(indexed), dtype=np.int64)
        self._pending.append((keys, np.repeat(owners, per_item[per_item > 0])))

    def _lookup_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._pending:
            keys = np.concatenate([self._keys] + [k for k, _ in self._pending])
            owner = np.concatenate([self._key_items] + [i for _, i in self._pending])
            # Items are numbered in the order they were added and merged in that order, so
            # each key's first occurrence (return_index) is the first item holding it.
            self._keys, first = np.unique(keys, return_index=True)
            self._key_items = owner[first]
            self._pending = []
        return self._keys, self._key_items

    def finish(self) -> None:
        """Merge what ``add`` queued (lookups do it too; call it to pay the cost up front)."""
        self._lookup_arrays()

    def __getstate__(self):
        self._lookup_arrays()  # ship the merged arrays, nothing pending
        return dict(self.__dict__)

    def matches(self, text: str) -> tuple[int, set[int]]:
        """(number of the document's n-grams found in eval sets, item numbers hit)."""
        keys, key_items = self._lookup_arrays()
        grams, _ = ngram_keys([text], self.n)
        if not grams.size or not keys.size:
            return 0, set()
        at = np.minimum(np.searchsorted(keys, grams), keys.size - 1)
        found = keys[at] == grams
        return int(found.sum()), set(key_items[at[found]].tolist())

    def summary(self) -> dict:
        return {
            "eval_files": list(self.files),
            "eval_items": len(self.items) + self.items_too_short,
            "eval_items_indexed": len(self.items),
            "eval_items_too_short": self.items_too_short,
            "eval_ngrams": int(self._lookup_arrays()[0].size),
            "eval_lines_skipped": dict(sorted(self.skipped.items())),
            "ngram": self.n,
        }


class Decontaminator(Stage):
    """Drops (``remove``) or flags (``flag``) documents sharing an n-gram with an eval set.

    Flagging stores ``signals["decontam_ngram_hits"]`` and ``signals["decontam_items"]``.
    """

    name = "decontaminate"

    def __init__(self, index: EvalIndex, action: str = "remove"):
        if action not in ACTIONS:
            raise ValueError(f"--decontam_action must be one of {ACTIONS} (got {action!r})")
        self.index, self.action = index, action

    def check(self, doc: Document) -> tuple[StageResult, set[int]]:
        hits, items = self.index.matches(doc.text or "")
        if not hits:
            return doc, items
        if self.action == "remove":
            return self.drop(doc, "contaminated"), items
        flagged = doc.replace(signals=dict(doc.signals, decontam_ngram_hits=float(hits),
                                           decontam_items=float(len(items))))
        return flagged, items

    def process(self, doc: Document) -> StageResult:
        return self.check(doc)[0]
