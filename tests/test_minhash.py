"""MinHash signatures and LSH bands: equal to datasketch on real text, script-aware."""
from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH

from conftest import run_module
from dedup_helpers import load_minhash_eval
from pipelines.stages.minhash import (
    MinHashConfig,
    MinHasher,
    band_keys,
    datasketch_permutations,
    edge_similarity,
    estimated_jaccard,
    exact_jaccard,
    shingle_hash64,
    shingles,
    signatures_from_shingles,
    tokenize,
)


def load_eval_module():
    return load_minhash_eval()


@pytest.fixture(scope="module")
def pages(shared_data):
    return load_eval_module().extract_pages(16, warc_dir=shared_data / "warc")


@pytest.fixture(scope="module")
def real_texts(shared_data, pages):
    """Main text of real pages: German/English pages plus the Chinese/Russian CC excerpt."""
    import trafilatura
    from warcio.archiveiterator import ArchiveIterator

    texts = [t for _, t in pages[:8]]
    with open(shared_data / "warc" / "cc-main-2020-34-excerpt.warc.gz", "rb") as f:
        for rec in ArchiveIterator(f):
            if rec.rec_type == "response":
                text = trafilatura.extract(rec.content_stream().read())
                if text:
                    texts.append(text)
    assert any(any("\u4e00" <= c <= "\u9fff" for c in t) for t in texts), "expected Chinese pages in the excerpt"
    return texts


@pytest.fixture(scope="module")
def labelled(pages):
    return load_eval_module().make_labelled_corpus(pages, seed=3, dup_share=0.8)


def datasketch_minhash(tokens, config=MinHashConfig()):
    m = MinHash(num_perm=config.num_perm, seed=config.seed, scheme="affine64", hashfunc=shingle_hash64)
    m.update_batch(shingles(tokens, config.ngram))
    return m


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_signatures_equal_datasketch_on_real_text(real_texts, backend):
    hasher = MinHasher(backend=backend)
    tokens = [tokenize(t) for t in real_texts]
    sig, n_sh = hasher.signatures_from_tokens(tokens)
    assert sig.dtype == np.uint64 and sig.shape == (len(real_texts), 112)
    for toks, row, n in zip(tokens, sig, n_sh):
        assert n == len(shingles(toks, 5))
        assert np.array_equal(row, datasketch_minhash(toks).hashvalues)


def test_compiled_kernel_equals_numpy_path_on_real_text(real_texts):
    """The kernel tokenizes UTF-8 itself (a code-point class table): same words, same bits."""
    kernel_sig, kernel_n = MinHasher(backend="numba").signatures(real_texts)
    numpy_sig, numpy_n = MinHasher(backend="numpy").signatures(real_texts)
    assert np.array_equal(kernel_n, numpy_n) and kernel_n.min() > 0
    assert np.array_equal(kernel_sig, numpy_sig)


def test_compiled_kernel_equals_numpy_path_on_random_unicode():
    """Any code point, in any order: combining marks inside and outside words, CJK next to
    letters, digits, lone surrogates, astral planes; mostly short texts (< ngram words)."""
    rng = np.random.default_rng(7)
    texts = []
    for _ in range(2000):
        # Mix the whole range with the denser low planes, where most scripts live.
        cps = np.concatenate([rng.integers(0, 0x110000, 8), rng.integers(0, 0x3100, 24), rng.integers(0x20, 0x80, 24)])
        texts.append("".join(map(chr, rng.permutation(cps)[: rng.integers(0, 56)])))
    texts += ["e\u0301te\u0301 cafe\u0301", "\u0301a\u0301", "\u4e2d\u0301\u6587 \u0130stanbul", "\ud800 lone", " ", ""]
    kernel_sig, kernel_n = MinHasher(backend="numba").signatures(texts)
    numpy_sig, numpy_n = MinHasher(backend="numpy").signatures(texts)
    assert np.array_equal(kernel_n, numpy_n) and (kernel_n > 1).sum() > 100
    assert np.array_equal(kernel_sig, numpy_sig)


def test_kernel_works_where_numba_cannot_cache(tmp_path):
    """A read-only install with no writable cache directory: numba's cache=True raises at
    import there; the kernel must compile uncached instead (simulated by giving numba no
    cache locator, in a fresh process)."""
    script = (
        "import numba.core.caching as caching\n"
        "caching.CacheImpl._locator_classes = []\n"
        "from pipelines.stages.minhash import MinHasher\n"
        "texts = ['one two three four five six seven', 'Ein kurzer Satz mit sechs Wörtern']\n"
        "a = MinHasher(backend='numba').signatures(texts)[0]\n"
        "b = MinHasher(backend='numpy').signatures(texts)[0]\n"
        "assert (a == b).all()\n"
        "print('uncached kernel ok')\n"
    )
    (tmp_path / "uncached_kernel_check.py").write_text(script, encoding="utf-8")
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    proc = run_module("uncached_kernel_check", timeout=300, env={**os.environ, "PYTHONPATH": path})
    assert "uncached kernel ok" in proc.stdout


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend"):
        MinHasher(backend="cuda")


def test_signature_of_a_document_does_not_depend_on_its_batch(real_texts):
    hasher = MinHasher()
    together, _ = hasher.signatures(real_texts)
    alone = np.vstack([hasher.signatures([t])[0] for t in real_texts])
    assert np.array_equal(together, alone)


def test_fast_tokenize_equals_shared_segmentation(real_texts):
    from pipelines.stages.minhash import tokenize_reference

    edge_cases = ["Café naïve ℌello ² x_y 3D 中文字符 ไทย Ещё ёлка Straße ﬁne", "Ǆ Å Ω Ⅻ", ""]
    for text in real_texts + edge_cases:
        assert tokenize(text) == tokenize_reference(text)


def test_normalization_ignores_case_accents_digits_punctuation():
    a = "The Café opened in 1998, and it's still open!"
    b = "the cafe opened in 2004 -- and it s still OPEN"
    assert tokenize(a) == tokenize(b)
    sig, _ = MinHasher().signatures([a, b])
    assert np.array_equal(sig[0], sig[1])


def test_chinese_characters_are_words(real_texts):
    chinese = next(t for t in real_texts if sum("\u4e00" <= c <= "\u9fff" for c in t) > 50)
    toks = tokenize(chinese)
    han = [t for t in toks if "\u4e00" <= t[0] <= "\u9fff"]
    assert han and all(len(t) == 1 for t in han)
    # A Chinese text without spaces still yields many shingles, so edits are measurable.
    _, n_sh = MinHasher().signatures([chinese])
    assert n_sh[0] > 50


def test_short_and_empty_documents():
    sig, n_sh = MinHasher().signatures(["", "!!! 123", "two words", "one two three four five six"])
    assert n_sh.tolist() == [0, 0, 1, 2]
    assert (sig[0] == np.iinfo(np.uint64).max).all() and (sig[1] == np.iinfo(np.uint64).max).all()
    assert np.array_equal(sig[2], datasketch_minhash(["two", "words"]).hashvalues)


def test_near_duplicates_score_higher_than_unrelated_pages(labelled):
    docs, truth = labelled
    sig, _ = MinHasher().signatures([d.text for d in docs])
    same, other = [], []
    for i, j in itertools.combinations(range(len(docs)), 2):
        (same if truth[docs[i].id] == truth[docs[j].id] else other).append(estimated_jaccard(sig[i], sig[j]))
    assert same and other
    assert np.median(same) > 0.5 > max(other)


def test_lsh_candidates_identical_to_datasketch_minhashlsh(labelled):
    docs, _ = labelled
    config = MinHashConfig()
    sig, _ = MinHasher(config).signatures([d.text for d in docs])
    keys = band_keys(sig, config.bands, config.rows)
    ours = set()
    for i, j in itertools.combinations(range(len(docs)), 2):
        if (keys[i] == keys[j]).any():
            ours.add((docs[i].id, docs[j].id))
    lsh = MinHashLSH(num_perm=config.num_perm, params=(config.bands, config.rows))
    sketches = {}
    for d in docs:
        m = datasketch_minhash(tokenize(d.text), config)
        sketches[d.id] = m
        lsh.insert(d.id, m)
    theirs = set()
    for i, j in itertools.combinations(range(len(docs)), 2):
        if docs[j].id in lsh.query(sketches[docs[i].id]):
            theirs.add((docs[i].id, docs[j].id))
    assert len(ours) > 10  # the corpus has real near-duplicates
    assert ours == theirs


@pytest.mark.parametrize("threshold", [0.5, 0.72, 0.85])
def test_threshold_gives_datasketch_bands_and_rows(threshold):
    config = MinHashConfig.from_threshold(threshold, num_perm=112)
    lsh = MinHashLSH(threshold=threshold, num_perm=112)
    assert (config.bands, config.rows) == (lsh.b, lsh.r)


def test_default_is_37_bands_of_3_rows_verified_at_0_4():
    """Chosen on the labelled sets (docs/dedup.md): loose bands find edits down to J ~0.45,
    the check of every candidate edge on all 112 values keeps precision."""
    config = MinHashConfig()
    assert (config.num_perm, config.bands, config.rows, config.ngram) == (112, 37, 3, 5)
    assert (config.verify, config.verify_threshold) == ("signature", 0.4)
    assert 0.29 < config.threshold < 0.31


def test_bad_parameters_say_what_to_change():
    with pytest.raises(ValueError, match="num_perm"):
        MinHashConfig(num_perm=64, bands=14, rows=8)
    with pytest.raises(ValueError, match="threshold"):
        MinHashConfig.from_threshold(1.5)
    with pytest.raises(ValueError, match="--verify must be one of none, signature, exact"):
        MinHashConfig(verify="jaccard")
    with pytest.raises(ValueError, match="--verify_threshold"):
        MinHashConfig(verify_threshold=1.2)


def test_exact_jaccard_equals_python_sets_of_shingles_on_real_texts(real_texts, labelled):
    """``--verify exact`` compares sorted 64-bit shingle hashes; on real pages (German,
    English, Chinese, Russian) and their labelled near-duplicates that is the Jaccard of
    the shingles as strings."""
    docs, truth = labelled
    texts = real_texts + [d.text for d in docs]
    sets = MinHasher().shingle_sets(texts)
    as_strings = [set(shingles(tokenize(t), 5)) for t in texts]
    assert [s.size for s in sets] == [len(s) for s in as_strings]
    pairs = list(itertools.combinations(range(len(real_texts)), 2))
    pairs += [(len(real_texts) + i, len(real_texts) + j) for i, j in itertools.combinations(range(len(docs)), 2)
              if truth[docs[i].id] == truth[docs[j].id]]
    high = 0
    for i, j in pairs:
        a, b = as_strings[i], as_strings[j]
        assert exact_jaccard(sets[i], sets[j]) == pytest.approx(len(a & b) / len(a | b), abs=1e-12)
        high += len(a & b) / len(a | b) > 0.5
    assert high >= 10  # near-duplicates, not only unrelated pages


def test_exact_payload_holds_the_shingles_the_signature_is_made_of(real_texts):
    hasher = MinHasher()
    sig, n_sh = hasher.signatures(real_texts)
    sets = hasher.shingle_sets(real_texts)
    a, b = datasketch_permutations(112, 1)
    # The minimum over each distinct shingle set gives back the kernel's signature.
    from_sets = signatures_from_shingles(np.concatenate(sets), np.array([s.size for s in sets]), a, b)
    assert np.array_equal(from_sets, sig)
    assert all(s.size <= n for s, n in zip(sets, n_sh))


def test_edge_similarity_reads_the_payloads_of_each_mode(labelled):
    docs, _ = labelled
    texts = [d.text for d in docs[:6]]
    signature, exact = MinHasher(MinHashConfig()), MinHasher(MinHashConfig(verify="exact"))
    sig, _ = signature.signatures(texts)
    by_sig, by_set = signature.verify_payloads(texts, sig), exact.verify_payloads(texts, sig)
    sets = exact.shingle_sets(texts)
    for i, j in itertools.combinations(range(len(texts)), 2):
        assert edge_similarity(by_sig[i], by_sig[j], "signature") == estimated_jaccard(sig[i], sig[j])
        assert edge_similarity(by_set[i], by_set[j], "exact") == exact_jaccard(sets[i], sets[j])
    assert len(by_sig[0]) == 112 * 8
    with pytest.raises(ValueError, match="num_perm"):
        edge_similarity(by_sig[0], by_sig[1][:64], "signature")


def test_verification_keeps_labelled_near_duplicates_and_rejects_other_pages(shared_data):
    """Real pages and their labelled copies (the dedup job's test corpus): at 37 x 3 the
    LSH offers candidate pairs of different pages, and only those fail the check."""
    mod = load_eval_module()
    docs, truth = mod.make_labelled_corpus(mod.extract_pages(16, warc_dir=shared_data / "warc"), seed=5, dup_share=0.9)
    config = MinHashConfig()
    sig, n_sh = MinHasher(config).signatures([d.text for d in docs])
    ids = [d.id for d in docs]
    u, v, _ = mod.star_edges(ids, band_keys(sig, config.bands, config.rows), n_sh > 0)
    similar = mod.edge_similarities(u, v, sig, None, "signature") >= config.verify_threshold
    same = np.array([truth[ids[a]] == truth[ids[b]] for a, b in zip(u, v)])
    assert (~same).sum() >= 2 and same.sum() >= 20
    assert similar[same].all() and not similar[~same].any()


def test_fast_tokenize_equals_reference_for_every_bmp_character():
    """Each character between letters and a Han character: punctuation inside no-space
    blocks (e.g. the katakana middle dot) and Thai digits must not become words."""
    from pipelines.stages.minhash import tokenize_reference

    mismatches = [
        hex(c) for c in range(0x20, 0x10000)
        if not 0xD800 <= c <= 0xDFFF
        and tokenize(f"a{chr(c)}中{chr(c)} x") != tokenize_reference(f"a{chr(c)}中{chr(c)} x")
    ]
    assert mismatches == []
