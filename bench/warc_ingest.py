"""WARC reading throughput: our reader vs datatrove's record processing vs a bare warcio loop.

    python bench/warc_ingest.py [--repeat 3]

Runs in one process (figures are per core) over the real WARCs in ../shared/data/warc.
Our reader does more than the bare loop (HTML sniffing, truncation/corruption
detection, per-record outcomes); datatrove's process_record also decodes the text,
so its docs/s is not the same work: read the figures with that in mind.
"""
from __future__ import annotations

import argparse
import logging
import pathlib
import resource
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from warcio.archiveiterator import ArchiveIterator  # noqa: E402

from pipelines.io.warc import iter_warc_outcomes  # noqa: E402

WARC_DIR = REPO.parent / "shared" / "data" / "warc"


def input_files() -> list[pathlib.Path]:
    files = sorted(WARC_DIR.glob("real-pages-*.warc.gz"))
    files += [WARC_DIR / "iana-crawl.warc.gz", WARC_DIR / "cc-main-2020-34-excerpt.warc.gz"]
    missing = [f for f in files if not f.exists()]
    if missing:
        sys.exit(f"missing inputs {missing}: place the shared data at {WARC_DIR.parent}")
    return files


def ours(files):
    records = docs = 0
    for f in files:
        for _, doc in iter_warc_outcomes(str(f)):
            records += 1
            docs += doc is not None
    return records, docs


def _warcio_loop(files, count_doc):
    """Count records and the records ``count_doc`` says are documents, over bare warcio."""
    records = docs = 0
    for f in files:
        with open(f, "rb") as fh:
            for rec in ArchiveIterator(fh):
                records += 1
                docs += bool(count_doc(rec))
    return records, docs


def _bare_html(rec) -> bool:
    ctype = (rec.http_headers.get_header("Content-Type") or "") if rec.http_headers else ""
    if rec.rec_type == "response" and ctype.startswith("text/html"):
        rec.content_stream().read()
        return True
    return False


def bare_warcio(files):
    return _warcio_loop(files, _bare_html)


def datatrove_process(files):
    from datatrove.pipeline.readers.warc import process_record

    return _warcio_loop(files, process_record)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    files = input_files()
    mb = sum(f.stat().st_size for f in files) / 1e6
    candidates = [("warcio bare loop (no checks)", bare_warcio), ("ours: iter_warc_outcomes", ours)]
    try:
        import datatrove.pipeline.readers.warc  # noqa: F401

        candidates.insert(1, ("datatrove process_record (libmagic + decode)", datatrove_process))
    except ImportError:
        print("datatrove not installed (pip install -e '.[bench]'): skipping its figures")
    print(f"input: {len(files)} files, {mb:.1f} MB compressed, 1 process")
    for name, fn in candidates:
        best = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            records, docs = fn(files)
            best = min(best, time.perf_counter() - t)
        print(f"{name:46s} records={records:5d} html_docs={docs:4d} {best:6.2f}s "
              f"{records / best:7.0f} records/s {docs / best:6.0f} docs/s {mb / best:5.1f} MB/s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
