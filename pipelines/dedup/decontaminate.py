"""Beam stage of the dedup job: decontamination against evaluation sets.

Listed in ``pipelines.dedup.job.STAGES`` as ``decontaminate``.

The evaluation n-gram index is built once, on a worker, from the (small) eval files
and broadcast to every worker as a side input (memory bound in
``pipelines.stages.decontaminate``). Each document is checked independently; matched
eval items are counted with a combiner (at most one key per eval item) and written as a
JSON report listing the items found, with how many training documents hit each.
"""
from __future__ import annotations

import argparse
import os
from typing import Any, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipelines.beam.transforms import SplitByKind, SumTuples
from pipelines.progress import Progress
from pipelines.stages.base import Drop
from pipelines.io.eval_sets import build_eval_index
from pipelines.stages.decontaminate import ACTIONS, DEFAULT_NGRAM, Decontaminator, EvalIndex
from pipelines.stats import write_json

STAGE = "decontamination"
MAX_ITEMS_IN_STATS = 50


class _CheckDoFn(beam.DoFn):
    # One output of (kind, value) pairs, split by SplitByKind (Dask limit 1 in
    # pipelines.beam.runner).
    KEPT, REMOVED, ITEMS, FLAGS = "kept", "removed", "items", "flags"

    def __init__(self, action: str):
        self.action = action
        self._contaminated = Metrics.counter("decontaminate", "contaminated")
        self._checked = Metrics.counter("decontaminate", "documents_checked")

    def setup(self):
        self._progress = Progress("decontaminate", "documents checked", 50_000)
        self._stage: Optional[Decontaminator] = None

    def process(self, doc, index: EvalIndex):
        self._checked.inc()
        self._progress.add()
        # The index arrives as a side input, so the stage is made at the first element
        # (and again only if the runner hands over another index object).
        if self._stage is None or self._stage.index is not index:
            self._stage = Decontaminator(index, self.action)
        result, items = self._stage.check(doc)
        yield self.FLAGS, 1 if items else 0
        if items:
            self._contaminated.inc()
        for item in items:
            yield self.ITEMS, (item, 1)
        if isinstance(result, Drop):
            yield self.REMOVED, (result.document, result.reason)
        else:
            yield self.KEPT, result


def _summary(item_counts: dict, checked_and_hit: tuple, index: EvalIndex, action: str) -> dict:
    checked, contaminated = checked_and_hit
    matched = [
        {"file": index.items[i][0], "item": index.items[i][1], "documents": n}
        for i, n in sorted(item_counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    summary = index.summary()
    summary.update({
        "action": action,
        "documents_checked": checked,
        "documents_contaminated": contaminated,
        "eval_items_matched": len(matched),
        "matched_items": matched,
    })
    return summary


class Decontaminate(beam.PTransform):
    """expand(docs) -> {"kept", "removed": (doc, "contaminated"), "stats": ("decontamination", {...})}."""

    def __init__(self, paths: list[str], ngram: int = DEFAULT_NGRAM, action: str = "remove",
                 text_field: str = "text", id_field: str = "id", report_path: Optional[str] = None):
        super().__init__()
        if not paths:
            raise ValueError("--decontaminate needs at least one evaluation file")
        if action not in ACTIONS:
            raise ValueError(f"--decontam_action must be one of {ACTIONS} (got {action!r})")
        if ngram < 1:
            raise ValueError("--decontam_ngram must be >= 1")
        self.paths, self.ngram, self.action = list(paths), ngram, action
        self.text_field, self.id_field, self.report_path = text_field, id_field, report_path

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("decontamination")
        g.add_argument("--decontaminate", default="",
                       help="comma-separated evaluation sets: .txt (one item per line), .jsonl or .parquet")
        g.add_argument("--decontam_ngram", type=int, default=DEFAULT_NGRAM,
                       help="n-gram length in words (default 13, as GPT-3); CJK/Thai: characters")
        g.add_argument("--decontam_action", choices=ACTIONS, default="remove",
                       help="remove contaminated documents or only flag them in signals")
        g.add_argument("--decontam_text_field", default="text",
                       help="text field/column of JSONL/Parquet eval sets; several comma-separated fields "
                            "(e.g. question,answer) are joined into one item, so n-grams spanning them count")
        g.add_argument("--decontam_id_field", default="id", help="id field/column (default: line/row number)")
        g.add_argument("--decontam_report", help="JSON report of matched eval items "
                                                 "(default: <output>/decontamination.json)")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "Decontaminate":
        paths = [p.strip() for p in (args.decontaminate or "").split(",") if p.strip()]
        report = args.decontam_report
        if not report and getattr(args, "output", None):
            report = os.path.join(args.output, "decontamination.json")
        return cls(paths, ngram=args.decontam_ngram, action=args.decontam_action,
                   text_field=args.decontam_text_field, id_field=args.decontam_id_field,
                   report_path=report)

    def expand(self, docs) -> dict[str, Any]:
        n, tf, idf, paths = self.ngram, self.text_field, self.id_field, self.paths
        index = beam.pvalue.AsSingleton(
            docs.pipeline
            | "EvalPaths" >> beam.Create([tuple(paths)])
            | "BuildEvalIndex" >> beam.Map(lambda ps: build_eval_index(ps, n, tf, idf))
        )
        checked = (
            docs
            | "CheckNgrams" >> beam.ParDo(_CheckDoFn(self.action), index=index)
            | "SplitChecked" >> SplitByKind([_CheckDoFn.KEPT, _CheckDoFn.REMOVED, _CheckDoFn.ITEMS, _CheckDoFn.FLAGS])
        )
        item_counts = (
            checked[_CheckDoFn.ITEMS]
            | "CountPerItem" >> beam.CombinePerKey(sum)
            | "ItemsToDict" >> beam.combiners.ToDict()  # bounded by the eval-set size
        )
        doc_counts = (
            checked[_CheckDoFn.FLAGS]
            | "OneDocument" >> beam.Map(lambda flag: (1, flag))
            | "CountDocs" >> beam.CombineGlobally(SumTuples(2))  # (documents checked, contaminated)
        )
        action, report_path = self.action, self.report_path

        def build(items, counts, idx):
            summary = _summary(items, counts, idx, action)
            if report_path:
                write_json(report_path, summary)
            # stats.json stays small: the full list lives in the report file.
            shown = dict(summary, matched_items=summary["matched_items"][:MAX_ITEMS_IN_STATS])
            if report_path:
                shown["report"] = report_path
            return STAGE, shown

        stats = item_counts | "Summarize" >> beam.Map(
            build, counts=beam.pvalue.AsSingleton(doc_counts), idx=index)
        return {"kept": checked[_CheckDoFn.KEPT], "removed": checked[_CheckDoFn.REMOVED], "stats": stats}
