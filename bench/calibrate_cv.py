"""How well the per-language calibration generalizes: k-fold cross-validation inside its own pages.

    .venv/bin/python bench/calibrate_cv.py [--folds 5] [--documents DIR] [--json] [--plot FILE.svg]
                                           [--setting NAME:key=value,... ...]

bench/calibrate_languages.py fits each language's thresholds to its good calibration
pages (calibration_rows(): dev and the German holdouts). Its in-sample recall says little
about unseen pages: a row's limit sits at the worst good page it saw, and ~20 rows each
losing an unseen tail page compound (issue #15: dev recall 0.97, test 0.80-0.94). This
script measures that gap without reading test or holdout3: the calibration pages are cut
into k folds (stratified by language group and label, assigned by a hash of the page id),
the calibration runs on k-1 folds and the held-out fold is filtered with the result;
precision and recall of "keep" are pooled over the k held-out folds. Each setting is one
choice of the calibration's own parameters, so the setting to calibrate with is chosen
without a held-out split.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import io
import json
import os
import pathlib
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from calibrate_languages import DEFAULTS, calibrated_tables, calibration_rows, check_params, filter_stages_with  # noqa: E402
from quality_labelled import group_of, labelled_documents, scores  # noqa: E402

# name: parameters of calibrate_languages.calibrated_tables (the rest from its DEFAULTS).
SETTINGS = {
    "final (the default)": {},
    "session 5's parameters": {"max_keep_share": 0.0, "tail_margin": 0.0},
    "layout rows pooled (en, de, other)": {"pool_spaced": True},
    "no tail margin": {"tail_margin": 0.0},
    "per-row step only": {"recall_target": 0.0},
    "tail margin 0.5": {"tail_margin": 0.5},
    "min keep share 0.99": {"min_keep_share": 0.99},
    "recall target 1.0": {"recall_target": 1.0},
}
PARAMS = ("min_keep_share", "max_keep_share", "recall_target", "max_row_change", "tail_margin", "pool_spaced")


def folds(rows: list[dict], k: int) -> list[list[dict]]:
    """k folds whose counts per (group, label) differ by at most one (round-robin over each
    stratum sorted by a hash of the page id; the first folds take the remainders), the same
    on every run."""
    strata: dict = collections.defaultdict(list)
    for r in rows:
        strata[(group_of(r["language"]), r["label"])].append(r)
    out: list[list[dict]] = [[] for _ in range(k)]
    for members in strata.values():
        members.sort(key=lambda r: hashlib.sha256(r["id"].encode()).hexdigest())
        for rank, r in enumerate(members):
            out[rank % k].append(r)
    return out


def cross_validate(setting: dict, rows: list[dict], docs: dict, k: int, documents: str | None) -> dict:
    from pipelines.stages.base import run_stages
    verdicts: dict = {}
    for held_out in folds(rows, k):
        held = {r["id"] for r in held_out}
        train = [r for r in rows if r["id"] not in held]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            tables = calibrated_tables(documents, train, verbose=False, **setting)
        stages = filter_stages_with(tables)
        for r in held_out:
            if r["id"] in docs:
                kept, key, _ = run_stages(stages, docs[r["id"]])
                verdicts[r["id"]] = (kept, key)
    lost = collections.Counter(f"{group_of(r['language'])} {verdicts[r['id']][1]}" for r in rows
                               if r["id"] in verdicts and r["label"] == "keep" and verdicts[r["id"]][0] is None)
    return {"scores": scores(rows, verdicts, "all"), "lost": dict(lost.most_common())}


def parse_setting(text: str) -> tuple[str, dict]:
    """NAME:key=value,... (keys: PARAMS; "NAME:" alone is the default setting) -> (NAME, {key: value})."""
    example = "e.g. 'wide:tail_margin=0.5,recall_target=1' or 'final:'"
    name, colon, values = text.partition(":")
    if not colon or not name.strip():
        raise ValueError(f"--setting {text!r}: give NAME:key=value,... ({example})")
    setting = {}
    for part in filter(None, values.split(",")):
        key, _, value = part.partition("=")
        if key not in PARAMS:
            raise ValueError(f"--setting {text!r}: {key!r} is not one of {', '.join(PARAMS)} ({example})")
        try:
            setting[key] = float(value)
        except ValueError:
            raise ValueError(f"--setting {text!r}: {key} must be a number") from None
    if "pool_spaced" in setting:
        if setting["pool_spaced"] not in (0.0, 1.0):
            raise ValueError(f"--setting {text!r}: pool_spaced must be 0 or 1")
        setting["pool_spaced"] = bool(setting["pool_spaced"])
    try:
        check_params({**DEFAULTS, **setting})
    except ValueError as e:
        raise ValueError(f"--setting {text!r}: {e}") from None
    return name.strip(), setting


def plot(results: dict, path: str) -> None:
    """Out-of-fold recall and precision per language group, one row of dots per setting."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipelines.report.kit import chart_style
    groups = ("en", "de", "zh", "other", "all")
    names = list(results)
    with plt.rc_context(chart_style("calibrate_cv")):
        fig, axes = plt.subplots(1, 2, figsize=(9, 0.45 * len(names) + 1.2), sharey=True)
        for ax, metric in zip(axes, ("recall", "precision")):
            for i, group in enumerate(groups):
                values = [results[n]["scores"].get(group, {}).get(metric) for n in names]
                ax.scatter(values, [k + (i - 2) * 0.1 for k in range(len(names))], s=14, label=group)
            ax.set_title(f"out-of-fold {metric} of keep")
            if metric == "recall":
                ax.axvline(0.95, color="grey", lw=0.6, ls="--")  # the goal
            ax.set_yticks(range(len(names)), names)
        axes[0].invert_yaxis()  # the axes share y: invert once, first setting on top
        axes[1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
        fig.tight_layout()
        fig.savefig(path, metadata={"Date": None, "Creator": None} if path.endswith(".svg") else None)
        plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--documents", default=None, help="as in bench/quality_labelled.py")
    parser.add_argument("--setting", action="append", default=[],
                        help="NAME:key=value,... over the calibration's parameters (repeatable; default: the built-in grid)")
    parser.add_argument("--json", action="store_true", help="one JSON line per setting instead of a table")
    parser.add_argument("--plot", default=None, help="also write a chart (.svg or .png) of recall and precision per setting")
    args = parser.parse_args()
    if args.folds < 2:
        parser.error("--folds must be at least 2")
    try:
        parsed = [parse_setting(s) for s in args.setting]
    except ValueError as e:
        parser.error(str(e))
    if len({name for name, _ in parsed}) < len(parsed):
        parser.error("--setting: each setting needs its own NAME")
    settings = dict(parsed) or SETTINGS
    if args.plot and not args.plot.endswith((".svg", ".png")):
        parser.error(f"--plot {args.plot!r}: name a .svg or .png file")
    if args.plot and not os.path.isdir(os.path.dirname(os.path.abspath(args.plot))):
        parser.error(f"--plot {args.plot!r}: its folder does not exist")
    rows = [r for r in calibration_rows() if r["language"] != "ja"]
    docs = labelled_documents(rows, args.documents)
    if not args.json:  # --json: nothing but one JSON line per setting on stdout
        print(f"{len(rows)} calibration pages, {args.folds} folds; out-of-fold precision / recall of keep "
              f"(keep ok / keep lost / drop kept / drop ok)\n")
    results = {}
    for name, setting in settings.items():
        cpu = time.process_time()
        result = results[name] = cross_validate(setting, rows, docs, args.folds, args.documents)
        cpu = time.process_time() - cpu
        if args.json:
            print(json.dumps({"setting": name, "params": {**DEFAULTS, **setting}, **result, "cpu_s": round(cpu, 1),
                              "load_avg": os.getloadavg()[0]}))
            continue
        cells = "  ".join(f"{g} {s['precision']:.3f}/{s['recall']:.3f} ({s['tp']}/{s['fn']}/{s['fp']}/{s['tn']})"
                          for g, s in result["scores"].items() if s["precision"] is not None)
        print(f"{name} [{cpu:.0f} CPU s, load {os.getloadavg()[0]:.1f}]\n  {cells}\n  good pages lost out of fold: "
              + ", ".join(f"{k} x{n}" for k, n in result["lost"].items()), flush=True)
    if args.plot:
        plot(results, args.plot)
        print(f"chart: {args.plot}")


if __name__ == "__main__":
    main()
