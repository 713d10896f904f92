"""The Beam tokenize job on real extracted pages: shards, manifest, determinism, mixture."""
from __future__ import annotations

import json
import pathlib
import shutil

import numpy as np
import pyarrow as pa
import pytest
import sentencepiece as spm

from pipelines import tokenize as job
from model.data import TokenWindowReader
from pipelines.io import shards as S
from tests.shard_fixtures import pack_shards_in_memory
from pipelines.io.documents import document_to_row, expand_document_inputs, iter_parquet_documents, write_parquet_file
from pipelines.stages.base import Document
from tests.shard_fixtures import cached_test_documents, cached_test_shards


@pytest.fixture(scope="module")
def inputs(shared_data, tmp_path_factory):
    """Real documents + one file with an empty document (a counted skip)."""
    docs = cached_test_documents(shared_data)
    model = str(cached_test_shards(shared_data).parent / "tokenizer" / "tokenizer.model")
    root = tmp_path_factory.mktemp("tokenize_inputs")
    web = root / "web"
    shutil.copytree(docs, web)
    write_parquet_file(str(web / "part-empty.parquet"), [document_to_row(Document(id="empty-doc", text="  \n"))])
    books = root / "books"
    books.mkdir()
    shutil.copy(sorted(docs.glob("*.parquet"))[1], books / "part-00000.parquet")
    return {"web": web, "books": books, "model": model, "root": root}


def _run(inputs, out, *extra):
    rc = job.run(["--tokenizer", inputs["model"], "--output", str(out), "--shard_size_mb", "0.02",
                  "--validation_fraction", "0.15", *extra])
    assert rc == 0
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def web_run(inputs):
    out = inputs["root"] / "out_a"
    return out, _run(inputs, out, "--input", str(inputs["web"]))


def _texts(folder):
    return {d.id: d.text for f in expand_document_inputs([str(folder)]) for d in iter_parquet_documents(f)}


def test_manifest_counts_stats_and_documents_round_trip(inputs, web_run):
    out, manifest = web_run
    texts = _texts(inputs["web"])
    sp = spm.SentencePieceProcessor(model_file=inputs["model"])
    stats = json.loads((out / "stats.json").read_text())
    assert stats["records_read"] == len(texts) == stats["documents_kept"] + sum(stats["dropped"].values())
    assert stats["dropped"] == {"tokenize.empty_text": 1}
    assert sorted(p.name for p in out.glob("*.arrow")) == sorted(s["path"] for s in manifest["shards"])
    assert len(manifest["shards"]) > 2 and {s["split"] for s in manifest["shards"]} == {"train", "validation"}
    decoded = []
    for shard in manifest["shards"]:
        table = pa.ipc.open_file(pa.memory_map(str(out / shard["path"]))).read_all()
        assert table.schema.metadata[b"tokenizer_sha256"].decode() == manifest["tokenizer_sha256"]
        assert table.schema.field("tokens").type == pa.large_list(pa.uint16())
        assert (table.num_rows, len(table.column(0).combine_chunks().flatten())) == (shard["documents"], shard["tokens"])
        for doc in S.iter_shard_documents(str(out / shard["path"])):
            assert doc[-1] == sp.eos_id() and sp.eos_id() not in doc[:-1]
            decoded.append((shard["split"], sp.decode(doc[:-1].tolist())))
    assert manifest["totals"]["tokens"] == sum(s["tokens"] for s in manifest["shards"])
    assert manifest["totals"]["documents"] == sum(s["documents"] for s in manifest["shards"]) == len(texts) - 1
    # Every non-empty document comes back exactly once, in its hash-chosen split.
    by_text = {t: i for i, t in texts.items() if t.strip()}
    assert sorted(t for _, t in decoded) == sorted(by_text)
    for split, text in decoded:
        assert (split == "validation") == S.is_validation(by_text[text], 0.15)
    assert manifest["tokenizer_sha256"] == S.file_sha256(inputs["model"])
    assert manifest["mixture"] == {"web": {"weight": 1.0}} and manifest["seed"] == 0
    assert manifest["tokenizer_model"] == inputs["model"]
    assert manifest["tokenizer_json"].endswith("tokenizer.json")


def test_rerun_is_byte_identical_and_equals_single_process_reference(inputs, web_run):
    out, manifest = web_run
    again = inputs["root"] / "out_a2"
    _run(inputs, again, "--input", str(inputs["web"]), "--direct_num_workers", "2", "--direct_running_mode",
         "multi_threading")
    # _SUCCESS records each run's own flags (output path, worker count): data files only.
    files = sorted(p.name for p in out.iterdir() if p.name != "_SUCCESS")
    assert files == sorted(p.name for p in again.iterdir() if p.name != "_SUCCESS")
    for name in files:
        assert (out / name).read_bytes() == (again / name).read_bytes(), name
    # The distributed shuffle/shard assignment equals the in-memory reference packer.
    encoder = job.SentencePieceEncoder(inputs["model"])
    docs = [(i, t) for i, t in sorted(_texts(inputs["web"]).items()) if t.strip()]
    reference = inputs["root"] / "reference"
    pack_shards_in_memory(
        (("web", i, tok) for (i, _), tok in zip(docs, encoder.encode([t for _, t in docs]))), str(reference),
        seed=0, validation_fraction=0.15, shard_size_bytes=int(0.02 * 1024 * 1024),
        manifest_fields=encoder.manifest_fields(), mixture={"web": 1.0})
    for shard in manifest["shards"]:
        assert (reference / shard["path"]).read_bytes() == (out / shard["path"]).read_bytes()


def test_documents_are_globally_shuffled_by_recorded_seed(inputs, web_run):
    out, manifest = web_run
    texts = _texts(inputs["web"])
    sp = spm.SentencePieceProcessor(model_file=inputs["model"])
    id_of = {t: i for i, t in texts.items()}
    train = [s for s in manifest["shards"] if s["split"] == "train"]
    keys = [S.shuffle_key(0, "web", id_of[sp.decode(doc[:-1].tolist())])
            for s in train for doc in S.iter_shard_documents(str(out / s["path"]))]
    assert keys == sorted(keys), "shards in order must be one global sort by hash(seed, id)"
    assert [id_of[t] for t in texts.values()] != sorted(texts), "input order is not the output order"


def test_mixture_sources_bos_and_reader_proportions(inputs):
    out = inputs["root"] / "out_mix"
    manifest = _run(inputs, out, "--source", f"web={inputs['web']}:1.5", "--source", f"books={inputs['books']}:2",
                    "--seed", "3", "--bos")
    assert manifest["mixture"] == {"books": {"weight": 2.0}, "web": {"weight": 1.5}}
    assert manifest["seed"] == 3 and set(manifest["totals"]["by_source"]) == {"books", "web"}
    sp = spm.SentencePieceProcessor(model_file=inputs["model"])
    first = next(S.iter_shard_documents(str(out / manifest["shards"][0]["path"])))
    assert first[0] == sp.bos_id() and first[-1] == sp.eos_id()
    reader = TokenWindowReader(str(out), seq_len=32, batch_size=4, seed=3)
    info = reader.describe()
    assert info["books"]["windows_per_epoch"] == 2 * info["books"]["windows"] > 0
    assert abs(info["web"]["windows_per_epoch"] - 1.5 * info["web"]["windows"]) <= 0.5
    names = [s.name for s in reader.sources]
    counts = np.bincount(reader.source_of(reader.epoch_windows(0)), minlength=2)
    assert counts[names.index("books")] == info["books"]["windows_per_epoch"]
    assert counts[names.index("web")] == info["web"]["windows_per_epoch"]
    batch = reader.next_batch()
    assert batch.shape == (4, 33) and batch.dtype == np.int64 and batch.max() < reader.vocab_size


def test_bad_flags_and_paths_are_error_messages(inputs, tmp_path, capsys):
    assert job.run(["--input", str(inputs["web"]), "--tokenizer", str(tmp_path / "nope.model"),
                    "--output", str(tmp_path / "o")]) == 2
    assert "tokenizer_training.train" in capsys.readouterr().err
    assert job.run(["--source", "we b=/x", "--tokenizer", inputs["model"], "--output", str(tmp_path / "o")]) == 2
    assert "NAME=PATH" in capsys.readouterr().err
    assert job.run(["--input", str(tmp_path / "missing"), "--tokenizer", inputs["model"],
                    "--output", str(tmp_path / "o")]) == 2
    assert "pipelines.clean" in capsys.readouterr().err
    assert job.parse_sources([], ["web=gs://b/docs:0.5", "code=/data/c"]) == {
        "web": ("gs://b/docs", 0.5), "code": ("/data/c", 1.0)}
    assert job.parse_sources(["/d"], []) == {"web": ("/d", 1.0)}


def test_fixture_shards_are_readable(shared_data):
    shards_dir = cached_test_shards(shared_data)
    reader = TokenWindowReader(str(shards_dir), seq_len=64, batch_size=2)
    assert reader.next_batch().shape == (2, 65)
    assert reader.tokenizer_sha256 == S.file_sha256(str(pathlib.Path(shards_dir).parent / "tokenizer" / "tokenizer.model"))
    val = TokenWindowReader(str(shards_dir), split="validation", seq_len=64, batch_size=2)
    assert sum(1 for _ in val.iter_epoch_batches()) == val.epoch_batches_count() > 0


@pytest.mark.slow  # dask_cluster: a scheduler and two workers
def test_dask_cluster_writes_every_document_once_and_both_sinks(inputs, web_run):
    """A real local Dask cluster: the last encode batch of each worker is not lost (Dask
    drops what BatchElements emits in finish_bundle) and both sinks, stats.json and
    manifest.json, are written (Dask runs only what the last transform depends on).

    The shard *count* may differ from the DirectRunner's: Beam 2.77's Dask runner
    recomputes side inputs and over-counts the token totals the count is derived from
    (seen: 37 train shards instead of 8), so only the content is compared here."""
    from dask_cluster import local_dask_cluster

    out, manifest = web_run
    on_dask = inputs["root"] / "out_dask"
    with local_dask_cluster(2) as address:
        dask_manifest = _run(inputs, on_dask, "--input", str(inputs["web"]),
                             "--runner=apache_beam.runners.dask.dask_runner.DaskRunner",
                             f"--dask_client_address={address}")
    assert (on_dask / "stats.json").read_bytes() == (out / "stats.json").read_bytes()
    assert dask_manifest["totals"] == manifest["totals"]
    for split in ("train", "validation"):
        docs = [sorted(tuple(d.tolist()) for shard in m["shards"] if shard["split"] == split
                       for d in S.iter_shard_documents(str(folder / shard["path"])))
                for folder, m in ((out, manifest), (on_dask, dask_manifest))]
        assert docs[0] == docs[1] and docs[0]
