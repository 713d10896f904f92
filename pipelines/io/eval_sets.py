"""Evaluation sets for decontamination: plain text (one item per line), JSONL or Parquet,
on any Beam filesystem (local, gs://, s3://), read into the stage's ``EvalIndex``.

Reading lives here, not in the stage: stages know nothing of Beam, and these files may
be remote.
"""
from __future__ import annotations

import json
import os
from typing import Iterable, Iterator, Optional

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipelines.stages.decontaminate import DEFAULT_NGRAM, EvalIndex, EvalItem


# Beam's FileSystems.open unpacks these (CompressionTypes.AUTO); the format is the name before.
_COMPRESSED = (".gz", ".bz2")


def eval_format_of(path: str) -> str:
    """``parquet``, ``jsonl`` or ``text`` (one item per line), from the file name."""
    name = path.lower()
    for suffix in _COMPRESSED:
        name = name.removesuffix(suffix)
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    return "text"


def _item_text(record: dict, fields: list[str]) -> Optional[str]:
    """The item's text: its fields' values joined by a space, in the order given.

    Several fields (``question,answer``) make one text, so an n-gram that runs from the end
    of the question into the answer is found too (datatrove's "overlap" n-grams). A list
    value (e.g. multiple-choice options) contributes each string in it. None when no field
    has text.
    """
    parts = []
    for field in fields:
        value = record.get(field)
        values = value if isinstance(value, (list, tuple)) else [value]
        parts += [v for v in values if isinstance(v, str) and v.strip()]
    return " ".join(parts) if parts else None


def read_eval_items(path: str, text_field: str = "text", id_field: str = "id",
                    skipped: Optional[dict] = None, kind: Optional[str] = None) -> Iterator[EvalItem]:
    """Items of one evaluation file: plain text (one item per line), JSONL or Parquet
    (``kind``; default ``eval_format_of(path)``), gzip or bzip2 unpacked by name.

    ``text_field`` may name several comma-separated fields (``question,answer``), whose
    texts are joined into one item. Unreadable lines (bad JSON, no text in the fields) are
    counted in ``skipped`` under a reason, never fatal. A missing file is an error that
    says what to pass.
    """
    fields = [f.strip() for f in text_field.split(",") if f.strip()]

    skipped = skipped if skipped is not None else {}
    if not FileSystems.exists(path):
        raise FileNotFoundError(
            f"evaluation set {path!r} not found: pass --decontaminate with comma-separated "
            ".txt (one item per line), .jsonl (with a text field, see --decontam_text_field) "
            "or .parquet files"
        )
    kind = kind or eval_format_of(path)
    base = os.path.basename(path)
    if kind == "parquet":
        with FileSystems.open(path) as f:
            table = pq.read_table(f)
        missing = [f for f in fields if f not in table.column_names]
        if missing or not fields:
            raise ValueError(f"{path}: no column {', '.join(map(repr, missing)) or repr(text_field)} "
                             f"(columns: {table.column_names}); name the text field (--decontam_text_field, an eval set's field:)")
        ids = table.column(id_field).to_pylist() if id_field in table.column_names else None
        for row, record in enumerate(table.select(fields).to_pylist()):
            text = _item_text(record, fields)
            if text is None:
                skipped["empty_item"] = skipped.get("empty_item", 0) + 1
                continue
            yield EvalItem(base, str(ids[row]) if ids else str(row), text)
        return
    with FileSystems.open(path) as f:
        raw = f.read().decode("utf-8", "replace")
    # Lines end at "\n" only: str.splitlines() also splits at U+2028, U+0085 or a form feed,
    # which JSON strings and plain text may hold.
    for line_no, line in enumerate(raw.split("\n"), start=1):
        line = line.removesuffix("\r")
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
        text = _item_text(record, fields) if isinstance(record, dict) else None
        if text is None:
            skipped["missing_text_field"] = skipped.get("missing_text_field", 0) + 1
            continue
        item_id = record.get(id_field, line_no)
        yield EvalItem(base, str(item_id), text)


def build_eval_index(paths: Iterable[str], n: int = DEFAULT_NGRAM, text_field: str = "text",
                     id_field: str = "id") -> EvalIndex:
    """Index every item of the evaluation files (items read and indexed 1,024 at a time)."""
    index = EvalIndex(n)
    for path in paths:
        index.files.append(path)
        batch: list[EvalItem] = []
        for item in read_eval_items(path, text_field, id_field, index.skipped):
            batch.append(item)
            if len(batch) == 1024:
                index.add_many(batch)
                batch = []
        index.add_many(batch)
    index.finish()
    return index
