"""CPU per page of the default extraction on the shared WARCs, with and without the cascade's
floor, in-process and through the extraction child.

    .venv/bin/python bench/extraction_cost.py              # 884 real pages, 3 rounds
    .venv/bin/python bench/extraction_cost.py --all        # also the other shared WARCs and zh/

Variants, interleaved page by page in a rotating order (load from other work on a shared
machine falls on all alike), each ``extract_payload`` from the payload bytes (decoding
included), CPU of this process (``time.process_time``):
  - ``floor``: the cascade as it is (``CASCADE_FLOOR_CHARS``: the cheap text only where the
    first text is shorter);
  - ``no_floor``: the same with the floor off (the cheap text on every page, the cascade
    before the floor);
and once, not interleaved: ``isolated``, the stage as the clean job runs it (``Extract`` with
its child process), CPU of this process plus the child's (/proc), so the difference to
``floor`` is the round trip per page. Prints one JSON line per variant (pages, CPU s, pages per
CPU-second, median of the rounds), the pages whose text differs between the two cascade
variants, and the machine load.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import pathlib
import statistics
import sys
import time

import psutil

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from extraction_eval import OPTIONS  # noqa: E402
from extraction_set import SHARED, shared_missing  # noqa: E402
from pipelines.io.warc import iter_warc_outcomes  # noqa: E402
from pipelines.stages import extract  # noqa: E402
from pipelines.stages.base import Document, Drop  # noqa: E402
from pipelines.stages.child_process import process_cpu_seconds  # noqa: E402

NO_FLOOR = 1 << 60


def pages(everything: bool) -> list[Document]:
    pattern = "*.warc.gz" if everything else "real-pages-*.warc.gz"
    paths = sorted(glob.glob(str(SHARED / "warc" / pattern)))
    if everything:
        paths += sorted(glob.glob(str(SHARED / "zh" / "*.warc.gz")))
    docs = []
    for path in paths:
        docs += [doc for _, doc in iter_warc_outcomes(path) if doc is not None and doc.payload]
    return docs


def run_variant(floor: int, doc: Document) -> tuple[float, tuple]:
    extract.CASCADE_FLOOR_CHARS = floor
    start = time.process_time()
    out = extract.extract_payload(doc.payload, doc.http_charset, OPTIONS, extract.cascade_extract)
    return time.process_time() - start, out


def isolated_cpu(docs: list[Document]) -> float:
    before = {c.pid for c in psutil.Process().children()}
    stage = extract.Extract(extractor="cascade")
    stage.setup()
    (child,) = {c.pid for c in psutil.Process().children()} - before  # the stage's extraction child
    start, child_start = time.process_time(), process_cpu_seconds(child)
    for doc in docs:
        result = stage.process(Document(id=doc.id, url=doc.url, payload=doc.payload, http_charset=doc.http_charset,
                                        content_type=doc.content_type))
        assert isinstance(result, (Document, Drop))
    cpu = time.process_time() - start + process_cpu_seconds(child) - child_start
    stage.close()
    return cpu


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--all", action="store_true", help="every shared WARC and zh/, not only the 884 real pages")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be >= 1")
    if shared_missing():
        return 0
    docs = pages(args.all)
    floor = extract.CASCADE_FLOOR_CHARS
    variants = {"floor": floor, "no_floor": NO_FLOOR}
    extract.warm_up(extract.cascade_extract)
    cpu = {name: [] for name in variants}
    texts = {name: [] for name in variants}
    try:  # run_variant sets the module constant: put it back whatever happens
        for r in range(args.rounds):
            totals = dict.fromkeys(variants, 0.0)
            for i, doc in enumerate(docs):
                names = list(variants)
                names = names[(i + r) % 2:] + names[:(i + r) % 2]
                for name in names:
                    seconds, out = run_variant(variants[name], doc)
                    totals[name] += seconds
                    if r == 0:
                        texts[name].append(out[1])
            for name in variants:
                cpu[name].append(totals[name])
    finally:
        extract.CASCADE_FLOOR_CHARS = floor
    for name in variants:
        median = statistics.median(cpu[name])
        print(json.dumps({"variant": name, "pages": len(docs), "cpu_s": round(median, 2),
                          "pages_per_cpu_s": round(len(docs) / median, 1),
                          "rounds_cpu_s": [round(x, 2) for x in cpu[name]]}))
    iso = isolated_cpu(docs)
    print(json.dumps({"variant": "isolated (floor, child process)", "pages": len(docs), "cpu_s": round(iso, 2),
                      "pages_per_cpu_s": round(len(docs) / iso, 1)}))
    differ = [doc.url for doc, a, b in zip(docs, texts["floor"], texts["no_floor"]) if a != b]
    saves = 1 - statistics.median(cpu["floor"]) / statistics.median(cpu["no_floor"])
    print(json.dumps({"texts_differ": len(differ), "urls": differ, "floor_saves": f"{100 * saves:.1f}%",
                      "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
