"""Precision / recall / F1 of MinHash-LSH dedup on labelled near-duplicates of real pages.

    .venv/bin/python bench/minhash_eval.py [--pages 300] [--seed 0] [--beam]

Corpus: main text of the real pages in ../shared/data/warc/real-pages-*.warc.gz
(trafilatura), each page an "original". For a share of originals we make 1-3 near-
duplicates with realistic edits (site boilerplate changed, a few percent of words
changed, a paragraph dropped or added, truncation). Hard negatives: pairs of *different*
pages wrapped in the same long site template (header, navigation, footer), as two
articles of one site are. Ground truth: an original and its edits form one group.

Reported at pair level (pairs in the same predicted cluster vs. the same true group)
and cluster level (a predicted duplicate cluster is right if it equals a true group) for
the default 14x8 bands and two other settings. With --beam the default setting is also
run through the real Beam job (pipelines.dedup) and must give the same clusters.
"""
from __future__ import annotations

import argparse
import glob
import itertools
import os
import pathlib
import random
import sys
import time
from collections import defaultdict

REPO = pathlib.Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from pipelines.dedup.components import union_find_components  # noqa: E402
from pipelines.stages.base import Document, stable_id  # noqa: E402
from pipelines.stages.minhash import MinHashConfig, MinHasher, band_keys  # noqa: E402

SHARED = pathlib.Path(os.environ.get("SHARED_DATA", REPO.parent / "shared" / "data"))

BOILERPLATE = [
    "Share this article on Facebook Twitter LinkedIn Email",
    "We use cookies to improve your experience. By continuing you accept our cookie policy.",
    "Subscribe to our newsletter and never miss a story again.",
    "Related articles you might also like",
    "Copyright all rights reserved. Terms of use. Privacy policy. Contact us.",
    "Teilen Sie diesen Artikel auf Facebook und Twitter",
    "Diese Website verwendet Cookies. Mit der Nutzung stimmen Sie zu.",
    "Posted by the editorial team in News and Updates",
]


def extract_pages(limit: int, min_words: int = 80, warc_dir: pathlib.Path | None = None) -> list[tuple[str, str]]:
    """(url, main text) of up to ``limit`` real pages, extracted with trafilatura."""
    import trafilatura
    from warcio.archiveiterator import ArchiveIterator

    out: list[tuple[str, str]] = []
    for path in sorted(glob.glob(str((warc_dir or SHARED / "warc") / "real-pages-*.warc.gz"))):
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f):
                if rec.rec_type != "response":
                    continue
                url = rec.rec_headers.get_header("WARC-Target-URI") or ""
                text = trafilatura.extract(rec.content_stream().read(), favor_precision=True, fast=True,
                                           include_comments=False, deduplicate=False)
                if text and len(text.split()) >= min_words:
                    out.append((url, text))
                if len(out) >= limit:
                    return out
    return out


def _edit_words(text: str, rate: float, rng: random.Random, vocab: list[str]) -> str:
    """Replace, delete or insert about ``rate`` of the words (typos, rewording)."""
    out_lines = []
    for line in text.split("\n"):
        words = line.split(" ")
        new = []
        for w in words:
            r = rng.random()
            if r < rate / 3:
                new.append(rng.choice(vocab))
            elif r < 2 * rate / 3:
                continue
            elif r < rate:
                new.extend([w, rng.choice(vocab)])
            else:
                new.append(w)
        out_lines.append(" ".join(new))
    return "\n".join(out_lines)


def near_duplicate(text: str, rng: random.Random, vocab: list[str], others: list[str]) -> tuple[str, str]:
    """One realistic edit of ``text``; returns (edited text, kind of edit)."""
    kind = rng.choice(["boilerplate", "words", "paragraphs", "truncate", "mixed"])
    paras = [p for p in text.split("\n") if p.strip()]
    if kind in ("boilerplate", "mixed"):
        head = rng.sample(BOILERPLATE, 2)
        tail = rng.sample(BOILERPLATE, 2)
        paras = head[:1] + paras + tail
    if kind in ("words", "mixed"):
        paras = _edit_words("\n".join(paras), rng.uniform(0.01, 0.03), rng, vocab).split("\n")
    if kind == "paragraphs" and len(paras) > 3:
        if rng.random() < 0.5:
            del paras[rng.randrange(1, len(paras))]
        else:
            extra = [p for p in rng.choice(others).split("\n") if p.strip()][:1]
            paras.insert(rng.randrange(len(paras)), extra[0] if extra else "")
    if kind == "truncate":
        words = "\n".join(paras).split(" ")
        paras = [" ".join(words[: max(20, int(len(words) * rng.uniform(0.8, 0.95)))])]
    return "\n".join(paras), kind


def site_template(rng: random.Random, vocab: list[str]) -> tuple[str, str]:
    """A long header/navigation and footer shared by all pages of one synthetic site."""
    nav = " ".join(rng.choice(vocab) for _ in range(40))
    foot = " ".join(rng.choice(vocab) for _ in range(60))
    return nav, foot


def make_labelled_corpus(pages: list[tuple[str, str]], seed: int = 0, dup_share: float = 0.5,
                         hard_negative_share: float = 0.2) -> tuple[list[Document], dict[str, int]]:
    """Documents and their true group (originals + their near-duplicates share a group)."""
    rng = random.Random(seed)
    texts = [t for _, t in pages]
    vocab = sorted({w for t in texts for w in t.split() if w.isalpha() and len(w) > 3})
    docs: list[Document] = []
    group: dict[str, int] = {}
    templates = [site_template(rng, vocab) for _ in range(max(1, len(pages) // 20))]
    for g, (url, text) in enumerate(pages):
        if rng.random() < hard_negative_share:
            # Same site template around different content: must NOT be merged.
            nav, foot = rng.choice(templates)
            text = f"{nav}\n{text}\n{foot}"
        did = stable_id(url, "original")
        docs.append(Document(id=did, url=url, text=text, warc_date=f"2020-01-{1 + g % 28:02d}"))
        group[did] = g
        if rng.random() < dup_share:
            for k in range(rng.choice([1, 1, 2, 3])):
                edited, kind = near_duplicate(text, rng, vocab, texts)
                vid = stable_id(url, f"copy{k}", kind)
                docs.append(Document(id=vid, url=url + f"?copy={k}&edit={kind}", text=edited,
                                     warc_date=f"2020-02-{1 + k:02d}"))
                group[vid] = g
    return docs, group


def predicted_clusters(docs: list[Document], config: MinHashConfig) -> dict[str, str]:
    """Library path of the job: band keys -> star edges per bucket -> union-find."""
    hasher = MinHasher(config)
    sig, n_sh = hasher.signatures([d.text for d in docs])
    keys = band_keys(sig, config.bands, config.rows)
    buckets: dict[tuple[int, int], list[str]] = defaultdict(list)
    for doc, row, n in zip(docs, keys.tolist(), n_sh):
        if n:
            for b, v in enumerate(row):
                buckets[(b, v)].append(doc.id)
    edges = []
    for members in buckets.values():
        if len(members) > 1:
            m = min(members)
            edges.extend((x, m) for x in members if x != m)
    labels = union_find_components(edges)
    return {d.id: labels.get(d.id, d.id) for d in docs}


def _pairs(assign: dict[str, object]) -> set[tuple[str, str]]:
    by: dict[object, list[str]] = defaultdict(list)
    for doc_id, c in assign.items():
        by[c].append(doc_id)
    return {p for members in by.values() for p in itertools.combinations(sorted(members), 2)}


def _groups(assign: dict[str, object]) -> set[frozenset]:
    by: dict[object, set] = defaultdict(set)
    for doc_id, c in assign.items():
        by[c].add(doc_id)
    return {frozenset(m) for m in by.values() if len(m) > 1}


def _prf(tp: int, n_pred: int, n_true: int) -> dict:
    p = tp / n_pred if n_pred else 1.0
    r = tp / n_true if n_true else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}


def score(pred: dict[str, str], truth: dict[str, int]) -> dict:
    """Pair-level and cluster-level precision/recall/F1."""
    pp, tp_ = _pairs(pred), _pairs(truth)
    pg, tg = _groups(pred), _groups(truth)
    return {
        "pairs": {**_prf(len(pp & tp_), len(pp), len(tp_)), "true_pairs": len(tp_), "predicted_pairs": len(pp)},
        "clusters": {**_prf(len(pg & tg), len(pg), len(tg)), "true_clusters": len(tg), "predicted_clusters": len(pg)},
    }


SETTINGS = {
    "default 14x8 (t~0.72)": MinHashConfig(),
    "20x5 (t~0.55)": MinHashConfig(num_perm=100, bands=20, rows=5),
    "9x13 (t~0.84)": MinHashConfig(num_perm=117, bands=9, rows=13),
}


def run_beam_job(docs: list[Document], workdir: pathlib.Path) -> dict[str, str]:
    """Run ``python -m pipelines.dedup`` in-process on the corpus; doc id -> cluster id."""
    from pipelines.dedup import job as dedup
    from pipelines.io.documents import document_to_row, iter_parquet_documents, write_parquet_file

    src = workdir / "in"
    src.mkdir(parents=True, exist_ok=True)
    write_parquet_file(str(src / "part-0.parquet"), [document_to_row(d) for d in docs])
    out = workdir / "out"
    dedup.main(["--input", str(src), "--output", str(out), "--keep_removed", "--num_shards", "2"])
    assign = {}
    for path in sorted(glob.glob(str(out / "documents" / "*.parquet")) + glob.glob(str(out / "removed" / "minhash" / "*.parquet"))):
        for d in iter_parquet_documents(path):
            assign[d.id] = d.minhash_cluster
    return assign


def recall_by_edit(docs: list[Document], pred: dict[str, str], truth: dict[str, int]) -> dict[str, str]:
    """Share of near-duplicates of each edit kind found in their original's cluster."""
    original = {truth[d.id]: d.id for d in docs if "?copy=" not in d.url}
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for d in docs:
        if "&edit=" in d.url:
            kind = d.url.rsplit("&edit=", 1)[1]
            found[kind][0] += pred[d.id] == pred[original[truth[d.id]]]
            found[kind][1] += 1
    return {k: f"{a}/{n}" for k, (a, n) in sorted(found.items())}


def false_positive_pairs(docs: list[Document], pred: dict[str, str], truth: dict[str, int]) -> list[tuple[str, str]]:
    url = {d.id: d.url for d in docs}
    return sorted((url[a], url[b]) for a, b in _pairs(pred) - _pairs(truth))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=400, help="real pages to use as originals")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--beam", action="store_true", help="also run the Beam job with default parameters")
    args = ap.parse_args()
    if not (SHARED / "warc").is_dir():
        sys.exit(f"shared data not found at {SHARED}: set SHARED_DATA")
    t = time.perf_counter()
    pages = extract_pages(args.pages)
    docs, truth = make_labelled_corpus(pages, seed=args.seed)
    print(f"corpus: {len(pages)} real pages -> {len(docs)} documents, "
          f"{len(_groups(truth))} true duplicate groups ({time.perf_counter() - t:.1f}s to build)")
    for name, cfg in SETTINGS.items():
        t = time.perf_counter()
        pred = predicted_clusters(docs, cfg)
        s = score(pred, truth)
        print(f"{name:24s} pairs P/R/F1 {s['pairs']['precision']:.3f}/{s['pairs']['recall']:.3f}/{s['pairs']['f1']:.3f}"
              f"  clusters P/R/F1 {s['clusters']['precision']:.3f}/{s['clusters']['recall']:.3f}/{s['clusters']['f1']:.3f}"
              f"  ({s['pairs']['predicted_pairs']} predicted / {s['pairs']['true_pairs']} true pairs, {time.perf_counter() - t:.2f}s)")
        print(f"{'':24s} near-duplicates found per edit kind: {recall_by_edit(docs, pred, truth)}")
        for a, b in false_positive_pairs(docs, pred, truth)[:5]:
            print(f"{'':24s} false positive pair: {a}  ~  {b}")
    if args.beam:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            job = run_beam_job(docs, pathlib.Path(tmp))
            s = score(job, truth)
            same = _groups(job) == _groups(predicted_clusters(docs, MinHashConfig()))
            print(f"{'Beam job (default)':24s} pairs F1 {s['pairs']['f1']:.3f} clusters F1 {s['clusters']['f1']:.3f}"
                  f"  same clusters as library path: {same} ({time.perf_counter() - t:.1f}s)")


if __name__ == "__main__":
    main()
