"""Token shard format and TokenWindowReader: coverage, disjointness, resume, mixture.

Shards here hold synthetic documents whose tokens are consecutive unique integers
(vocabulary > 65,535, so the uint32 path is used): a token's value *is* its position in
the corpus, which makes coverage and disjointness directly checkable.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pytest

from model.data import TokenWindowReader
from pipelines.io import shards as S
from tests.shard_fixtures import pack_shards_in_memory

VOCAB = 1 << 20
EOS = 3


def _synthetic_docs(source: str, n_docs: int, start: int, rng: np.random.Generator):
    value = start
    for i in range(n_docs):
        length = int(rng.integers(1, 60))
        tokens = list(range(value, value + length))
        value += length
        yield source, f"{source}-doc-{i}", tokens
    return value


def _write(out_dir, sources: dict[str, tuple[int, float]], validation_fraction=0.1, shard_bytes=2000, seed=7):
    """sources: name -> (number of documents, mixture weight)."""
    rng = np.random.default_rng(0)
    docs = []
    start = 1000
    for name, (n, _) in sources.items():
        for item in _synthetic_docs(name, n, start, rng):
            docs.append(item)
        start = docs[-1][2][-1] + 1
    return pack_shards_in_memory(
        docs, str(out_dir), seed=seed, validation_fraction=validation_fraction,
        shard_size_bytes=shard_bytes,
        manifest_fields=dict(tokenizer_sha256="f" * 64, vocab_size=VOCAB, bos_id=2, eos_id=EOS, pad_id=0),
        mixture={name: w for name, (_, w) in sources.items()},
    )


def _split_tokens(out_dir, manifest, split, source=None):
    chunks = []
    for shard in manifest["shards"]:
        if shard["split"] == split and (source is None or shard["source"] == source):
            chunks.extend(S.iter_shard_documents(os.path.join(out_dir, shard["path"])))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)


@pytest.fixture(scope="module")
def one_source(tmp_path_factory):
    out = tmp_path_factory.mktemp("shards_one")
    manifest = _write(out, {"web": (400, 1.0)})
    return out, manifest


def test_shards_open_with_plain_pyarrow_and_manifest_counts_match(one_source):
    out, manifest = one_source
    assert len(manifest["shards"]) > 2, "small shard size must produce several shards"
    total_docs = total_tokens = 0
    for shard in manifest["shards"]:
        with pa.memory_map(str(out / shard["path"])) as source:
            table = pa.ipc.open_file(source).read_all()
        assert table.schema.field("tokens").type == pa.large_list(pa.uint32())
        meta = table.schema.metadata
        assert meta[b"tokenizer_sha256"] == b"f" * 64 and meta[b"dtype"] == b"uint32"
        assert int(meta[b"eos_id"]) == EOS and int(meta[b"vocab_size"]) == VOCAB
        assert table.num_rows == shard["documents"]
        assert len(table.column("tokens").combine_chunks().flatten()) == shard["tokens"]
        total_docs += shard["documents"]
        total_tokens += shard["tokens"]
    assert manifest["totals"]["documents"] == total_docs == 400
    assert manifest["totals"]["tokens"] == total_tokens
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == manifest
    splits = {s["split"] for s in manifest["shards"]}
    assert splits == {"train", "validation"}


def test_small_vocab_uses_uint16():
    schema = S.shard_schema(32000, 2, 3, 0, "0" * 64)
    assert schema.field("tokens").type == pa.large_list(pa.uint16())
    assert S.token_dtype(65536) == "uint16" and S.token_dtype(65537) == "uint32"


def test_shards_open_with_hf_datasets(one_source, tmp_path):
    datasets = pytest.importorskip("datasets")
    out, manifest = one_source
    files = [str(out / s["path"]) for s in manifest["shards"] if s["split"] == "train"]
    # Dataset.from_file only reads the Arrow *stream* format; the "arrow" builder reads
    # IPC files (it copies them into its cache).
    ds = datasets.load_dataset("arrow", data_files=files, split="train", cache_dir=str(tmp_path))
    assert ds.num_rows == manifest["totals"]["by_split"]["train"]["documents"]
    first = np.asarray(ds[0]["tokens"])
    assert np.array_equal(first, next(S.iter_shard_documents(files[0])))
    # Zero-copy alternative without a cache: wrap the memory-mapped table.
    table = pa.ipc.open_file(pa.memory_map(files[0])).read_all()
    wrapped = datasets.Dataset(table)
    assert len(wrapped) == table.num_rows
    assert np.array_equal(np.asarray(wrapped[0]["tokens"]), first)


def test_documents_are_shuffled_and_split_by_hash(one_source):
    out, manifest = one_source
    train = _split_tokens(out, manifest, "train")
    # Documents were created with increasing token values; a shuffled order is not sorted.
    assert not np.all(np.diff(train.astype(np.int64)) > 0)
    val_docs = manifest["totals"]["by_split"]["validation"]["documents"]
    assert 0 < val_docs < 0.25 * 400
    ids = [f"web-doc-{i}" for i in range(400)]
    assert sum(S.is_validation(i, 0.1) for i in ids) == val_docs


def test_two_ranks_disjoint_and_cover_every_window_once_per_epoch(one_source):
    out, manifest = one_source
    seq_len, batch = 16, 3
    readers = [TokenWindowReader(str(out), seq_len=seq_len, batch_size=batch, rank=r, world_size=2, seed=1) for r in range(2)]
    per_epoch = readers[0].windows_per_epoch
    steps = per_epoch // (2 * batch)
    seen = [np.concatenate([rd.next_batch() for _ in range(steps)]) for rd in readers]
    both = np.concatenate(seen)
    assert both.shape == (steps * 2 * batch, seq_len + 1)
    # Windows are disjoint across ranks (unique token values) ...
    flat = both.ravel()
    assert len(np.unique(flat)) == len(flat)
    assert not np.intersect1d(seen[0].ravel(), seen[1].ravel()).size
    # ... and, finishing the epoch, cover every train token once except the per-source
    # remainder shorter than one window.
    leftover = per_epoch - steps * 2 * batch
    tail = TokenWindowReader(str(out), seq_len=seq_len, batch_size=1, seed=1)
    tail.position = steps * 2 * batch
    rest = [tail.next_batch() for _ in range(leftover)]
    covered = np.concatenate([flat] + [r.ravel() for r in rest])
    train = _split_tokens(out, manifest, "train")
    assert len(np.unique(covered)) == len(covered) == per_epoch * (seq_len + 1)
    assert len(train) - len(covered) < seq_len + 1
    assert np.isin(covered, train).all()
    # Windows run across document boundaries in stored order: each window is a slice.
    position = {int(v): i for i, v in enumerate(train)}
    for row in both[:20]:
        i = position[int(row[0])]
        assert np.array_equal(row, train[i:i + seq_len + 1])
    assert readers[0].epoch == 0


def test_epochs_reshuffle_and_union_of_ranks_equals_single_process(one_source):
    out, _ = one_source
    single = TokenWindowReader(str(out), seq_len=8, batch_size=4, seed=3)
    ranks = [TokenWindowReader(str(out), seq_len=8, batch_size=2, rank=r, world_size=2, seed=3) for r in range(2)]
    per_epoch = single.windows_per_epoch
    for _ in range(per_epoch // 4 + 3):  # run into the second epoch
        full = single.next_batch()
        assert np.array_equal(full, np.concatenate([r.next_batch() for r in ranks]))
    assert single.epoch == 1
    assert not np.array_equal(single.epoch_windows(0), single.epoch_windows(1))
    assert np.array_equal(np.sort(single.epoch_windows(0)), np.sort(single.epoch_windows(1)))


def test_resume_exact_same_world_size_and_from_two_ranks_to_one(one_source):
    out, _ = one_source
    kw = dict(seq_len=12, seed=5)
    ranks = [TokenWindowReader(str(out), batch_size=2, rank=r, world_size=2, **kw) for r in range(2)]
    for _ in range(7):  # an arbitrary step
        for r in ranks:
            r.next_batch()
    state = json.loads(json.dumps(ranks[0].state_dict()))  # must survive JSON
    assert state == ranks[1].state_dict()
    # Same world size: each rank continues identically.
    for rank, live in enumerate(ranks):
        resumed = TokenWindowReader(str(out), batch_size=2, rank=rank, world_size=2, **kw)
        resumed.load_state_dict(state)
        for _ in range(40):  # crosses the epoch boundary
            assert np.array_equal(resumed.next_batch(), live.next_batch())
    # 2 ranks -> 1 rank with the same global batch: the same global batches follow.
    ranks = [TokenWindowReader(str(out), batch_size=2, rank=r, world_size=2, **kw) for r in range(2)]
    for _ in range(7):
        for r in ranks:
            r.next_batch()
    one = TokenWindowReader(str(out), batch_size=4, **kw)
    one.load_state_dict(ranks[0].state_dict())
    for _ in range(10):
        assert np.array_equal(one.next_batch(), np.concatenate([r.next_batch() for r in ranks]))
    with pytest.raises(ValueError, match="seq_len"):
        TokenWindowReader(str(out), batch_size=4, seq_len=13, seed=5).load_state_dict(state)


def test_validation_pass_is_deterministic_and_rank_balanced(one_source):
    out, manifest = one_source
    a = [TokenWindowReader(str(out), split="validation", seq_len=4, batch_size=2, rank=r, world_size=2) for r in range(2)]
    batches = [list(r.iter_epoch_batches()) for r in a]
    assert len(batches[0]) == len(batches[1]) == a[0].epoch_batches_count() > 0
    again = list(TokenWindowReader(str(out), split="validation", seq_len=4, batch_size=2, rank=0, world_size=2).iter_epoch_batches())
    assert all(np.array_equal(x, y) for x, y in zip(batches[0], again))
    seen = np.concatenate([np.concatenate(b) for b in batches]).ravel()
    val = _split_tokens(out, manifest, "validation")
    assert set(seen.tolist()) <= set(val.tolist())
    assert len(val) - len(set(seen.tolist())) < 5  # everything but the remainder


def test_mixture_proportions_are_exact(tmp_path):
    manifest = _write(tmp_path, {"web": (300, 1.5), "books": (100, 2.0)}, validation_fraction=0.0)
    reader = TokenWindowReader(str(tmp_path), seq_len=8, batch_size=5, seed=11)
    info = reader.describe()
    assert info["books"]["windows_per_epoch"] == 2 * info["books"]["windows"]
    assert abs(info["web"]["windows_per_epoch"] - 1.5 * info["web"]["windows"]) <= 0.5
    assert manifest["mixture"] == {"books": {"weight": 2.0}, "web": {"weight": 1.5}}
    for epoch in range(2):
        ids = reader.epoch_windows(epoch)
        counts = np.bincount(reader.source_of(ids), minlength=2)
        names = [s.name for s in reader.sources]
        assert counts[names.index("books")] == info["books"]["windows_per_epoch"]
        assert counts[names.index("web")] == info["web"]["windows_per_epoch"]
        # Weight 2.0: every books window exactly twice. Weight 1.5: every web window
        # once or twice, never three times.
        per_window = np.bincount(ids, minlength=int(reader._bases[-1]))
        books = slice(int(reader._bases[names.index("books")]), int(reader._bases[names.index("books") + 1]))
        web = slice(int(reader._bases[names.index("web")]), int(reader._bases[names.index("web") + 1]))
        assert (per_window[books] == 2).all()
        assert set(np.unique(per_window[web])) <= {1, 2}
    # The batches the reader returns really are the drawn windows: window w of a source
    # is tokens [w*9, (w+1)*9) of that source's train stream, read here independently.
    streams = [_split_tokens(tmp_path, manifest, "train", name) for name in names]
    drawn = reader.epoch_windows(0)[:5]
    src = reader.source_of(drawn)
    local = drawn - reader._bases[src]
    expected = np.stack([streams[s][w * 9:(w + 1) * 9] for s, w in zip(src, local)]).astype(np.int64)
    assert np.array_equal(reader.next_batch(), expected)


def test_bad_path_and_bad_arguments_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="pipelines.tokenize"):
        TokenWindowReader(str(tmp_path))
    manifest = _write(tmp_path / "s", {"web": (20, 1.0)}, validation_fraction=0.0)
    assert manifest["totals"]["documents"] == 20
    with pytest.raises(ValueError, match="rank"):
        TokenWindowReader(str(tmp_path / "s"), rank=2, world_size=2)
    with pytest.raises(ValueError, match="seq_len"):
        TokenWindowReader(str(tmp_path / "s"), seq_len=100000)


def test_rerun_with_fewer_shards_leaves_no_stale_shard(tmp_path):
    many = _write(tmp_path, {"web": (400, 1.0)}, shard_bytes=500)
    (tmp_path / "notes.txt").write_text("not ours")
    few = _write(tmp_path, {"web": (400, 1.0)}, shard_bytes=100_000)
    assert len(few["shards"]) < len(many["shards"])
    on_disk = sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".arrow")
    assert on_disk == sorted(shard["path"] for shard in few["shards"])
    assert (tmp_path / "notes.txt").read_text() == "not ours"
