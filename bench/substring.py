"""Benchmark + report for exact substring dedup (suffix arrays) on real web text.

    .venv/bin/python bench/substring.py --mb 200          # throughput + memory figures
    .venv/bin/python bench/substring.py --mb 20 --beam_mb 5
    .venv/bin/python bench/substring.py --real_report     # spans found on the real pages
    # shipped bytes, two rounds (default) or one, on a corpus with fewer repeats / many buckets:
    .venv/bin/python bench/substring.py --phases partitioned --check --corpus_kind sparse --mb 50 \
        --partitions 4096 --rounds 1
    # bucket balance with many buckets, hot fingerprints split (default) or not:
    .venv/bin/python bench/substring.py --phases partitioned --check --mb 50 --partitions 4096 --split_hot 0

Corpus: texts extracted with trafilatura from ../shared/data/warc/real-pages-*.warc.gz,
then documents re-assembled from sampled paragraphs with variation (truncation, word
drops, a unique line per document) until --mb megabytes: realistic repeat structure
(quotes, boilerplate, syndication) at any size.

Throughput is input MB per CPU-second (user + sys of the measuring process), i.e.
MB/s per core, so figures hold on a shared machine; wall times are printed beside.
Every measurement runs in a fresh subprocess so its peak RSS (getrusage) minus the RSS
after loading the corpus is that phase's own memory; we print it per input byte.
Figures: suffix-array build MB/s, libdivsufsort (pydivsufsort) beside SA-IS (pysais) on
the same buffer (one core: both are single-threaded); pydivsufsort's kasai LCP / LPF
beside our compiled passes; single-node end-to-end MB/s and peak bytes per input byte;
partitioned algorithm MB/s, bytes shipped per input byte and bucket balance; the Beam
DirectRunner MB/s; and in the same run the naive Python suffix array (the simple
reference the tests use) on a slice. (datatrove's exact-substring steps call Lee et
al.'s Rust tool, which is not installable from a package registry, so it does not run.)
"""
from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import pickle
import random
import resource
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

DEFAULT_WARCS = os.path.join(REPO, "..", "shared", "data", "warc", "real-pages-*.warc.gz")


def rss_mb() -> float:
    """Peak RSS since the last reset_peak() (Linux VmHWM), else the process peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    """CPU seconds of this process and its children: per-core throughput stays honest
    on a shared machine, where wall time also counts other people's work."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def reset_peak() -> float:
    """Reset the peak-RSS mark to the current RSS (so loading the corpus does not count)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return rss_mb()


def extract_real_pages(pattern: str, cache: str) -> list[tuple[str, str]]:
    """(url, text) of every real page, trafilatura-extracted; cached between runs."""
    if os.path.exists(cache):
        with open(cache, "rb") as f:
            return pickle.load(f)
    import trafilatura
    from tqdm import tqdm
    from warcio.archiveiterator import ArchiveIterator

    files = sorted(glob.glob(pattern))
    if not files:
        sys.exit(f"no WARC files match {pattern!r}: pass --warcs or place shared/ beside the repo")
    pages = []
    for path in files:
        with open(path, "rb") as fh:
            for record in tqdm(ArchiveIterator(fh), desc=os.path.basename(path), unit=" rec"):
                if record.rec_type != "response":
                    continue
                url = record.rec_headers.get_header("WARC-Target-URI")
                text = trafilatura.extract(record.content_stream().read(), url=url) or ""
                if text:
                    pages.append((url, text))
    with open(cache, "wb") as f:
        pickle.dump(pages, f)
    return pages


def synthesize(pages: list[tuple[str, str]], megabytes: float, seed: int = 0,
               repeat_share: float | None = None) -> list[tuple[str, bytes]]:
    """Documents of sampled real paragraphs with variation, until `megabytes` MB.

    ``repeat_share`` (the "sparse" corpus): a paragraph is a verbatim real paragraph with
    that probability, else a new one (a real paragraph's words shuffled: real words and
    lengths, no 100-byte window in common with anything), so about that share of the
    bytes repeat, as in a crawl, instead of 83% here by default."""
    rng = random.Random(seed)
    paragraphs = [p for _, t in pages for p in t.split("\n") if len(p) > 30]
    target, total, docs = int(megabytes * 1e6), 0, []
    while total < target:
        picked = []
        for _ in range(rng.randint(3, 15)):
            p = rng.choice(paragraphs)
            roll = rng.random()
            if repeat_share is not None:
                if roll >= repeat_share:
                    words = p.split(" ")
                    rng.shuffle(words)
                    p = " ".join(words)
            elif roll < 0.3:  # truncated copy
                p = p[: rng.randint(len(p) // 3, len(p))]
            elif roll < 0.5:  # a few words dropped: partial repeats
                words = p.split(" ")
                for _ in range(max(1, len(words) // 20)):
                    words.pop(rng.randrange(len(words)))
                p = " ".join(words)
            picked.append(p)
        picked.insert(rng.randint(0, len(picked)), f"Document {len(docs)} note {rng.random():.12f}.")
        data = "\n".join(picked).encode("utf-8")
        docs.append((f"{len(docs):010d}", data))
        total += len(data)
    return docs


# ----------------------------------------------------------------------------- phases
# Each runs in its own process: `bench/substring.py --phase NAME --corpus FILE`.

def phase_sa(docs, args):
    """Suffix-array construction (libdivsufsort vs pysais's SA-IS on the same buffer), then
    the LCP-type pass: pydivsufsort's kasai and longest previous factor (full int32
    arrays) beside our compiled passes (substring_kernel): window codes in text order,
    then run marking in suffix order (keep-first)."""
    import numpy as np
    import pydivsufsort

    from pipelines.stages import substring_kernel as kernel
    from pipelines.stages.substring import concat_segments

    buf, _ = concat_segments([d for _, d in docs])
    del docs[:]
    data = np.frombuffer(buf, dtype=np.uint8)
    small = pydivsufsort.divsufsort(buf[:1000])  # compile (or load) the kernels first
    kernel.mark_repeated_windows(data[:1000], small, kernel.window_codes(data[:1000], args.min_span, kernel.CODE_BITS),
                                 args.min_span, True)
    base = reset_peak()
    t0 = cpu_s()
    sa = pydivsufsort.divsufsort(buf)
    t1 = cpu_s()
    sa_peak = rss_mb()
    lcp = pydivsufsort.kasai(buf, sa)
    t2 = cpu_s()
    del lcp
    lpf = pydivsufsort.longest_previous_factor(buf, sa)
    t3 = cpu_s()
    lpf_peak = rss_mb()
    del lpf
    reset_peak()
    t4 = cpu_s()
    codes = kernel.window_codes(data, args.min_span, kernel.CODE_BITS)
    t5 = cpu_s()
    kernel.mark_repeated_windows(data, sa, codes, args.min_span, True)
    t6 = cpu_s()
    ours_peak = rss_mb()
    del sa, codes
    mb = len(buf) / 1e6
    out = {"input_mb": mb, "divsufsort_mb_s": mb / (t1 - t0), "kasai_mb_s": mb / (t2 - t1),
           "lpf_mb_s": mb / (t3 - t2), "ours_codes_mb_s": mb / (t5 - t4), "ours_mark_mb_s": mb / (t6 - t5),
           "sa_bytes_per_byte": (sa_peak - base) * 2**20 / len(buf),
           "lpf_peak_bytes_per_byte": (lpf_peak - base) * 2**20 / len(buf),
           "ours_peak_bytes_per_byte": (ours_peak - base) * 2**20 / len(buf)}
    try:
        import PySAIS  # the pysais wheel (bench extra); imports PyTables
    except ImportError:
        out["pysais_mb_s"] = None
        return out
    t7 = cpu_s()
    PySAIS.sais(buf)
    out["pysais_mb_s"] = mb / (cpu_s() - t7)
    return out


def phase_naive(docs, args):
    from pipelines.stages.substring import concat_segments

    buf, _ = concat_segments([d for _, d in docs])
    buf = buf[: int(args.naive_kb * 1000)]
    t0 = cpu_s()
    sorted(range(len(buf)), key=lambda i: buf[i:])
    t1 = cpu_s()
    import pydivsufsort
    pydivsufsort.divsufsort(buf)
    t2 = cpu_s()
    return {"input_kb": len(buf) / 1e3, "naive_python_mb_s": len(buf) / 1e6 / (t1 - t0),
            "divsufsort_same_input_mb_s": len(buf) / 1e6 / max(t2 - t1, 1e-9)}


def phase_single(docs, args):
    from pipelines.stages.substring import removal_plan, single_repeated_spans

    total = sum(len(d) for _, d in docs)
    # Once per process, not per byte: load (or compile) the kernels and build the word
    # table on a slice first, as phase_sa does (its CPU time is printed: warmup_cpu_s).
    w0 = cpu_s()
    head = dict(docs[:200])
    for doc_id, spans in single_repeated_spans(docs[:200], args.min_span, keep_first=True).items():
        removal_plan(head[doc_id].decode("utf-8"), spans)
    warmup = cpu_s() - w0
    base = reset_peak()
    t0 = cpu_s()
    spans = single_repeated_spans(docs, args.min_span, keep_first=True)
    t1 = cpu_s()
    removed = 0
    for doc_id, data in docs:
        if doc_id in spans:
            removed += removal_plan(data.decode("utf-8"), spans[doc_id])[2]
    t2 = cpu_s()
    return {"input_mb": total / 1e6, "find_mb_s": total / 1e6 / (t1 - t0),
            "end_to_end_mb_s": total / 1e6 / (t2 - t0), "documents_changed": len(spans),
            "bytes_removed": removed, "removed_fraction": removed / total,
            "peak_bytes_per_byte": (rss_mb() - base) * 2**20 / total, "warmup_cpu_s": warmup}


def phase_partitioned(docs, args):
    """The Beam job's algorithm without Beam: batches of documents -> (two rounds:
    fingerprints per fingerprint bucket -> masks of anchors seen twice ->) one
    compressed share per (batch, bucket) -> per-bucket search. Peak memory here is the
    whole (in-process) shuffle; a Beam worker holds one bucket.

    Shipped bytes: round 1's fingerprints and masks plus round 2's shares (compressed
    as shipped), and the same with the contexts' text uncompressed (what shipping costs
    where copies are too far apart for zstd to find them in one share; the uint32
    columns stay compressed: they shrink whatever the text).

    Hot fingerprints (two rounds) are split over pair buckets unless ``--split_hot 0``
    (the design before issue #17's balance fix: one fingerprint, one bucket)."""
    import numpy as np

    from pipelines.stages import substring as sub

    total = sum(len(d) for _, d in docs)
    fp_buckets = args.fingerprint_buckets or max(16, round(args.partitions * 2 / 25))
    base = reset_peak()
    t0 = cpu_s()
    batches = {f"{b0:012d}": docs[b0: b0 + args.batch_docs] for b0 in range(0, len(docs), args.batch_docs)}
    masks: dict[str, list] = collections.defaultdict(list)
    fp_bucket_bytes, mask_bytes, hot = [], 0, {}
    if args.rounds == 2:
        fingerprints: dict[int, list] = collections.defaultdict(list)
        for key, batch in batches.items():
            for b, share in sub.batch_fingerprints(key, batch, fp_buckets, args.min_span):
                fingerprints[b].append(share)
        for b in sorted(fingerprints):
            fp_bucket_bytes.append(sum(s.shipped_bytes() for s in fingerprints[b]))
            for key, mask in sub.bucket_repeated_masks(b, fingerprints[b], args.partitions if args.split_hot else 0,
                                                       fp_buckets, args.hot_contexts):
                masks[key].append(mask)
                mask_bytes += mask.shipped_bytes() + len(key)
                for fp, k in zip(*mask.hot_table()) if mask.hot else ():
                    hot[(b, int(fp))] = int(k)
        del fingerprints
    buckets: dict[int, list] = collections.defaultdict(list)
    for key, batch in batches.items():
        for b, share in sub.batch_bucket_shares(key, batch, args.partitions, args.min_span,
                                                repeated=masks[key] if args.rounds == 2 else None,
                                                fingerprint_buckets=fp_buckets):
            buckets[b].append(share)
    t1 = cpu_s()
    bucket_bytes = [sum(s.shipped_bytes() for s in buckets[b]) for b in sorted(buckets)]
    bucket_bytes += [0] * (args.partitions - len(bucket_bytes))  # buckets nothing was sent to
    columns = [(s, s.columns()) for b in buckets for s in buckets[b]]  # outside the timed part
    raw_text = sum(int(c["ctx_len"].sum()) for _, c in columns)
    compressed_text = sum(len(s.text) for s, _ in columns)
    # Round 2's join also ships each batch's texts (ids + zstd), the cut join its Documents.
    text_join = sum(sub.BatchText.pack(b).shipped_bytes() for b in batches.values()) if args.rounds == 2 else 0
    anchors = sum(len(c["fp32"]) for _, c in columns)  # shipped: a hot anchor once per bucket it goes to
    del columns
    found: dict[str, list] = collections.defaultdict(list)
    for b in sorted(buckets):
        for batch, spans in sub.bucket_repeated_spans(buckets[b], args.min_span):
            for slot, s in spans.by_slot():
                found[batches[batch][slot][0]].append(s)
    t2 = cpu_s()
    peak = (rss_mb() - base) * 2**20 / total
    same = None
    if args.check:
        reference = sub.single_repeated_spans(docs, args.min_span)
        merged = {d: sub.merge_intervals(np.concatenate(v)).tolist() for d, v in found.items()}
        same = merged == {d: v.tolist() for d, v in reference.items()}
    round1 = sum(fp_bucket_bytes) + mask_bytes
    shipped = sum(bucket_bytes)
    out = {"input_mb": total / 1e6, "rounds": args.rounds, "anchor_mb_s": total / 1e6 / (t1 - t0),
           "bucket_search_mb_s": total / 1e6 / (t2 - t1), "total_mb_s": total / 1e6 / (t2 - t0),
           "shipped_bytes_per_byte": (round1 + shipped) / total,
           "shipped_bytes_per_byte_text_uncompressed": (round1 + shipped - compressed_text + raw_text) / total,
           "round1_bytes_per_byte": round1 / total,
           "round2_text_join_bytes_per_byte": text_join / total,
           "context_text_bytes_per_byte_uncompressed": raw_text / total,
           "shipped_anchors_per_kb": anchors / total * 1000,
           "largest_bucket_mb": max(bucket_bytes) / 1e6,
           "largest_bucket_over_mean": max(bucket_bytes) / max(shipped / args.partitions, 1e-9),
           "partitions": args.partitions, "batch_docs": args.batch_docs,
           "same_spans_as_single_suffix_array": same,
           "peak_bytes_per_byte_in_process": peak, "split_hot": bool(args.split_hot and args.rounds == 2),
           "hot_fingerprints": len(hot), "hot_groups_max": max(hot.values(), default=1)}
    if fp_bucket_bytes:
        out.update(fingerprint_buckets=fp_buckets,
                   largest_fingerprint_bucket_over_mean=max(fp_bucket_bytes) / (sum(fp_bucket_bytes) / fp_buckets))
    return out


def _load_documents(path: str, count: int):
    """The first ``count`` benchmark documents as Documents (read inside the pipeline,
    as the job reads Parquet: beam.Create would pickle and bz2 the whole corpus into the
    pipeline graph, which is the test harness's cost, not the stage's)."""
    from pipelines.stages.base import Document

    with open(path, "rb") as f:
        for doc_id, data in pickle.load(f)[:count]:
            yield Document(id=doc_id, text=data.decode("utf-8"))


def phase_beam(docs, args):
    """The dedup job's stage on the DirectRunner, in this process (one worker), so the
    CPU time of the process is the whole run's: pipeline setup, reading the documents,
    every shuffle, removal."""
    import apache_beam as beam

    from pipelines.dedup.substring import SubstringDedup

    count = max(1, int(len(docs) * args.beam_mb * 1e6 / sum(len(d) for _, d in docs)))
    total = sum(len(d) for _, d in docs[:count])
    del docs[:]
    t0 = cpu_s()
    with beam.Pipeline(argv=["--direct_num_workers=1", "--direct_running_mode=in_memory"]) as p:
        r = (p | beam.Create([args.corpus]) | beam.FlatMap(_load_documents, count)
             | SubstringDedup(substring_partitions=args.partitions, batch_docs=args.batch_docs,
                              rounds=args.rounds))
        r["stats"] | beam.Map(lambda kv: print("beam stats", kv))
    t1 = cpu_s()
    return {"input_mb": total / 1e6, "beam_direct_mb_s": total / 1e6 / (t1 - t0),
            "cpu_s": t1 - t0, "batch_docs": args.batch_docs, "partitions": args.partitions,
            "rounds": args.rounds}


PHASES = {"sa": phase_sa, "naive": phase_naive, "single": phase_single,
          "partitioned": phase_partitioned, "beam": phase_beam}


def run_phase(name: str, corpus: str, args) -> dict:
    cmd = [sys.executable, __file__, "--phase", name, "--corpus", corpus,
           "--min_span", str(args.min_span), "--partitions", str(args.partitions),
           "--beam_mb", str(args.beam_mb), "--naive_kb", str(args.naive_kb),
           "--batch_docs", str(args.batch_docs), "--rounds", str(args.rounds),
           "--fingerprint_buckets", str(args.fingerprint_buckets), "--split_hot", str(args.split_hot),
           "--hot_contexts", str(args.hot_contexts)]
    if args.check:
        cmd.append("--check")
    out = subprocess.run(cmd, capture_output=True, text=True)
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if out.returncode != 0 or not lines:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(lines[-1])


# ----------------------------------------------------------------------------- real report

def real_report(pages, min_span: int) -> dict:
    """Spans found on the real pages: count, bytes, the most frequent, and a second pass."""
    from pipelines.stages import substring as sub
    from pipelines.stages.base import stable_id

    docs = sorted({stable_id(u): sub.encode(t) for u, t in pages}.items())
    total = sum(len(d) for _, d in docs)
    keep = sub.single_repeated_spans(docs, min_span, keep_first=True)
    strike = sub.single_repeated_spans(docs, min_span, keep_first=False)
    texts = dict(docs)
    outputs, spans_n, removed = [], 0, 0
    for doc_id, data in docs:
        new, char_spans, nbytes = sub.removal_plan(data.decode("utf-8"), keep.get(doc_id))
        spans_n += len(char_spans)
        removed += nbytes
        outputs.append((doc_id, sub.encode(new)))
    second = sub.single_repeated_spans(outputs, min_span, keep_first=False)
    freq = collections.Counter()
    for doc_id, spans in strike.items():
        for s, e in spans.tolist():
            freq[texts[doc_id][s:e].decode("utf-8", "replace")] += 1
    return {
        "documents": len(docs), "input_bytes": total, "min_span": min_span,
        "keep_first": {"documents_changed": len(keep), "spans": spans_n, "bytes_removed": removed},
        "strike_all": {"documents_with_repeats": len(strike), "spans": int(sum(len(v) for v in strike.values())),
                       "bytes": int(sum((v[:, 1] - v[:, 0]).sum() for v in strike.values()))},
        "second_pass_spans": int(sum(len(v) for v in second.values())),
        "most_frequent": [{"copies": n, "bytes": len(t.encode()), "text": t[:160]}
                          for t, n in freq.most_common(10)],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=200, help="corpus size in MB (>= 200 for the reported figures)")
    ap.add_argument("--beam_mb", type=float, default=20, help="slice run through the Beam DirectRunner")
    ap.add_argument("--naive_kb", type=float, default=50, help="slice for the naive Python suffix array")
    ap.add_argument("--min_span", type=int, default=100)
    ap.add_argument("--partitions", type=int, default=16)
    ap.add_argument("--batch_docs", type=int, default=5000, help="documents per anchoring batch (one shuffle element per bucket)")
    ap.add_argument("--rounds", type=int, default=2, choices=(1, 2),
                    help="partitioned shipping: 2 = fingerprints first, contexts of repeated anchors only")
    ap.add_argument("--fingerprint_buckets", type=int, default=0,
                    help="round-1 buckets (default: max(16, partitions x 2/25), the job's ratio)")
    ap.add_argument("--split_hot", type=int, default=1, choices=(0, 1),
                    help="two rounds: spread fingerprints seen more often than a bucket should hold over pair "
                         "buckets (1, the job's default); 0: one bucket per fingerprint (before issue #17's fix)")
    ap.add_argument("--hot_contexts", type=float, default=0,
                    help="contexts of one fingerprint a bucket may hold (default 0: the job's estimate, a quarter "
                         "of the mean number of repeated anchors per bucket)")
    ap.add_argument("--corpus_kind", default="bench", choices=("bench", "sparse", "real"),
                    help="bench: 83%% of bytes repeat; sparse: --repeat_share of paragraphs verbatim, the "
                         "rest new; real: the real pages as they are (--mb ignored)")
    ap.add_argument("--repeat_share", type=float, default=0.15)
    ap.add_argument("--check", action="store_true", help="also compare partitioned spans with the single SA")
    ap.add_argument("--warcs", default=DEFAULT_WARCS)
    ap.add_argument("--cache", default="/tmp/bench_substring_pages.pkl")
    ap.add_argument("--real_report", action="store_true", help="report spans found on the real pages")
    ap.add_argument("--phases", default="sa,single,partitioned,beam,naive")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.phase:
        with open(args.corpus, "rb") as f:
            docs = pickle.load(f)
        print(json.dumps(PHASES[args.phase](docs, args)))
        return
    pages = extract_real_pages(args.warcs, args.cache)
    if args.real_report:
        print(json.dumps(real_report(pages, args.min_span), indent=2, ensure_ascii=False))
        return
    t0 = time.perf_counter()
    if args.corpus_kind == "real":
        from pipelines.stages.base import stable_id
        from pipelines.stages.substring import encode
        docs = sorted({stable_id(u): encode(t) for u, t in pages}.items())
    else:
        docs = synthesize(pages, args.mb, repeat_share=args.repeat_share if args.corpus_kind == "sparse" else None)
    corpus = f"/tmp/bench_substring_{args.corpus_kind}_{int(args.mb)}mb_{os.getpid()}.pkl"
    with open(corpus, "wb") as f:
        pickle.dump(docs, f)
    print(f"corpus ({args.corpus_kind}): {len(docs)} documents, {sum(len(d) for _, d in docs) / 1e6:.1f} MB from "
          f"{len(pages)} real pages ({time.perf_counter() - t0:.1f}s); load average {os.getloadavg()[0]:.1f}")
    for name in args.phases.split(","):
        t = time.perf_counter()
        result = run_phase(name, corpus, args)
        print(f"{name:12s} {time.perf_counter() - t:7.1f}s  " + json.dumps(
            {k: (round(v, 3) if isinstance(v, float) else v) for k, v in result.items()}), flush=True)
    os.remove(corpus)


if __name__ == "__main__":
    main()
