"""Which library for the learned quality classifier: scikit-learn or fastText supervised, same split.

    .venv/bin/python bench/quality_classifier.py --negative UNFILTERED_CLEAN_OUTPUT \
        [--positive ../shared/data/reference/wikitext-2/valid.txt] [--fasttext_python /tmp/ftvenv/bin/python]

UNFILTERED_CLEAN_OUTPUT: the clean job's output on ../shared/data/warc/real-pages-*.warc.gz
with the quality stages skipped (see docs/quality_classifier.md for the command).
Positives: WikiText-2 validation sections (pipelines/io/training_texts.py). For each seed
(--seeds, default 0..4) one stratified 80/20 split, and on it:

  * sklearn_logreg: the project's path (pipelines/stages/quality_classifier.py):
    HashingVectorizer word 1-2-grams, 2^18 buckets, LogisticRegression (the CLI's C);
  * sklearn_sgd: the same features, SGDClassifier(log_loss) (the large-data option);
  * fasttext: fastText supervised (dim 100, 25 epochs, lr 0.5, word bigrams, 2^18
    buckets, one thread), on the same tokens (segmentation.words, lowercased), run with
    --fasttext_python (a separate venv: its training wheel clashes with the project's
    predict-only fasttext module); skipped with a note when not given.

Prints one JSON line per library and seed, then one per library with the means:
held-out precision/recall at 0.5, ROC AUC, the same on English negatives only (the
crawl is mostly German, the positives English: "is it English" must not be all it
learns), training CPU-s (features + fit; fastText's includes its tokenization here),
scoring docs per CPU-s one document at a time (as the stage does), model bytes, and the
machine's load average.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.io.documents import expand_document_inputs, iter_parquet_documents  # noqa: E402
from pipelines.io.training_texts import read_texts  # noqa: E402
from pipelines.quality_classifier import fit_logistic_regression, held_out_metrics  # noqa: E402
from pipelines.stages.quality_classifier import Features, Model, default_feature_settings  # noqa: E402
from pipelines.stages.segmentation import words  # noqa: E402

DEFAULT_POSITIVE = str(REPO.parent / "shared" / "data" / "reference" / "wikitext-2" / "valid.txt")


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def metrics(labels, scores, english) -> dict:
    m = held_out_metrics(labels, scores)
    en = held_out_metrics(labels[english], scores[english])
    return {"precision": m["precision"], "recall": m["recall"], "roc_auc": m["roc_auc"],
            "precision_en_negatives": en["precision"], "roc_auc_en_negatives": en["roc_auc"],
            "held_out": m["documents"], "held_out_positives": m["positives"]}


def run_sklearn(kind, texts, labels, train, test, c, seed) -> dict:
    from sklearn.linear_model import SGDClassifier

    settings = default_feature_settings()
    c0 = cpu_s()
    x = Features(settings).transform([texts[i] for i in train])
    if kind == "sklearn_logreg":
        clf = fit_logistic_regression(x, labels[train], c, seed)
    else:
        clf = SGDClassifier(loss="log_loss", alpha=1e-5, class_weight="balanced", max_iter=50, tol=None,
                            random_state=0).fit(x, labels[train])
    fit = cpu_s() - c0
    model = Model(settings, clf.coef_[0].astype(np.float32), float(clf.intercept_[0]))
    c0 = cpu_s()
    scores = np.array([model.scores([texts[i]])[0] for i in test])
    predict = cpu_s() - c0
    with tempfile.TemporaryDirectory() as d:
        model.save(d)
        size = sum(p.stat().st_size for p in pathlib.Path(d).iterdir())
    extra = {"C": float(clf.C)} if kind == "sklearn_logreg" else {}
    return {"scores": scores, "fit_cpu_s": fit, "predict_cpu_s": predict, "model_bytes": size, **extra}


def run_fasttext(python, texts, labels, train, test, seed) -> dict:
    with tempfile.TemporaryDirectory() as d:
        c0 = cpu_s()
        tokens = {i: " ".join(words(texts[i].lower())) for i in list(train) + list(test)}
        tokenize = cpu_s() - c0
        for name, idx in (("train", train), ("test", test)):
            with open(os.path.join(d, f"{name}.txt"), "w", encoding="utf-8") as f:
                for i in idx:
                    f.write(f"__label__{'pos' if labels[i] else 'neg'} {tokens[i]}\n")
        out = os.path.join(d, "out.json")
        subprocess.run([python, str(REPO / "bench" / "quality_classifier_fasttext.py"),
                        os.path.join(d, "train.txt"), os.path.join(d, "test.txt"), out], check=True)
        r = json.load(open(out))
    share_test = len(test) / (len(train) + len(test))
    # Our tokenization is part of fastText's cost on both sides (fit and scoring).
    r["fit_cpu_s"] += tokenize * (1 - share_test)
    r["predict_cpu_s"] += tokenize * share_test
    r["scores"] = np.array(r["scores"])
    return r


def main() -> None:
    from sklearn.model_selection import train_test_split

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--positive", default=DEFAULT_POSITIVE)
    p.add_argument("--negative", required=True, help="clean output folder (documents/*.parquet), quality stages skipped")
    p.add_argument("--fasttext_python", help="python of a venv with fasttext-numpy2-wheel (training) installed")
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--C", type=float, help="fixed C for sklearn_logreg (default: the CLI's 5-fold CV choice)")
    a = p.parse_args()
    if not os.path.exists(a.positive):
        sys.exit(f"positives not found: {a.positive} (place shared/data beside the repo or pass --positive)")
    positives, _ = read_texts([a.positive])
    negatives = [d for f in expand_document_inputs([a.negative]) for d in iter_parquet_documents(f) if d.text.strip()]
    texts = positives + [d.text for d in negatives]
    labels = np.array([1] * len(positives) + [0] * len(negatives))
    english = np.array([True] * len(positives) + [d.language == "en" for d in negatives])
    print(json.dumps({"positives": len(positives), "negatives": len(negatives),
                      "english_negatives": int(english[len(positives):].sum())}))
    kinds = ["sklearn_logreg", "sklearn_sgd"] + (["fasttext"] if a.fasttext_python else [])
    if not a.fasttext_python:
        print(json.dumps({"note": "fasttext skipped: pass --fasttext_python (a venv with fasttext-numpy2-wheel)"}))
    rows: dict[str, list[dict]] = {k: [] for k in kinds}
    for seed in [int(s) for s in a.seeds.split(",")]:
        train, test = train_test_split(np.arange(len(texts)), test_size=0.2, random_state=seed, stratify=labels)
        for kind in kinds:
            r = (run_fasttext(a.fasttext_python, texts, labels, train, test, seed) if kind == "fasttext"
                 else run_sklearn(kind, texts, labels, train, test, a.C, seed))
            row = {"library": kind, "seed": seed, **metrics(labels[test], r["scores"], english[test]),
                   "train_cpu_s": round(r["fit_cpu_s"], 2),
                   "score_docs_per_cpu_s": round(len(test) / max(r["predict_cpu_s"], 1e-9)),
                   "model_bytes": r["model_bytes"], **({"C": r["C"]} if "C" in r else {}), "load_avg_1m": round(os.getloadavg()[0], 2)}
            rows[kind].append(row)
            print(json.dumps(row), flush=True)
    for kind, rs in rows.items():
        keys = ["precision", "recall", "roc_auc", "precision_en_negatives", "roc_auc_en_negatives", "train_cpu_s",
                "score_docs_per_cpu_s", "model_bytes"]
        summary = {"library": kind, "seeds": len(rs), **{
            k: round(float(np.mean([r[k] for r in rs])), 4) for k in keys}, **{
            f"{k}_sd": round(float(np.std([r[k] for r in rs])), 4) for k in ("precision", "recall", "roc_auc")},
            "load_avg_1m": round(os.getloadavg()[0], 2)}
        print(json.dumps({"summary": True, **summary}))


if __name__ == "__main__":
    main()
