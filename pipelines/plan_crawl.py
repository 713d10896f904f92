"""A cost plan for cleaning and deduplicating one Common Crawl snapshot, projected from
measured per-stage rates.

    python -m pipelines.plan_crawl --crawl CC-MAIN-2024-10 --pages 3e9 [--warc_files 90000]
        [--workers 100] [--vcpus_per_worker 4] [--price_per_vcpu_hour 0.056] [--json]

Sizes: the snapshot's WARC listing (``<cc_base_url>/crawl-data/<crawl>/warc.paths.gz``,
read with ``pipelines.io.inputs.crawl_paths``) gives the number of WARC files when it is
reachable within ``--timeout_s``; the number of HTML pages is not in that listing, so it
always comes from ``--pages`` (Common Crawl's announcement of each crawl states it).
No figure of any snapshot is built in: none could be checked here.

Rates: ``pipelines/resources/stage_rates.json`` (data written by the benchmarks; each
section names its source): CPU seconds per page of every clean stage, of reading the
WARC files and of Beam's own work, the start-up of one worker process, peak worker
memory and bytes shuffled per page (``bench/clean.py --write_rates``), and the MinHash and substring
dedup rates from docs/dedup.md and docs/substring.md until their benchmarks write them.

The projection is linear: a snapshot is assumed to look like the measured sample
(the same share of pages kept, the same text per page, the same work per page). Wall
time assumes the work spreads evenly over ``workers x vcpus_per_worker`` cores, never
below one WARC file's work (a file is the clean job's unit of work at scale). Cost is
vCPU-hours times ``--price_per_vcpu_hour``; memory, disk and shuffle prices are not in
it (``--price_per_shuffle_gb`` adds the shuffle when given).
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import threading
from typing import Optional

RATES_FILE = pathlib.Path(__file__).resolve().parent / "resources" / "stage_rates.json"


class PlanError(ValueError):
    """A missing or unusable input: the message says what to pass."""


def load_rates(path: pathlib.Path = RATES_FILE) -> dict:
    rates = json.loads(pathlib.Path(path).read_text())
    if not rates.get("clean"):
        raise PlanError(f"{path} has no measured clean rates yet; run `.venv/bin/python bench/clean.py --write_rates`")
    return rates


def listed_warc_files(crawl: str, cc_base_url: str, timeout_s: float) -> tuple[Optional[int], str]:
    """(number of WARC files in the crawl's listing, or None; a line saying what happened).
    The fetch runs in a daemon thread so an unreachable host costs at most ``timeout_s``."""
    from pipelines.io.inputs import InputError, crawl_paths

    found: dict = {}

    def fetch():
        try:
            found["paths"] = crawl_paths(crawl, cc_base_url=cc_base_url)
        except InputError as exc:
            found["error"] = str(exc)

    worker = threading.Thread(target=fetch, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if "paths" in found:
        return len(found["paths"]), f"{crawl}: {len(found['paths']):,} WARC files listed at {cc_base_url}"
    why = found.get("error") or f"no answer from {cc_base_url} within {timeout_s:g} s"
    return None, f"{crawl}: published sizes not reachable ({why}); using --pages/--warc_files"


def plan(pages: float, warc_files: Optional[int], rates: dict, workers: int, vcpus_per_worker: int,
         price_per_vcpu_hour: float, price_per_shuffle_gb: float = 0.0) -> dict:
    """The projection as plain data: one row per stage, then totals."""
    if pages <= 0:
        raise PlanError("--pages must be > 0")
    if workers < 1 or vcpus_per_worker < 1:
        raise PlanError("--workers and --vcpus_per_worker must be >= 1")
    clean = rates["clean"]
    rows = []

    def row(job, stage, cpu_s, shuffle_bytes=None, memory="", source=""):
        rows.append({"job": job, "stage": stage, "core_hours": cpu_s / 3600.0, "shuffle_bytes": shuffle_bytes,
                     "cost": cpu_s / 3600.0 * price_per_vcpu_hour, "peak_memory": memory, "source": source})

    clean_src = clean.get("source", "")
    # One start-up per worker process (one process per vCPU), not per page.
    peak = clean.get("peak_worker_rss_mb")
    row("clean", "start-up", workers * vcpus_per_worker * clean["startup_cpu_s_per_process"],
        memory=f"{peak:,.0f} MB per worker process" if peak else "", source=clean_src)
    row("clean", "read WARC", pages * clean["read_cpu_s_per_page"], source=clean_src)
    row("clean", "Beam (record-id shuffle, Parquet)", pages * clean["beam_cpu_s_per_page"],
        pages * (clean.get("shuffle_bytes_per_page") or 0), source=clean_src)
    for name, stage in clean["stages"].items():
        row("clean", name, pages * stage["cpu_s_per_page"], source=clean_src)

    kept_docs = pages * clean["kept_share_of_pages"]
    text_bytes = kept_docs * clean["text_bytes_per_kept_page"]
    minhash = rates.get("minhash") or {}
    if minhash.get("documents_per_cpu_s"):
        per_doc = minhash.get("shuffle_bytes_per_document")
        row("dedup", "minhash", kept_docs / minhash["documents_per_cpu_s"],
            kept_docs * per_doc if per_doc else None, minhash.get("peak_memory", ""), minhash.get("source", ""))
    substring = rates.get("substring") or {}
    if substring.get("text_mb_per_cpu_s"):
        # Upper bound: the substring pass reads what MinHash keeps; taken as all of its input.
        per_byte = substring.get("shuffle_bytes_per_text_byte")
        row("dedup", "substring", text_bytes / 1e6 / substring["text_mb_per_cpu_s"],
            text_bytes * per_byte if per_byte else None, substring.get("peak_memory", ""), substring.get("source", ""))

    core_hours = sum(r["core_hours"] for r in rows)
    for r in rows:
        r["share"] = r["core_hours"] / core_hours if core_hours else 0.0
    cores = workers * vcpus_per_worker
    per_file_hours = None
    if warc_files:
        per_file_hours = (pages / warc_files) * clean["job_cpu_s_per_page"] / 3600.0
    by_job = {}
    for job in ("clean", "dedup"):
        hours = sum(r["core_hours"] for r in rows if r["job"] == job)
        wall = hours / cores
        if job == "clean" and per_file_hours:
            wall = max(wall, per_file_hours)
        by_job[job] = {"core_hours": hours, "wall_hours": wall}
    shuffle = sum(r["shuffle_bytes"] or 0 for r in rows)
    return {
        "pages": pages, "warc_files": warc_files, "kept_documents": kept_docs, "kept_text_bytes": text_bytes,
        "rows": rows, "core_hours": core_hours, "jobs": by_job,
        "wall_hours": sum(j["wall_hours"] for j in by_job.values()),
        "workers": workers, "vcpus_per_worker": vcpus_per_worker, "shuffle_bytes": shuffle,
        "unmeasured_shuffle": [r["stage"] for r in rows if r["job"] == "dedup" and r["shuffle_bytes"] is None],
        "price_per_vcpu_hour": price_per_vcpu_hour,
        "cost": core_hours * price_per_vcpu_hour + shuffle / 1e9 * price_per_shuffle_gb,
        "price_per_shuffle_gb": price_per_shuffle_gb,
    }


def _num(x: Optional[float], unit: str = "") -> str:
    if x is None:
        return "n/a"
    for div, suffix in ((1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(x) >= div:
            return f"{x / div:,.1f}{suffix}{unit}"
    return f"{x:,.0f}{(' ' + unit) if unit else ''}"


def to_markdown(result: dict) -> str:
    lines = ["| job | stage | core-hours | share | cost | shuffle | peak memory |",
             "|---|---|---:|---:|---:|---:|---|"]
    for r in result["rows"]:
        shuffle = "" if r["shuffle_bytes"] is None and r["job"] == "clean" else _num(r["shuffle_bytes"], "B")
        lines.append(f"| {r['job']} | {r['stage']} | {r['core_hours']:,.0f} | {100 * r['share']:.1f}% | "
                     f"{r['cost']:,.0f} | {shuffle} | {r['peak_memory']} |")
    lines.append(f"| **total** | | **{result['core_hours']:,.0f}** | 100% | **{result['cost']:,.0f}** | "
                 f"{_num(result['shuffle_bytes'], 'B')} | |")
    cores = result["workers"] * result["vcpus_per_worker"]
    jobs = result["jobs"]
    lines += [
        "",
        f"Pages: {_num(result['pages'])}; WARC files: {_num(result['warc_files'])}; kept documents "
        f"{_num(result['kept_documents'])}, {_num(result['kept_text_bytes'], 'B')} of text.",
        f"Wall time on {result['workers']} workers x {result['vcpus_per_worker']} vCPUs ({cores} cores): "
        f"clean {jobs['clean']['wall_hours']:,.1f} h + dedup {jobs['dedup']['wall_hours']:,.1f} h = "
        f"{result['wall_hours']:,.1f} h.",
        f"Cost at {result['price_per_vcpu_hour']} per vCPU-hour"
        + (f" + {result['price_per_shuffle_gb']} per shuffled GB" if result["price_per_shuffle_gb"] else "")
        + f": {result['cost']:,.0f} (vCPU only; memory and disk not priced).",
    ]
    if result["unmeasured_shuffle"]:
        lines.append(f"Shuffle not measured for: {', '.join(result['unmeasured_shuffle'])} (total is a lower bound).")
    return "\n".join(lines)


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines.plan_crawl", description=__doc__.split("\n\n")[0])
    p.add_argument("--crawl", help="Common Crawl id, e.g. CC-MAIN-2024-10 (its WARC listing gives the file count)")
    p.add_argument("--pages", type=float, help="HTML pages in the snapshot (from its announcement); required")
    p.add_argument("--warc_files", type=int, help="WARC files in the snapshot, when the listing is not reachable")
    p.add_argument("--workers", type=int, default=100, help="workers (default 100)")
    p.add_argument("--vcpus_per_worker", type=int, default=4, help="vCPUs per worker (default 4)")
    p.add_argument("--price_per_vcpu_hour", type=float, default=0.056,
                   help="price of one vCPU-hour (default 0.056: an assumption to replace with your own price)")
    p.add_argument("--price_per_shuffle_gb", type=float, default=0.0, help="price per GB shuffled (default 0: not priced)")
    p.add_argument("--rates", default=str(RATES_FILE), help="measurements file (default: the committed one)")
    p.add_argument("--cc_base_url", default="https://data.commoncrawl.org", help="Common Crawl HTTP endpoint")
    p.add_argument("--timeout_s", type=float, default=5.0, help="how long to try the crawl's listing (default 5 s)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON instead of a Markdown table")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_arg_parser()
    args = parser.parse_args(argv)
    if not args.pages:
        parser.exit(2, f"{parser.prog}: error: pass --pages N (HTML pages in the snapshot, as its announcement "
                       "states): no page count is published in a reachable listing or built in\n")
    warc_files = args.warc_files
    if args.crawl:
        listed, line = listed_warc_files(args.crawl, args.cc_base_url, args.timeout_s)
        print(line, file=sys.stderr)
        warc_files = listed or warc_files
    try:
        result = plan(args.pages, warc_files, load_rates(pathlib.Path(args.rates)), args.workers,
                      args.vcpus_per_worker, args.price_per_vcpu_hour, args.price_per_shuffle_gb)
    except (PlanError, OSError, json.JSONDecodeError, KeyError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    print(json.dumps(result, indent=2) if args.json else to_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
