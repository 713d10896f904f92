"""The document Parquet format: round trip, deterministic shards, input checking."""
from __future__ import annotations

import hashlib

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import run_module
from pipelines.completion import write_success
from pipelines.io.documents import (
    DOCUMENT_SCHEMA, DocumentInputError, ReadDocuments, ReadDocumentTables, RowGroupRef, WriteDocuments,
    document_to_row, documents_to_table, expand_document_inputs, iter_document_tables, iter_parquet_documents,
    load_table, row_to_document, table_to_documents, write_parquet_file,
)
from pipelines.stages.base import Document, Drop, Stage, run_stages


def sample_documents(n: int) -> list[Document]:
    return [
        Document(id=f"{i:04x}", url=f"https://example.org/{i}", text=f"Text number {i}.\nZweite Zeile 文字 {i}.",
                 language="de", language_score=0.9, signals={"a": i / 3}, pii={"email": i % 2},
                 removed_spans=[(0, i)])
        for i in range(n)
    ]


def test_row_round_trip_keeps_every_persisted_field():
    doc = sample_documents(3)[2].replace(minhash_cluster="c", minhash_cluster_size=2, duplicate_of="x")
    back = row_to_document(pa.Table.from_pylist([document_to_row(doc)], schema=DOCUMENT_SCHEMA).to_pylist()[0])
    assert back == doc.replace(payload=b"", content_type="", http_charset="")


def test_written_shards_are_fixed_sorted_and_identical_on_rerun(tmp_path):
    docs = sample_documents(50)

    def write(out):
        with beam.Pipeline() as p:
            _ = p | beam.Create(list(reversed(docs))) | WriteDocuments(str(out), num_shards=3)
        return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(out.iterdir())}

    first, second = write(tmp_path / "a"), write(tmp_path / "b")
    assert sorted(first) == [f"part-0000{i}-of-00003.parquet" for i in range(3)]
    assert first == second
    read = [d for f in sorted((tmp_path / "a").iterdir()) for d in iter_parquet_documents(str(f))]
    assert sorted(d.id for d in read) == sorted(d.id for d in docs)
    for f in (tmp_path / "a").iterdir():
        ids = pq.read_table(f, columns=["id"]).column("id").to_pylist()
        assert ids == sorted(ids)


def test_read_documents_reads_every_row(tmp_path):
    from apache_beam.testing.util import assert_that, equal_to

    docs = sample_documents(20)
    with beam.Pipeline() as p:
        _ = p | beam.Create(docs) | WriteDocuments(str(tmp_path), num_shards=2)
    files = expand_document_inputs([str(tmp_path)])
    assert len(files) == 2
    with beam.Pipeline() as p:
        assert_that(p | ReadDocuments(files), equal_to([d.replace(payload=b"") for d in docs]))


def _shard_bytes(out) -> dict:
    return {f.name: f.read_bytes() for f in sorted(out.iterdir())}


def test_tables_write_the_same_bytes_as_documents(tmp_path):
    """Document tables (read from files: row group references and a table) and removed
    (Document, reason) pairs write the files Documents write, and the spill folder of the
    table pieces is gone afterwards."""
    docs = sample_documents(60)
    docs[3] = docs[3].replace(minhash_cluster="c", minhash_cluster_size=2, duplicate_of="x")
    src = tmp_path / "src"
    src.mkdir()
    write_parquet_file(str(src / "a.parquet"), [document_to_row(d) for d in docs[:25]])
    write_parquet_file(str(src / "b.parquet"), [document_to_row(d) for d in docs[25:]])
    files = expand_document_inputs([str(src)])
    with beam.Pipeline() as p:
        _ = p | beam.Create(docs) | WriteDocuments(str(tmp_path / "docs"), num_shards=3)
        _ = p | "Pairs" >> beam.Create([(d, "why") for d in docs]) | "WP" >> WriteDocuments(str(tmp_path / "pairs"), 3)
    with beam.Pipeline() as p:
        tables = p | ReadDocumentTables(files)
        _ = tables | WriteDocuments(str(tmp_path / "tables"), num_shards=3)
        _ = (tables | beam.Map(lambda t: documents_to_table(table_to_documents(t), "why"))
             | "WT" >> WriteDocuments(str(tmp_path / "removed"), 3))
    assert _shard_bytes(tmp_path / "tables") == _shard_bytes(tmp_path / "docs")
    assert _shard_bytes(tmp_path / "removed") == _shard_bytes(tmp_path / "pairs")
    assert not (tmp_path / "tables" / "_spill").exists()
    elements = list(iter_document_tables(files[0]))
    assert all(isinstance(e, RowGroupRef) for e in elements) and sum(e.num_rows for e in elements) == 25
    assert [d for e in elements for d in table_to_documents(e)] == list(iter_parquet_documents(files[0]))
    assert load_table(elements[0], ["id"]).column_names == ["id"]


def test_tables_from_other_writers_read_like_documents(tmp_path):
    """A file not written by us (nulls, unsorted and repeated map keys, missing columns,
    one large row group) reads as the table its Documents would write."""
    path = tmp_path / "foreign.parquet"
    n = 9000  # one row group larger than MAX_REF_ROWS
    pq.write_table(pa.table({
        "id": [f"d{i:05d}" for i in range(n)],
        "text": [None if i % 7 == 0 else f"text {i}" for i in range(n)],
        "language_score": [None if i % 3 == 0 else 0.5 for i in range(n)],
        "signals": pa.array([None if i % 5 == 0 else [("b", 1.0), ("a", float(i))] if i % 2 else [("a", 1.0)]
                             for i in range(n)], pa.map_(pa.string(), pa.float64())),
        "extra": list(range(n)),
    }), path, row_group_size=n)
    elements = list(iter_document_tables(str(path), batch_size=2048))
    assert [e.num_rows for e in elements] == [2048] * 4 + [808]  # a large row group: tables
    docs = list(iter_parquet_documents(str(path)))
    table = pa.concat_tables(elements)
    assert table.equals(documents_to_table(docs))
    assert table_to_documents(table)[1].signals == {"a": 1.0, "b": 1.0}


def test_corrupt_or_foreign_inputs_are_refused_with_the_file_named(tmp_path):
    (tmp_path / "part-00000-of-00001.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DocumentInputError, match="part-00000-of-00001.parquet is not a readable Parquet file"):
        expand_document_inputs([str(tmp_path)])
    other = tmp_path / "other"
    other.mkdir()
    pq.write_table(pa.table({"x": [1]}), other / "x.parquet")
    with pytest.raises(DocumentInputError, match="lacks the document column"):
        expand_document_inputs([str(other)])
    with pytest.raises(FileNotFoundError, match="no Parquet document files"):
        expand_document_inputs([str(tmp_path / "missing")])


def test_dedup_job_exits_with_a_message_on_a_corrupt_input(tmp_path):
    (tmp_path / "part-00000-of-00001.parquet").write_bytes(b"garbage")
    write_success(str(tmp_path), "clean", {}, [], {})  # finished, yet one file is corrupt
    proc = run_module("pipelines.dedup", "--input", tmp_path, "--output", tmp_path / "out", timeout=300, check=False)
    assert proc.returncode == 2
    assert "is not a readable Parquet file" in proc.stderr and "Traceback" not in proc.stderr


class _Upper(Stage):
    name = "upper"

    def process(self, doc):
        doc.text = doc.text.upper()  # stages may change the document in place...
        doc.signals["upper"] = 1.0
        return doc


class _DropShort(Stage):
    name = "short"

    def process(self, doc):
        return self.drop(doc, "too_short") if len(doc.text) < 5 else doc


def test_run_stages_never_changes_the_callers_document():
    original = Document(id="1", text="hello world")
    kept, key, dropped = run_stages([_Upper(), _DropShort()], original)
    assert kept.text == "HELLO WORLD" and kept.signals == {"upper": 1.0}
    assert original.text == "hello world" and original.signals == {}  # ...but never the input
    kept, key, dropped = run_stages([_Upper(), _DropShort()], Document(id="2", text="hi"))
    assert kept is None and key == "short.too_short" and dropped.text == "HI"
    assert isinstance(_DropShort().process(Document(id="3")), Drop)


def test_clear_shards_removes_what_a_killed_run_left(tmp_path):
    """A run killed halfway leaves shards and spilled pieces (documents/ and removed/<stage>/);
    the next run's clear_shards removes them, so none is read as that run's output."""
    from pipelines.io.documents import SPILL_DIR, clear_shards

    left = [tmp_path / "documents" / "part-00001-of-00004.parquet",
            tmp_path / "documents" / SPILL_DIR / "00001-dead.arrow",
            tmp_path / "removed" / "minhash" / "part-00000-of-00004.parquet",
            tmp_path / "removed" / "minhash" / SPILL_DIR / "00000-dead.arrow"]
    for path in left:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    keep = tmp_path / "documents" / "notes.txt"
    keep.write_text("not a shard")
    clear_shards(str(tmp_path / "documents"))
    clear_shards(str(tmp_path / "removed"), ("*/part-*.parquet", "*/_spill/*"))
    assert [p for p in left if p.exists()] == [] and keep.exists()


def test_spill_pieces_go_where_a_folder_is_only_a_prefix(tmp_path, monkeypatch):
    """On gs:// or s3:// a "folder" is a name prefix that exists() does not see: the spilled
    pieces must be removed by pattern, not by deleting the folder."""
    from apache_beam.io.filesystems import FileSystems

    from pipelines.io import documents

    spill = tmp_path / "documents" / documents.SPILL_DIR
    spill.mkdir(parents=True)
    pieces = [spill / f"0000{i}-x.arrow" for i in range(3)]
    for piece in pieces:
        piece.write_bytes(b"piece")
    real_exists = FileSystems.exists
    monkeypatch.setattr(FileSystems, "exists", lambda path: False if path == str(spill) else real_exists(path))
    documents._remove_spill_dir(str(spill))
    assert [p for p in pieces if p.exists()] == []
