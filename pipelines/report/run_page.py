"""The run report: every step of ``python -m pipelines.run`` on one page.

Reads each step's ``_SUCCESS`` (headline counts, flags) and writes RUN/report.html with
cards for the figures a person looks at first (records read, documents kept, duplicates
removed, tokens, final loss), one row per step with its counts and a link to that step's
own report, and the exact command of every step.
"""
from __future__ import annotations

import html
import os

from pipelines import completion
from pipelines.report import kit

# Step -> what to link from its row (its own report where it writes one), first found wins
# per entry.
ARTIFACTS = {
    "clean": (("report", "report.html"),),
    "dedup": (("report", "report.html"),),
    "tokenizer": (("tokenizer.model", "tokenizer.model"), ("sample", "sample.json")),
    "tokenize": (("manifest", "manifest.json"),),
    "train": (("loss plot", "loss.png"), ("metrics", "metrics.jsonl")),
}
# Step -> (headline count keys to show, in order).
SHOWN = {
    "clean": ("records_read", "documents_kept", "dropped", "errors"),
    "dedup": ("documents_in", "documents_kept", "dropped"),
    "tokenizer": ("vocab_size", "training_documents"),
    "tokenize": ("documents", "tokens"),
    "train": ("steps", "tokens", "final_loss", "final_val_loss"),
}


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int):
        return kit.fmt_int(value)
    return html.escape(str(value))


def _counts(step) -> dict:
    done = completion.read_success(step.output) or {}
    return done.get("counts", {})


def headline_cards(steps) -> str:
    counts = {s.name: _counts(s) for s in steps}
    items = []
    if "records_read" in counts.get("clean", {}):
        items.append(("records read", kit.fmt_int(counts["clean"]["records_read"])))
        items.append(("documents kept by clean", kit.fmt_int(counts["clean"].get("documents_kept"))))
    if "dropped" in counts.get("dedup", {}):
        items.append(("duplicates removed", kit.fmt_int(counts["dedup"]["dropped"])))
    if "tokens" in counts.get("tokenize", {}):
        items.append(("tokens", kit.fmt_int(counts["tokenize"]["tokens"])))
    if "final_loss" in counts.get("train", {}):
        items.append(("final training loss", f"{counts['train']['final_loss']:.3f}"))
    return kit.cards(items)


def steps_table(run_dir: str, steps) -> str:
    rows = []
    for step in steps:
        counts = _counts(step)
        shown = ", ".join(f"{k.replace('_', ' ')} {_fmt(counts[k])}" for k in SHOWN.get(step.name, ()) if k in counts)
        status = "done" if counts or completion.read_success(step.output) else "not finished"
        link = " · ".join(
            f'<a href="{html.escape(os.path.relpath(os.path.join(step.output, name), run_dir))}">{html.escape(label)}</a>'
            for label, name in ARTIFACTS.get(step.name, ()) if os.path.exists(os.path.join(step.output, name)))
        rows.append(f'<tr data-step="{html.escape(step.name)}"><td class="name">{html.escape(step.name)}</td>'
                    f"<td>{status}</td><td>{shown}</td><td>{link}</td></tr>")
    return ('<table class="bars"><thead><tr><th>step</th><th>status</th><th>figures</th><th></th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def commands(steps) -> str:
    lines = "\n".join(html.escape(" ".join(["python -m", s.module, *s.argv])) for s in steps)
    # Long command lines wrap instead of widening the page.
    return f'<pre style="white-space:pre-wrap;word-break:break-all">{lines}</pre>'


def write_run_report(run_dir: str, steps) -> str:
    body = (headline_cards(steps)
            + kit.section("steps", "Steps", steps_table(run_dir, steps))
            + kit.section("commands", "Commands", commands(steps)))
    page = kit.page("Run report", run_dir, body, "<code>python -m pipelines.run</code>")
    return kit.write_page(run_dir, page)
