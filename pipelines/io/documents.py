"""Document Parquet shards: schema, conversion, deterministic Beam read/write.

Output is byte-identical across reruns on the same input because:
- the shard of a document is a function of its id (not of bundle order),
- the shard count and file names are fixed (``part-00003-of-00008.parquet``),
- rows inside a shard are sorted by id before writing,
- every shard file is written, even an empty one.

Memory bound: one shard's rows are grouped on one worker before writing, so a shard
must fit in a worker's memory. Choose ``num_shards`` ~ corpus bytes / 256 MB.

DOCUMENT TABLES. Besides one ``Document`` per element, jobs may move documents as Arrow
tables of DOCUMENT_SCHEMA (``ReadDocumentTables``: one element per row group of a file,
read when a step asks for it; ``drop_reason`` set on removed rows). A table is what ``Document`` elements would
have been, column by column (``normalize_table`` applies the reader's defaults), so both
kinds write the same bytes; a table costs no Python object per row, which is what made
reading and writing most of the dedup job's CPU (docs/dedup.md, "End to end on
document tables").
"""
from __future__ import annotations

import dataclasses
import io
import uuid
import zlib
from typing import Iterable, Iterator, Optional

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

# BatchDocuments: BatchElements on every runner (Dask limit 4, pipelines.beam.runner).
from pipelines.beam.transforms import BatchDocuments
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
    return tables_to_parquet_bytes([], rows)


def tables_to_parquet_bytes(tables: list[pa.Table], rows: Iterable[dict] = ()) -> bytes:
    """One shard file: DOCUMENT_SCHEMA tables and row dicts (rows first), sorted by id.

    The sort is stable, as ``sorted`` on the rows was. The table is made one chunk
    before writing: the Parquet writer's pages follow the input's chunks, and one chunk
    writes what ``from_pylist`` on the same rows writes (the same bytes)."""
    parts = [pa.Table.from_pylist(list(rows), schema=DOCUMENT_SCHEMA)] + [t for t in tables if t.num_rows]
    table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    if table.num_rows > 1:
        table = table.take(pc.sort_indices(table, sort_keys=[("id", "ascending")]))
    sink = io.BytesIO()
    pq.write_table(table.combine_chunks(), sink, compression="zstd", row_group_size=2048)
    return sink.getvalue()


def write_parquet_file(path: str, rows: list[dict], tables: Optional[list[pa.Table]] = None) -> str:
    data = tables_to_parquet_bytes(tables or [], rows)
    with FileSystems.create(path) as f:
        f.write(data)
    return path


# ------------------------------------------------------------------ document tables
def _default_column(kind: str, n: int) -> pa.Array:
    """The column a reader fills in for a field missing from a file (``row_to_document``)."""
    arrow_type = _CODECS[kind][0]
    if kind in ("string", "large_string"):
        return pa.array([""] * n, arrow_type)
    if kind == "float":
        return pa.array(np.zeros(n), arrow_type)
    if kind in ("optional_string", "optional_int"):
        return pa.nulls(n, arrow_type)
    return pa.array([[]] * n, arrow_type)


def _sorted_map_column(col: pa.ChunkedArray, arrow_type: pa.DataType) -> pa.ChunkedArray:
    """A map column as ``document_to_row(row_to_document(row))`` makes it: entries sorted
    by key with one entry per key, null -> empty. Checked on the arrays; only a column
    that needs it is rebuilt in Python."""
    col = col.cast(arrow_type)
    if len(col) == 0:
        return col
    if col.null_count == 0:
        flat = pa.concat_arrays([c for c in col.chunks]) if col.num_chunks != 1 else col.chunk(0)
        offsets = flat.offsets.to_numpy(zero_copy_only=False)
        keys = flat.keys
        if len(keys) != offsets[-1] - offsets[0]:  # the keys of this slice only
            keys = keys.slice(offsets[0], offsets[-1] - offsets[0])
        if len(keys) < 2:
            return col
        later = pc.greater(keys.slice(1), keys.slice(0, len(keys) - 1)).to_numpy(zero_copy_only=False)
        first_of_row = np.zeros(len(keys) - 1, bool)  # pairs (k[j], k[j+1]) that start a new row
        starts = offsets[1:-1] - offsets[0] - 1
        first_of_row[starts[(starts >= 0) & (starts < len(keys) - 1)]] = True
        if (later | first_of_row).all():
            return col
    values = [sorted(dict(m or []).items()) for m in col.to_pylist()]
    return pa.chunked_array([pa.array(values, arrow_type)])


def _normalized_column(table: pa.Table, name: str, kind: str):
    """One column of ``normalize_table``."""
    arrow_type = _CODECS[kind][0]
    if name not in table.column_names:
        return _default_column(kind, table.num_rows)
    col = table.column(name)
    if kind in ("string", "large_string"):
        col = col.cast(arrow_type)
        if col.null_count:
            col = col.fill_null("")
    elif kind == "float":
        col = col.cast(arrow_type)
        if col.null_count:
            col = col.fill_null(0.0)
    elif kind in ("float_map", "int_map"):
        col = _sorted_map_column(col, arrow_type)
    elif kind == "spans":
        col = col.cast(arrow_type)
        if col.null_count:
            col = pa.chunked_array([pa.array([v or [] for v in col.to_pylist()], arrow_type)])
    else:
        col = col.cast(arrow_type)
    return col


_KIND = dict(_COLUMNS)


def normalize_table(table: pa.Table, drop_reason: str = "") -> pa.Table:
    """A table read from any document Parquet file -> DOCUMENT_SCHEMA, with the values a
    ``Document`` read from it would write back (``row_to_document`` / ``document_to_row``:
    null strings -> "", null floats -> 0.0, maps sorted, missing columns filled), and
    ``drop_reason`` set. Extra columns are dropped."""
    columns = [_normalized_column(table, name, kind) for name, kind in _COLUMNS]
    columns.append(pa.array([drop_reason] * table.num_rows, pa.string()))
    return pa.Table.from_arrays(columns, schema=DOCUMENT_SCHEMA)


def documents_to_table(docs: Iterable, drop_reason: str = "") -> pa.Table:
    """Documents (or (Document, drop_reason) pairs) -> one DOCUMENT_SCHEMA table."""
    rows = []
    for item in docs:
        doc, why = item if isinstance(item, tuple) else (item, drop_reason)
        rows.append(document_to_row(doc, why))
    return pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA)


def table_to_documents(element) -> list[Document]:
    """The Documents of a document-table element (a table or a ``RowGroupRef``; a
    Document is its own list)."""
    if isinstance(element, Document):
        return [element]
    return [row_to_document(row) for row in load_table(element).to_pylist()]


def with_drop_reason(table: pa.Table, reason: str) -> pa.Table:
    i = table.schema.get_field_index("drop_reason")
    return table.set_column(i, "drop_reason", pa.array([reason] * table.num_rows, pa.string()))


def split_by_shard(table: pa.Table, num_shards: int) -> list[tuple[int, pa.Table]]:
    """(shard, rows of the table in that shard) for every shard with rows. ``take`` copies
    the rows, so a piece pickles only its own bytes, not its parent's buffers."""
    if num_shards == 1:
        return [(0, table)] if table.num_rows else []
    shard = np.fromiter((shard_of(i, num_shards) for i in table.column("id").to_pylist()), np.int64,
                        table.num_rows)
    order = np.argsort(shard, kind="stable")
    bounds = np.searchsorted(shard[order], np.arange(num_shards + 1))
    return [(i, table.take(order[bounds[i]:bounds[i + 1]])) for i in range(num_shards) if bounds[i + 1] > bounds[i]]


@dataclasses.dataclass(frozen=True)
class RowGroupRef:
    """A row group of a document Parquet file, standing for its documents: an element of
    a document-table PCollection that reads its table when a step asks for it
    (``load_table``). Why: the DirectRunner keeps a PCollection that a later step reads
    (a side-input wait, a shuffle) in memory, encoded; a reference instead of the
    documents keeps that a few bytes, and a step that needs two columns reads two."""

    path: str
    row_group: int
    num_rows: int

    def read(self, columns: Optional[list[str]] = None) -> pa.Table:
        with FileSystems.open(self.path) as f:
            pf = pq.ParquetFile(f)
            present = None if columns is None else [c for c in columns if c in pf.schema_arrow.names]
            return pf.read_row_group(self.row_group, columns=present)


def num_rows(element) -> int:
    """Documents in a document-table element (a table or a ``RowGroupRef``) or a Document."""
    return 1 if isinstance(element, Document) else element.num_rows


def load_table(element, columns: Optional[list[str]] = None) -> pa.Table:
    """The normalized table of a document-table element (``normalize_table``; a Document
    is a table of one row); with ``columns``, only those columns (normalized the same
    way), for steps that read few."""
    if isinstance(element, Document):
        element = documents_to_table([element])
    if isinstance(element, RowGroupRef):
        table = element.read(columns)
        if columns is None:
            return normalize_table(table)
        return pa.table({c: _normalized_column(table, c, _KIND[c]) for c in columns})
    return element if columns is None else element.select(columns)


# A row group up to this many rows is read as one reference (clean and dedup write 2,048);
# larger ones (other writers) are read at once, in record batches of ``batch_size``.
MAX_REF_ROWS = 8192


def iter_document_tables(path: str, batch_size: int = 2048, refs: bool = True) -> Iterator:
    """A document Parquet file as document-table elements: a ``RowGroupRef`` per row group
    of up to MAX_REF_ROWS rows (``refs``), else normalized DOCUMENT_SCHEMA tables of up
    to ``batch_size`` rows."""
    with FileSystems.open(path) as f:
        pf = pq.ParquetFile(f)
        for i in range(pf.num_row_groups):
            rows = pf.metadata.row_group(i).num_rows
            if refs and rows <= MAX_REF_ROWS:
                if rows:
                    yield RowGroupRef(path, i, rows)
                continue
            for batch in pf.iter_batches(batch_size=batch_size, row_groups=[i]):
                yield normalize_table(pa.Table.from_batches([batch]))


def clear_shards(directory: str, patterns: tuple[str, ...] = ("part-*.parquet", "_spill/*")) -> None:
    """Remove stale shards and the spilled pieces of a run that died (files matching
    ``patterns`` in ``directory``, on any Beam filesystem), so a rerun with another shard
    count or without ``--keep_removed`` leaves no leftovers."""
    results = FileSystems.match([FileSystems.join(directory, p) for p in patterns])
    stale = [m.path for r in results for m in r.metadata_list]
    if stale:
        FileSystems.delete(stale)


# Folder (inside a writer's output folder) of the shard pieces of table elements.
SPILL_DIR = "_spill"


def _spill_pieces(table: pa.Table, num_shards: int, spill_dir: str) -> list[tuple[int, str]]:
    """Split a document table by shard; write each piece as an Arrow IPC file under
    ``spill_dir``; (shard, path) of each. Why files and not the pieces themselves: a
    runner moves a shuffled element through its data plane, and the DirectRunner copies
    every byte of it several times there (protobuf messages, re-encoding while grouping)
    and holds it in memory: for document text that was the largest cost of the dedup job
    after the signatures. A file is written once and read once, like the temporary files
    of Beam's own file sinks, and needs a filesystem every worker sees (the output's)."""
    out = []
    for shard, piece in split_by_shard(table, num_shards):
        path = FileSystems.join(spill_dir, f"{shard:05d}-{uuid.uuid4().hex}.arrow")
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, piece.schema) as writer:
            writer.write_table(piece)
        with FileSystems.create(path) as f:
            f.write(sink.getvalue())
        out.append((shard, path))
    return out


def _read_spilled(path: str) -> pa.Table:
    with FileSystems.open(path) as f:
        data = f.read()
    return pa.ipc.open_file(pa.BufferReader(data)).read_all()


def _remove_spill_dir(spill_dir: str) -> None:
    # The pieces by pattern first: on object stores (gs://, s3://) a folder is only a
    # prefix, which exists() does not see, so deleting the folder alone would leave them.
    clear_shards(spill_dir, ("*",))
    if FileSystems.exists(spill_dir):
        FileSystems.delete([spill_dir])


class WriteDocuments(beam.PTransform):
    """Write (Document, drop_reason), Document or document-table elements (tables carry
    their own ``drop_reason`` column) as fixed, sorted shards. A table is split by shard
    and its pieces shuffled as files (``_spill_pieces``): one path per piece goes through
    the runner's shuffle, not one element per row nor the text; the folder is removed
    once every shard is written."""

    def __init__(self, directory: str, num_shards: int = 4, drop_reason: str = ""):
        super().__init__()
        if num_shards < 1:
            raise ValueError("num_shards must be >= 1")
        self.directory = directory
        self.num_shards = num_shards
        self.drop_reason = drop_reason

    def expand(self, docs):
        n, directory, reason = self.num_shards, self.directory, self.drop_reason
        spill_dir = FileSystems.join(directory, SPILL_DIR)
        _remove_spill_dir(spill_dir)  # pieces of a run that died; none of them is used

        def to_keyed_rows(item):
            if isinstance(item, (pa.Table, RowGroupRef)):
                return _spill_pieces(load_table(item), n, spill_dir)
            if isinstance(item, tuple):
                doc, why = item
            else:
                doc, why = item, reason
            return [(shard_of(doc.id, n), document_to_row(doc, why))]

        keyed = docs | "ToRows" >> beam.FlatMap(to_keyed_rows)
        # Seed every shard index so empty shards are written too (fixed file set).
        seeds = docs.pipeline | "ShardIndices" >> beam.Create([(i, None) for i in range(n)])
        written = (
            (keyed, seeds)
            | "Merge" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard"
            >> beam.MapTuple(lambda i, parts: _write_shard(shard_path(directory, i, n), parts))
        )
        # After the last shard: the (empty) spill folder goes; the shard paths come out.
        return (written
                | "AllShards" >> beam.combiners.ToList()  # num_shards paths: bounded
                | "RemoveSpill" >> beam.FlatMap(lambda paths: (_remove_spill_dir(spill_dir), sorted(paths))[1]))


def _write_shard(path: str, parts) -> str:
    rows, spilled = [], []
    for part in parts:
        if isinstance(part, str):
            spilled.append(part)
        elif part is not None:
            rows.append(part)
    # The pieces stay until every shard is written (RemoveSpill): a retried bundle must
    # find them again.
    return write_parquet_file(path, rows, [_read_spilled(p) for p in spilled])


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


class ReadDocumentTables(beam.PTransform):
    """Read document-table elements (``iter_document_tables``: row group references or
    tables; ``load_table`` reads one) from Parquet files; spreads files across workers."""

    def __init__(self, files: list[str], batch_size: int = 2048):
        super().__init__()
        self.files, self.batch_size = files, batch_size

    def expand(self, pbegin):
        return (
            pbegin
            | "Files" >> beam.Create(self.files)
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadTables" >> beam.FlatMap(iter_document_tables, self.batch_size)
        )


class ToDocumentTables(beam.PTransform):
    """Documents (or (Document, drop_reason) pairs) -> document tables, in batches."""

    def __init__(self, batch_size: int = 2048):
        super().__init__()
        self.batch_size = batch_size

    def expand(self, docs):
        return (docs
                | "Batch" >> BatchDocuments(min_batch_size=min(64, self.batch_size), max_batch_size=self.batch_size)
                | "Table" >> beam.Map(documents_to_table))
