"""Exact substring dedup: suffix-array engine vs brute force vs a naive Python suffix
array, the partitioned (Beam) path vs the single suffix array, removal by offsets."""
from __future__ import annotations

import argparse
import random

import numpy as np
import pydivsufsort
import pytest

from dedup_helpers import extracted_pages, run_dedup_stage
from pipelines.stages import substring as sub
from pipelines.stages import substring_kernel as kernel
from pipelines.stages.base import Document, stable_id
from pipelines.dedup.substring import TOO_SHORT, SubstringDedup


# ----------------------------------------------------------------------------- references

def brute_force_spans(docs, k, keep_first):
    """Definition, spelled out: every k-byte window seen at >= 2 positions (keep_first:
    at an earlier (doc id, offset) position) is removed; union of those windows."""
    docs = sorted(docs)
    occurrences: dict[bytes, list] = {}
    for doc_id, data in docs:
        for i in range(len(data) - k + 1):
            occurrences.setdefault(data[i:i + k], []).append((doc_id, i))
    covered = {doc_id: np.zeros(len(data), dtype=bool) for doc_id, data in docs}
    for occ in occurrences.values():
        if len(occ) < 2:
            continue
        for rank, (doc_id, i) in enumerate(occ):  # occ is in (doc id, offset) order
            if rank == 0 and keep_first:
                continue
            covered[doc_id][i:i + k] = True
    return {d: _runs(c) for d, c in covered.items() if c.any()}


def naive_suffix_array_spans(docs, k):
    """Lee et al.'s ExactSubstr semantics with a naive Python suffix array: sort all
    suffixes, mark both sides of every adjacent pair sharing >= k bytes (never across
    a document end)."""
    docs = sorted(docs)
    text, owner = [], []
    for doc_no, (_, data) in enumerate(docs):
        for i, byte in enumerate(data):
            text.append(byte)
            owner.append((doc_no, i, len(data) - i))
        text.append(256 + doc_no)  # unique separator symbols
        owner.append(None)
    n = len(text)
    suffixes = sorted(range(n), key=lambda i: text[i:])
    covered = {d: np.zeros(len(data), dtype=bool) for d, data in docs}
    ids = [d for d, _ in docs]
    for a, b in zip(suffixes, suffixes[1:]):
        if owner[a] is None or owner[b] is None:
            continue
        lcp = 0
        limit = min(owner[a][2], owner[b][2])
        while lcp < limit and text[a + lcp] == text[b + lcp]:
            lcp += 1
        if lcp >= k:
            for pos in (a, b):
                doc_no, off, _ = owner[pos]
                covered[ids[doc_no]][off:off + lcp] = True
    return {d: _runs(c) for d, c in covered.items() if c.any()}


def _runs(mask):
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return edges.reshape(-1, 2).tolist()


def _as_lists(found):
    return {d: np.asarray(v).tolist() for d, v in found.items() if len(v)}


def random_corpus(rng: random.Random):
    """Documents built from shared paragraphs, multi-byte words and self-repeating runs."""
    vocab = ["".join(rng.choice("abcé中д ") for _ in range(rng.randint(1, 5))) for _ in range(rng.randint(2, 25))]
    shared = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 60))) for _ in range(rng.randint(1, 8))]
    docs = []
    for i in range(rng.randint(1, 12)):
        parts = []
        for _ in range(rng.randint(1, 4)):
            roll = rng.random()
            if roll < 0.45:
                parts.append(rng.choice(shared))
            elif roll < 0.55:
                parts.append(rng.choice("a=-") * rng.randint(1, 90))  # overlapping self-repeats
            else:
                parts.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 30))))
        docs.append((f"{rng.randint(0, 99):02d}-{i}", sub.encode(" ".join(parts))))
    return docs


# ----------------------------------------------------------------------------- engine

@pytest.mark.parametrize("seed", range(40))
def test_suffix_array_and_partitioned_equal_brute_force(seed):
    rng = random.Random(seed)
    docs = random_corpus(rng)
    k = rng.choice([4, 8, 16, 30])
    anchor = rng.randint(1, k)
    for keep_first in (True, False):
        expected = brute_force_spans(docs, k, keep_first)
        assert _as_lists(sub.single_repeated_spans(docs, k, keep_first)) == expected
        partitioned = sub.partitioned_repeated_spans(docs, rng.randint(1, 6), k, anchor, keep_first,
                                                     batch_docs=rng.randint(1, 5), rounds=1)
        assert _as_lists(partitioned) == expected
        # Two rounds (contexts only for fingerprints seen twice), with a fingerprint
        # bucket count of its own: the same spans.
        two_round = sub.partitioned_repeated_spans(docs, rng.randint(1, 6), k, anchor, keep_first,
                                                   batch_docs=rng.randint(1, 5), rounds=2,
                                                   fingerprint_buckets=rng.randint(1, 7))
        assert _as_lists(two_round) == expected


def test_two_rounds_ship_contexts_only_for_repeated_anchors():
    rng = random.Random(3)
    unique = [(f"u{i}", bytes(rng.randrange(97, 123) for _ in range(400))) for i in range(20)]
    shared = bytes(rng.randrange(97, 123) for _ in range(300))
    docs = unique + [("r0", b"one " + shared), ("r1", b"two " + shared + b" end")]
    masks = {}
    fingerprints = {}
    for b, share in sub.batch_fingerprints("batch", docs, 3, 100, 32):
        fingerprints.setdefault(b, []).append(share)
    for b, shares in fingerprints.items():
        for batch, mask in sub.bucket_repeated_masks(b, shares):
            masks.setdefault(batch, []).append(mask)
    one = [s for _, s in sub.batch_bucket_shares("batch", docs, 3, 100, 32)]
    two = [s for _, s in sub.batch_bucket_shares("batch", docs, 3, 100, 32, masks.get("batch", []), 3)]
    # Only the two documents holding the shared text ship contexts in round 2.
    assert {i for s in two for i in s.doc_ids} == {"r0", "r1"}
    assert {i for s in one for i in s.doc_ids} == {d for d, _ in docs}
    raw = lambda shares: sum(int(s.columns()["ctx_len"].sum()) for s in shares)
    assert raw(two) < raw(one) / 5
    fp_bytes = sum(s.shipped_bytes() for v in fingerprints.values() for s in v)
    assert fp_bytes < 0.25 * sum(len(d) for _, d in docs)
    packed = sub.BatchText.pack(docs)  # what round 2's join ships instead of Documents
    assert packed.documents() == docs and packed.shipped_bytes() < sum(len(d) for _, d in docs)
    assert _as_lists(sub.partitioned_repeated_spans(docs, 3, 100, 32, rounds=2)) == \
        _as_lists(sub.single_repeated_spans(docs, 100))


@pytest.mark.parametrize("seed", range(30))
def test_hot_fingerprints_split_over_pair_buckets_equal_brute_force(seed):
    """A forced-small hot threshold (1-3 contexts): nearly every repeated fingerprint is
    split into groups whose contexts ship to the buckets of their pairs (often several
    pairs in one bucket); the union of the buckets' marks is still the definition's."""
    rng = random.Random(1000 + seed)
    docs = list(dict(random_corpus(rng) + random_corpus(rng)).items())  # ids unique
    k = rng.choice([4, 8, 16, 30])
    anchor = rng.randint(1, k)
    for keep_first in (True, False):
        expected = brute_force_spans(docs, k, keep_first)
        found = sub.partitioned_repeated_spans(docs, rng.randint(1, 40), k, anchor, keep_first,
                                               batch_docs=rng.randint(1, 5), rounds=2,
                                               fingerprint_buckets=rng.randint(1, 7),
                                               hot_contexts=rng.choice([1, 1.5, 2, 3]))
        assert _as_lists(found) == expected, keep_first


def test_a_repeated_string_over_the_hot_budget_is_split_into_groups():
    """The split itself happens (the brute-force seeds above would pass if it never did): a
    300-byte string in 60 documents is one hot fingerprint per anchor, cut into k > 1
    groups; with splitting off nothing is hot, and the buckets' spans agree either way."""
    rng = random.Random(7)
    shared = bytes(rng.randrange(97, 123) for _ in range(300))
    docs = [(f"d{i:03d}", bytes(rng.randrange(97, 123) for _ in range(50)) + shared) for i in range(60)]
    _, hot = _round_two_buckets(docs, 16, True, batch_docs=10, hot_contexts=8)
    assert hot and min(hot.values()) > 1  # {fingerprint: groups}
    assert _round_two_buckets(docs, 16, False, batch_docs=10, hot_contexts=8)[1] == {}
    for keep_first in (True, False):
        assert _as_lists(sub.partitioned_repeated_spans(docs, 16, 100, 32, keep_first, batch_docs=10, rounds=2,
                                                        hot_contexts=8)) == \
            _as_lists(sub.single_repeated_spans(docs, 100, keep_first))


def _round_two_buckets(docs, num_buckets, split_hot, batch_docs=40, fingerprint_buckets=4, hot_contexts=0.0):
    """Both rounds of the partitioned path: {bucket: [BucketShare]} and the hot groups."""
    batches = {f"{b0:06d}": docs[b0: b0 + batch_docs] for b0 in range(0, len(docs), batch_docs)}
    fingerprints, masks, hot = {}, {}, {}
    for key, batch in batches.items():
        for b, share in sub.batch_fingerprints(key, batch, fingerprint_buckets, 100, 32):
            fingerprints.setdefault(b, []).append(share)
    for b, shares in fingerprints.items():
        for key, mask in sub.bucket_repeated_masks(b, shares, num_buckets if split_hot else 0,
                                                   fingerprint_buckets, hot_contexts):
            masks.setdefault(key, []).append(mask)
            if mask.hot:
                hot.update(zip(*(a.tolist() for a in mask.hot_table())))
    buckets = {}
    for key, batch in batches.items():
        for b, share in sub.batch_bucket_shares(key, batch, num_buckets, 100, 32, masks.get(key, []),
                                                fingerprint_buckets):
            buckets.setdefault(b, []).append(share)
    return buckets, hot


def test_a_hot_boilerplate_string_is_spread_over_buckets_with_the_same_spans(real_docs):
    """Real pages, and 300 short documents that all carry one boilerplate paragraph
    (a footer): without splitting, every context of its anchors goes to one bucket; with
    the default budget (a quarter of the mean a bucket receives, at least 64 contexts)
    they spread over many buckets,
    the largest bucket shrinks, and keep-first and strike-all spans stay those of one
    suffix array."""
    footer = ("Alle Rechte vorbehalten. Nachdruck, Weitergabe und Speicherung nur mit schriftlicher "
              "Genehmigung der Redaktion. Angaben ohne Gewähr.")
    paragraphs = [p for d in real_docs for p in d.text.split("\n") if len(p) > 40]
    rng = random.Random(5)
    docs = [(d.id, sub.encode(d.text)) for d in real_docs]
    docs += [(f"footer-{i:04d}", sub.encode(f"{rng.choice(paragraphs)}\nItem {i}.\n{footer}"))
             for i in range(300)]
    docs.sort()
    size = lambda shares: sum(s.shipped_bytes() for s in shares)
    before, none_hot = _round_two_buckets(docs, 64, split_hot=False)
    after, hot = _round_two_buckets(docs, 64, split_hot=True)
    assert not none_hot and hot and max(hot.values()) > 2
    footer_fp = set(hot)  # the footer's anchors: its fingerprints are the ones seen 300 times
    holding = lambda buckets: sum(any(set(s.columns()["fp32"].tolist()) & footer_fp for s in shares)
                                  for shares in buckets.values())
    assert holding(before) <= len(footer_fp) < holding(after)
    assert max(map(size, after.values())) < max(map(size, before.values()))
    for keep_first in (True, False):
        reference = _as_lists(sub.single_repeated_spans(docs, 100, keep_first))
        assert any(d.startswith("footer-") for d in reference)
        for split_hot in (True, False):
            assert _as_lists(sub.partitioned_repeated_spans(docs, 64, 100, 32, keep_first, batch_docs=40,
                                                            fingerprint_buckets=4, split_hot=split_hot)) \
                == reference, (keep_first, split_hot)
        # Forced: every fingerprint seen more than twice is hot.
        assert _as_lists(sub.partitioned_repeated_spans(docs, 7, 100, 32, keep_first, batch_docs=40,
                                                        fingerprint_buckets=3, hot_contexts=2)) == reference


def test_hot_groups_follow_the_budget_and_the_bucket_count():
    counts = np.array([1, 64, 65, 640, 10**6])
    assert sub.hot_groups(counts, 64, 4096).tolist() == [1, 1, 3, 20, 90]  # cap sqrt(2 x 4096)
    assert sub.hot_groups(counts, 64, 1).tolist() == [1, 1, 2, 2, 2]
    assert sub.hot_budget(np.array([1, 2, 3]), 16, 4096) == sub.HOT_MIN_CONTEXTS
    # A share of the mean a search bucket receives (fingerprints seen once never ship).
    counts = np.array([1] * 10 + [10**5] * 10)
    assert sub.hot_budget(counts, 16, 4096) == sub.HOT_SHARE * 10**6 * 16 / 4096


def test_removed_bytes_match_naive_suffix_array_lee_semantics():
    rng = random.Random(7)
    docs = random_corpus(rng) + random_corpus(rng)
    k = 12
    naive = naive_suffix_array_spans(docs, k)
    ours = sub.single_repeated_spans(docs, k, keep_first=False)
    assert naive, "the corpus must contain repeats for this comparison to mean anything"
    total = lambda found: sum(e - s for spans in found.values() for s, e in np.asarray(spans).tolist())
    assert total(ours) == total(naive)
    assert _as_lists(ours) == naive


def test_no_match_crosses_a_document_boundary():
    # "...xyz" + "abc..." in doc 1/2 must not match "xyzabc" elsewhere.
    docs = [("a", b"0123456789xyz"), ("b", b"abcABCDEFGHIJ"), ("c", b"xyzabc")]
    assert sub.single_repeated_spans(docs, 6, keep_first=False) == {}
    assert sub.partitioned_repeated_spans(docs, 2, 6, 3, keep_first=False) == {}


def test_keep_first_keeps_smallest_id_and_strike_all_removes_every_copy():
    para = b"The quick brown fox jumps over the lazy dog near the riverbank. "
    docs = [("b", b"intro B. " + para), ("a", b"intro A. " + para), ("c", para + b"outro")]
    keep = sub.single_repeated_spans(docs, 40, keep_first=True)
    assert "a" not in keep and set(keep) == {"b", "c"}
    strike = sub.single_repeated_spans(docs, 40, keep_first=False)
    assert set(strike) == {"a", "b", "c"}


def _kernel_spans(docs, k, keep_first, code_bits):
    """The single path's compiled passes with ``code_bits``-bit window codes (few bits:
    most adjacent distinct windows collide, so every run goes through the byte-by-byte
    split)."""
    docs = sorted(docs)
    buf, starts = sub.concat_segments([d for _, d in docs])
    data = np.frombuffer(buf, dtype=np.uint8)
    sa = pydivsufsort.divsufsort(buf)
    codes = kernel.window_codes(data, k, code_bits)
    kernel.mark_repeated_windows(data, sa, codes, k, keep_first)
    covered = kernel.covered_intervals(codes, k)
    return {docs[seg][0]: spans.tolist() for seg, spans in sub.split_by_segment(covered, starts)}


def test_window_codes_are_a_function_of_the_window_and_invalid_across_separators():
    rng = random.Random(5)
    docs = random_corpus(rng) + [("zz", sub.encode("中文 repeated text é " * 9))]
    buf, _ = sub.concat_segments([d for _, d in docs])
    data = np.frombuffer(buf, dtype=np.uint8)
    for k in (1, 7, 30):
        codes = kernel.window_codes(data, k, kernel.CODE_BITS)
        by_window = {}
        for p in range(len(buf)):
            window = buf[p:p + k]
            invalid = len(window) < k or sub.SEPARATOR in window
            assert (codes[p] == kernel.INVALID) == invalid
            assert codes[p] != kernel.MARKED
            if not invalid:
                assert by_window.setdefault(window, codes[p]) == codes[p]
        assert len(set(by_window.values())) > 0.9 * len(by_window)  # a hash, not a constant


@pytest.mark.parametrize("seed", range(25))
def test_marking_is_exact_when_window_codes_collide(seed):
    rng = random.Random(100 + seed)
    docs = random_corpus(rng) + random_corpus(rng)
    k = rng.choice([1, 3, 8, 16, 30])
    for keep_first in (True, False):
        expected = brute_force_spans(docs, k, keep_first)
        for code_bits in (1, 3, 16):
            assert _kernel_spans(docs, k, keep_first, code_bits) == expected, (k, keep_first, code_bits)


def reference_winnow(data: bytes, min_span: int, gram: int):
    """Winnowing spelled out: polynomial hash of every gram (mod 2^64, splitmix64-mixed),
    minimum key (top 32 bits, then rightmost position) of every window of t grams."""
    mask = (1 << 64) - 1

    def mix(x):
        x ^= x >> 30
        x = (x * 0xBF58476D1CE4E5B9) & mask
        x ^= x >> 27
        x = (x * 0x94D049BB133111EB) & mask
        return x ^ (x >> 31)

    fps = []
    for i in range(len(data) - gram + 1):
        h = 0
        for byte in data[i:i + gram]:
            h = (h * 0x100000001B3 + byte + 1) & mask
        fps.append(mix(h))
    t = min_span - gram + 1
    chosen = []
    for start in range(len(fps) - t + 1):
        best = min(range(start, start + t), key=lambda i: (fps[i] >> 32, -i))
        if not chosen or chosen[-1] != best:
            chosen.append(best)
    return chosen, [fps[i] for i in chosen]


@pytest.mark.parametrize("seed", range(6))
def test_compiled_winnowing_equals_its_definition(seed):
    rng = random.Random(seed)
    data = sub.encode(random_corpus(rng)[0][1].decode() + "xy" * rng.randint(0, 80))
    min_span = rng.randint(2, 40)
    gram = rng.randint(1, min_span)
    positions, fps = sub.winnow_anchors(data, min_span, gram)
    assert (positions.tolist(), fps.tolist()) == reference_winnow(data, min_span, gram)


def test_winnowing_density_is_bounded():
    rng = random.Random(3)
    data = " ".join(rng.choice(["alpha", "beta", "gamma", "delta", "épsilon"]) for _ in range(20000)).encode()
    positions, fps = sub.winnow_anchors(data, 100, 32)
    density = len(positions) / len(data)
    # Winnowing's expected density is 2 / (t + 1) with t = 69 windows.
    assert 0.5 * 2 / 70 < density < 2.0 * 2 / 70
    assert len(set(fps.tolist())) <= len(positions)


# ----------------------------------------------------------------------------- removal

def test_removal_snaps_to_characters_and_words_and_records_original_offsets():
    text = "Grüße aus München. 中文字符测试。 Wiederholung hier"
    data = sub.encode(text)
    # A byte span starting inside "ü" (2 bytes) and ending inside "中" (3 bytes).
    start = data.index("ü".encode()) + 1
    end = data.index("中".encode()) + 1
    new_text, spans, removed = sub.removal_plan(text, np.array([[start, end]]), snap_words=False)
    (cs, ce), = spans
    assert text[cs - 1] == "ü" and text[ce] == "中"  # never inside a character
    assert new_text == text[:cs] + text[ce:]
    assert removed == len(sub.encode(text[cs:ce]))
    # With word snapping the half word "ße" stays out of the cut as well.
    _, word_spans, _ = sub.removal_plan(text, np.array([[start, end]]), snap_words=True)
    (ws, we), = word_spans
    assert text[ws] == " " and text[cs:ws] == "ße" and we == ce  # CJK: every char is a word


def reference_char_spans(text, data, spans, snap_words):
    """The character/word snapping rules, one span at a time in plain Python."""
    b = np.frombuffer(data, dtype=np.uint8)
    is_start = (b & 0xC0) != 0x80
    starts_before = np.concatenate([[0], np.cumsum(is_start)])
    out = []
    for s, e in sub.merge_intervals(spans).tolist():
        cs, ce = int(starts_before[s]), int(starts_before[e])
        if e < len(b) and not is_start[e]:
            ce -= 1
        if snap_words:
            if 0 < cs < len(text) and sub._is_word_char(text[cs - 1]):
                while cs < ce and sub._is_word_char(text[cs]):
                    cs += 1
            if 0 < ce < len(text) and sub._is_word_char(text[ce]):
                while ce > cs and sub._is_word_char(text[ce - 1]):
                    ce -= 1
        if ce > cs:
            out.append((cs, ce))
    return out


@pytest.mark.parametrize("seed", range(30))
def test_compiled_snapping_equals_the_rules(seed):
    rng = random.Random(seed)
    alphabet = ["a", "b", "Z", "é", "ß", "中", "文", "ไ", " ", ".", "\n", "7", "😀", "\ud800", "д"]
    text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
    data = sub.encode(text)
    spans = np.array([sorted(rng.sample(range(len(data) + 1), 2)) for _ in range(rng.randint(1, 5))])
    for snap_words in (True, False):
        expected = reference_char_spans(text, data, spans, snap_words)
        new_text, char_spans, removed = sub.removal_plan(text, spans, snap_words)
        assert char_spans == expected
        assert new_text == sub.remove_char_spans(text, expected)
        assert removed == sum(len(sub.encode(text[s:e])) for s, e in expected)


# ----------------------------------------------------------------------------- real pages, Beam

@pytest.fixture(scope="module")
def real_docs(shared_data):
    """Texts extracted with trafilatura from the first real pages (a slice, for time),
    plus documents re-assembled from their paragraphs (how boilerplate and quotes
    repeat across a crawl), so the comparison below has many repeats to agree on."""
    pytest.importorskip("trafilatura")
    docs = extracted_pages(shared_data / "warc" / "real-pages-00000.warc.gz", 70, keep=bool)
    paragraphs = [p for d in docs for p in d.text.split("\n") if len(p) > 40]
    rng = random.Random(11)
    for i in range(30):
        picked = [rng.choice(paragraphs) for _ in range(rng.randint(1, 5))]
        # Variation: truncated copies and a unique line keep the repeats partial.
        picked = [p[: rng.randint(len(p) // 2, len(p))] for p in picked] + [f"Unique line {i}."]
        rng.shuffle(picked)
        docs.append(Document(id=stable_id("synthetic", str(i)), text="\n".join(picked)))
    return docs


def test_single_path_equals_brute_force_on_real_pages(real_docs):
    """Real extracted text (multibyte, boilerplate) with its re-assembled copies: the
    single suffix array with its normal codes, and with 2-bit codes (collisions
    everywhere), gives the definition's spans."""
    docs = [(d.id, sub.encode(d.text)) for d in real_docs[:25] + real_docs[-30:]]
    for keep_first in (True, False):
        expected = brute_force_spans(docs, 100, keep_first)
        assert expected, "the slice must contain repeats for this comparison to mean anything"
        assert _as_lists(sub.single_repeated_spans(docs, 100, keep_first)) == expected
        assert _kernel_spans(docs, 100, keep_first, 2) == expected


def _run_beam(docs, tmp_path, **kwargs):
    return run_dedup_stage(SubstringDedup(**kwargs), docs, tmp_path)


@pytest.mark.parametrize("rounds,hot_contexts", [(2, 0), (1, 0), (2, 2)])
def test_beam_partitioned_equals_single_suffix_array_on_real_pages(real_docs, tmp_path, rounds, hot_contexts):
    # hot_contexts=2: every fingerprint seen 3 times or more is split over pair buckets.
    kept, removed, stats = _run_beam(real_docs, tmp_path, substring_partitions=5, min_doc_chars_after=200,
                                     rounds=rounds, hot_contexts=hot_contexts)
    # Reference: one suffix array over all texts, same removal rules.
    reference = sub.single_repeated_spans([(d.id, sub.encode(d.text)) for d in real_docs], 100, True)
    assert reference, "real pages share boilerplate; the reference must find some"
    originals = {d.id: d for d in real_docs}
    outputs = {d.id: d for d in kept} | {d.id: d for d, _ in removed}
    assert set(outputs) == set(originals)  # nothing disappears
    spans_total = bytes_total = 0
    for doc_id, doc in originals.items():
        new_text, char_spans, nbytes = sub.removal_plan(doc.text, reference.get(doc_id), True)
        assert outputs[doc_id].removed_spans == char_spans
        assert outputs[doc_id].text == new_text
        # removed_spans are character offsets into the original text.
        assert sub.remove_char_spans(doc.text, outputs[doc_id].removed_spans) == outputs[doc_id].text
        spans_total += len(char_spans)
        bytes_total += nbytes
    assert all(reason == TOO_SHORT for _, reason in removed)
    assert all(len(d.text.strip()) < 200 for d, _ in removed)
    assert stats["substring"] == {
        "spans": spans_total, "bytes_removed": bytes_total,
        "documents_dropped": len(removed),
        "documents_changed": sum(1 for d in outputs.values() if d.removed_spans),
    }
    # Second pass over the output: no repeated span of >= min_span bytes is left.
    second = sub.single_repeated_spans([(d.id, sub.encode(d.text)) for d in kept], 100, True)
    assert second == {}


def test_beam_strike_all_on_injected_duplicates(real_docs, tmp_path):
    base = real_docs[:6]
    shared_paragraph = base[0].text[:400]
    copies = [Document(id=f"copy-{i}", text=f"Copy {i} intro text. " + shared_paragraph + " The end.")
              for i in range(3)]
    kept, removed, stats = _run_beam(base + copies, tmp_path, strike_all=True, substring_partitions=3)
    by_id = {d.id: d for d in kept} | {d.id: d for d, _ in removed}
    assert {d.id for d, _ in removed} >= {"copy-0", "copy-1", "copy-2"}  # left with ~30 chars
    for i in range(3):
        assert shared_paragraph[50:350] not in by_id[f"copy-{i}"].text  # every copy struck
    assert shared_paragraph[50:350] not in by_id[base[0].id].text
    assert stats["substring"]["documents_changed"] >= 4


def test_flags_parse_and_bad_values_explain_themselves():
    parser = argparse.ArgumentParser()
    SubstringDedup.add_arguments(parser)
    stage = SubstringDedup.from_args(parser.parse_args(["--min_span", "60", "--strike_all"]))
    assert stage.min_span == 60 and stage.strike_all
    with pytest.raises(ValueError, match="--substring_anchor_bytes"):
        SubstringDedup(min_span=50, anchor_bytes=80)
    with pytest.raises(ValueError, match="--min_span"):
        SubstringDedup(min_span=0)
    with pytest.raises(ValueError, match="--substring_worker_mb"):
        SubstringDedup(worker_mb=0)
    with pytest.raises(ValueError, match="--substring_batch_docs"):
        SubstringDedup(batch_docs=0)
    with pytest.raises(ValueError, match="--substring_rounds"):
        SubstringDedup(rounds=3)
    assert SubstringDedup.from_args(parser.parse_args(["--substring_rounds", "1"])).rounds == 1
    assert SubstringDedup.from_args(parser.parse_args(["--substring_hot_contexts", "500"])).hot_contexts == 500
    for bad in (-1, 0.5, float("nan")):  # below 1 every fingerprint would be hot
        with pytest.raises(ValueError, match="--substring_hot_contexts must be 0"):
            SubstringDedup(hot_contexts=bad)
    with pytest.raises(ValueError, match="needs --substring_rounds 2"):
        SubstringDedup(hot_contexts=64, rounds=1)


def test_bucket_count_grows_with_the_corpus_not_the_bucket():
    from pipelines.dedup.substring import BUCKET_BYTES_PER_INPUT_BYTE, bucket_count

    assert bucket_count(10**6, 16, 2048) == 16  # small corpus: the minimum
    for corpus in (10**11, 10**12):
        buckets = bucket_count(corpus, 16, 2048)
        assert corpus * BUCKET_BYTES_PER_INPUT_BYTE / buckets <= 2048 * 2**20
        assert corpus * BUCKET_BYTES_PER_INPUT_BYTE / (buckets - 1) > 2048 * 2**20


@pytest.mark.slow  # dask_cluster: a scheduler and two workers
def test_dedup_job_runs_substring_then_decontaminate(real_docs, tmp_path, monkeypatch):
    """The stages plug into `python -m pipelines.dedup` through its STAGES table, and a real
    local Dask cluster gives the same output as the DirectRunner (both stages split their
    outputs without tagged outputs, which that runner mis-routes)."""
    import hashlib
    import json

    from dask_cluster import local_dask_cluster
    from pipelines.dedup import job as dedup
    from pipelines.io.documents import document_to_row, write_parquet_file

    docs = real_docs[:40]
    write_parquet_file(str(tmp_path / "in" / "part-0.parquet"), [document_to_row(d) for d in docs])
    quoted = " ".join(docs[-1].text.split()[:40])
    (tmp_path / "eval.txt").write_text(quoted + "\n", encoding="utf-8")

    def run(out, *runner):
        assert dedup.main(["--input", str(tmp_path / "in"), "--output", str(out), "--num_shards", "2",
                           "--stages", "substring,decontaminate", "--substring_partitions", "3",
                           "--keep_removed", "--decontaminate", str(tmp_path / "eval.txt"), *runner]) == 0
        stats = json.loads((out / "stats.json").read_text())
        stats["decontamination"].pop("report")  # the report's path names the output folder
        files = {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in sorted(out.rglob("*.parquet"))}
        return stats, files

    stats, files = run(tmp_path / "out")
    assert stats["documents_in"] == 40
    assert stats["documents_in"] == stats["documents_kept"] + sum(stats["dropped"].values())
    assert stats["dropped"].get("decontaminate.contaminated", 0) >= 1
    assert stats["substring"]["documents_changed"] >= 1 and stats["substring"]["bytes_removed"] > 0
    report = json.loads((tmp_path / "out" / "decontamination.json").read_text())
    assert report["matched_items"][0]["file"] == "eval.txt"
    assert stats["decontamination"]["documents_contaminated"] == stats["dropped"]["decontaminate.contaminated"]
    assert any(name.startswith("removed/decontaminate/") for name in files)

    with local_dask_cluster(2) as address:
        on_dask = run(tmp_path / "dask", "--runner=apache_beam.runners.dask.dask_runner.DaskRunner",
                      f"--dask_client_address={address}")
    assert on_dask == (stats, files)
