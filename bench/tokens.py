"""Tokenize and reader throughput, against calling the reference libraries directly.

    .venv/bin/python bench/tokens.py --input CLEAN/documents --tokenizer TOK/tokenizer.model
    .venv/bin/python bench/tokens.py            # extracts real pages from ../shared/data first

Prints, per core (CPU seconds of this process, so a busy shared machine does not skew it):
  * sentencepiece.encode on the texts (reference) vs our SentencePieceEncoder (the job's
    DoFn body: + EOS + compact NumPy arrays) in MB/s and tokens/s;
  * Hugging Face tokenizers with our tokenizer.json (a second reference, 1 thread);
  * the whole Beam job (DirectRunner, 1 worker) end to end, docs/s and MB/s;
  * TokenWindowReader.next_batch tokens/s at two shapes; peak RSS.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import resource
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAYON_NUM_THREADS", "1")  # HF tokenizers: one core, like the rest

import numpy as np  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# CPU seconds of this process, not wall time: the figures are per core, and on a shared
# machine wall time also counts the time other processes held the core.
clock = time.process_time


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        times.append(clock() - start)
    return min(times)


def write_synthetic_shards(out: pathlib.Path, n_tokens: int) -> pathlib.Path:
    """Random uint16 documents (lengths ~ 50..4000) in 64 MB shards, with a manifest."""
    from pipelines.io.shards import build_manifest, shard_schema, write_manifest, write_shard

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    schema = shard_schema(32000, 2, 3, 0, "0" * 64)
    per_shard = 32 * 1024 * 1024  # tokens (64 MB of uint16)
    shards, written = [], 0
    while written < n_tokens:
        size = min(per_shard, n_tokens - written)
        flat = rng.integers(4, 32000, size=size, dtype=np.uint16)
        cuts = np.cumsum(rng.integers(50, 4000, size=size // 50 + 1))
        cuts = np.concatenate([[0], cuts[cuts < size], [size]])
        docs = [flat[a:b] for a, b in zip(cuts[:-1], cuts[1:])]
        name = f"synthetic-train-{len(shards):05d}.arrow"
        shards.append({"path": name, "split": "train", "source": "synthetic", **write_shard(str(out / name), docs, schema)})
        written += size
    write_manifest(str(out), build_manifest(shards, tokenizer_sha256="0" * 64, vocab_size=32000, bos_id=2, eos_id=3,
                                            pad_id=0, seed=0, validation_fraction=0.0, mixture={"synthetic": 1.0}))
    return out


def time_reader(shards: str, label: str, seconds: float) -> None:
    from model.data import TokenWindowReader

    for seq_len, batch in ((2048, 16), (256, 8)):
        try:
            reader = TokenWindowReader(shards, seq_len=seq_len, batch_size=batch)
        except ValueError as exc:
            print(f"{label} seq_len={seq_len}: {exc}")
            continue
        tokens, start = 0, clock()
        while clock() - start < seconds:
            for _ in range(50):
                tokens += reader.next_batch().size
        elapsed = clock() - start
        print(f"{f'{label}, seq_len={seq_len} batch={batch}':40s} {tokens / elapsed / 1e6:10.1f}"
              f"   ({reader.windows_per_epoch} windows/epoch, reached epoch {reader.epoch})")


def prepare(args, work: pathlib.Path) -> tuple[str, str]:
    docs, model = args.input, args.tokenizer
    if not docs:
        from tests.shard_fixtures import build_test_documents

        shared = REPO.parent / "shared" / "data"
        if not (shared / "warc").is_dir():
            sys.exit("no --input given and ../shared/data is absent: pass --input DOCS --tokenizer MODEL")
        print(f"extracting {args.pages} real pages from {shared} ...", flush=True)
        docs = str(build_test_documents(shared, work / "docs", max_pages=args.pages))
    if not model:
        from tests.shard_fixtures import train_test_tokenizer

        print("training a 4,000-piece tokenizer on them ...", flush=True)
        model = train_test_tokenizer(docs, work / "tok", vocab_size=4000, character_coverage=0.9995)
    return docs, model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", help="documents folder (default: extract real pages from ../shared/data)")
    p.add_argument("--tokenizer", help="tokenizer.model (default: train a small one on the input)")
    p.add_argument("--pages", type=int, default=120, help="pages to extract when --input is not given")
    p.add_argument("--repeat", type=int, default=3, help="best of N for the in-process timings")
    p.add_argument("--reader_seconds", type=float, default=2.0, help="time spent per reader shape")
    p.add_argument("--synthetic_mtokens", type=float, default=100,
                   help="also time the reader on synthetic shards of this many million tokens (0: skip)")
    args = p.parse_args()

    import sentencepiece as spm

    from pipelines import tokenize as job
    from pipelines.io.documents import expand_document_inputs, iter_parquet_documents
    with tempfile.TemporaryDirectory(prefix="bench_tokens_") as tmp:
        work = pathlib.Path(tmp)
        docs_dir, model = prepare(args, work)
        texts = [d.text for f in expand_document_inputs([docs_dir]) for d in iter_parquet_documents(f) if d.text]
        mb = sum(len(t.encode()) for t in texts) / 1e6
        print(f"\ninput: {len(texts)} documents, {mb:.2f} MB of UTF-8 text; tokenizer {model}")

        sp = spm.SentencePieceProcessor(model_file=model)
        n_tokens = sum(len(x) for x in sp.encode(texts, num_threads=1))
        rows = []
        t = best_of(lambda: sp.encode(texts, num_threads=1), args.repeat)
        rows.append(("sentencepiece.encode (reference)", t))
        encoder = job.SentencePieceEncoder(model)
        encoder.setup()
        t = best_of(lambda: encoder.encode(texts), args.repeat)
        rows.append(("SentencePieceEncoder (job DoFn body)", t))
        hf_json = pathlib.Path(model).with_suffix(".json")
        if hf_json.is_file():
            from tokenizers import Tokenizer

            hf = Tokenizer.from_file(str(hf_json))
            t = best_of(lambda: hf.encode_batch(texts, add_special_tokens=False), args.repeat)
            rows.append(("HF tokenizers encode_batch, 1 thread", t))
        print(f"\n{'tokenize, 1 core':40s} {'MB/s':>8s} {'Mtokens/s':>10s}")
        for name, t in rows:
            print(f"{name:40s} {mb / t:8.2f} {n_tokens / t / 1e6:10.3f}")

        shards = work / "shards"
        start, wall_start = clock(), time.perf_counter()
        rc = job.run(["--input", docs_dir, "--tokenizer", model, "--output", str(shards), "--shard_size_mb", "1",
                      "--validation_fraction", "0.01", "--direct_num_workers", "1"])
        cpu, wall = clock() - start, time.perf_counter() - wall_start
        assert rc == 0
        print(f"{'Beam job end to end (DirectRunner, 1 wkr)':40s} {mb / cpu:8.2f} {n_tokens / cpu / 1e6:10.3f}"
              f"   ({len(texts) / cpu:.0f} docs/s per CPU second incl. pipeline start-up; wall {wall:.1f}s)")

        print(f"\n{'reader next_batch (1 core)':40s} {'Mtokens/s':>10s}")
        time_reader(str(shards), "job shards", args.reader_seconds)
        if args.synthetic_mtokens > 0:
            synthetic = write_synthetic_shards(work / "synthetic", int(args.synthetic_mtokens * 1e6))
            time_reader(str(synthetic), f"{args.synthetic_mtokens:g}M-token synthetic", args.reader_seconds)
        print(f"\npeak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
