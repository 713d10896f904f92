"""MinHash benchmark: signature throughput vs datasketch and datatrove, end-to-end dedup job.

    .venv/bin/python bench/minhash.py [--sig_docs 2000] [--repeats 3] [--n 100000] [--skip_job]

Documents are synthetic but realistic: sentences of the real pages in
../shared/data/warc/real-pages-*.warc.gz (trafilatura) drawn into ~600-word documents,
with a share of near-duplicates (bench/minhash_eval.py's edits).

1. Signatures, single process (= per core), same documents for every implementation,
   CPU time (time.process_time), best of --repeats interleaved runs:
   - ours, from text (normalization + tokens + signatures, batches of 256) and from tokens,
     with the compiled kernel (numba, the default) and with the NumPy path;
   - datasketch ``MinHash(num_perm=112, scheme="affine64").update_batch(shingles)`` per
     document (its sha1 hashfunc), from the same tokens;
   - datatrove ``MinhashDedupSignature.get_shingles + get_signature`` per document, from text;
   - rensa ``RMinHash(num_perm=112).update(shingles)`` per document (Rust; 32-bit hash
     values), from the same tokens, and from raw text with the same ``tokenize``.
2. Verification, in process (CPU time, best of --repeats): what checking the LSH
   candidate edges costs per document (its payload: the signature as bytes, or its
   shingle set for ``--verify exact``) and per distinct candidate edge (``edge_similarity``
   on two payloads, as the job's ``EdgeEnds`` checks them), at the default bands.
3. End to end: ``python -m pipelines.dedup`` on --n documents (DirectRunner, one
   worker), once per setting of --jobs on the same input: docs/s per core (documents /
   CPU seconds of the job process), its peak RSS (the job is one process: the peak of
   the one worker), candidate edges checked and rejected, the largest cluster.
   Verification on vs off is the default setting vs ``--verify none``; their CPU
   difference over the edges checked is the end-to-end cost per edge.

Every figure is also printed as one JSON line (``{"bench": "minhash", ...}``).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import minhash_eval  # noqa: E402
from pipelines.stages.base import Document, stable_id  # noqa: E402
from pipelines.stages.minhash import (  # noqa: E402
    MinHashConfig,
    MinHasher,
    band_keys,
    edge_similarity,
    shingles,
    tokenize,
)

# Settings of the end-to-end job (--jobs): name -> (label, extra flags).
JOB_SETTINGS = {
    "old": ("14 x 8, unverified (the old default)", ["--bands", "14", "--rows", "8", "--verify", "none"]),
    "none": ("default bands, --verify none", ["--verify", "none"]),
    "default": ("default: verified on signatures", []),
    "exact": ("default bands, --verify exact", ["--verify", "exact"]),
}


def sentence_pool(pages: int) -> tuple[list[str], list[str]]:
    texts = [t for _, t in minhash_eval.extract_pages(pages)]
    sentences = [s.strip() + "." for t in texts for s in t.replace("\n", " ").split(". ") if len(s.split()) >= 4]
    vocab = sorted({w for t in texts for w in t.split() if w.isalpha() and len(w) > 3})
    return sentences, vocab


def synthetic_documents(n: int, sentences: list[str], vocab: list[str], words: int = 600,
                        dup_share: float = 0.2, seed: int = 0):
    """Yield ``n`` documents of about ``words`` words; ``dup_share`` are near-duplicates."""
    rng = random.Random(seed)
    recent: list[str] = []
    for i in range(n):
        if recent and rng.random() < dup_share:
            text, _ = minhash_eval.near_duplicate(rng.choice(recent), rng, vocab, recent)
        else:
            parts, count = [], 0
            while count < words:
                s = rng.choice(sentences)
                parts.append(s)
                count += len(s.split())
            # Paragraphs of ~5 sentences, like extracted article text.
            text = "\n".join(" ".join(parts[k:k + 5]) for k in range(0, len(parts), 5))
            recent.append(text)
            if len(recent) > 500:
                recent.pop(0)
        yield Document(id=stable_id("bench", str(i)), url=f"https://example.org/{i}", text=text,
                       warc_date=f"2021-{1 + i % 12:02d}-{1 + i % 28:02d}")


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:9.0f} docs/s"


def emit(**figures) -> None:
    """One JSON line of figures (the machine-readable copy of the lines around it)."""
    print(json.dumps({"bench": "minhash", **figures}), flush=True)


def bench_signatures(docs: list[Document], repeats: int = 3) -> None:
    from datasketch import MinHash
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.utils.hashing import HashConfig

    texts = [d.text for d in docs]
    n = len(texts)
    words = sum(len(t.split()) for t in texts) / n
    print(f"\n== signatures: {n} documents, {words:.0f} words on average, 112 permutations, 5-grams ==")
    hasher, numpy_hasher = MinHasher(backend="numba"), MinHasher(backend="numpy")
    # Warm-up: kernel compile (or its disk cache), class table, permutations, power tables.
    hasher.signatures(texts[:256])
    numpy_hasher.signatures(texts[:256])
    m = min(n, 500)  # the references are slow: time a subset, report the rate
    # sha1: the xxhash module in this environment rejects str input, which datatrove's
    # xxhash path passes (TypeError "Strings must be encoded before hashing").
    step = MinhashDedupSignature(output_folder=tempfile.mkdtemp(),
                                 config=MinhashConfig(hash_config=HashConfig(precision=64, hash_fc="sha1")))
    tokens = [tokenize(x) for x in texts]

    def run_tok():
        for x in texts:
            tokenize(x)

    def in_batches(compute, items):
        """``compute`` over ``items`` in batches of 256 (the dedup job's batch size)."""
        return lambda: [compute(items[k:k + 256]) for k in range(0, n, 256)]

    run_ours_tok = in_batches(hasher.signatures_from_tokens, tokens)
    run_ours = in_batches(hasher.signatures, texts)
    run_np_tok = in_batches(numpy_hasher.signatures_from_tokens, tokens)
    run_np = in_batches(numpy_hasher.signatures, texts)

    def run_ds():
        for toks in tokens[:m]:
            mh = MinHash(num_perm=112, seed=1, scheme="affine64")
            mh.update_batch(shingles(toks, 5))

    def run_dt():
        for x in texts[:m]:
            step.get_signature(step.get_shingles(x))

    from rensa import RMinHash

    def run_rensa_tok():
        for toks in tokens[:m]:
            RMinHash(num_perm=112, seed=1).update([s.decode() for s in shingles(toks, 5)])

    def run_rensa():
        for x in texts[:m]:
            RMinHash(num_perm=112, seed=1).update([s.decode() for s in shingles(tokenize(x), 5)])

    # CPU time of this process (time.process_time), not wall time: on a shared, loaded
    # machine wall time also counts other processes. Each measurement is repeated,
    # interleaved with the others, and the fastest repeat is kept.
    runs = {"tok": run_tok, "ours_tok": run_ours_tok, "ours": run_ours, "np_tok": run_np_tok, "np": run_np,
            "ds": run_ds, "dt": run_dt, "rensa_tok": run_rensa_tok, "rensa": run_rensa}
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for name, fn in runs.items():
            t = time.process_time()
            fn()
            best[name] = min(best[name], time.process_time() - t)
    t_tok, t_ours_tok, t_ours, t_np_tok, t_np, t_ds, t_dt, t_rs_tok, t_rs = (best[k] for k in runs)

    def vs_ds(t):
        return f"{t_ds / m / (t / n):.1f}x datasketch"

    print(f"tokenize (= words(normalize_for_matching)) {rate(n, t_tok)}")
    print(f"datasketch update_batch, tokens -> sig      {rate(m, t_ds)}")
    print(f"ours (numba kernel), tokens -> signatures   {rate(n, t_ours_tok)}   {vs_ds(t_ours_tok)}")
    print(f"ours (numpy path), tokens -> signatures     {rate(n, t_np_tok)}   {vs_ds(t_np_tok)}")
    print(f"ours (numba kernel), text -> signatures     {rate(n, t_ours)}   (tokenizes inside the kernel)")
    print(f"ours (numpy path), text -> signatures       {rate(n, t_np)}   (tokenize + numpy)")
    print(f"datasketch, text -> sig (+ same tokenize)   {rate(m, t_ds + t_tok * m / n)}   ours is "
          f"{(t_ds / m + t_tok / n) / (t_ours / n):.1f}x faster")
    print(f"datatrove (sha1) shingles+signature, text  {rate(m, t_dt)}   ours is {t_dt / m / (t_ours / n):.1f}x faster")
    print(f"rensa RMinHash, tokens -> sig               {rate(m, t_rs_tok)}   (shingle strings made in Python)")
    print(f"rensa RMinHash, text -> sig (same tokenize) {rate(m, t_rs)}   ours is {t_rs / m / (t_ours / n):.1f}x faster")
    per_core = {"tokenize": (n, t_tok), "ours_numba_tokens": (n, t_ours_tok), "ours_numpy_tokens": (n, t_np_tok),
                "ours_numba_text": (n, t_ours), "ours_numpy_text": (n, t_np), "datasketch_tokens": (m, t_ds),
                "datasketch_text": (m, t_ds + t_tok * m / n), "datatrove_text": (m, t_dt),
                "rensa_tokens": (m, t_rs_tok), "rensa_text": (m, t_rs)}
    for name, (count, seconds) in per_core.items():
        emit(part="signatures", impl=name, documents=count, docs_per_cpu_s=round(count / seconds, 1))


def bench_verification(docs: list[Document], repeats: int = 3) -> None:
    """CPU cost of checking candidate edges, outside Beam: payloads per document and
    ``edge_similarity`` per distinct candidate edge, for both verify modes."""
    config = MinHashConfig()
    texts, ids = [d.text for d in docs], [d.id for d in docs]
    hashers = {"signature": MinHasher(config), "exact": MinHasher(MinHashConfig(verify="exact"))}
    sig, n_sh = hashers["signature"].signatures(texts)
    u, v, repeated = minhash_eval.star_edges(ids, band_keys(sig, config.bands, config.rows), n_sh > 0)
    pairs = list(zip(u.tolist(), v.tolist()))
    print(f"\n== verification: {len(docs)} documents, {config.bands} x {config.rows} bands: {repeated} candidate edges, "
          f"{len(pairs)} distinct (each checked once) ==")

    def signatures():
        for k in range(0, len(texts), 256):
            hashers["signature"].signatures(texts[k:k + 256])

    best = {"signatures (no verification)": float("inf")}
    payloads, passed = {}, {}
    for _ in range(repeats):
        t = time.process_time()
        signatures()
        best["signatures (no verification)"] = min(best["signatures (no verification)"], time.process_time() - t)
        for mode, hasher in hashers.items():
            t = time.process_time()
            payloads[mode] = [p for k in range(0, len(texts), 256)
                              for p in hasher.verify_payloads(texts[k:k + 256], sig[k:k + 256])]
            best[f"{mode} payloads"] = min(best.get(f"{mode} payloads", float("inf")), time.process_time() - t)
            t = time.process_time()
            passed[mode] = sum(edge_similarity(payloads[mode][a], payloads[mode][b], mode) >= config.verify_threshold
                               for a, b in pairs)
            best[f"{mode} checks"] = min(best.get(f"{mode} checks", float("inf")), time.process_time() - t)
    n = len(docs)
    print(f"signatures, text -> signature (for scale)   {1e6 * best['signatures (no verification)'] / n:8.1f} us/document")
    for mode in hashers:
        size = sum(map(len, payloads[mode])) / n
        print(f"--verify {mode:9s} payload                {1e6 * best[f'{mode} payloads'] / n:8.1f} us/document "
              f"({size:,.0f} bytes/document to shuffle)")
        print(f"--verify {mode:9s} check                  {1e6 * best[f'{mode} checks'] / max(1, len(pairs)):8.1f} us/edge"
              f"   = {1e6 * best[f'{mode} checks'] / n:6.2f} us/document here; {len(pairs) - passed[mode]} edges rejected")
        emit(part="verification", mode=mode, documents=n, distinct_edges=len(pairs),
             payload_us_per_doc=round(1e6 * best[f"{mode} payloads"] / n, 2), payload_bytes_per_doc=round(size),
             check_us_per_edge=round(1e6 * best[f"{mode} checks"] / max(1, len(pairs)), 2),
             check_us_per_doc=round(1e6 * best[f"{mode} checks"] / n, 2))


def bench_job(docs_iter, n: int, workdir: pathlib.Path, extra: list[str], settings: list[str]) -> None:
    from pipelines.io.documents import document_to_row, write_parquet_file

    src = workdir / "in"
    src.mkdir(parents=True)
    batch, part, text_bytes = [], 0, 0
    for d in docs_iter:
        batch.append(document_to_row(d))
        text_bytes += len(d.text.encode())
        if len(batch) == 10_000:
            write_parquet_file(str(src / f"part-{part:04d}.parquet"), batch)
            batch, part = [], part + 1
    if batch:
        write_parquet_file(str(src / f"part-{part:04d}.parquet"), batch)
    print(f"\n== end to end: {n} documents ({text_bytes / 1e6:.0f} MB text) ==")
    cpu = {}
    for name in settings:
        label, flags = JOB_SETTINGS[name]
        cpu[name], stats = run_job(src, workdir / f"out_{name}", [*extra, *flags], n, text_bytes, label)
    if "default" in cpu and "none" in cpu:
        # Same input, same bands: the difference is the verification (payloads, two shuffles, checks).
        extra_cpu = cpu["default"] - cpu["none"]
        checked = stats["minhash"]["edges_checked"]
        print(f"verification end to end: {extra_cpu:+.1f} s CPU = {1e6 * extra_cpu / n:+.0f} us/document, "
              f"{1e6 * extra_cpu / max(1, checked):+.0f} us/edge checked ({checked} edges)")
        emit(part="verification_end_to_end", documents=n, cpu_s=round(extra_cpu, 2),
             us_per_doc=round(1e6 * extra_cpu / n, 1), us_per_edge_checked=round(1e6 * extra_cpu / max(1, checked), 1),
             edges_checked=checked)


def run_job(src: pathlib.Path, out: pathlib.Path, flags: list[str], n: int, text_bytes: int, label: str):
    """One dedup job in a child process: (its CPU seconds, its stats.json)."""
    cmd = [sys.executable, "-m", "pipelines.dedup", "--input", str(src), "--output", str(out),
           "--num_shards", "8", "--direct_num_workers=1", "--no_report", "--keep_removed", *flags]
    print(f"-- {label}: {' '.join(cmd[1:])}")
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # wait4: the CPU time and peak RSS of this job alone (the job is one process, one
    # worker: --direct_num_workers=1). Docs per CPU second is docs/s per core, and unlike
    # wall time it does not depend on what else runs on a shared machine.
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    dt = time.perf_counter() - t
    cpu = usage.ru_utime + usage.ru_stime
    peak_mb = usage.ru_maxrss / 1024
    stats = json.loads((out / "stats.json").read_text())
    m = stats["minhash"]
    largest = max(int(k) for k in stats["clusters"]["size_histogram"])
    print(f"   wall {dt:.1f}s, CPU {cpu:.1f}s (user {usage.ru_utime:.1f}, system {usage.ru_stime:.1f}): "
          f"{rate(n, cpu)} per core, {text_bytes / 1e6 / cpu:.2f} MB/s per core, peak RSS of the worker {peak_mb:.0f} MB")
    print(f"   kept {stats['documents_kept']} of {stats['documents_in']}, duplicate clusters "
          f"{stats['clusters']['duplicate_clusters']}, largest cluster {largest}, candidate edges {m.get('candidate_edges', 0)}"
          + (f", checked {m['edges_checked']}, rejected {m['edges_rejected']}" if m.get("verify") != "none" else ""))
    emit(part="job", setting=label, flags=flags, documents=n, text_mb=round(text_bytes / 1e6), cpu_s=round(cpu, 2),
         user_s=round(usage.ru_utime, 2), system_s=round(usage.ru_stime, 2), wall_s=round(dt, 1),
         docs_per_cpu_s=round(n / cpu), mb_per_cpu_s=round(text_bytes / 1e6 / cpu, 2), peak_rss_mb=round(peak_mb),
         peak_rss_bytes_per_input_byte=round(usage.ru_maxrss * 1024 / text_bytes, 2), kept=stats["documents_kept"],
         removed=stats["documents_in"] - stats["documents_kept"], largest_cluster=largest,
         candidate_edges=m.get("candidate_edges", 0), edges_checked=m.get("edges_checked"),
         edges_rejected=m.get("edges_rejected"), load_avg=os.getloadavg(),
         output_sha256=output_digest(out))
    return cpu, stats


def output_digest(out: pathlib.Path) -> str:
    """SHA-256 over the job's output files (documents/, removed/, stats.json): equal
    digests mean byte-identical output, e.g. before and after a change of the job."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(p for p in out.rglob("*") if p.is_file() and p.name != "_SUCCESS"):
        h.update(str(f.relative_to(out)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=150, help="real pages to draw sentences from")
    ap.add_argument("--sig_docs", type=int, default=2000, help="documents for the signature benchmark")
    ap.add_argument("--n", type=int, default=100_000, help="documents for the end-to-end job")
    ap.add_argument("--words", type=int, default=600)
    ap.add_argument("--components", default="auto", choices=["auto", "local", "distributed"])
    ap.add_argument("--repeats", type=int, default=3, help="signature timings: best of this many (CPU time)")
    ap.add_argument("--skip_job", action="store_true")
    ap.add_argument("--skip_signatures", action="store_true", help="skip the signature comparison (1.)")
    ap.add_argument("--verify_docs", type=int, default=20_000, help="documents for the verification cost (2.)")
    ap.add_argument("--jobs", default="none,default",
                    help=f"end-to-end settings to run, comma-separated, from {', '.join(JOB_SETTINGS)}")
    args = ap.parse_args()
    settings = [s.strip() for s in args.jobs.split(",") if s.strip()]
    unknown = [s for s in settings if s not in JOB_SETTINGS]
    if unknown:
        ap.error(f"--jobs: unknown {', '.join(unknown)}; choose from {', '.join(JOB_SETTINGS)}")
    t = time.perf_counter()
    sentences, vocab = sentence_pool(args.pages)
    print(f"sentence pool: {len(sentences)} sentences from {args.pages} real pages ({time.perf_counter() - t:.1f}s)")
    if not args.skip_signatures:
        bench_signatures(list(synthetic_documents(args.sig_docs, sentences, vocab, words=args.words)), args.repeats)
    if args.verify_docs:
        bench_verification(list(synthetic_documents(args.verify_docs, sentences, vocab, words=args.words, seed=1)),
                           args.repeats)
    if not args.skip_job:
        with tempfile.TemporaryDirectory() as tmp:
            bench_job(synthetic_documents(args.n, sentences, vocab, words=args.words, seed=1), args.n,
                      pathlib.Path(tmp), ["--components", args.components], settings)


if __name__ == "__main__":
    main()
