"""fastText supervised, the other candidate of bench/quality_classifier.py; runs in its own venv.

    /tmp/ftvenv/bin/python bench/quality_classifier_fasttext.py TRAIN.txt TEST.txt OUT.json [--dim 100 ...]

fastText's training package (fasttext-numpy2-wheel) installs a `fasttext` module that
clashes with fasttext-predict (the project's, predict only), so this script runs in a
separate virtual environment and imports nothing of the project. TRAIN/TEST are fastText
files (`__label__pos <tokens>`), already tokenized by the caller exactly as the scikit-learn
side tokenizes (pipelines.stages.segmentation.words, lowercased). Writes the test scores
P(pos), training CPU-s, scoring docs per CPU-s (single document calls, as the stage
scores) and the model's size.
"""
import argparse
import json
import os
import resource
import tempfile


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    import fasttext

    p = argparse.ArgumentParser()
    p.add_argument("train"), p.add_argument("test"), p.add_argument("out")
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--epoch", type=int, default=25)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--word_ngrams", type=int, default=2)
    p.add_argument("--bucket", type=int, default=2 ** 18)
    p.add_argument("--quantize", action="store_true")
    a = p.parse_args()
    c0 = cpu_s()
    model = fasttext.train_supervised(a.train, dim=a.dim, epoch=a.epoch, lr=a.lr, wordNgrams=a.word_ngrams,
                                      bucket=a.bucket, minCount=1, thread=1, verbose=0, seed=0)
    if a.quantize:
        model.quantize(input=a.train, retrain=False)
    fit = cpu_s() - c0
    lines = [line.split(" ", 1)[1].rstrip("\n") for line in open(a.test, encoding="utf-8")]
    c0 = cpu_s()
    scores = []
    for text in lines:
        labels, probs = model.predict(text, k=2)
        scores.append(float(dict(zip(labels, probs)).get("__label__pos", 0.0)))
    predict = cpu_s() - c0
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.ftz" if a.quantize else "m.bin")
        model.save_model(path)
        size = os.path.getsize(path)
    json.dump({"scores": scores, "fit_cpu_s": fit, "predict_cpu_s": predict, "model_bytes": size}, open(a.out, "w"))


if __name__ == "__main__":
    main()
