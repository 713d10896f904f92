"""CPU of the five quality stages, old code (a git revision) against the working tree, and
proof that both give the same outputs.

    .venv/bin/python bench/quality_stage_cost.py                 # HEAD vs working tree
    .venv/bin/python bench/quality_stage_cost.py --old_ref HEAD~1 --repeats 5
    .venv/bin/python bench/quality_stage_cost.py --disable lines --repeats 1 --rounds 1   # FineWeb's recipe

Input: what the clean job hands the quality stages. `python -m pipelines.clean` runs with
the quality stages and PII skipped (URL filter, extraction and language id as the job
does them) over every shared WARC (../shared/data/warc/*.warc.gz) and the Chinese news
pages (../shared/data/zh/*.warc.gz); its Parquet output is kept in a temp folder keyed by
the inputs, so reruns skip it (--rebuild redoes it).

The stages (lines, gopher_repetition, gopher_quality, c4, fineweb, built from the default
config) run in a fresh worker process per side: the old side imports `pipelines` from a
`git archive` of ``--old_ref``, the new side from this checkout. Workers of the two sides
alternate (--repeats each), so machine load hits both alike. A worker first runs
``run_stages`` once per document and records the outcome (kept or drop key, final text,
every signal as repr(), so floats compare bit for bit), then times ``--rounds`` passes of
the same chain, CPU (time.process_time) per stage. Printed: the CPU per stage and in all
(minimum over workers and rounds, and the median), how many documents were compared and
how many differ (the first differences in full); exit status 1 when any differs.
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
DEFAULT_INPUTS = (str(SHARED / "warc" / "*.warc.gz"), str(SHARED / "zh" / "*.warc.gz"))
QUALITY_STAGES = ("lines", "gopher_repetition", "gopher_quality", "c4", "fineweb")


def build_inputs(patterns: list[str], rebuild: bool) -> list[str]:
    """Parquet files of the documents as they reach the quality stages (one clean run per pattern)."""
    key = hashlib.sha256("\n".join(patterns).encode()).hexdigest()[:12]
    base = pathlib.Path(tempfile.gettempdir()) / f"quality_stage_cost-{key}"
    files = []
    for i, pattern in enumerate(patterns):
        if not glob.glob(pattern):
            sys.exit(f"no input matches {pattern} (the shared data is missing?)")
        out = base / str(i)
        if rebuild or not (out / "_SUCCESS").exists():
            subprocess.run([sys.executable, "-m", "pipelines.clean", "--input", pattern, "--output", str(out),
                            "--skip_stages", ",".join((*QUALITY_STAGES, "pii")), "--no_report", "--num_shards", "1"],
                           cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        files += sorted(glob.glob(str(out / "documents" / "*.parquet")))
    return files


def old_tree(ref: str, root: pathlib.Path) -> pathlib.Path:
    """``root``, now holding ``pipelines/`` as of ``ref``."""
    root.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "--format=tar", ref, "pipelines"], cwd=REPO, check=True,
                             capture_output=True).stdout
    tar_path = root / "old.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(root)
    tar_path.unlink()
    return root


def worker(root: str, files: list[str], rounds: int, out: str, disable: list[str]) -> None:
    """Runs in its own process: import ``pipelines`` from ``root``, record outcomes, time the stages."""
    sys.path.insert(0, root)
    import pipelines
    assert pathlib.Path(pipelines.__file__).resolve().is_relative_to(pathlib.Path(root).resolve()), pipelines.__file__
    from pipelines.config import build_filter_stages, load_config
    from pipelines.io.documents import iter_parquet_documents
    from pipelines.stages.base import Drop, run_stages

    config = load_config(None)
    for name in config["order"]:
        if name not in QUALITY_STAGES or name in disable:
            config[name]["enabled"] = False
    stages = build_filter_stages(config)
    assert tuple(s.name for s in stages) == tuple(n for n in QUALITY_STAGES if n not in disable), stages
    docs = [d for path in files for d in iter_parquet_documents(path)]

    outcomes = {}
    for d in docs:
        kept, key, dropped = run_stages(stages, d)
        final = kept or dropped
        outcomes[d.id] = [key, final.text, {k: repr(v) for k, v in sorted(final.signals.items())}]

    cpu_rounds = []
    for _ in range(rounds):
        cpu = dict.fromkeys(QUALITY_STAGES, 0.0)  # a disabled stage stays at 0
        for d in docs:
            d = d.copy()  # as run_stages does
            for stage in stages:
                start = time.process_time()
                result = stage.process(d)
                cpu[stage.name] += time.process_time() - start
                if isinstance(result, Drop):
                    break
                d = result
        cpu_rounds.append(cpu)
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"outcomes": outcomes, "cpu": cpu_rounds, "chars": sum(len(d.text) for d in docs)}, f)


def run_worker(root: pathlib.Path, files: list[str], rounds: int, tmp: pathlib.Path, tag: str,
               disable: list[str]) -> dict:
    out = tmp / f"{tag}.json"
    subprocess.run([sys.executable, __file__, "--worker", str(root), "--rounds", str(rounds), "--out", str(out),
                    "--disable", ",".join(disable), *files], cwd=root, check=True)
    with open(out, encoding="utf-8") as f:
        return json.load(f)


def compare(old: dict, new: dict, show: int = 5) -> list[str]:
    diffs = []
    for doc_id in sorted(set(old) | set(new)):
        a, b = old.get(doc_id), new.get(doc_id)
        if a == b:
            continue
        if a is None or b is None:
            diffs.append(f"{doc_id}: only on the {'new' if a is None else 'old'} side")
            continue
        what = []
        if a[0] != b[0]:
            what.append(f"drop {a[0]} -> {b[0]}")
        if a[1] != b[1]:
            what.append(f"text differs ({len(a[1])} -> {len(b[1])} chars)")
        for k in sorted(set(a[2]) | set(b[2])):
            if a[2].get(k) != b[2].get(k):
                what.append(f"{k}: {a[2].get(k)} -> {b[2].get(k)}")
        diffs.append(f"{doc_id}: " + "; ".join(what))
    for line in diffs[:show]:
        print("DIFF", line, file=sys.stderr)
    return diffs


def summary(results: list[dict]) -> dict:
    rounds = [r for res in results for r in res["cpu"]]
    totals = [sum(r.values()) for r in rounds]
    out = {name: {"min": round(min(r[name] for r in rounds), 3),
                  "median": round(statistics.median(r[name] for r in rounds), 3)} for name in QUALITY_STAGES}
    out["total"] = {"min": round(min(totals), 3), "median": round(statistics.median(totals), 3)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inputs", nargs="*", default=list(DEFAULT_INPUTS), help="WARC globs, one clean run each")
    ap.add_argument("--old_ref", default="HEAD", help="git revision of the old code")
    ap.add_argument("--repeats", type=int, default=3, help="worker processes per side, interleaved")
    ap.add_argument("--rounds", type=int, default=2, help="timed passes per worker")
    ap.add_argument("--rebuild", action="store_true", help="rerun the clean job for the inputs")
    ap.add_argument("--disable", default="", help="comma-separated quality stages to switch off on both sides "
                                                  "(e.g. lines: the FineWeb recipe, raw extracted text)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    disable = [name for name in args.disable.split(",") if name]
    # Checked before the clean job builds the inputs: a typo would otherwise be measured as given.
    unknown = sorted(set(disable) - set(QUALITY_STAGES))
    if unknown:
        ap.error(f"--disable {','.join(unknown)}: not a quality stage; choose from {', '.join(QUALITY_STAGES)}")
    if args.repeats < 1 or args.rounds < 1:
        ap.error("--repeats and --rounds must be >= 1")
    if not args.worker and subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{args.old_ref}^{{commit}}"],
                                          cwd=REPO, stdout=subprocess.DEVNULL).returncode:
        ap.error(f"--old_ref {args.old_ref}: not a commit of this repository")
    if args.worker:
        worker(args.worker, args.files, args.rounds, args.out, disable)
        return

    files = build_inputs(args.inputs, args.rebuild)
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        old_root = old_tree(args.old_ref, pathlib.Path(tmp) / "old")
        for i in range(args.repeats):
            for side, root in (("old", old_root), ("new", REPO)):
                runs[side].append(run_worker(root, files, args.rounds, pathlib.Path(tmp), f"{side}{i}", disable))
    diffs = compare(runs["old"][0]["outcomes"], runs["new"][0]["outcomes"])
    # Each side is deterministic from one worker to the next.
    for side, results in runs.items():
        assert all(r["outcomes"] == results[0]["outcomes"] for r in results), f"{side} side not deterministic"
    old, new = summary(runs["old"]), summary(runs["new"])
    outcomes = runs["new"][0]["outcomes"]
    print(json.dumps({"documents_compared": len(outcomes), "kept": sum(v[0] is None for v in outcomes.values()),
                      "chars_in": runs["new"][0]["chars"], "differences": len(diffs), "old_ref": args.old_ref,
                      "disabled": disable}))
    for name in (*QUALITY_STAGES, "total"):
        print(json.dumps({"stage": name, "old_cpu_s": old[name], "new_cpu_s": new[name],
                          "saved_min_s": round(old[name]["min"] - new[name]["min"], 3)}))
    print(json.dumps({"load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(),
                      "repeats": args.repeats, "rounds": args.rounds}))
    sys.exit(1 if diffs else 0)


if __name__ == "__main__":
    main()
