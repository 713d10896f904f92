"""Train and inspect the learned quality classifier (the clean job's ``quality_classifier`` stage).

    python -m pipelines.quality_classifier train --positive PATHS --negative PATHS --output MODEL
    python -m pipelines.quality_classifier score --model MODEL --input PATHS

``train``: positives are text the user trusts (WikiText, a curated Parquet set), negatives
random documents of the unfiltered crawl (e.g. the clean job's output with the quality
stages skipped), sampled with ``--seed``. A stratified share (``--held_out``) is kept aside;
the model is fitted on the rest (scikit-learn: hashed word n-grams, logistic regression;
the choice is measured in docs/quality_classifier.md) and its held-out precision/recall
at 0.5 and ROC AUC are printed and written to MODEL/evaluation.json and model.json.
``score``: the score distribution of a set of documents, and the share each threshold and
the Pareto rule would keep, to choose the stage's settings.
"""
from __future__ import annotations

import argparse
import json
import logging
import pathlib
import resource
import sys
from typing import Any

import numpy as np

from pipelines import joblog
from pipelines.io.training_texts import TEXT_SPLITS, expand_paths, read_texts
from pipelines.stages.quality_classifier import (
    Features, Model, ModelError, default_feature_settings, load_model, pareto_keep_probability,
)

log = logging.getLogger("pipelines.quality_classifier")

# Regularization grid for the cross-validated default: on WikiText vs the shared crawl the
# held-out AUC rises from C=1 to C~64 and then flattens (docs/quality_classifier.md).
C_GRID = (1.0, 4.0, 16.0, 64.0, 256.0)


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _paths(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines.quality_classifier",
                                description="Train or inspect the learned quality classifier.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="fit a model on trusted (positive) vs crawl (negative) texts")
    t.add_argument("--positive", required=True, action="append", type=_paths,
                   help="trusted texts: text/JSONL/Parquet files, globs or folders (comma-separated or repeated)")
    t.add_argument("--negative", required=True, action="append", type=_paths,
                   help="crawl documents (e.g. a clean output folder run with the quality stages skipped)")
    t.add_argument("--output", required=True, help="model folder to write (model.json, weights.npz, evaluation.json)")
    t.add_argument("--text_split", choices=TEXT_SPLITS, default="auto",
                   help="how plain text files split into documents (default auto: WikiText sections, else lines)")
    t.add_argument("--max_positives", type=int, help="sample at most N positives (default: all)")
    t.add_argument("--max_negatives", type=int, help="sample at most N negatives (default: all)")
    t.add_argument("--held_out", type=float, default=0.2, help="share kept aside for evaluation (default 0.2)")
    t.add_argument("--seed", type=int, default=0, help="seed of the sampling and the split (default 0)")
    t.add_argument("--n_features", type=int, default=2 ** 18, help="hash buckets (default 2^18)")
    t.add_argument("--max_ngram", type=int, default=2, help="word n-grams 1..N (default 2)")
    t.add_argument("--C", type=float,
                   help="inverse L2 strength of the logistic regression (default: chosen by 5-fold cross-validation "
                        f"on the training share among {list(C_GRID)}, by ROC AUC; give one to skip that)")
    s = sub.add_parser("score", help="score distribution of documents under a model")
    s.add_argument("--model", required=True, help="model folder (or its model.json)")
    s.add_argument("--input", required=True, action="append", type=_paths, help="documents to score")
    s.add_argument("--text_split", choices=TEXT_SPLITS, default="auto")
    s.add_argument("--pareto_alpha", type=float, default=9.0)
    return p


def _sample(texts: list[str], limit: int | None, rng: np.random.Generator) -> list[str]:
    if limit is None or limit >= len(texts):
        return texts
    return [texts[i] for i in sorted(rng.choice(len(texts), size=limit, replace=False))]


def held_out_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    from sklearn.metrics import precision_score, recall_score, roc_auc_score

    predicted = (scores >= threshold).astype(int)
    return {
        "documents": int(len(labels)), "positives": int(labels.sum()), "threshold": threshold,
        "precision": round(float(precision_score(labels, predicted, zero_division=0)), 4),
        "recall": round(float(recall_score(labels, predicted, zero_division=0)), 4),
        "roc_auc": round(float(roc_auc_score(labels, scores)), 4) if 0 < labels.sum() < len(labels) else None,
        "chance_precision": round(float(labels.mean()), 4),
    }


def fit_logistic_regression(x, labels: np.ndarray, c: float | None, seed: int):
    """LogisticRegression with C given, or chosen by 5-fold CV on these rows (ROC AUC).

    class_weight balanced: a score means the same whatever the ratio of the two sets."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    clf = LogisticRegression(C=c or 1.0, class_weight="balanced", max_iter=2000)
    if c is not None:
        return clf.fit(x, labels)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    search = GridSearchCV(clf, {"C": list(C_GRID)}, cv=folds, scoring="roc_auc").fit(x, labels)
    return search.best_estimator_


def train(args) -> dict[str, Any]:
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(args.seed)
    sets = {}
    for label, specs, limit in (("positive", args.positive, args.max_positives),
                                ("negative", args.negative, args.max_negatives)):
        texts, counts = read_texts([p for group in specs for p in group], args.text_split)
        sampled = _sample(texts, limit, rng)
        log.info("train: %s: %d documents read from %d file(s) (%s), %d used", label, len(texts),
                 counts["files"], ", ".join(f"{k} {v}" for k, v in sorted(counts.items())
                                            if k not in ("files", "documents")) or "nothing skipped", len(sampled))
        sets[label] = sampled
    short = [k for k, v in sets.items() if len(v) < 5]
    if short:
        raise ValueError(f"too few {' and '.join(short)} documents to train and hold some out (need >= 5 each): "
                         "check --positive/--negative and --text_split")
    texts = sets["positive"] + sets["negative"]
    labels = np.array([1] * len(sets["positive"]) + [0] * len(sets["negative"]))
    idx_train, idx_test = train_test_split(np.arange(len(texts)), test_size=args.held_out,
                                           random_state=args.seed, stratify=labels)
    settings = default_feature_settings(args.n_features, (1, args.max_ngram))
    features = Features(settings)
    cpu0 = _cpu_s()
    x = features.transform(texts)
    cpu_features = _cpu_s() - cpu0
    log.info("train: %d documents hashed into %d buckets (%d non-zero) in %.1f CPU-s; fitting on %d, holding out %d",
             len(texts), args.n_features, x.nnz, cpu_features, len(idx_train), len(idx_test))
    cpu0 = _cpu_s()
    clf = fit_logistic_regression(x[idx_train], labels[idx_train], args.C, args.seed)
    cpu_fit = _cpu_s() - cpu0
    c = float(clf.C)
    model = Model(settings, clf.coef_[0].astype(np.float32), float(clf.intercept_[0]))
    metrics = held_out_metrics(labels[idx_test], model.scores([texts[i] for i in idx_test]))
    training = {
        "positive_inputs": [p for g in args.positive for p in g], "negative_inputs": [p for g in args.negative for p in g],
        "positives": len(sets["positive"]), "negatives": len(sets["negative"]), "train_documents": len(idx_train),
        "seed": args.seed, "held_out_share": args.held_out, "text_split": args.text_split,
        "classifier": {"kind": "sklearn LogisticRegression", "C": c, "C_chosen_by": "5-fold CV (ROC AUC)"
                       if args.C is None else "--C", "class_weight": "balanced"},
        "cpu_s": {"features": round(cpu_features, 2), "fit": round(cpu_fit, 2)},
        "held_out": metrics,
    }
    folder = model.save(args.output, training)
    (folder / "evaluation.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    log.info("train: C %g (%s), fitted in %.1f CPU-s", c, training["classifier"]["C_chosen_by"], cpu_fit)
    log.info("train: model in %s (%.0f kB, %d non-zero weights of %d)", folder, size / 1024,
             int(np.count_nonzero(model.coef)), args.n_features)
    log.info("train: held out %d documents (%d positive): precision %.3f, recall %.3f at 0.5, ROC AUC %s "
             "(chance precision %.3f)", metrics["documents"], metrics["positives"], metrics["precision"],
             metrics["recall"], metrics["roc_auc"], metrics["chance_precision"])
    return training


def score(args) -> dict[str, Any]:
    model = load_model(args.model)
    texts, counts = read_texts([p for g in args.input for p in g], args.text_split)
    if not texts:
        raise ValueError(f"--input: no documents found in {args.input}")
    cpu0 = _cpu_s()
    scores = model.scores(texts)
    cpu = _cpu_s() - cpu0
    quantiles = {f"p{q}": round(float(np.percentile(scores, q)), 4) for q in (10, 25, 50, 75, 90)}
    keep = {f"{t:.1f}": round(float((scores >= t).mean()), 4) for t in np.arange(0.1, 1.0, 0.1)}
    summary = {"documents": len(texts), "files": counts["files"], "docs_per_cpu_s": round(len(texts) / max(cpu, 1e-9)),
               "quantiles": quantiles, "keep_share_at_threshold": keep,
               "pareto_alpha": args.pareto_alpha,
               "pareto_expected_keep_share": round(float(pareto_keep_probability(scores, args.pareto_alpha).mean()), 4)}
    log.info("score: %d documents, %.0f per CPU-s; quantiles %s", len(texts), summary["docs_per_cpu_s"], quantiles)
    log.info("score: share kept at threshold %s", keep)
    log.info("score: Pareto rule (alpha %g) keeps %.1f%% in expectation", args.pareto_alpha,
             100 * summary["pareto_expected_keep_share"])
    print(json.dumps(summary))
    return summary


def main(argv: list[str] | None = None) -> int:
    joblog.setup()
    parser = build_arg_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        if not 0 < args.held_out < 1:
            parser.error("--held_out must be between 0 and 1 (e.g. 0.2)")
        if args.n_features < 2 or args.max_ngram < 1 or (args.C is not None and args.C <= 0):
            parser.error("--n_features must be >= 2, --max_ngram >= 1 and --C > 0")
        if any(n is not None and n < 1 for n in (args.max_positives, args.max_negatives)):
            parser.error("--max_positives and --max_negatives must be >= 1 (leave them out to use every document)")
        out = pathlib.Path(args.output)
        if out.exists() and not out.is_dir():
            parser.error(f"--output {out} is a file: pass a folder for the model")
    if args.command == "score" and args.pareto_alpha <= 0:
        parser.error("--pareto_alpha must be > 0 (GPT-3 used 9)")
    logging.getLogger("numexpr").setLevel(logging.WARNING)  # "defaulting to N threads", via scikit-learn
    try:
        # Every input path exists before any reading or fitting starts.
        expand_paths([p for g in (args.positive + args.negative if args.command == "train" else args.input) for p in g])
        if args.command == "train":
            train(args)
        else:
            score(args)
    except (ModelError, ValueError, FileNotFoundError) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
