"""The whole clean job against datatrove's full FineWeb recipe, on the same WARC files.

    .venv/bin/python bench/clean.py                          # the 884 real pages, all languages and en
    .venv/bin/python bench/clean.py --variants all           # one variant only
    .venv/bin/python bench/clean.py --write_rates            # also update pipelines/resources/stage_rates.json
    .venv/bin/python bench/clean.py --front_steps [--limit N] # the front stages one by one (older view)

End to end, one worker each, each side a fresh process: `python -m pipelines.clean
--direct_num_workers=1` (every stage of our recipe, Parquet and stats.json written) and
datatrove's recipe chained in one process (WarcReader, URLFilter, Trafilatura,
LanguageFilter, GopherRepetitionFilter, GopherQualityFilter, C4QualityFilter,
FineWebQualityFilter, PIIFormatter; its steps' `run` generators chained, no executor,
nothing written: the least datatrove can spend on this work). CPU time is that of the
whole process tree (resource.getrusage of the finished children: the job, its
extraction child, datatrove's extraction sandbox), never wall time: the machine is
shared. `--languages en` on our side is compared with LanguageFilter(languages=["en"]).

Prints JSON lines: one per side and variant (records and HTML pages read, CPU s,
records and pages per CPU-second, peak RSS of the process tree sampled every 0.2 s,
kept documents), the ratios, our CPU seconds per stage (stats.json's funnel) beside
datatrove's time per step, our CPU outside the stages split into start-up, reading and
the rest, the bytes the record-id dedup shuffles per page before
(HTML) and after (stage results) moving it behind the stages, and the machine load.
Pages per CPU-second uses the same denominator on both sides (HTML responses in the
files), so a side that reads fewer records is not flattered.

datatrove settings mirror ours: Trafilatura(favour_precision=True, deduplicate=False,
timeout=5), LanguageFilter(language_threshold=0.65) with FT176LID pointed at the same
lid.176.ftz (it would otherwise download lid.176.bin), URLFilter defaults (its own
embedded lists; tldextract told to use its bundled suffix list: no network).
"""
from __future__ import annotations

import argparse
import collections
import functools
import glob
import json
import logging
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time
from typing import Callable, Iterable

import psutil

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.io.warc import iter_warc_outcomes  # noqa: E402
from pipelines.stages.base import Drop, run_stages  # noqa: E402
from pipelines.stages.child_process import process_cpu_seconds  # noqa: E402
from pipelines.stages.extract import Extract  # noqa: E402
from pipelines.stages.langid import LanguageId, default_model_path  # noqa: E402
from pipelines.stages.url_filter import UrlFilter  # noqa: E402

DEFAULT_WARCS = str(REPO.parent / "shared" / "data" / "warc" / "real-pages-*.warc.gz")
DEFAULT_UT1 = REPO.parent / "shared" / "data" / "blocklists" / "ut1"


class CpuMeter:
    """CPU seconds of this process and all its children (live or finished) over a block."""

    def __enter__(self):
        self.wall = time.perf_counter()
        self.self_cpu = self._self_cpu()
        self.children_done = self._children_done()
        self.children_live = self._children_live()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        live = self._children_live()
        # A child alive at the start and gone at the end moved its time into RUSAGE_CHILDREN.
        gone = sum(t for pid, t in self.children_live.items() if pid not in live)
        children = (sum(t - self.children_live.get(pid, 0.0) for pid, t in live.items())
                    + self._children_done() - self.children_done - gone)
        self.cpu = self._self_cpu() - self.self_cpu + max(children, 0.0)

    @staticmethod
    def _self_cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    @staticmethod
    def _children_done():
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    @staticmethod
    def _children_live():
        times = {}
        for child in psutil.Process().children(recursive=True):
            try:
                t = child.cpu_times()
                times[child.pid] = t.user + t.system
            except psutil.Error:
                pass
        return times


def measure(label: str, n_docs: int, work: Callable[[], object]):
    with CpuMeter() as m:
        result = work()
    return {"step": label, "docs": n_docs, "cpu_s": m.cpu, "wall_s": m.wall,
            "docs_per_core_s": n_docs / m.cpu if m.cpu else float("inf")}, result


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


# ----------------------------------------------------------------------- ours
def ours_read(files: list[str], limit: int):
    docs = []
    for path in files:
        for outcome, doc in iter_warc_outcomes(path):
            if doc is not None:
                docs.append(doc)
                if limit and len(docs) >= limit:
                    return docs
    return docs


DROPS: collections.Counter = collections.Counter()


def apply(stage, docs: Iterable):
    kept = []
    for doc in docs:
        result = stage.process(doc)
        if isinstance(result, Drop):
            DROPS[f"{stage.name}.{result.reason}"] += 1
        else:
            kept.append(result)
    return kept


def isolation_overhead(isolated: Extract, docs) -> tuple[float, float, int, int]:
    """CPU per document in-process vs in the child, interleaved document by document
    (alternating which goes first) so both see the same machine load.
    Returns (in-process CPU s, isolated CPU s incl. the child, identical texts, docs)."""
    in_process = Extract(timeout_s=None)
    [in_process.process(d) for d in copy_docs(docs[:5])]  # warm-up
    cpu_in = cpu_iso = 0.0
    same = 0
    for i, doc in enumerate(docs):
        texts = {}
        for mode in (("in", "iso") if i % 2 == 0 else ("iso", "in")):
            copy = doc.copy()
            if mode == "in":
                t0 = time.process_time()
                result = in_process.process(copy)
                cpu_in += time.process_time() - t0
            else:
                pid = isolated._child.proc.pid
                t0, c0 = time.process_time(), process_cpu_seconds(pid)
                result = isolated.process(copy)
                c1 = process_cpu_seconds(pid)  # None if the child was replaced (timeout)
                cpu_iso += time.process_time() - t0 + ((c1 - c0) if None not in (c0, c1) else 0.0)
            texts[mode] = getattr(result, "text", None)
        same += texts["in"] == texts["iso"]
    return cpu_in, cpu_iso, same, len(docs)


def copy_docs(docs):
    return [d.copy() for d in docs]


# ----------------------------------------------------------------------- datatrove
def datatrove_steps(warc_glob: str, limit: int, languages: list[str] | None = None):
    """datatrove's steps, or None with the reason it cannot run here."""
    import datatrove.utils._import_utils as dt_imports
    import datatrove.utils.lid as dt_lid
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import LanguageFilter
    from datatrove.pipeline.readers import WarcReader

    # datatrove insists on the `fasttext-numpy2-wheel` distribution; our venv provides the
    # same `fasttext` module (predict API) through fasttext-predict, so accept that.
    is_distribution_available = dt_imports._is_distribution_available
    dt_imports._is_distribution_available = (
        lambda name: name == "fasttext-numpy2-wheel" or is_distribution_available(name))
    # Point datatrove's model "download" at the local file: no network at run time.
    dt_lid.FT176LID.MODEL_URL = str(default_model_path())
    folder, pattern = os.path.split(warc_glob)
    language_filter = LanguageFilter(languages=languages, language_threshold=0.65)
    # fasttext-predict returns scores as a tuple of floats where the official fasttext
    # wheel returns a NumPy array (datatrove calls .item()); adapt, same model file.
    import fasttext
    import numpy as np

    class NumpyScores:
        def __init__(self, model):
            self.model = model

        def predict(self, text, k=1):
            labels, scores = self.model.predict(text, k=k)
            return labels, np.asarray(scores)

    language_filter.model._model = NumpyScores(fasttext.load_model(str(default_model_path())))
    steps = {
        "read": WarcReader(folder, glob_pattern=pattern, limit=limit or -1),
        "extract": Trafilatura(favour_precision=True, timeout=5.0, deduplicate=False),
        "langid": language_filter,
    }
    try:
        import tldextract
        from datatrove.pipeline.filters import URLFilter

        # tldextract fetches the Public Suffix List over the network unless told to use
        # its bundled snapshot; no network at run time.
        if not isinstance(tldextract.TLDExtract, functools.partial):
            tldextract.TLDExtract = functools.partial(tldextract.TLDExtract, suffix_list_urls=())
        url_filter = URLFilter()
        with CpuMeter() as load:
            url_filter.download_data()  # loads its lists (done lazily on the first doc)
            url_filter.tldextractor("https://www.example.co.uk/")  # tldextract's lazy init
        url_filter.setup_cpu_s = load.cpu
        steps["url_filter"] = url_filter
    except ImportError as exc:
        steps["url_filter"] = f"skipped ({exc}; `pip install tldextract pyahocorasick` to include it)"
    return steps


def dt_run(step, docs):
    return list(step.run(iter(docs) if docs is not None else None, rank=0, world_size=1))


# ----------------------------------------------------------------------- job
def run_job(files: list[str], python: str):
    with tempfile.TemporaryDirectory() as out:
        m, _ = run_tree([python, "-m", "pipelines.clean", "--input", ",".join(files), "--output", out, "--no_report"])
        stats_path = pathlib.Path(out) / "stats.json"
        stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    return m, stats


def tree_rss_mb(pid: int) -> float:
    try:
        root = psutil.Process(pid)
        procs = [root] + root.children(recursive=True)
    except psutil.Error:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def print_table(rows, ref=None):
    print(f"{'step':<26}{'docs':>6}{'cpu s':>9}{'wall s':>9}{'docs/s/core':>13}{'vs datatrove':>14}")
    for r in rows:
        ratio = ""
        if ref and r["step"] in ref and isinstance(ref[r["step"]], dict):
            ratio = f"{r['docs_per_core_s'] / ref[r['step']]['docs_per_core_s']:.2f}x"
        print(f"{r['step']:<26}{r['docs']:>6}{r['cpu_s']:>9.2f}{r['wall_s']:>9.2f}{r['docs_per_core_s']:>13.1f}{ratio:>14}")


def front_steps_main(argv=None):
    """The front stages one by one against datatrove's (the older view of this benchmark)."""
    p = argparse.ArgumentParser(description="bench/clean.py --front_steps: " + __doc__.split("\n\n")[0])
    p.add_argument("--warcs", default=DEFAULT_WARCS, help="glob of WARC files (default: the 884 real pages)")
    p.add_argument("--limit", type=int, default=0, help="use only the first N HTML documents (0 = all)")
    p.add_argument("--blocklist_dir", default=str(DEFAULT_UT1) if DEFAULT_UT1.is_dir() else None,
                   help="UT1 folder for our URL filter (default: ../shared/data/blocklists/ut1)")
    p.add_argument("--no_datatrove", action="store_true", help="skip the datatrove comparison")
    p.add_argument("--datatrove_deps", help="folder with datatrove's URLFilter dependencies (tldextract, "
                   "pyahocorasick), e.g. from `pip install --target DIR tldextract pyahocorasick requests-file`")
    p.add_argument("--no_job", action="store_true", help="skip running python -m pipelines.clean")
    p.add_argument("--overhead_docs", type=int, default=300,
                   help="documents for the interleaved in-process vs child-process comparison")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)

    if args.datatrove_deps:
        sys.path.append(args.datatrove_deps)  # appended: the venv's own packages win
    files = sorted(glob.glob(args.warcs))
    if not files:
        raise SystemExit(f"no WARC files match {args.warcs!r}; pass --warcs 'path/*.warc.gz'")
    mb = sum(os.path.getsize(f) for f in files) / 1e6
    print(f"input: {len(files)} files, {mb:.1f} MB compressed ({args.warcs}); machine: {os.cpu_count()} cores")

    # -------- ours, step by step
    rows = []
    row, docs = measure("read", 0, lambda: ours_read(files, args.limit))
    row["docs"] = len(docs)
    row["docs_per_core_s"] = len(docs) / row["cpu_s"]
    html_mb = sum(len(d.payload) for d in docs) / 1e6
    rows.append(row)

    url_filter = UrlFilter(blocklist_dir=args.blocklist_dir)
    with CpuMeter() as url_load:
        url_filter.setup()
    row, after_url = measure("url_filter", len(docs), lambda: apply(url_filter, copy_docs(docs)))
    rows.append(row)

    isolated = Extract(timeout_s=5.0)
    with CpuMeter() as start:
        isolated.setup()
    # Warm up (lazy imports, trafilatura's first-call caches) before measuring.
    [isolated.process(d) for d in copy_docs(after_url[:5])]
    row, extracted_iso = measure("extract", len(after_url), lambda: apply(isolated, copy_docs(after_url)))
    rows.append(row)
    overhead = isolation_overhead(isolated, after_url[: args.overhead_docs])

    lid = LanguageId()
    lid.setup()
    row, after_lid = measure("langid", len(extracted_iso), lambda: apply(lid, copy_docs(extracted_iso)))
    rows.append(row)

    def chained():
        kept = 0
        for path in files:
            for outcome, doc in iter_warc_outcomes(path):
                if doc is not None:
                    kept += run_stages([url_filter, isolated, lid], doc)[0] is not None
        return kept

    if not args.limit:
        row, kept_chain = measure("front stages chained", len(docs), chained)
        rows.append(row)
    isolated.close()
    our_peak = peak_rss_mb()

    # -------- datatrove, step by step on its own reader's output
    ref = {}
    if not args.no_datatrove:
        steps = datatrove_steps(args.warcs, args.limit)
        ref_row, dt_docs = measure("read", 0, lambda: dt_run(steps["read"], None))
        ref_row["docs"] = len(dt_docs)
        ref_row["docs_per_core_s"] = len(dt_docs) / ref_row["cpu_s"]
        ref["read"] = ref_row
        if isinstance(steps["url_filter"], str):
            ref["url_filter"] = steps["url_filter"]
            dt_after_url = dt_docs
        else:
            ref["url_filter"], dt_after_url = measure("url_filter", len(dt_docs), lambda: dt_run(steps["url_filter"], dt_docs))
        ref["extract"], dt_extracted = measure("extract", len(dt_after_url), lambda: dt_run(steps["extract"], dt_after_url))
        ours_by_url = {d.url: d.text for d in extracted_iso}
        dt_by_url = {d.metadata.get("url"): d.text for d in dt_extracted}
        both = [u for u in ours_by_url if u in dt_by_url]
        def squash(text):
            return " ".join(text.split())

        agreement = (sum(ours_by_url[u] == dt_by_url[u].strip() for u in both),
                     sum(squash(ours_by_url[u]) == squash(dt_by_url[u]) for u in both), len(both),
                     len(set(dt_by_url) - set(ours_by_url)), len(set(ours_by_url) - set(dt_by_url)))
        ref["langid"], dt_kept = measure("langid", len(dt_extracted), lambda: dt_run(steps["langid"], dt_extracted))
        if not args.limit:
            fresh = datatrove_steps(args.warcs, args.limit)
            chain = [fresh[k] for k in ("read", "url_filter", "extract", "langid") if not isinstance(fresh[k], str)]

            def dt_chained():
                data = None
                for step in chain:
                    data = step.run(data, rank=0, world_size=1)
                return sum(1 for _ in data)

            ref["front stages chained"], dt_kept_chain = measure("front stages chained", len(dt_docs), dt_chained)

    print()
    print("ours (and our/datatrove docs-per-core ratio):")
    print_table(rows, ref)
    print(f"extract child start: {start.wall:.2f}s wall")
    cpu_in, cpu_iso, same, n = overhead
    print(f"isolation overhead (child process per worker), interleaved A/B over {n} docs: "
          f"{100 * (cpu_iso / cpu_in - 1):+.1f}% CPU ({cpu_in:.2f}s in-process vs {cpu_iso:.2f}s isolated); "
          f"texts identical {same}/{n}")
    print(f"read: {html_mb / next(r for r in rows if r['step'] == 'read')['cpu_s']:.1f} MB/s per core of HTML "
          f"({html_mb:.1f} MB); kept after url_filter {len(after_url)}, extract {len(extracted_iso)}, langid {len(after_lid)}")
    print(f"peak RSS of this process after our stages: {our_peak:.0f} MB")
    print(f"our url_filter: lists loaded in {url_load.cpu:.2f}s CPU ({len(url_filter._domains)} domains, "
          f"{sum(map(len, url_filter._url_prefixes.values()))} url prefixes, categories "
          f"{','.join(url_filter.categories or ['all'])})")
    print(f"our drops (one pass per step): "
          f"{dict(sorted(DROPS.items()))}")
    if ref:
        print()
        print("datatrove:")
        print_table([r for r in ref.values() if isinstance(r, dict)])
        if isinstance(ref["url_filter"], str):
            print(f"datatrove url_filter {ref['url_filter']}")
        else:
            dt_uf = steps["url_filter"]
            print(f"datatrove url_filter: lists loaded in {dt_uf.setup_cpu_s:.2f}s CPU "
                  f"({len(dt_uf.block_listed_domains)} domains, {len(dt_uf.block_listed_url)} urls); "
                  f"dropped {len(dt_docs) - len(dt_after_url)}")
        print(f"extracted text identical to datatrove's on {agreement[0]}/{agreement[2]} common pages "
              f"({agreement[1]} up to whitespace: we strip trailing spaces); "
              f"only datatrove kept {agreement[3]}, only we kept {agreement[4]}")
        print(f"datatrove kept: read {len(dt_docs)}, extract {len(dt_extracted)}, langid {len(dt_kept)}")
        print(f"peak RSS of this process after datatrove too: {peak_rss_mb():.0f} MB")

    if not args.no_job and not args.limit:
        if (REPO / "pipelines" / "clean.py").exists():
            m, stats = run_job(files, sys.executable)
            n = stats.get("records_read") or stats.get("records") or len(docs)
            print()
            print(f"end to end `python -m pipelines.clean` (all its stages, DirectRunner): {m.wall:.1f}s wall, "
                  f"{m.cpu:.1f}s CPU -> {len(docs) / m.cpu:.1f} HTML docs/s per core; "
                  f"peak RSS of the job's process tree {m.peak_tree_rss_mb:.0f} MB (sampled every 0.2 s)")
            summary = {k: v for k, v in stats.items() if isinstance(v, (int, float))}
            print(f"job stats: {json.dumps(summary)[:600]}")
        else:
            print("pipelines/clean.py not found: end-to-end figure is the in-process chain above")




# ----------------------------------------------------------------------- end to end
RATES_FILE = REPO / "pipelines" / "resources" / "stage_rates.json"
VARIANTS = {"all": None, "en": "en"}


def load_now() -> dict:
    one, five, fifteen = os.getloadavg()
    return {"load_1m": round(one, 2), "load_5m": round(five, 2), "cores": os.cpu_count()}


def run_tree(cmd: list[str]) -> tuple[CpuMeter, str]:
    """Run ``cmd``, return its process tree's CPU (CpuMeter) with the peak tree RSS, and its output."""
    with CpuMeter() as m, tempfile.TemporaryFile("w+") as log_file:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT, text=True)
        m.peak_tree_rss_mb = 0.0
        while proc.poll() is None:  # sample the whole process tree (workers, children)
            m.peak_tree_rss_mb = max(m.peak_tree_rss_mb, tree_rss_mb(proc.pid))
            time.sleep(0.2)
        log_file.seek(0)
        output = log_file.read()
    if proc.returncode != 0:
        print(output[-3000:], file=sys.stderr)
        raise SystemExit(f"failed (exit {proc.returncode}): {' '.join(cmd)}")
    return m, output


def ours_end_to_end(files: list[str], languages: str | None, extra: list[str]) -> tuple[CpuMeter, dict]:
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "pipelines.clean", "--input", ",".join(files), "--output", out,
               "--no_report", "--direct_num_workers=1"] + (["--languages", languages] if languages else []) + extra
        m, _ = run_tree(cmd)
        stats = json.loads((pathlib.Path(out) / "stats.json").read_text())
    return m, stats


def datatrove_end_to_end(warcs: str, languages: str | None, deps: str | None) -> tuple[CpuMeter, dict]:
    cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--datatrove_child", "--warcs", warcs]
    cmd += (["--languages", languages] if languages else []) + (["--datatrove_deps", deps] if deps else [])
    m, output = run_tree(cmd)
    line = next(ln for ln in reversed(output.splitlines()) if ln.startswith("{"))
    return m, json.loads(line)


def datatrove_child(warcs: str, languages: str | None) -> None:
    """Run datatrove's full recipe in this process; print one JSON line of counts."""
    from datatrove.pipeline.filters import (
        C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter,
    )
    from datatrove.pipeline.formatters import PIIFormatter

    steps = datatrove_steps(warcs, 0, [languages] if languages else None)
    if isinstance(steps["url_filter"], str):
        raise SystemExit(f"datatrove URLFilter {steps['url_filter']}")
    chain = [steps["read"], steps["url_filter"], steps["extract"], steps["langid"],
             GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(filter_no_terminal_punct=False),
             FineWebQualityFilter(), PIIFormatter()]
    read = collections.Counter()

    def counted(docs):
        for doc in docs:
            read["docs"] += 1
            yield doc

    data = None
    for i, step in enumerate(chain):
        data = step.run(data, rank=0, world_size=1)
        if i == 0:
            data = counted(data)
    kept = sum(1 for _ in data)
    per_step = {}
    for step in chain:
        total = step.stats.get("total") if hasattr(step.stats, "get") else None
        timing = getattr(step.stats, "time_stats", None)
        per_step[step.name] = {"wall_s": round(timing.total, 3) if timing is not None else None,
                               "docs": getattr(total, "total", None)}
    print(json.dumps({"read": read["docs"], "kept": kept, "steps": per_step}))


def html_pages(files: list[str]) -> int:
    return sum(1 for f in files for outcome, _ in iter_warc_outcomes(f) if outcome == "ok")


def shuffle_bytes_per_page(files: list[str], args) -> dict:
    """Bytes the record-id dedup shuffles per HTML page, as Beam's coder encodes them: the
    old keyed (id, Document with HTML) and the new keyed (id, StagedRecord) after the
    stages (the job's own ApplyStages, run here on the same records)."""
    from apache_beam.coders import FastPrimitivesCoder

    from pipelines.beam.apply_stages import ApplyStages
    from pipelines.clean import build_arg_parser, build_stages

    job_args = build_arg_parser().parse_args(["--output", "unused"] + (["--languages", args.languages_for_shuffle]
                                                                     if args.languages_for_shuffle else []))
    apply = ApplyStages(build_stages(job_args))
    apply.setup()
    coder = FastPrimitivesCoder()
    before = after = pages = 0
    try:
        for path in files:
            for outcome, doc in iter_warc_outcomes(path):
                if outcome != "ok":
                    continue
                pages += 1
                before += len(coder.encode((doc.id, doc)))
                for _, staged in apply.process((outcome, doc)):
                    after += len(coder.encode((staged.id, staged)))
    finally:
        apply.teardown()
    return {"pages": pages, "before_bytes_per_page": round(before / pages), "after_bytes_per_page": round(after / pages),
            "reduction": round(before / after, 1) if after else None}


def stage_cpu(stats: dict) -> dict:
    return {r["stage"]: r.get("cpu_s") for r in stats.get("funnel", []) if r.get("cpu_s") is not None}


def fixed_costs(files: list[str]) -> dict:
    """What the per-page rates must not scale: the job's start-up (imports, models, the
    extraction child; measured as the whole job on a file with no HTML page) and, for
    the split of the rest, reading the WARC files alone (this process, in-process)."""
    empty = REPO.parent / "shared" / "data" / "warc" / "edge" / "revisit-only.warc.gz"
    startup, _ = ours_end_to_end([str(empty)], None, [])
    with CpuMeter() as read:
        for path in files:
            for _ in iter_warc_outcomes(path):
                pass
    return {"startup_cpu_s": startup.cpu, "read_cpu_s": read.cpu}


def write_rates(result: dict, pages: int, files: list[str]) -> None:
    """Update the clean section of the measurements file pipelines.plan_crawl projects from."""
    rates = json.loads(RATES_FILE.read_text()) if RATES_FILE.exists() else {}
    ours, m = result["stats"], result["meter"]
    fixed = result["fixed"]  # measured by main() before it writes the rates
    stages_cpu = stage_cpu(ours)
    funnel = {r["stage"]: r for r in ours["funnel"]}
    stages = {name: {"cpu_s_per_page": round(cpu / pages, 6), "cpu_s": cpu} for name, cpu in stages_cpu.items()}
    beam_cpu = m.cpu - fixed["startup_cpu_s"] - fixed["read_cpu_s"] - sum(stages_cpu.values())
    rates["clean"] = {
        "source": "bench/clean.py --write_rates: python -m pipelines.clean --direct_num_workers=1, all languages, "
                  "default flags; CPU of the process tree",
        "measured": time.strftime("%Y-%m-%d"),
        "input": f"{len(files)} WARC files, {pages} HTML pages "
                 f"({sum(os.path.getsize(f) for f in files) / 1e6:.1f} MB compressed)",
        "html_bytes_per_page": round(funnel["warc"]["bytes"] / funnel["warc"]["documents"]),
        "text_bytes_per_kept_page": round(ours["funnel"][-1]["bytes"] / max(ours["documents_kept"], 1)),
        "kept_share_of_pages": round(ours["documents_kept"] / pages, 4),
        "job_cpu_s": round(m.cpu, 2),
        "job_cpu_s_per_page": round(m.cpu / pages, 6),
        "startup_cpu_s_per_process": round(fixed["startup_cpu_s"], 2),
        "read_cpu_s_per_page": round(fixed["read_cpu_s"] / pages, 6),
        "beam_cpu_s_per_page": round(max(beam_cpu, 0.0) / pages, 6),
        "beam_is": "the job's CPU less start-up, reading and the stages: Beam moving and encoding elements, "
                   "the record-id shuffle, writing Parquet and stats",
        "stages": stages,
        "peak_worker_rss_mb": round(m.peak_tree_rss_mb),
        "peak_worker_rss_is": "the job's whole process tree (one worker and its extraction child), sampled every 0.2 s",
        "shuffle_bytes_per_page": result.get("shuffle", {}).get("after_bytes_per_page"),
        "load": result["load"],
    }
    RATES_FILE.write_text(json.dumps(rates, indent=2) + "\n")
    print(json.dumps({"wrote": str(RATES_FILE.relative_to(REPO)), **{k: round(v, 2) for k, v in fixed.items()}}))


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--front_steps" in argv:
        argv.remove("--front_steps")
        return front_steps_main(argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--warcs", default=DEFAULT_WARCS, help="glob of WARC files (default: the 884 real pages)")
    p.add_argument("--variants", default="all,en", help="comma-separated: all (every language), en (--languages en on "
                   "both sides); default both")
    p.add_argument("--no_datatrove", action="store_true", help="only our job")
    p.add_argument("--no_shuffle", action="store_true", help="skip the bytes-shuffled-per-page measurement")
    p.add_argument("--write_rates", action="store_true",
                   help=f"update the clean section of {RATES_FILE.relative_to(REPO)} from the 'all' run")
    p.add_argument("--job_args", default="", help="extra flags for python -m pipelines.clean (space-separated)")
    p.add_argument("--datatrove_deps", help="folder with datatrove's URLFilter dependencies if not in the venv")
    p.add_argument("--datatrove_child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--languages", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    if args.datatrove_deps:
        sys.path.append(args.datatrove_deps)  # appended: the venv's own packages win
    if args.datatrove_child:
        return datatrove_child(args.warcs, args.languages)

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        p.error(f"--variants: unknown {sorted(unknown)}; choose from {sorted(VARIANTS)}")
    files = sorted(glob.glob(args.warcs))
    if not files:
        p.error(f"no WARC files match {args.warcs!r}; pass --warcs 'path/*.warc.gz'")
    pages = html_pages(files)
    print(json.dumps({"input": args.warcs, "files": len(files), "html_pages": pages,
                      "compressed_mb": round(sum(os.path.getsize(f) for f in files) / 1e6, 1), **load_now()}))
    results = {}
    for variant in variants:
        languages = VARIANTS[variant]
        load_before = load_now()
        m, stats = ours_end_to_end(files, languages, args.job_args.split())
        ours = {"bench": "clean_end_to_end", "side": "ours", "languages": variant,
                "records": stats["records_read"], "pages": pages, "kept": stats["documents_kept"],
                "cpu_s": round(m.cpu, 2), "wall_s": round(m.wall, 1),
                "records_per_cpu_s": round(stats["records_read"] / m.cpu, 2),
                "pages_per_cpu_s": round(pages / m.cpu, 2), "peak_tree_rss_mb": round(m.peak_tree_rss_mb),
                "stage_cpu_s": stage_cpu(stats),
                # The job's CPU that no stage accounts for: start-up (imports, building and
                # translating the Beam graph, the extraction child's start), reading the
                # WARCs, Beam moving elements, writing Parquet and stats.
                "outside_stages_cpu_s": round(m.cpu - sum(stage_cpu(stats).values()), 2),
                "load_before": load_before, "load_after": load_now()}
        print(json.dumps(ours))
        results[variant] = {"stats": stats, "meter": m, "load": ours["load_after"]}
        if args.no_datatrove:
            continue
        load_before = load_now()
        m_dt, dt = datatrove_end_to_end(args.warcs, languages, args.datatrove_deps)
        theirs = {"bench": "clean_end_to_end", "side": "datatrove", "languages": variant,
                  "records": dt["read"], "pages": pages, "kept": dt["kept"],
                  "cpu_s": round(m_dt.cpu, 2), "wall_s": round(m_dt.wall, 1),
                  "records_per_cpu_s": round(dt["read"] / m_dt.cpu, 2),
                  "pages_per_cpu_s": round(pages / m_dt.cpu, 2), "peak_tree_rss_mb": round(m_dt.peak_tree_rss_mb),
                  "step_wall_s": {k: v["wall_s"] for k, v in dt["steps"].items()},
                  "load_before": load_before, "load_after": load_now()}
        print(json.dumps(theirs, ensure_ascii=False))
        print(json.dumps({"bench": "clean_end_to_end", "ratio": "ours/datatrove", "languages": variant,
                          "records_per_cpu_s": round(ours["records_per_cpu_s"] / theirs["records_per_cpu_s"], 2),
                          "pages_per_cpu_s": round(ours["pages_per_cpu_s"] / theirs["pages_per_cpu_s"], 2)}))
    if "all" in results:
        # Where the job's CPU outside its stages goes: start-up (the whole job on a WARC
        # with no HTML page), reading the WARCs alone, and the rest (Beam moving and
        # encoding elements, the record-id shuffle, Parquet, stats.json, garbage collection).
        fixed = results["all"]["fixed"] = fixed_costs(files)
        outside = results["all"]["meter"].cpu - sum(stage_cpu(results["all"]["stats"]).values())
        print(json.dumps({"bench": "clean_outside_stages", "languages": "all", "outside_stages_cpu_s": round(outside, 2),
                          **{k: round(v, 2) for k, v in fixed.items()},
                          "rest_cpu_s": round(outside - fixed["startup_cpu_s"] - fixed["read_cpu_s"], 2),
                          "load": load_now()}))
    if not args.no_shuffle:
        args.languages_for_shuffle = None
        shuffle = {"bench": "record_id_dedup_shuffle", **shuffle_bytes_per_page(files, args)}
        print(json.dumps(shuffle))
        if "all" in results:
            results["all"]["shuffle"] = shuffle
    if args.write_rates:
        if "all" not in results:
            p.error("--write_rates needs the 'all' variant")
        write_rates(results["all"], pages, files)


if __name__ == "__main__":
    main()
