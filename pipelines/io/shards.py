"""Arrow token shards: the format shared by the tokenize job (writer) and the trainer's
reader (``model.data.TokenWindowReader``): schema, manifest, hashing, file names.

Shard format (fixed; the trainer relies on it)
----------------------------------------------
* Arrow IPC *file* format, uncompressed, so a shard is memory-mapped and read zero-copy.
* One row per document, one column ``tokens: large_list<uint16>`` (``uint32`` when the
  vocabulary has more than 65,535 ids). The list offsets are the document boundaries.
  EOS is appended to every document, BOS prepended when the job ran with ``--bos``.
* Schema metadata (bytes): tokenizer_sha256, vocab_size, bos_id, eos_id, pad_id, dtype.
* ``manifest.json`` beside the shards lists every shard with its split (train /
  validation), source, document and token counts, plus the seed, the validation fraction
  and the mixture (source -> weight).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from typing import Iterator, Optional, Sequence

import numpy as np
import pyarrow as pa

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
TOKENS_COLUMN = "tokens"
TRAIN, VALIDATION = "train", "validation"


# --------------------------------------------------------------------------- format


def token_dtype(vocab_size: int) -> str:
    """uint16 holds ids < 65,536; larger vocabularies need uint32."""
    return "uint16" if vocab_size <= 65536 else "uint32"


def shard_schema(vocab_size: int, bos_id: int, eos_id: int, pad_id: int, tokenizer_sha256: str) -> pa.Schema:
    dtype = token_dtype(vocab_size)
    metadata = {
        b"tokenizer_sha256": tokenizer_sha256.encode(),
        b"vocab_size": str(vocab_size).encode(),
        b"bos_id": str(bos_id).encode(),
        b"eos_id": str(eos_id).encode(),
        b"pad_id": str(pad_id).encode(),
        b"dtype": dtype.encode(),
    }
    return pa.schema([(TOKENS_COLUMN, pa.large_list(pa.from_numpy_dtype(np.dtype(dtype))))], metadata=metadata)


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tokens_to_table(docs: Sequence[Sequence[int]] | Sequence[np.ndarray], schema: pa.Schema) -> pa.Table:
    """Build the one-column table from per-document token id sequences (already with EOS)."""
    dtype = np.dtype(schema.metadata[b"dtype"].decode())
    lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
    offsets = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.empty(int(offsets[-1]), dtype=dtype)
    for i, d in enumerate(docs):
        flat[offsets[i]:offsets[i + 1]] = d
    values = pa.array(flat)
    arr = pa.LargeListArray.from_arrays(pa.array(offsets), values)
    return pa.Table.from_arrays([arr], schema=schema)


def write_shard_bytes(table: pa.Table) -> bytes:
    """Serialize one shard as an uncompressed Arrow IPC file (one record batch)."""
    sink = pa.BufferOutputStream()
    # One record batch per shard: the reader then maps each shard as one flat array.
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table.combine_chunks(), max_chunksize=max(table.num_rows, 1))
    return sink.getvalue().to_pybytes()


def write_shard(path: str, docs: Sequence[Sequence[int]], schema: pa.Schema) -> dict:
    """Write one shard file; returns its document and token counts."""
    table = tokens_to_table(docs, schema)
    data = write_shard_bytes(table)
    with open(path, "wb") as f:
        f.write(data)
    return {"documents": table.num_rows, "tokens": int(sum(len(d) for d in docs))}


def build_manifest(
    shards: list[dict],
    *,
    tokenizer_sha256: str,
    vocab_size: int,
    bos_id: int,
    eos_id: int,
    pad_id: int,
    seed: int,
    validation_fraction: float,
    mixture: dict[str, float],
    extra: Optional[dict] = None,
) -> dict:
    """Manifest dict; shards are sorted (source, split, path) so it is deterministic."""
    shards = sorted(shards, key=lambda s: (s["source"], s["split"], s["path"]))
    totals: dict = {"documents": 0, "tokens": 0, "by_split": {}, "by_source": {}}
    for s in shards:
        totals["documents"] += s["documents"]
        totals["tokens"] += s["tokens"]
        for key, name in (("by_split", s["split"]), ("by_source", s["source"])):
            bucket = totals[key].setdefault(name, {"documents": 0, "tokens": 0})
            bucket["documents"] += s["documents"]
            bucket["tokens"] += s["tokens"]
    manifest = {
        "format_version": FORMAT_VERSION,
        "tokenizer_sha256": tokenizer_sha256,
        "vocab_size": int(vocab_size),
        "bos_id": int(bos_id),
        "eos_id": int(eos_id),
        "pad_id": int(pad_id),
        "dtype": token_dtype(vocab_size),
        "seed": int(seed),
        "validation_fraction": float(validation_fraction),
        "mixture": {name: {"weight": float(w)} for name, w in sorted(mixture.items())},
        "shards": shards,
        "totals": totals,
    }
    if extra:
        manifest.update(extra)
    return manifest


def manifest_json(manifest: dict) -> str:
    return json.dumps(manifest, indent=2, sort_keys=False) + "\n"


def read_manifest(shards_dir: str) -> dict:
    path = os.path.join(shards_dir, MANIFEST_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"no {MANIFEST_NAME} in {shards_dir!r}: pass the output folder of "
            "`python -m pipelines.tokenize` (the folder that holds the .arrow shards)"
        )
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported format_version {manifest.get('format_version')!r}")
    return manifest


# --------------------------------------------------------------------------- hashing


def _hash64(*parts: str) -> int:
    """64-bit blake2b of the \\x1f-joined strings; identical on every machine and run."""
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def hash_unit(*parts: str) -> float:
    """A uniform number in [0, 1) from strings; identical on every machine and run."""
    return _hash64(*parts) / 2.0**64


def shuffle_key(seed: int, source: str, doc_id: str) -> int:
    """Sort key of the global document shuffle: 64-bit hash of (seed, source, id)."""
    return _hash64(str(seed), source, doc_id)


def is_validation(doc_id: str, fraction: float) -> bool:
    """Held-out split by document id. Deliberately independent of the shuffle seed, so
    reshuffling with another seed never moves a validation document into train."""
    return fraction > 0 and hash_unit("validation", doc_id) < fraction


def iter_shard_documents(path: str) -> Iterator[np.ndarray]:
    """Documents of one shard as zero-copy NumPy views (for tools and tests)."""
    reader = pa.ipc.open_file(pa.memory_map(path, "r"))
    for i in range(reader.num_record_batches):
        column = reader.get_batch(i).column(0)
        offsets = column.offsets.to_numpy()
        values = column.values.to_numpy(zero_copy_only=True)
        for j in range(len(column)):
            yield values[offsets[j]:offsets[j + 1]]


def shard_paths(shards_dir: str, split: Optional[str] = None) -> list[str]:
    manifest = read_manifest(shards_dir)
    return [os.path.join(shards_dir, s["path"]) for s in manifest["shards"] if split is None or s["split"] == split]


def write_manifest(shards_dir: str, manifest: dict) -> str:
    path = os.path.join(shards_dir, MANIFEST_NAME)
    with open(path, "w", encoding="utf-8") as f:
        f.write(manifest_json(manifest))
    return path


def remove_stale_shards(shards_dir: str) -> None:
    """Delete the shards and manifest of an earlier run in ``shards_dir`` (local or any
    Beam filesystem): a rerun with another shard count must leave no leftover shard."""
    # Imported here: the trainer reads shards without loading Beam.
    from pipelines.io.documents import clear_shards

    clear_shards(shards_dir, ("*.arrow", MANIFEST_NAME))


def assign_shard(key: int, num_shards: int) -> int:
    """Shard i holds shuffle keys in [i/n, (i+1)/n): concatenating the shards in order
    (each sorted by key) is one global sort by the shuffle key, i.e. a global shuffle."""
    return (key * num_shards) >> 64


def num_shards_for(total_bytes: int, shard_size_bytes: int) -> int:
    return max(1, math.ceil(total_bytes / max(1, shard_size_bytes)))


def shard_file_name(source: str, split: str, index: int, num_shards: int) -> str:
    return f"{source}-{split}-{index:05d}-of-{num_shards:05d}.arrow"
