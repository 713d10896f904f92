"""Precision / recall / F1 of MinHash-LSH dedup on labelled near-duplicates of real pages.

    .venv/bin/python bench/minhash_eval.py [--pages 884] [--seed 0] [--set 1|2] [--sweep [--exact]] [--beam]

Set 1 (``make_labelled_corpus``): main text of the real pages in
../shared/data/warc/real-pages-*.warc.gz (trafilatura), each page an "original". For a
share of originals we make 1-3 near-duplicates with realistic edits (site boilerplate
changed, a few percent of words changed, a paragraph dropped or added, truncation).
Hard negatives: pairs of *different* pages wrapped in the same long site template
(header, navigation, footer), as two articles of one site are. Ground truth: an original
and its edits form one group.

Set 2 (``make_second_labelled_corpus``, ``--set 2``): built differently, to check a
default chosen on set 1: other languages (Chinese pages of ../shared/data/zh, every
non-German real page), other edits (mirrors, paragraph reorders, longer truncations,
inserted boilerplate in the page's language, 3 % and 8 % of words edited) and other hard
negatives (different articles quoting the same long paragraph; teaser blocks of real text
shared by a site's pages).

Reported at pair level (pairs in the same predicted cluster vs. the same true group)
and cluster level (a predicted duplicate cluster is right if it equals a true group) for
the default setting (verified candidate edges) beside the old unverified 14x8 default.
``--sweep`` scores every bands x rows x verify threshold of a grid and names the best
cluster F1 at cluster precision >= 0.99 (how the default was chosen; docs/dedup.md).
With --beam the default setting is also run through the real Beam job (pipelines.dedup)
and must give the same clusters as the library path here.
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

import numpy as np

from pipelines.dedup.components import union_find_components  # noqa: E402
from pipelines.stages.base import Document, stable_id  # noqa: E402
from pipelines.stages.minhash import (  # noqa: E402
    DEFAULT_NUM_PERM,
    MinHashConfig,
    MinHasher,
    band_keys,
    exact_jaccard,
)

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


# ------------------------------------------------------------------------ second labelled set
# Built differently from the first, to check a default chosen on the first: other edits
# (mirrors, paragraph reorders, longer truncations, a boilerplate block inserted in the
# page's language, 3 % and 8 % of words edited), other languages (every non-German real
# page, the Chinese news pages of ../shared/data/zh, a quarter of the German ones), and
# other hard negatives (different articles quoting one long paragraph; pages sharing a
# header, a block of teasers of real text and a footer). In Chinese text every character
# is a word (as for MinHash), so edits and truncation count characters there.

EDITS_2 = ("mirror", "reorder", "truncate", "insert_boilerplate", "drop_paragraph", "words3", "words8")

INSERTED_BOILERPLATE = {
    "en": ["Advertisement. Continue reading below the advertisement.",
           "Sign up for our daily briefing: the most important stories of the day in your inbox every morning.",
           "This article was updated with additional reporting. Follow us on social media for the latest news.",
           "Cookies help us deliver our services. By using our services, you agree to our use of cookies."],
    "de": ["Anzeige. Lesen Sie nach der Anzeige weiter.",
           "Melden Sie sich für unseren Newsletter an und erhalten Sie jeden Morgen die wichtigsten Nachrichten.",
           "Dieser Artikel wurde aktualisiert. Folgen Sie uns in den sozialen Netzwerken für aktuelle Nachrichten.",
           "Wir verwenden Cookies, um Ihnen ein optimales Nutzererlebnis zu bieten. Mehr dazu in unserer Datenschutzerklärung."],
    "zh": ["广告 继续阅读下文",
           "订阅我们的每日简报，每天早上将当天最重要的新闻发送到您的邮箱。",
           "本文已根据最新情况更新。关注我们的社交媒体账号，获取最新新闻和分析。",
           "本网站使用cookie以提供更好的服务。继续使用即表示您同意我们的隐私政策。",
           "责任编辑：王明 本文来源于网络，版权归原作者所有，如有侵权请联系删除。"],
}


def is_chinese(text: str) -> bool:
    return sum("\u4e00" <= c <= "\u9fff" for c in text) > 0.3 * max(1, len(text.replace(" ", "")))


def extract_zh_pages(min_words: int = 100, zh_dir: pathlib.Path | None = None) -> list[tuple[str, str]]:
    """(url, main text) of the Chinese news pages with >= ``min_words`` MinHash words
    (each Chinese character is one)."""
    import trafilatura
    from warcio.archiveiterator import ArchiveIterator

    from pipelines.stages.minhash import tokenize

    out = []
    for path in sorted(glob.glob(str((zh_dir or SHARED / "zh") / "*.warc.gz"))):
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f):
                if rec.rec_type != "response":
                    continue
                text = trafilatura.extract(rec.content_stream().read(), favor_precision=True, fast=True,
                                           include_comments=False, deduplicate=False)
                if text and len(tokenize(text)) >= min_words:
                    out.append((rec.rec_headers.get_header("WARC-Target-URI") or "", text))
    return out


def independent_pages(pages: list[tuple[str, str]], max_similarity: float = 0.2) -> list[tuple[str, str]]:
    """Pages whose text shares little with every earlier page kept: some news sites'
    pages extract to their menus and lists only (four 163.com pages are 81-90 % alike),
    and such pages are duplicates as texts, whatever their URLs say."""
    from pipelines.stages.minhash import MinHasher

    sig, _ = MinHasher().signatures([t for _, t in pages])
    kept: list[int] = []
    for i in range(len(pages)):
        if not kept or (sig[kept] == sig[i]).mean(axis=1).max() < max_similarity:
            kept.append(i)
    return [pages[i] for i in kept]


def _edit_chars(text: str, rate: float, rng: random.Random, chars: list[str]) -> str:
    """``_edit_words`` for Chinese: replace, delete or insert about ``rate`` of the characters."""
    out = []
    for c in text:
        r = rng.random() if "\u4e00" <= c <= "\u9fff" else 1.0
        if r < rate / 3:
            out.append(rng.choice(chars))
        elif r < 2 * rate / 3:
            continue
        elif r < rate:
            out.extend([c, rng.choice(chars)])
        else:
            out.append(c)
    return "".join(out)


def _truncate(text: str, share: float, chinese: bool) -> str:
    if chinese:
        return text[: int(len(text) * share)]
    words = text.split(" ")
    return " ".join(words[: max(20, int(len(words) * share))])


def _paragraphs(text: str, chinese: bool) -> list[str]:
    """The text's paragraphs; a text of fewer than 3 is cut into 3 runs of words (or
    characters), so that reorders and drops change something."""
    paras = [p for p in text.split("\n") if p.strip()]
    if len(paras) >= 3:
        return paras
    units = list(text) if chinese else text.split(" ")
    k = len(units) // 3
    cut = [units[:k], units[k:2 * k], units[2 * k:]]
    return ["".join(u) if chinese else " ".join(u) for u in cut]


def edit_copy(text: str, kind: str, rng: random.Random, vocab: list[str], chars: list[str], lang: str) -> str:
    """A near-duplicate of ``text`` made by one edit of the second set (``EDITS_2``)."""
    chinese = lang == "zh"
    if kind == "mirror":  # the same text on another URL, laid out with blank lines
        return "\n\n".join(p for p in text.split("\n") if p.strip())
    if kind in ("words3", "words8"):
        rate = 0.03 if kind == "words3" else 0.08
        return _edit_chars(text, rate, rng, chars) if chinese else _edit_words(text, rate, rng, vocab)
    if kind == "truncate":
        return _truncate(text, rng.uniform(0.6, 0.9), chinese)
    paras = _paragraphs(text, chinese)
    if kind == "reorder":  # one paragraph moved elsewhere (e.g. a box placed differently)
        i = rng.randrange(len(paras))
        p = paras.pop(i)
        paras.insert(rng.choice([j for j in range(len(paras) + 1) if j != i]), p)
    elif kind == "drop_paragraph":
        del paras[rng.randrange(1, len(paras))]
    elif kind == "insert_boilerplate":
        block = rng.sample(INSERTED_BOILERPLATE.get(lang, INSERTED_BOILERPLATE["en"]), 2)
        paras.insert(rng.randrange(1, len(paras)), block[0])
        paras.append(block[1])
    return "\n".join(paras)


def _teaser_template(rng: random.Random, vocab: list[str], sentences: list[str]) -> tuple[str, str]:
    """A site's header (menu words) and its footer: three teaser sentences of real text
    and a copyright line, ~80-130 words around every article of the site."""
    nav = " | ".join(rng.choice(vocab).capitalize() for _ in range(12))
    foot = "\n".join(rng.sample(sentences, 3) + ["Impressum | Datenschutz | Kontakt | All rights reserved"])
    return nav, foot


def make_second_labelled_corpus(pages: list[tuple[str, str]], zh_pages: list[tuple[str, str]], seed: int = 1,
                                dup_share: float = 0.6, quote_share: float = 0.15,
                                template_share: float = 0.15) -> tuple[list[Document], dict[str, int]]:
    """The second labelled set (see the section comment): documents and true groups.

    ``pages``: the real pages of the first set (language identified here); ``zh_pages``:
    ``extract_zh_pages()``. Pages not used as originals give the quoted paragraphs and
    teaser sentences.
    """
    from pipelines.stages.langid import LanguageId

    rng = random.Random(seed)
    lid = LanguageId()
    langs = [lid.predict(t)[0] for _, t in pages]
    german = [p for p, lang in zip(pages, langs) if lang == "de"]
    chosen = [(u, t, lang) for (u, t), lang in zip(pages, langs) if lang != "de"] + \
             [(u, t, "de") for u, t in german[::4]]
    zh = independent_pages(zh_pages)
    originals = chosen + [(u, t, "zh") for u, t in zh[8:]]
    spare = [t for i, (_, t) in enumerate(german) if i % 4]
    quote_sources = {"zh": [t for _, t in zh[:8]], "other": spare}
    kept_idx = {u for u, _ in independent_pages([(u, t) for u, t, _ in originals])}
    originals = [o for o in originals if o[0] in kept_idx]
    texts = [t for _, t, _ in originals]
    vocab = sorted({w for t in texts for w in t.split() if w.isalpha() and len(w) > 3 and not is_chinese(w)})
    chars = sorted({c for _, t in zh_pages for c in t if "\u4e00" <= c <= "\u9fff"})
    sentences = [s.strip() + "." for t in spare for s in t.replace("\n", " ").split(". ") if 8 <= len(s.split()) <= 30]
    templates = [_teaser_template(rng, vocab, sentences) for _ in range(20)]
    texts = _add_quotes(originals, texts, quote_sources, quote_share, rng)
    docs: list[Document] = []
    group: dict[str, int] = {}
    for g, ((url, _, lang), text) in enumerate(zip(originals, texts)):
        if lang != "zh" and rng.random() < template_share:
            nav, foot = rng.choice(templates)
            text = f"{nav}\n{text}\n{foot}"
        did = stable_id(url, "set2", "original")
        docs.append(Document(id=did, url=url, text=text, language=lang))
        group[did] = g
        if rng.random() < dup_share:
            for k, kind in enumerate(rng.sample(EDITS_2, rng.choice([1, 1, 2, 3]))):
                vid = stable_id(url, "set2", f"copy{k}", kind)
                docs.append(Document(id=vid, url=url + f"?copy={k}&edit={kind}", language=lang,
                                     text=edit_copy(text, kind, rng, vocab, chars, lang)))
                group[vid] = g
    return docs, group


def _add_quotes(originals: list, texts: list[str], sources: dict, share: float, rng: random.Random) -> list[str]:
    """Hard negatives: pairs of different originals of one language group that quote the
    same long passage (a statement, a press release) as a paragraph of their text. The
    quote is 50-100 % as long as the shorter article (at most 250 words), so such a pair's
    Jaccard reaches ~1/3, where two equally long articles quote a passage as long as each."""
    texts = list(texts)
    for lang_group in ("zh", "other"):
        chinese = lang_group == "zh"
        idx = [i for i, (_, _, lang) in enumerate(originals) if (lang == "zh") == chinese]
        rng.shuffle(idx)
        n_pairs = int(len(idx) * share / 2)
        for a, b in zip(idx[:n_pairs], idx[n_pairs:2 * n_pairs]):
            shorter = min(len(_units(texts[a], chinese)), len(_units(texts[b], chinese)))
            quote = _passage(rng.choice(sources[lang_group]), min(250, int(shorter * rng.uniform(0.5, 1.0))), chinese, rng)
            for i in (a, b):
                paras = texts[i].split("\n")
                paras.insert(rng.randrange(len(paras) + 1), f"“{quote}”")
                texts[i] = "\n".join(paras)
    return texts


def _units(text: str, chinese: bool) -> list[str]:
    """Words, or for Chinese the characters (what MinHash counts as words there)."""
    return [c for c in text if "\u4e00" <= c <= "\u9fff"] if chinese else text.split()


def _passage(text: str, length: int, chinese: bool, rng: random.Random) -> str:
    """``length`` consecutive words (Chinese: characters) of ``text`` from a random start."""
    units = list(text.replace("\n", "")) if chinese else text.split()
    start = rng.randrange(max(1, len(units) - length))
    return ("" if chinese else " ").join(units[start:start + length])


# ------------------------------------------------------------ the job's clustering, in memory
def star_edges(ids: list[str], keys: np.ndarray, has_shingles: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The job's candidate edges (``BucketsToEdges``) as row indices: in every band bucket
    of >= 2 documents, each member to the member with the smallest id. Returns the
    distinct edges (member rows, smallest rows) and their count with repeats across bands
    (the job's ``candidate_edges``). Vectorized per band: sort by (key, id), the first of
    each run of equal keys is the bucket's smallest id."""
    rank = np.argsort(np.argsort(np.array(ids)))
    rows = np.flatnonzero(has_shingles)
    us, vs = [], []
    for b in range(keys.shape[1]):
        order = rows[np.lexsort((rank[rows], keys[rows, b]))]
        k = keys[order, b]
        starts = np.ones(k.size, dtype=bool)
        starts[1:] = k[1:] != k[:-1]
        head = order[np.flatnonzero(starts)][np.cumsum(starts) - 1]
        member = ~starts & (rank[order] != rank[head])  # an id read twice is no edge
        us.append(order[member])
        vs.append(head[member])
    u, v = np.concatenate(us), np.concatenate(vs)
    if u.size == 0:
        return u, v, 0
    pairs = np.unique(np.stack([u, v], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1], int(u.size)


def edge_similarities(u: np.ndarray, v: np.ndarray, sig: np.ndarray, sets: list | None, mode: str) -> np.ndarray:
    """What the job's ``VerifyEdges`` compares for each edge: the share of equal signature
    values (``signature``) or the exact Jaccard of the shingle sets (``exact``)."""
    if mode == "exact":
        return np.array([exact_jaccard(sets[a], sets[b]) for a, b in zip(u.tolist(), v.tolist())])
    return (sig[u] == sig[v]).sum(axis=1) / sig.shape[1]


def clusters_from_edges(ids: list[str], u: np.ndarray, v: np.ndarray) -> dict[str, str]:
    """doc id -> cluster id (smallest member id), as the job's connected components."""
    labels = union_find_components((ids[a], ids[b]) for a, b in zip(u.tolist(), v.tolist()))
    return {i: labels.get(i, i) for i in ids}


def predicted_clusters(docs: list[Document], config: MinHashConfig) -> dict[str, str]:
    """Library path of the job: band keys -> star edges per bucket -> verification
    (``config.verify``) -> union-find."""
    hasher = MinHasher(config)
    texts = [d.text for d in docs]
    sig, n_sh = hasher.signatures(texts)
    ids = [d.id for d in docs]
    u, v, _ = star_edges(ids, band_keys(sig, config.bands, config.rows), n_sh > 0)
    if config.verify != "none":
        sets = hasher.shingle_sets(texts) if config.verify == "exact" else None
        ok = edge_similarities(u, v, sig, sets, config.verify) >= config.verify_threshold
        u, v = u[ok], v[ok]
    return clusters_from_edges(ids, u, v)


class Sweep:
    """Scores of many (bands, rows, verify, threshold) settings on one labelled corpus:
    signatures (``num_perm`` values) and shingle sets are computed once, candidate edges
    once per (bands, rows), similarities once per verify mode."""

    def __init__(self, docs: list[Document], truth: dict[str, int], num_perm: int = DEFAULT_NUM_PERM):
        self.docs, self.truth = docs, truth
        self.ids = [d.id for d in docs]
        self.hasher = MinHasher(MinHashConfig(num_perm=num_perm, bands=1, rows=1))
        self.sig, self.n_sh = self.hasher.signatures([d.text for d in docs])
        self._sets = None
        self._edges: dict = {}
        self._sims: dict = {}

    def sets(self) -> list:
        if self._sets is None:
            self._sets = self.hasher.shingle_sets([d.text for d in self.docs])
        return self._sets

    def edges(self, bands: int, rows: int):
        if (bands, rows) not in self._edges:
            keys = band_keys(self.sig, bands, rows)
            self._edges[(bands, rows)] = star_edges(self.ids, keys, self.n_sh > 0)
        return self._edges[(bands, rows)]

    def similarities(self, bands: int, rows: int, mode: str) -> np.ndarray:
        if (bands, rows, mode) not in self._sims:
            u, v, _ = self.edges(bands, rows)
            self._sims[(bands, rows, mode)] = edge_similarities(u, v, self.sig, self.sets() if mode == "exact" else None, mode)
        return self._sims[(bands, rows, mode)]

    def assign(self, bands: int, rows: int, verify: str = "none", threshold: float = 0.0) -> dict[str, str]:
        u, v, _ = self.edges(bands, rows)
        if verify != "none":
            ok = self.similarities(bands, rows, verify) >= threshold
            u, v = u[ok], v[ok]
        return clusters_from_edges(self.ids, u, v)

    def row(self, bands: int, rows: int, verify: str = "none", threshold: float = 0.0) -> dict:
        """One table row: the setting, candidate edges, edges rejected, pair and cluster scores."""
        u, _, repeats = self.edges(bands, rows)
        rejected = int((self.similarities(bands, rows, verify) < threshold).sum()) if verify != "none" else 0
        s = score(self.assign(bands, rows, verify, threshold), self.truth)
        return {"bands": bands, "rows": rows, "lsh_threshold": round((1 / bands) ** (1 / rows), 2),
                "verify": verify, "verify_threshold": threshold if verify != "none" else None,
                "candidate_edges": repeats, "distinct_edges": int(u.size), "edges_rejected": rejected,
                "pairs": s["pairs"], "clusters": s["clusters"]}


# bands x rows with bands * rows <= 112 (every setting uses the same 112 permutations, so
# verification always compares all 112 values), from the old default to 2-row bands.
GRID_BANDS_ROWS = [(14, 8), (16, 7), (18, 6), (20, 5), (22, 5), (25, 4), (28, 4), (37, 3), (56, 2)]
GRID_THRESHOLDS = [round(0.25 + 0.05 * i, 2) for i in range(12)]  # 0.25 .. 0.80
# The columns of the tables in docs/dedup.md: (verify, threshold).
TABLE_COLUMNS = [("none", None), ("signature", 0.35), ("signature", 0.4), ("signature", 0.45),
                 ("signature", 0.5), ("exact", 0.4), ("exact", 0.45)]


def sweep_scores(sweeps: list[Sweep], modes: tuple[str, ...] = ("signature",)) -> dict[tuple, dict]:
    """(bands, rows, verify, threshold) -> cluster precision/recall/F1, pair precision and
    edge counts, each the mean over ``sweeps`` (draws of one labelled set)."""
    settings = [(b, r, "none", None) for b, r in GRID_BANDS_ROWS]
    settings += [(b, r, mode, t) for b, r in GRID_BANDS_ROWS for mode in modes for t in GRID_THRESHOLDS]
    out = {}
    for key in settings:
        rows = [sw.row(*key[:3], key[3] or 0.0) for sw in sweeps]
        out[key] = {name: float(np.mean([get(r) for r in rows])) for name, get in (
            ("precision", lambda r: r["clusters"]["precision"]), ("recall", lambda r: r["clusters"]["recall"]),
            ("f1", lambda r: r["clusters"]["f1"]), ("pair_precision", lambda r: r["pairs"]["precision"]),
            ("candidate_edges", lambda r: r["candidate_edges"]), ("edges_rejected", lambda r: r["edges_rejected"]))}
    return out


def best_setting(scores: dict[tuple, dict], min_precision: float = 0.99) -> tuple:
    """Best mean cluster F1 among verified settings with mean cluster precision >=
    ``min_precision``; ties go to fewer candidate edges (less to shuffle and verify)."""
    ok = [k for k, v in scores.items() if k[2] != "none" and v["precision"] >= min_precision]
    return max(ok, key=lambda k: (round(scores[k]["f1"], 4), -scores[k]["candidate_edges"]))


def matrix_table(scores: dict[tuple, dict], columns: list[tuple] = TABLE_COLUMNS) -> str:
    """Markdown: one row per bands x rows, one column per (verify, threshold), each cell
    cluster precision / recall / F1 (means over the draws)."""
    names = ["unverified" if m == "none" else f"{m} >= {t}" for m, t in columns]
    head = "| bands x rows (LSH t) | candidate edges | " + " | ".join(names) + " |\n"
    head += "|---" * (len(columns) + 2) + "|\n"
    lines = []
    for b, r in GRID_BANDS_ROWS:
        cells = [scores.get((b, r, m, t)) for m, t in columns]
        edges = scores[(b, r, "none", None)]["candidate_edges"]
        lines.append(f"| {b} x {r} ({(1 / b) ** (1 / r):.2f}) | {edges:,.0f} | " + " | ".join(
            f"{c['precision']:.3f} / {c['recall']:.3f} / {c['f1']:.3f}" if c else "" for c in cells) + " |")
    return head + "\n".join(lines) + "\n"


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


def _default_name() -> str:
    c = MinHashConfig()
    return f"default {c.bands}x{c.rows}, verify >= {c.verify_threshold}"


SETTINGS = {
    _default_name(): MinHashConfig(),
    "  same, --verify exact": MinHashConfig(verify="exact"),
    "  same bands, unverified": MinHashConfig(verify="none"),
    "old default 14x8, unverified": MinHashConfig(bands=14, rows=8, verify="none"),
    "14x8, verified": MinHashConfig(bands=14, rows=8),
}


def run_beam_job(docs: list[Document], workdir: pathlib.Path, flags: tuple[str, ...] = ()) -> dict[str, str]:
    """Run ``python -m pipelines.dedup`` in-process on the corpus; doc id -> cluster id."""
    from pipelines.dedup import job as dedup
    from pipelines.io.documents import document_to_row, iter_parquet_documents, write_parquet_file

    src = workdir / "in"
    src.mkdir(parents=True, exist_ok=True)
    write_parquet_file(str(src / "part-0.parquet"), [document_to_row(d) for d in docs])
    out = workdir / "out"
    dedup.main(["--input", str(src), "--output", str(out), "--keep_removed", "--num_shards", "2", *flags])
    assign = {}
    for path in sorted(glob.glob(str(out / "documents" / "*.parquet")) + glob.glob(str(out / "removed" / "minhash" / "*.parquet"))):
        for d in iter_parquet_documents(path):
            assign[d.id] = d.minhash_cluster
    return assign


def recall_by(docs: list[Document], pred: dict[str, str], truth: dict[str, int], label) -> dict[str, str]:
    """Share of near-duplicates found in their original's cluster, per ``label(doc)``."""
    original = {truth[d.id]: d.id for d in docs if "?copy=" not in d.url}
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for d in docs:
        if "&edit=" in d.url:
            key = label(d)
            found[key][0] += pred[d.id] == pred[original[truth[d.id]]]
            found[key][1] += 1
    return {k: f"{a}/{n}" for k, (a, n) in sorted(found.items())}


def recall_by_edit(docs: list[Document], pred: dict[str, str], truth: dict[str, int]) -> dict[str, str]:
    return recall_by(docs, pred, truth, lambda d: d.url.rsplit("&edit=", 1)[1])


def recall_by_language(docs: list[Document], pred: dict[str, str], truth: dict[str, int]) -> dict[str, str]:
    return recall_by(docs, pred, truth, lambda d: d.language if d.language in ("de", "en", "zh") else "other")


def false_positive_pairs(docs: list[Document], pred: dict[str, str], truth: dict[str, int]) -> list[tuple[str, str]]:
    url = {d.id: d.url for d in docs}
    return sorted((url[a], url[b]) for a, b in _pairs(pred) - _pairs(truth))


def build_corpus(which: int, pages: list[tuple[str, str]], seed: int) -> tuple[list[Document], dict[str, int]]:
    if which == 1:
        return make_labelled_corpus(pages, seed=seed)
    return make_second_labelled_corpus(pages, extract_zh_pages(), seed=seed)


def print_settings(docs: list[Document], truth: dict[str, int], by_language: bool) -> None:
    for name, cfg in SETTINGS.items():
        t = time.perf_counter()
        pred = predicted_clusters(docs, cfg)
        s = score(pred, truth)
        print(f"{name:34s} pairs P/R/F1 {s['pairs']['precision']:.3f}/{s['pairs']['recall']:.3f}/{s['pairs']['f1']:.3f}"
              f"  clusters P/R/F1 {s['clusters']['precision']:.3f}/{s['clusters']['recall']:.3f}/{s['clusters']['f1']:.3f}"
              f"  ({s['pairs']['predicted_pairs']} predicted / {s['pairs']['true_pairs']} true pairs, {time.perf_counter() - t:.2f}s)")
        print(f"{'':34s} near-duplicates found per edit kind: {recall_by_edit(docs, pred, truth)}")
        if by_language:
            print(f"{'':34s} per language of the original: {recall_by_language(docs, pred, truth)}")
        for a, b in false_positive_pairs(docs, pred, truth)[:5]:
            print(f"{'':34s} false positive pair: {a}  ~  {b}")


def sweep(which: int, pages: list[tuple[str, str]], seeds: list[int], modes: tuple[str, ...]) -> None:
    zh_pages = extract_zh_pages() if which == 2 else []
    sweeps = []
    for seed in seeds:
        docs, truth = make_labelled_corpus(pages, seed=seed) if which == 1 else \
            make_second_labelled_corpus(pages, zh_pages, seed=seed)
        print(f"labelled set {which}, seed {seed}: {len(docs)} documents, {len(_groups(truth))} true duplicate groups")
        sweeps.append(Sweep(docs, truth))
    scores = sweep_scores(sweeps, modes)
    columns = TABLE_COLUMNS if "exact" in modes else [c for c in TABLE_COLUMNS if c[0] != "exact"]
    print(f"\ncluster precision / recall / F1, mean of {len(seeds)} draw(s):\n" + matrix_table(scores, columns))
    best = best_setting(scores)
    print(f"best mean cluster F1 at mean cluster precision >= 0.99: {best[0]} x {best[1]}, verify {best[2]} >= {best[3]}: "
          + ", ".join(f"{k} {v:.4f}" for k, v in scores[best].items()))
    top = sorted((k for k in scores if k[2] != "none" and scores[k]["precision"] >= 0.99),
                 key=lambda k: -scores[k]["f1"])[:12]
    print("next best: " + "; ".join(f"{b}x{r} {m} {t}: F1 {scores[(b, r, m, t)]['f1']:.4f}" for b, r, m, t in top))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=400, help="real pages to use as originals")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", type=int, choices=[1, 2], default=1,
                    help="1: the first labelled set; 2: the second, built differently (make_second_labelled_corpus)")
    ap.add_argument("--sweep", action="store_true",
                    help="score every bands x rows x verify threshold of the grid, name the best (mean over --seeds)")
    ap.add_argument("--seeds", default=None,
                    help="with --sweep: comma-separated seeds, one draw of the set each (default: --seed)")
    ap.add_argument("--exact", action="store_true", help="with --sweep: also --verify exact at every threshold")
    ap.add_argument("--beam", action="store_true", help="also run the Beam job with default parameters")
    args = ap.parse_args()
    if not (SHARED / "warc").is_dir():
        sys.exit(f"shared data not found at {SHARED}: set SHARED_DATA")
    t = time.perf_counter()
    pages = extract_pages(args.pages)
    if args.sweep:
        seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [args.seed]
        sweep(args.set, pages, seeds, ("signature", "exact") if args.exact else ("signature",))
        return
    docs, truth = build_corpus(args.set, pages, args.seed)
    print(f"labelled set {args.set}: {len(pages)} real pages -> {len(docs)} documents, "
          f"{len(_groups(truth))} true duplicate groups ({time.perf_counter() - t:.1f}s to build)")
    print_settings(docs, truth, by_language=args.set == 2)
    if args.beam:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            job = run_beam_job(docs, pathlib.Path(tmp))
            s = score(job, truth)
            same = _groups(job) == _groups(predicted_clusters(docs, MinHashConfig()))
            print(f"{'Beam job (default)':34s} pairs F1 {s['pairs']['f1']:.3f} clusters F1 {s['clusters']['f1']:.3f}"
                  f"  same clusters as library path: {same} ({time.perf_counter() - t:.1f}s)")


if __name__ == "__main__":
    main()
