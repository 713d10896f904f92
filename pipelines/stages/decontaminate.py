"""Decontamination against evaluation sets (GPT-3 style n-gram overlap), no Beam.

A training document is contaminated when it shares at least one word n-gram (13 by
default, as in GPT-3, Brown et al. 2020, appendix C) with an evaluation item. Words come
from ``segmentation.words`` after ``normalize_for_matching`` (lowercase, no accents,
punctuation or digits), so each character of Chinese/Japanese/Thai text is a word and a
"13-gram" there is 13 characters.

Evaluation sets are small, so their n-grams are held in memory on every worker (the
Beam job ships the index as a side input). Memory bound: about 100 bytes per distinct
evaluation n-gram (an 8-byte BLAKE2 digest as int key + the item index in a dict), e.g.
~1 M n-grams for MMLU + HellaSwag + ARC -> ~100 MB. Items shorter than n words cannot
hold an n-gram: they are counted (``items_too_short``) and never matched, as in GPT-3
where such items are skipped by the n-gram filter.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Iterable, Iterator, Optional, Sequence

from pipelines.stages.base import Document, Stage, StageResult
from pipelines.stages.segmentation import normalize_for_matching, words

DEFAULT_NGRAM = 13
ACTIONS = ("remove", "flag")


@dataclasses.dataclass(frozen=True)
class EvalItem:
    file: str
    item_id: str
    text: str


def _format_of(path: str) -> str:
    name = path.lower()
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    return "text"


def read_eval_items(path: str, text_field: str = "text", id_field: str = "id",
                    skipped: Optional[dict] = None) -> Iterator[EvalItem]:
    """Items of one evaluation file: plain text (one item per line), JSONL or Parquet.

    Unreadable lines (bad JSON, missing text field) are counted in ``skipped`` under a
    reason, never fatal. A missing file is an error that says what to pass.
    """
    from apache_beam.io.filesystems import FileSystems  # filesystem layer only (gs://, s3://)

    skipped = skipped if skipped is not None else {}
    if not FileSystems.exists(path):
        raise FileNotFoundError(
            f"evaluation set {path!r} not found: pass --decontaminate with comma-separated "
            ".txt (one item per line), .jsonl (with a text field, see --decontam_text_field) "
            "or .parquet files"
        )
    kind = _format_of(path)
    base = os.path.basename(path)
    if kind == "parquet":
        import pyarrow.parquet as pq

        with FileSystems.open(path) as f:
            table = pq.read_table(f)
        if text_field not in table.column_names:
            raise ValueError(f"{path}: no column {text_field!r} (columns: {table.column_names}); "
                             "set --decontam_text_field")
        ids = table.column(id_field).to_pylist() if id_field in table.column_names else None
        for row, text in enumerate(table.column(text_field).to_pylist()):
            if not isinstance(text, str) or not text.strip():
                skipped["empty_item"] = skipped.get("empty_item", 0) + 1
                continue
            yield EvalItem(base, str(ids[row]) if ids else str(row), text)
        return
    with FileSystems.open(path) as f:
        raw = f.read().decode("utf-8", "replace")
    for line_no, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        if kind == "text":
            yield EvalItem(base, str(line_no), line)
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            skipped["bad_json_line"] = skipped.get("bad_json_line", 0) + 1
            continue
        text = record.get(text_field) if isinstance(record, dict) else None
        if not isinstance(text, str) or not text.strip():
            skipped["missing_text_field"] = skipped.get("missing_text_field", 0) + 1
            continue
        item_id = record.get(id_field, line_no)
        yield EvalItem(base, str(item_id), text)


def normalized_words(text: str) -> list[str]:
    return words(normalize_for_matching(text))


def ngram_keys(tokens: Sequence[str], n: int) -> Iterator[int]:
    """Stable 64-bit keys of every n-gram (identical across processes, unlike hash())."""
    for i in range(len(tokens) - n + 1):
        digest = hashlib.blake2b(" ".join(tokens[i:i + n]).encode("utf-8", "surrogatepass"),
                                 digest_size=8).digest()
        yield int.from_bytes(digest, "little")


class EvalIndex:
    """n-gram key -> evaluation item number (first item holding it); picklable."""

    def __init__(self, n: int = DEFAULT_NGRAM):
        if n < 1:
            raise ValueError("--decontam_ngram must be >= 1")
        self.n = n
        self.items: list[tuple[str, str]] = []  # (file, item id)
        self.grams: dict[int, int] = {}
        self.files: list[str] = []
        self.items_too_short = 0
        self.skipped: dict[str, int] = {}

    def add(self, item: EvalItem) -> None:
        tokens = normalized_words(item.text)
        if len(tokens) < self.n:
            self.items_too_short += 1
            return
        number = len(self.items)
        self.items.append((item.file, item.item_id))
        for key in ngram_keys(tokens, self.n):
            self.grams.setdefault(key, number)

    @classmethod
    def from_paths(cls, paths: Iterable[str], n: int = DEFAULT_NGRAM, text_field: str = "text",
                   id_field: str = "id") -> "EvalIndex":
        index = cls(n)
        for path in paths:
            index.files.append(path)
            for item in read_eval_items(path, text_field, id_field, index.skipped):
                index.add(item)
        return index

    def matches(self, text: str) -> tuple[int, set[int]]:
        """(number of the document's n-grams found in eval sets, item numbers hit)."""
        hits, items = 0, set()
        grams = self.grams
        for key in ngram_keys(normalized_words(text), self.n):
            item = grams.get(key)
            if item is not None:
                hits += 1
                items.add(item)
        return hits, items

    def summary(self) -> dict:
        return {
            "eval_files": list(self.files),
            "eval_items": len(self.items) + self.items_too_short,
            "eval_items_indexed": len(self.items),
            "eval_items_too_short": self.items_too_short,
            "eval_ngrams": len(self.grams),
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
