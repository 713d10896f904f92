"""Benchmark: paragraph Bloom dedup beside the suffix-array substring path, on real pages.

    .venv/bin/python bench/paragraph_dedup.py                 # both corpora, all figures
    .venv/bin/python bench/paragraph_dedup.py --corpora clean --no_beam

Corpora (the same documents go to both methods):
  clean        the clean job's output (`python -m pipelines.clean`, default stages) over
               ../shared/data/warc/*.warc.gz and ../shared/data/zh, run once into --clean_dir;
  trafilatura  bench/substring.py's corpus (every real page extracted with trafilatura,
               cached in /tmp), the one docs/substring.md quotes.

Prints JSON lines:
  corpus      documents, MB, load average;
  paragraph   the stage's algorithm without Beam (hash, 16 partitions, Bloom, cut) at
              --fp_rate and exact (fp 0): paragraphs seen/removed, bytes removed, CPU s/MB;
              the bytes only the Bloom filter removed are its false positives on real text;
  min_chars   removed bytes for a few --paragraph_min_chars values;
  substring   `repeated_byte_spans` keep-first at --min_span + `removal_plan` (the stage's
              own functions): bytes removed, CPU s/MB;
  overlap     bytes removed by both, by the paragraph path only, by the substring path only
              (counted on the original UTF-8 bytes);
  beam        both dedup stages on the DirectRunner (1 worker), CPU s/MB;
  bloom       the Bloom filter choice, on synthetic unique paragraphs hashed like the stage
              does: ours (NumPy bit array + numba loop) vs rbloom (Rust, the reference),
              configured vs observed false-positive rate (the stage's one-pass walk, and a
              query at full capacity), ns per paragraph, bytes of filter per paragraph, and
              the exact sort-based check (fp 0) for its peak memory.
CPU time is user + sys of this process and its children (resource.getrusage), so figures
hold on the shared machine; every line carries the load average.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import pathlib
import random
import subprocess
import sys
import tracemalloc

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from substring import cpu_s, extract_real_pages  # noqa: E402  (bench/substring.py)

from pipelines.io.documents import iter_parquet_documents  # noqa: E402
from pipelines.stages import paragraph_dedup as para  # noqa: E402
from pipelines.stages import substring as sub  # noqa: E402
from pipelines.stages.base import stable_id  # noqa: E402

SHARED = REPO.parent / "shared" / "data"


def emit(kind: str, **figures) -> None:
    figures = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in figures.items()}
    print(json.dumps({"bench": kind, **figures, "load_avg_1m": round(os.getloadavg()[0], 2)},
                     ensure_ascii=False), flush=True)


# ----------------------------------------------------------------------------- corpora

def clean_corpus(clean_dir: str) -> list[tuple[str, str]]:
    """(id, text) of the clean job's documents over the shared WARCs; the job runs once."""
    if not os.path.exists(os.path.join(clean_dir, "_SUCCESS")):
        inputs = f"{SHARED / 'warc' / '*.warc.gz'},{SHARED / 'zh'}"
        if not glob.glob(str(SHARED / "warc" / "*.warc.gz")):
            sys.exit(f"no WARC files under {SHARED / 'warc'}: place shared/ beside the repository")
        subprocess.run([sys.executable, "-m", "pipelines.clean", "--input", inputs, "--output", clean_dir,
                        "--no_report"], cwd=REPO, check=True, capture_output=True)
    docs = [d for path in sorted(glob.glob(os.path.join(clean_dir, "documents", "*.parquet")))
            for d in iter_parquet_documents(path)]
    return sorted({d.id: d.text or "" for d in docs}.items())


def trafilatura_corpus(cache: str) -> list[tuple[str, str]]:
    pages = extract_real_pages(str(SHARED / "warc" / "real-pages-*.warc.gz"), cache)
    return sorted({stable_id(u): t for u, t in pages}.items())


# ----------------------------------------------------------------------------- the two paths

def paragraph_path(docs, fp_rate: float, min_chars: int, partitions: int):
    """{id: char spans}, figures; the stage's algorithm in one process."""
    total = sum(len(sub.encode(t)) for _, t in docs)
    t0 = cpu_s()
    found = para.find_removals(docs, fp_rate, min_chars, partitions)
    spans, removed, lines = {}, 0, 0
    texts = dict(docs)
    for doc_id, ln in found.items():
        _, char_spans, nbytes = para.removal_plan(texts[doc_id], ln)
        spans[doc_id] = char_spans
        removed += nbytes
        lines += len(ln)
    cpu = cpu_s() - t0
    return spans, {"paragraphs_removed": lines, "documents_changed": len(found), "bytes_removed": removed,
                   "removed_fraction": removed / total, "cpu_s": cpu, "cpu_s_per_mb": cpu / (total / 1e6)}


def substring_path(docs, min_span: int):
    total = sum(len(sub.encode(t)) for _, t in docs)
    t0 = cpu_s()
    found = sub.single_repeated_spans([(i, sub.encode(t)) for i, t in docs], min_span, keep_first=True)
    texts = dict(docs)
    spans, removed = {}, 0
    for doc_id, byte_spans in found.items():
        _, char_spans, nbytes = sub.removal_plan(texts[doc_id], byte_spans)
        if char_spans:
            spans[doc_id] = char_spans
        removed += nbytes
    cpu = cpu_s() - t0
    return spans, {"documents_changed": len(spans), "bytes_removed": removed, "removed_fraction": removed / total,
                   "cpu_s": cpu, "cpu_s_per_mb": cpu / (total / 1e6)}


def _char_mask(n: int, spans) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for s, e in spans or ():
        mask[s:e] = True
    return mask


def overlap(docs, para_spans, sub_spans) -> dict:
    """UTF-8 bytes removed by both paths, by one only, on the original texts."""
    both = only_para = only_sub = 0
    for doc_id, text in docs:
        if doc_id not in para_spans and doc_id not in sub_spans:
            continue
        cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        weight = 1 + (cp >= 0x80).astype(np.int64) + (cp >= 0x800) + (cp >= 0x10000)
        p, s = _char_mask(len(text), para_spans.get(doc_id)), _char_mask(len(text), sub_spans.get(doc_id))
        both += int(weight[p & s].sum())
        only_para += int(weight[p & ~s].sum())
        only_sub += int(weight[~p & s].sum())
    return {"bytes_both": both, "bytes_paragraph_only": only_para, "bytes_substring_only": only_sub}


def beam_cpu(docs, stage) -> dict:
    import apache_beam as beam

    from pipelines.stages.base import Document

    items = [Document(id=i, text=t) for i, t in docs]
    total = sum(len(sub.encode(t)) for _, t in docs)
    t0 = cpu_s()
    with beam.Pipeline(argv=["--direct_num_workers=1", "--direct_running_mode=in_memory"]) as p:
        _ = p | beam.Create(items) | stage
    cpu = cpu_s() - t0
    return {"cpu_s": cpu, "cpu_s_per_mb": cpu / (total / 1e6)}


def compare_on(name: str, docs, args) -> None:
    para.BloomFilter(10, 0.1).seen_before(np.arange(10, dtype=np.uint64))  # load the compiled loop untimed
    total = sum(len(sub.encode(t)) for _, t in docs)
    paragraphs = sum(len(para.paragraph_keys(t, args.min_chars)[0]) for _, t in docs)
    emit("corpus", corpus=name, documents=len(docs), mb=total / 1e6, paragraphs=paragraphs,
         lines=sum(t.count("\n") + 1 for _, t in docs))
    para_spans, figures = paragraph_path(docs, args.fp_rate, args.min_chars, args.partitions)
    exact_spans, exact = paragraph_path(docs, 0.0, args.min_chars, args.partitions)
    bloom_only = overlap(docs, para_spans, exact_spans)["bytes_paragraph_only"]
    emit("paragraph", corpus=name, fp_rate=args.fp_rate, min_chars=args.min_chars, partitions=args.partitions,
         paragraphs_seen=paragraphs, **figures, exact_bytes_removed=exact["bytes_removed"],
         exact_paragraphs_removed=exact["paragraphs_removed"], bloom_only_bytes=bloom_only,
         exact_cpu_s_per_mb=exact["cpu_s_per_mb"])
    emit("min_chars", corpus=name, removed_bytes={
        str(m): paragraph_path(docs, args.fp_rate, m, args.partitions)[1]["bytes_removed"] for m in (1, 5, 20, 50, 100)})
    sub_spans, sub_figures = substring_path(docs, args.min_span)
    emit("substring", corpus=name, min_span=args.min_span, keep_first=True, **sub_figures)
    emit("overlap", corpus=name, **overlap(docs, para_spans, sub_spans),
         paragraph_bytes_removed=figures["bytes_removed"], substring_bytes_removed=sub_figures["bytes_removed"])
    if args.beam:
        from pipelines.dedup.paragraph import ParagraphDedup
        from pipelines.dedup.substring import SubstringDedup

        emit("beam", corpus=name, stage="paragraph",
             **beam_cpu(docs, ParagraphDedup(args.fp_rate, args.min_chars, args.partitions)))
        emit("beam", corpus=name, stage="substring", **beam_cpu(docs, SubstringDedup(min_span=args.min_span)))


# ----------------------------------------------------------------------------- Bloom choice

def unique_paragraph_keys(n: int, seed: int) -> tuple[np.ndarray, float]:
    """Keys of n distinct synthetic paragraphs (hashed as the stage hashes) and the CPU
    seconds of the hashing (split + strip + encode + xxh3) per paragraph."""
    rng = random.Random(seed)
    words = "the of and to in data pipeline corpus web page text model train dedup bloom filter".split()
    lines = [f"Paragraph {seed}-{i}: " + " ".join(rng.choice(words) for _ in range(12)) for i in range(n)]
    text = "\n".join(lines)
    t0 = cpu_s()
    _, keys = para.paragraph_keys(text, 1)
    hash_cpu = (cpu_s() - t0) / n
    return keys, hash_cpu


def bloom_choice(args) -> None:
    import rbloom

    n = args.synthetic
    keys, hash_cpu = unique_paragraph_keys(2 * n, seed=1)
    assert len(np.unique(keys)) == len(keys), "64-bit keys of distinct paragraphs collided"
    inserted, queried = keys[:n], keys[n:]
    emit("hashing", paragraphs=2 * n, ns_per_paragraph=hash_cpu * 1e9)
    para.BloomFilter(10, 0.1).seen_before(inserted[:10])  # compile outside the timing
    ins_list, q_list = inserted.tolist(), queried.tolist()
    for rate in args.bloom_rates:
        ours = para.BloomFilter(n, rate)
        t0 = cpu_s()
        walk = ours.seen_before(inserted)
        t1 = cpu_s()
        at_capacity = ours.contains(queried)
        t2 = cpu_s()
        emit("bloom", library="ours (numpy bits + numba)", configured_fp=rate, paragraphs=n,
             one_pass_fp=float(walk.mean()), at_capacity_fp=float(at_capacity.mean()),
             walk_ns_per_paragraph=(t1 - t0) / n * 1e9, query_ns_per_paragraph=(t2 - t1) / n * 1e9,
             filter_bytes_per_paragraph=ours.words.nbytes / n, probes=ours.probes)
        theirs = rbloom.Bloom(n, rate, hash_func=_identity)  # keys are xxh3 already; rbloom mixes them
        t0 = cpu_s()
        repeats = 0
        for k in ins_list:  # no bulk test-and-add in rbloom: one Python call each
            if k in theirs:
                repeats += 1
            else:
                theirs.add(k)
        t1 = cpu_s()
        hits = sum(1 for k in q_list if k in theirs)
        t2 = cpu_s()
        emit("bloom", library="rbloom 1.5 (Rust)", configured_fp=rate, paragraphs=n,
             one_pass_fp=repeats / n, at_capacity_fp=hits / n,
             walk_ns_per_paragraph=(t1 - t0) / n * 1e9, query_ns_per_paragraph=(t2 - t1) / n * 1e9,
             filter_bytes_per_paragraph=theirs.size_in_bits / 8 / n)
    # Peak memory of one partition's check: Bloom (the bits) vs exact (np.unique temporaries).
    # tracemalloc sees NumPy's buffers (the numba loop allocates nothing); VmHWM cannot be
    # reset in every container, so it would report the corpus loaded before.
    for rate in (args.fp_rate, 0.0):
        tracemalloc.start()
        t0 = cpu_s()
        repeat, _ = para.seen_before(inserted, rate)
        cpu = cpu_s() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        emit("partition_check", fp_rate=rate, paragraphs=n, removed=int(repeat.sum()),
             ns_per_paragraph=cpu / n * 1e9, peak_bytes_per_paragraph=peak / n,
             keys_bytes_per_paragraph=inserted.itemsize)


def _identity(key: int) -> int:
    return key


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", default="clean,trafilatura")
    ap.add_argument("--clean_dir", default="/tmp/bench_paragraph_clean")
    ap.add_argument("--cache", default="/tmp/bench_substring_pages.pkl", help="bench/substring.py's page cache")
    ap.add_argument("--fp_rate", type=float, default=para.DEFAULT_FP_RATE)
    ap.add_argument("--min_chars", type=int, default=para.DEFAULT_MIN_CHARS)
    ap.add_argument("--partitions", type=int, default=para.DEFAULT_PARTITIONS)
    ap.add_argument("--min_span", type=int, default=sub.DEFAULT_MIN_SPAN)
    ap.add_argument("--synthetic", type=int, default=1_000_000, help="unique paragraphs for the Bloom figures")
    ap.add_argument("--bloom_rates", type=float, nargs="+", default=[1e-2, 1e-3, 1e-4])
    ap.add_argument("--no_beam", dest="beam", action="store_false")
    ap.add_argument("--no_bloom", dest="bloom", action="store_false")
    args = ap.parse_args()
    loaders = {"clean": lambda: clean_corpus(args.clean_dir), "trafilatura": lambda: trafilatura_corpus(args.cache)}
    for name in args.corpora.split(","):
        if name:
            compare_on(name, loaders[name](), args)
    if args.bloom:
        bloom_choice(args)


if __name__ == "__main__":
    main()
