"""results.json and report.html of an ablation.

results.json holds, per variant: documents, kept share and tokens; per variant, seed and
evaluation set: loss (nats/token) and bits per byte; per evaluation set and variant: the
mean and standard deviation over seeds and the paired comparison with the baseline
(difference per seed, its mean and spread, a paired t-test and a sign count). It holds no
time, path or host, so the same spec and data give the same file.

"Exceeds the seed-to-seed spread" (the report's verdict line): the mean difference to the
baseline is larger than twice the larger of the two variants' standard deviations over
seeds, i.e. larger than what changing only the seed moves a result. The paired t-test
says the same thing more formally; with 3 seeds it needs a large, consistent effect.
"""
from __future__ import annotations

import html
import json
import math
import os
import statistics
from typing import Optional

from pipelines import completion
from pipelines.io.shards import read_manifest
from pipelines.report import kit

SPREAD_FACTOR = 2.0  # |mean difference| > SPREAD_FACTOR x seed std: "exceeds the seed-to-seed spread"
METRIC = "bits_per_byte"
COLORS = ("#2f6db5", "#d9822b", "#3a9e5a", "#b83b5e", "#7b5ea7", "#8c6d31", "#17a2b8", "#555555")


def _mean_std(values: list) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def paired(variant: list, baseline: list) -> dict:
    """Paired comparison by seed: differences (variant - baseline), their mean and std,
    a two-sided paired t-test (None with one seed), and how many seeds are lower."""
    deltas = [v - b for v, b in zip(variant, baseline)]
    out = {"per_seed": deltas, **_mean_std(deltas), "lower_in": sum(d < 0 for d in deltas), "seeds": len(deltas)}
    out["t"], out["p"] = None, None
    if len(deltas) > 1:
        if out["std"] == 0:
            out["t"] = 0.0 if out["mean"] == 0 else math.copysign(math.inf, out["mean"])
            out["p"] = 1.0 if out["mean"] == 0 else 0.0
        else:
            from scipy import stats

            t, p = stats.ttest_rel(variant, baseline)
            out["t"], out["p"] = float(t), float(p)
    return out


# ----------------------------------------------------------------------------- collect


def _final_documents(folder: str) -> int:
    counts = (completion.read_success(folder) or {}).get("counts", {})
    return int(counts.get("documents_kept", 0))


def _html_pages(clean: str) -> int:
    """Pages the filters saw: the clean funnel's HTML responses (the 'warc' stage)."""
    stats = completion.read_stats(clean) or {}
    for row in stats.get("funnel") or []:
        if row.get("stage") == "warc":
            return int(row.get("documents") or 0)
    return int(stats.get("records_read", 0))


def variant_figures(plan, spec, train_tokens: dict) -> dict:
    out = {}
    for v in spec.variants:
        manifest = read_manifest(plan.shards[v.name])
        documents = sum(_final_documents(f) for f in plan.documents[v.name].values())
        pages = sum(_html_pages(f) for f in plan.cleans[v.name].values())
        out[v.name] = {
            "description": v.description,
            "documents": documents,
            "html_pages": pages,
            "kept_share": documents / pages if pages else None,
            "tokens": manifest["totals"]["tokens"],
            "train_tokens": train_tokens[v.name],
            "by_source": {s: b["tokens"] for s, b in sorted(manifest["totals"]["by_source"].items())},
            "mixture": v.mixture,
            "dedup": v.dedup is not None,
        }
    return out


def _curve(train_dir: str) -> list:
    """(tokens seen, validation loss on the variant's own split) per validation."""
    from model.metrics import latest_by_step, read_jsonl

    path = os.path.join(train_dir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    records = read_jsonl(path)
    train = latest_by_step(records, "train")
    tokens_per_step = next((r["tokens_seen"] / r["step"] for r in train.values() if r["step"]), 0)
    return [[int(step * tokens_per_step), r["loss"]] for step, r in latest_by_step(records, "val").items()]


def collect(plan, spec, *, tokens_per_step: int, train_tokens: dict, model: dict) -> dict:
    """Everything results.json holds, from the steps' own files."""
    runs, by = [], {}
    for (variant, seed), folder in sorted(plan.evals.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        with open(os.path.join(folder, "evaluation.json"), encoding="utf-8") as f:
            sets = json.load(f)["sets"]
        for name, r in sorted(sets.items()):
            runs.append({"variant": variant, "seed": seed, "eval_set": name, "loss": r["loss"],
                         "bits_per_byte": r["bits_per_byte"], "tokens": r["tokens"], "bytes": r["bytes"]})
            by[variant, seed, name] = r
    eval_names = [e.name for e in spec.eval_sets] + [f"val_{v.name}" for v in spec.variants]
    eval_names = [n for n in eval_names if any(k[2] == n for k in by)]
    comparison = {}
    for name in eval_names:
        base = [by[spec.baseline, s, name][METRIC] for s in plan.seeds if (spec.baseline, s, name) in by]
        rows = {}
        for v in spec.variants:
            values = {m: [by[v.name, s, name][m] for s in plan.seeds if (v.name, s, name) in by]
                      for m in ("loss", METRIC)}
            if not values[METRIC]:
                continue
            row = {m: _mean_std(vals) for m, vals in values.items()}
            if v.name != spec.baseline and len(base) == len(values[METRIC]):
                diff = paired(values[METRIC], base)
                spread = max(row[METRIC]["std"], _mean_std(base)["std"])
                diff["exceeds_spread"] = len(base) > 1 and abs(diff["mean"]) > SPREAD_FACTOR * spread
                row["vs_baseline"] = diff
            rows[v.name] = row
        comparison[name] = rows
    return {
        "baseline": spec.baseline,
        "seeds": list(plan.seeds),
        "tokens_per_model": plan.max_steps * tokens_per_step,
        "tokens_per_step": tokens_per_step,
        "max_steps": plan.max_steps,
        "model": model,
        "metric": METRIC,
        "spread_factor": SPREAD_FACTOR,
        "eval_sets": eval_names,
        "variants": variant_figures(plan, spec, train_tokens),
        "runs": runs,
        "comparison": comparison,
        "curves": {v.name: {str(s): _curve(plan.models[v.name, s]) for s in plan.seeds} for v in spec.variants},
    }


# ----------------------------------------------------------------------------- verdict


def verdict_lines(results: dict) -> list:
    """One line per evaluation set: which differences to the baseline exceed the seed spread."""
    lines = []
    for name, rows in results["comparison"].items():
        beyond = [(v, r["vs_baseline"]) for v, r in rows.items() if r.get("vs_baseline", {}).get("exceeds_spread")]
        if beyond:
            said = ", ".join(f"{v} {d['mean']:+.4f} ({'better' if d['mean'] < 0 else 'worse'})" for v, d in beyond)
            lines.append(f"{name}: {said} bits/byte vs {results['baseline']} exceed{'s' if len(beyond) == 1 else ''} "
                         f"{results['spread_factor']:g}x the seed-to-seed spread")
        else:
            lines.append(f"{name}: no difference to {results['baseline']} exceeds "
                         f"{results['spread_factor']:g}x the seed-to-seed spread")
    return lines


def _pm(stats: dict, digits: int = 4) -> str:
    return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"


def markdown_table(results: dict, eval_set: Optional[str] = None) -> str:
    """The report's main table as Markdown (for docs and notes)."""
    name = eval_set or results["eval_sets"][0]
    head = ("| variant | documents | kept share | tokens | bits/byte (mean ± std) | Δ vs baseline (paired) "
            "| t (p) | lower in | beyond spread |\n|---|---:|---:|---:|---:|---:|---:|---:|:---:|")
    out = [head]
    for v, row in results["comparison"][name].items():
        fig = results["variants"][v]
        d = row.get("vs_baseline")
        share = f"{fig['kept_share']:.1%}" if fig["kept_share"] is not None else "–"
        diff = f"{d['mean']:+.4f} ± {d['std']:.4f}" if d else "(baseline)"
        tp = f"{d['t']:.2f} ({d['p']:.3f})" if d and d["t"] is not None else "–"
        lower = f"{d['lower_in']}/{d['seeds']}" if d else "–"
        beyond = ("yes" if d["exceeds_spread"] else "no") if d else "–"
        out.append(f"| {v} | {fig['documents']:,} | {share} | {fig['tokens']:,} | {_pm(row[METRIC])} | {diff} "
                   f"| {tp} | {lower} | {beyond} |")
    return "\n".join(out)


# ----------------------------------------------------------------------------- HTML


def curves_svg(results: dict) -> str:
    """Validation loss against tokens seen, per variant (mean over seeds, band = min..max)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context(kit.chart_style("pipelines.ablation")):
        fig, ax = plt.subplots(figsize=(7, 3.4), dpi=100)
        for i, (variant, seeds) in enumerate(results["curves"].items()):
            curves = [c for c in seeds.values() if c]
            if not curves:
                continue
            n = min(len(c) for c in curves)
            xs = [curves[0][k][0] for k in range(n)]
            ys = [[c[k][1] for c in curves] for k in range(n)]
            color = COLORS[i % len(COLORS)]
            ax.plot(xs, [statistics.fmean(y) for y in ys], "o-", color=color, label=variant, markersize=3)
            ax.fill_between(xs, [min(y) for y in ys], [max(y) for y in ys], color=color, alpha=0.15)
        ax.set_xlabel("training tokens seen")
        ax.set_ylabel("validation loss (nats/token)")
        ax.set_title("each variant on its own validation split (levels differ by split; compare shapes)")
        ax.grid(alpha=0.3)
        ax.legend(frameon=False)
        fig.tight_layout()
        return kit.figure_svg(fig)


def comparison_table(results: dict, name: str) -> str:
    rows = []
    for v, row in results["comparison"][name].items():
        fig = results["variants"][v]
        d = row.get("vs_baseline")
        cells = [html.escape(v), kit.fmt_int(fig["documents"]),
                 f"{fig['kept_share']:.1%}" if fig["kept_share"] is not None else "–",
                 kit.fmt_int(fig["tokens"]), _pm(row["loss"]), _pm(row[METRIC])]
        if d:
            tp = "–" if d["t"] is None else f"{d['t']:.2f} (p={d['p']:.3f})"
            per_seed = ", ".join(f"{x:+.4f}" for x in d["per_seed"])
            cells += [f"{d['mean']:+.4f} ± {d['std']:.4f}", html.escape(per_seed), tp,
                      f"{d['lower_in']}/{d['seeds']}", "yes" if d["exceeds_spread"] else "no"]
        else:
            cells += ["baseline", "", "", "", ""]
        tds = "".join(f'<td class="{"name" if i == 0 else "num"}">{c}</td>' for i, c in enumerate(cells))
        rows.append(f'<tr data-variant="{html.escape(v)}">{tds}</tr>')
    head = ("variant", "documents", "kept share", "tokens", "loss (nats/token)", "bits/byte", "Δ bits/byte",
            "Δ per seed", "paired t", "lower in", "beyond spread")
    ths = "".join(f'<th class="{"" if i == 0 else "num"}">{html.escape(h)}</th>' for i, h in enumerate(head))
    return f'<table data-eval="{html.escape(name)}"><thead><tr>{ths}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def variants_table(results: dict) -> str:
    rows = []
    for v, fig in results["variants"].items():
        sources = ", ".join(f"{s} {kit.fmt_int(t)}" for s, t in fig["by_source"].items())
        rows.append(f'<tr><td class="name">{html.escape(v)}</td><td>{html.escape(fig["description"])}</td>'
                    f'<td class="num">{kit.fmt_int(fig["html_pages"])}</td><td class="num">{kit.fmt_int(fig["documents"])}</td>'
                    f'<td class="num">{kit.fmt_int(fig["tokens"])}</td><td class="num">{kit.fmt_int(fig["train_tokens"])}</td>'
                    f"<td>{html.escape(sources)}</td></tr>")
    return ('<table><thead><tr><th>variant</th><th>settings</th><th class="num">HTML pages</th>'
            '<th class="num">documents kept</th><th class="num">tokens</th><th class="num">training tokens available</th>'
            f'<th>tokens by source</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def write_report(output: str, results: dict, spec_path: str) -> str:
    model = results["model"]
    body = kit.cards([
        ("variants", str(len(results["variants"]))),
        ("seeds", str(len(results["seeds"]))),
        ("training tokens per model", kit.fmt_int(results["tokens_per_model"])),
        ("model", f"{model['config']} · {model['parameters'] / 1e6:.2f}M params"),
    ])
    body += kit.section("verdict", "Which differences exceed the seed-to-seed spread",
                        "".join(f"<p>{html.escape(line)}</p>" for line in verdict_lines(results))
                        + '<p class="muted">Beyond spread: |mean Δ| &gt; '
                        f'{results["spread_factor"]:g} × the larger standard deviation over seeds of the two variants. '
                        "Paired t: the same seed's models compared, two-sided. Lower bits/byte is better. "
                        "See docs/ablation.md for how many tokens and seeds a difference needs.</p>")
    for name in results["eval_sets"]:
        title = (f"{name}: the validation split of variant {name[4:]}" if name.startswith("val_")
                 else f"{name} (evaluation set of the spec)")
        body += kit.section(f"eval-{name}", title, comparison_table(results, name))
    body += kit.section("curves", "Validation curves", curves_svg(results))
    body += kit.section("variants", "Variants", variants_table(results))
    page = kit.page("Ablation report", spec_path, body, "<code>python -m pipelines.ablate</code>")
    return kit.write_page(output, page)
