"""Document Parquet shards: schema, conversion, deterministic Beam read/write.

Output is byte-identical across reruns on the same input because:
- the shard of a document is a function of its id (not of bundle order),
- the shard count and file names are fixed (``part-00003-of-00008.parquet``),
- rows inside a shard are sorted by id before writing,
- every shard file is written, even an empty one.

Memory bound: one shard's rows are grouped on one worker before writing, so a shard
must fit in a worker's memory. Choose ``num_shards`` ~ corpus bytes / 256 MB.
"""
from __future__ import annotations

import dataclasses
import io
import zlib
from typing import Iterable, Iterator

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipelines.stages.base import Document

# Column kind (declared on the Document fields in pipelines/stages/base.py) ->
# (Arrow type, value -> Parquet cell, row -> value). One table, so the schema, the writer
# and the reader cannot drift apart.
_SPAN = pa.struct([("start", pa.int64()), ("end", pa.int64())])
_CODECS = {
    "string": (pa.string(), lambda v: v, lambda row, k: row.get(k) or ""),
    "large_string": (pa.large_string(), lambda v: v, lambda row, k: row.get(k) or ""),
    "float": (pa.float64(), float, lambda row, k: float(row.get(k) or 0.0)),
    "optional_string": (pa.string(), lambda v: v, lambda row, k: row.get(k)),
    "optional_int": (pa.int64(), lambda v: v, lambda row, k: row.get(k)),
    "float_map": (pa.map_(pa.string(), pa.float64()),
                  lambda v: sorted((k, float(x)) for k, x in v.items()), lambda row, k: dict(row.get(k) or [])),
    "int_map": (pa.map_(pa.string(), pa.int64()),
                lambda v: sorted((k, int(x)) for k, x in v.items()), lambda row, k: dict(row.get(k) or [])),
    "spans": (pa.list_(_SPAN), lambda v: [{"start": int(s), "end": int(e)} for s, e in v],
              lambda row, k: [(s["start"], s["end"]) for s in (row.get(k) or [])]),
}
_COLUMNS = [(f.name, f.metadata["column"]) for f in dataclasses.fields(Document) if "column" in f.metadata]

DOCUMENT_SCHEMA = pa.schema(
    [(name, _CODECS[kind][0]) for name, kind in _COLUMNS]
    # Why a document was removed; empty for kept documents.
    + [("drop_reason", pa.string())]
)


def document_to_row(doc: Document, drop_reason: str = "") -> dict:
    row = {name: _CODECS[kind][1](getattr(doc, name)) for name, kind in _COLUMNS}
    row["drop_reason"] = drop_reason
    return row


def row_to_document(row: dict) -> Document:
    return Document(**{name: _CODECS[kind][2](row, name) for name, kind in _COLUMNS})


def shard_of(doc_id: str, num_shards: int) -> int:
    """Stable shard index (crc32 is identical across processes, unlike hash())."""
    return zlib.crc32(doc_id.encode("utf-8")) % num_shards


def shard_path(directory: str, index: int, num_shards: int) -> str:
    return FileSystems.join(directory, f"part-{index:05d}-of-{num_shards:05d}.parquet")


def rows_to_parquet_bytes(rows: list[dict]) -> bytes:
    rows = sorted(rows, key=lambda r: r["id"])
    table = pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", row_group_size=2048)
    return sink.getvalue()


def write_parquet_file(path: str, rows: list[dict]) -> str:
    data = rows_to_parquet_bytes(rows)
    with FileSystems.create(path) as f:
        f.write(data)
    return path


def clear_shards(directory: str, patterns: tuple[str, ...] = ("part-*.parquet",)) -> None:
    """Remove stale shards (files matching ``patterns`` in ``directory``, on any Beam
    filesystem) so a rerun with another shard count leaves no leftovers."""
    results = FileSystems.match([FileSystems.join(directory, p) for p in patterns])
    stale = [m.path for r in results for m in r.metadata_list]
    if stale:
        FileSystems.delete(stale)


class WriteDocuments(beam.PTransform):
    """Write (Document, drop_reason) or Document elements as fixed, sorted shards."""

    def __init__(self, directory: str, num_shards: int = 4, drop_reason: str = ""):
        super().__init__()
        if num_shards < 1:
            raise ValueError("num_shards must be >= 1")
        self.directory = directory
        self.num_shards = num_shards
        self.drop_reason = drop_reason

    def expand(self, docs):
        n, directory, reason = self.num_shards, self.directory, self.drop_reason

        def to_keyed_row(item):
            if isinstance(item, tuple):
                doc, why = item
            else:
                doc, why = item, reason
            return shard_of(doc.id, n), document_to_row(doc, why)

        keyed = docs | "ToRows" >> beam.Map(to_keyed_row)
        # Seed every shard index so empty shards are written too (fixed file set).
        seeds = docs.pipeline | "ShardIndices" >> beam.Create([(i, None) for i in range(n)])
        return (
            (keyed, seeds)
            | "Merge" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard"
            >> beam.MapTuple(
                lambda i, rows: write_parquet_file(
                    shard_path(directory, i, n), [r for r in rows if r is not None]
                )
            )
        )


def iter_parquet_documents(path: str) -> Iterator[Document]:
    with FileSystems.open(path) as f:
        pf = pq.ParquetFile(f)
        for batch in pf.iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                yield row_to_document(row)


class DocumentInputError(ValueError):
    """An input file that is not a readable document Parquet file."""


REQUIRED_COLUMNS = ("id", "text")


def check_document_file(path: str) -> int:
    """Read the footer (not the data) so a corrupt or foreign file stops the job at
    start-up with its name, instead of failing a worker half-way through. Returns the
    file's row count (from the same footer)."""
    try:
        with FileSystems.open(path) as f:
            footer = pq.ParquetFile(f)
            names, rows = footer.schema_arrow.names, footer.metadata.num_rows
    except Exception as e:
        raise DocumentInputError(
            f"{path} is not a readable Parquet file ({e}); remove it from the input or "
            "re-create it with `python -m pipelines.clean`"
        ) from None
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise DocumentInputError(
            f"{path} lacks the document column(s) {missing}: give files written by "
            "`python -m pipelines.clean` or `pipelines.dedup` (schema in pipelines/io/documents.py)"
        )
    return rows


def expand_document_inputs(inputs: Iterable[str]) -> list[str]:
    """Resolve folders and globs to a sorted list of Parquet files (footers checked)."""
    return expand_document_inputs_with_rows(inputs)[0]


def expand_document_inputs_with_rows(inputs: Iterable[str]) -> tuple[list[str], int]:
    """``expand_document_inputs``, and the files' total row count from the footers it reads."""
    files: list[str] = []
    for spec in inputs:
        spec = spec.strip()
        if not spec:
            continue
        patterns = [spec]
        if not any(ch in spec for ch in "*?[") and not spec.endswith(".parquet"):
            patterns = [FileSystems.join(spec, "*.parquet"), FileSystems.join(spec, "**", "*.parquet")]
        found = []
        for result in FileSystems.match(patterns):
            found.extend(m.path for m in result.metadata_list)
        if not found:
            raise FileNotFoundError(
                f"no Parquet document files found at {spec!r}: pass a folder written by "
                "`python -m pipelines.clean` (its documents/ subfolder), a glob, or a .parquet file"
            )
        files.extend(found)
    files = sorted(set(files))
    return files, sum(check_document_file(path) for path in files)


class ReadDocuments(beam.PTransform):
    """Read Document objects from Parquet files; spreads files across workers."""

    def __init__(self, files: list[str]):
        super().__init__()
        self.files = files

    def expand(self, pbegin):
        return (
            pbegin
            | "Files" >> beam.Create(self.files)
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadRows" >> beam.FlatMap(iter_parquet_documents)
        )
