"""PII detection: precision/recall per kind on the labelled set, and speed on real pages.

    .venv/bin/python bench/pii_eval.py [--cases tests/data/pii_cases.jsonl]
        [--warc ../shared/data/warc/real-pages-00000.warc.gz] [--max-docs 221] [--show-hits 20]

1. Span-level exact-match precision and recall per kind on the labelled cases.
2. Throughput on real web text (trafilatura main text of real pages), docs/s and MB/s on
   one core, with peak memory, for our PiiDetector (all kinds; and email+IP only) and
   for the reference, datatrove's PIIFormatter (emails + public IPv4 only), on the same
   texts in the same run. Hit counts per kind are printed, and ``--show-hits`` prints
   a sample of what was found with context, so a person can judge precision in the wild.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import resource
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.stages.pii import PiiDetector, evaluate_spans  # noqa: E402


def load_cases(path: pathlib.Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def extract_texts(warc: pathlib.Path, max_docs: int) -> list[str]:
    """Main text of HTML responses (warcio + trafilatura); the bench's own small reader."""
    import trafilatura
    from charset_normalizer import from_bytes
    from tqdm import tqdm
    from warcio.archiveiterator import ArchiveIterator

    texts: list[str] = []
    with open(warc, "rb") as f, tqdm(total=max_docs, desc="extract", unit="doc") as bar:
        for record in ArchiveIterator(f):
            if record.rec_type != "response" or len(texts) >= max_docs:
                continue
            payload = record.content_stream().read()
            best = from_bytes(payload).best()
            html = str(best) if best is not None else payload.decode("utf-8", "replace")
            text = trafilatura.extract(html, include_comments=False) or ""
            if text:
                texts.append(text)
            bar.update(1)
    return texts


def time_it(fn, texts: list[str]) -> tuple[float, object]:
    start = time.process_time()
    result = [fn(t) for t in texts]
    return time.process_time() - start, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=str(REPO / "tests" / "data" / "pii_cases.jsonl"))
    ap.add_argument("--warc", default=str(REPO.parent / "shared" / "data" / "warc" / "real-pages-00000.warc.gz"))
    ap.add_argument("--max-docs", type=int, default=221)
    ap.add_argument("--show-hits", type=int, default=20, help="print this many real-text hits with context")
    args = ap.parse_args()

    cases = load_cases(pathlib.Path(args.cases))
    detector = PiiDetector()
    scores = evaluate_spans(cases, detector)
    print(f"\n== labelled set: {len(cases)} cases ({args.cases})")
    print(f"{'kind':12s} {'tp':>4s} {'fp':>4s} {'fn':>4s} {'precision':>9s} {'recall':>7s}")
    for kind, s in scores.items():
        print(f"{kind:12s} {s['tp']:4d} {s['fp']:4d} {s['fn']:4d} {s['precision']:9.3f} {s['recall']:7.3f}")

    warc = pathlib.Path(args.warc)
    if not warc.exists():
        print(f"\n(no throughput run: {warc} not found; pass --warc)")
        return
    texts = extract_texts(warc, args.max_docs)
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    print(f"\n== real text: {len(texts)} documents, {mb:.2f} MB of extracted text from {warc.name}")

    from datatrove.pipeline.formatters import PIIFormatter

    reference = PIIFormatter()
    email_ip = PiiDetector(kinds=["email", "ipv4", "ipv6"])
    detector.find("warm up +49 30 1234567")  # load phone metadata outside the timing
    runs = [
        ("ours, all 7 kinds", lambda t: detector.find(t)),
        ("ours, email+ip", lambda t: email_ip.find(t)),
        ("datatrove PIIFormatter (email+ipv4)", reference.format),
    ]
    results = {}
    for label, fn in runs:
        seconds, out = time_it(fn, texts)
        results[label] = out
        print(f"{label:38s} {len(texts) / seconds:9.0f} docs/s/core  {mb / seconds:7.2f} MB/s/core")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")

    found = results["ours, all 7 kinds"]
    counts: dict[str, int] = {}
    for matches in found:
        for m in matches:
            counts[m.kind] = counts.get(m.kind, 0) + 1
    changed = sum(1 for t, out in zip(texts, results["datatrove PIIFormatter (email+ipv4)"]) if t != out)
    print(f"hits (ours): {json.dumps(counts)}; documents changed by datatrove: {changed}")
    shown = 0
    for text, matches in zip(texts, found):
        for m in matches:
            if shown >= args.show_hits:
                break
            ctx = text[max(0, m.start - 30):m.end + 20].replace("\n", " ")
            print(f"  {m.kind:11s} {text[m.start:m.end]!r:40s} ...{ctx}...")
            shown += 1


if __name__ == "__main__":
    main()
