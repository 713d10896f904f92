"""Decontamination benchmark: our n-gram index against datatrove's NGramsDecontFilter.

    .venv/bin/python bench/decontaminate.py [--docs 2000] [--items 3000] [--ngram 13]

Training documents are ~600-word texts made of sentences of real pages (as in
bench/minhash.py); the evaluation set is sentences of *other* real pages, joined in pairs
so each item is long enough to hold n-grams. ``--contaminated`` of the documents get one
evaluation item pasted in, so the truth is known.

Both sides do the same work, in one process (= per core), CPU time, best of --repeats:
- index: evaluation items -> set of n-gram hashes (datatrove: its own ``compute_hashes``
  logic, i.e. word tokenizer + ``simplify_text`` + one hash per n-gram, written as the
  ``.index.hashes`` file its filter loads; ours: ``EvalIndex.from_paths``);
- check: every training document against the index (datatrove:
  ``NGramsDecontFilter.filter``, which stops at the first hit; ours:
  ``Decontaminator.check``, which counts every hit and every item hit).
Prints documents/s per core, and how many planted documents each side finds.
"""
from __future__ import annotations

import argparse
import pathlib
import random
import resource
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from minhash import sentence_pool, synthetic_documents  # noqa: E402
from pipelines.stages.base import Document  # noqa: E402
from pipelines.io.eval_sets import build_eval_index  # noqa: E402
from pipelines.stages.decontaminate import Decontaminator  # noqa: E402


def corpus(n_docs: int, n_items: int, contaminated: float, seed: int = 0):
    """(training documents, evaluation items, ids of the documents given an item)."""
    train_sentences, vocab = sentence_pool(150)
    all_sentences, _ = sentence_pool(300)
    train_set = set(train_sentences)
    held_out = [s for s in all_sentences if s not in train_set]
    rng = random.Random(seed)
    items = [f"{held_out[(2 * i) % len(held_out)]} {held_out[(2 * i + 1) % len(held_out)]}" for i in range(n_items)]
    docs, planted = [], set()
    for doc in synthetic_documents(n_docs, train_sentences, vocab, seed=seed):
        if rng.random() < contaminated:
            words = doc.text.split(" ")
            cut = rng.randrange(len(words))
            doc = doc.replace(text=" ".join(words[:cut] + [rng.choice(items)] + words[cut:]))
            planted.add(doc.id)
        docs.append(doc)
    return docs, items, planted


def best_of(repeats: int, fn):
    best, result = float("inf"), None
    for _ in range(repeats):
        t = time.process_time()
        result = fn()
        best = min(best, time.process_time() - t)
    return best, result


def bench_ours(docs: list[Document], items_file: str, ngram: int, repeats: int):
    build_eval_index([items_file], ngram)  # warm-up: kernel load, code-point table
    t_index, index = best_of(repeats, lambda: build_eval_index([items_file], ngram))
    stage = Decontaminator(index, "flag")
    t_check, found = best_of(repeats, lambda: {d.id for d in docs if stage.check(d)[1]})
    return t_index, t_check, found, index.summary()["eval_ngrams"]


def bench_datatrove(docs: list[Document], items: list[str], ngram: int, repeats: int):
    import numpy as np
    from datatrove.data import Document as DtDocument
    from datatrove.pipeline.decont.n_grams import NGramsDecontConfig, NGramsDecontFilter
    from datatrove.utils.hashing import HashConfig, create_hash_func
    from datatrove.utils.text import ngrams, simplify_text
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    # sha1: the xxhash module here rejects the str input datatrove's xxhash path passes.
    config = NGramsDecontConfig(n_grams=ngram, hash_config=HashConfig(precision=64, hash_fc="sha1"))
    tokenizer = load_word_tokenizer("en")
    hash_func = create_hash_func(config.hash_config)

    def build_index():
        # NGramsDecontIndexer.compute_hashes for label-only items (its run() needs lighteval).
        hashes = set()
        for item in items:
            tokens = tokenizer.word_tokenize(simplify_text(item, config.norm_config))
            hashes.update(map(hash_func, map(" ".join, ngrams(tokens, ngram))))
        return hashes

    t_index, hashes = best_of(repeats, build_index)
    folder = tempfile.mkdtemp()
    np.array(sorted(hashes), dtype=config.hash_config.np_descr).tofile(f"{folder}/bench.index.hashes")
    step = NGramsDecontFilter(index_folder=folder, config=config)
    step.load_index_hashes()
    dt_docs = [DtDocument(text=d.text, id=d.id) for d in docs]

    def check():
        return {d.id for d in dt_docs if step.filter(d) is not True}

    t_check, found = best_of(repeats, check)
    return t_index, t_check, found, len(hashes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--items", type=int, default=3000)
    ap.add_argument("--ngram", type=int, default=13)
    ap.add_argument("--contaminated", type=float, default=0.05, help="share of documents given an eval item")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    docs, items, planted = corpus(args.docs, args.items, args.contaminated)
    items_file = pathlib.Path(tempfile.mkdtemp()) / "eval.txt"
    items_file.write_text("\n".join(items) + "\n", encoding="utf-8")
    words = sum(len(d.text.split()) for d in docs) / len(docs)
    print(f"== {len(docs)} documents (~{words:.0f} words), {len(items)} eval items, {args.ngram}-grams, "
          f"{len(planted)} documents given an item ==")
    ours = bench_ours(docs, str(items_file), args.ngram, args.repeats)
    theirs = bench_datatrove(docs, items, args.ngram, args.repeats)
    for name, (t_index, t_check, found, grams) in (("ours", ours), ("datatrove", theirs)):
        print(f"{name:10s} index {len(items) / t_index:8.0f} items/s ({grams} n-grams)   "
              f"check {len(docs) / t_check:7.0f} docs/s per core   "
              f"found {len(found & planted)}/{len(planted)} planted, {len(found - planted)} others")
    print(f"ours / datatrove: index {theirs[0] / ours[0]:.1f}x, check {theirs[1] / ours[1]:.1f}x; "
          f"documents flagged by only one side: {len(ours[2] ^ theirs[2])}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
