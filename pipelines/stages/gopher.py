"""Gopher quality and repetition rules (Rae et al. 2021, "Scaling Language Models", App. A).

Semantics follow datatrove's GopherQualityFilter/GopherRepetitionFilter, which produced
FineWeb, so FineWeb's thresholds mean the same here. Deliberate differences (measured in
docs/quality.md): words come from a fast script-aware regex instead of spaCy, stop words
match case-insensitively and per language, the duplicated n-gram fraction counts every
character covered by a repeated n-gram (datatrove skips ahead after a hit and can miss
overlapping repeats), and no-space scripts count characters (see language_table.py).

Every signal is stored on ``doc.signals`` before any threshold is applied, so a dropped
document still carries the numbers that explain the drop.
"""
from __future__ import annotations

import collections
import itertools
import re
from typing import Any

import numpy as np

from pipelines.stages.base import Document, StageResult
from pipelines.stages.language_table import LanguageAwareStage
from pipelines.stages.rules import MAX, MIN, Rule, first_failing_rule
from pipelines.stages.segmentation import is_number_or_unit, is_symbol_token, line_frames, per_text, word_tokens

_PARAGRAPH_SPLIT = re.compile(r"\n{2,}")
# A template line: its frame (segmentation.line_frames) has at least this many marks and
# at least this many lines of the page share it. Shorter frames ("，。", "（）") are common
# to any two sentences; three lines with one 4-mark frame are rare in prose (issue #15).
TEMPLATE_MIN_FRAME = 4
TEMPLATE_MIN_LINES = 3


class GopherQuality(LanguageAwareStage):
    """Document-level heuristics: length, word length, symbols, bullets, stop words."""

    name = "gopher_quality"
    DEFAULTS: dict[str, Any] = {
        "min_doc_words": 50,
        "max_doc_words": 100_000,
        "min_avg_word_length": 3,
        "max_avg_word_length": 10,
        "max_symbol_word_ratio": 0.1,  # '#' per word, and '...'/'…' per word
        "max_bullet_lines_ratio": 0.9,
        "max_ellipsis_lines_ratio": 0.3,
        "min_alpha_words_ratio": 0.8,
        "min_stop_words": 2,
        "stop_words": None,  # None: the language table's list for doc.language
    }
    REASONS = ("gopher_short_doc", "gopher_long_doc", "gopher_word_length_low", "gopher_word_length_high",
               "gopher_hash_ratio", "gopher_ellipsis_ratio", "gopher_bullet_lines", "gopher_ellipsis_lines",
               "gopher_alpha_words", "gopher_stop_words")
    # Checked in this order, the first failure is the drop reason (datatrove's order).
    RULES = (Rule("min_doc_words", "gopher_words", "gopher_short_doc", MIN),
             Rule("max_doc_words", "gopher_words", "gopher_long_doc", MAX),
             Rule("min_avg_word_length", "gopher_mean_word_length", "gopher_word_length_low", MIN),
             Rule("max_avg_word_length", "gopher_mean_word_length", "gopher_word_length_high", MAX),
             # One limit for both symbols, as in Gopher, but each its own reason.
             Rule("max_symbol_word_ratio", "gopher_hash_ratio", "gopher_hash_ratio", MAX),
             Rule("max_symbol_word_ratio", "gopher_ellipsis_ratio", "gopher_ellipsis_ratio", MAX),
             Rule("max_bullet_lines_ratio", "gopher_bullet_lines_ratio", "gopher_bullet_lines", MAX),
             Rule("max_ellipsis_lines_ratio", "gopher_ellipsis_lines_ratio", "gopher_ellipsis_lines", MAX),
             Rule("min_alpha_words_ratio", "gopher_alpha_words_ratio", "gopher_alpha_words", MIN),
             # -1: no stop-word list for the language, the rule is skipped.
             Rule("min_stop_words", "gopher_stop_words", "gopher_stop_words", MIN, exempt=-1.0))

    def process(self, doc: Document) -> StageResult:
        profile, p = self.settings(doc)
        text = doc.text
        # Tokens as a word tokenizer emits them, punctuation included: ratios "per word"
        # (hashes, alphabetic words) count over all tokens, as in datatrove, on which
        # FineWeb's thresholds were tuned; lengths and counts use the non-symbol tokens.
        tokens = per_text(word_tokens, text, profile.segmentation, profile.join_hyphens)
        # Every rule below counts or classifies tokens one by one, and a page repeats its
        # words: judge each distinct token once and weigh it by its count (exact integer
        # sums, the same ratios as per token, a third of the CPU on the shared pages).
        counts = collections.Counter(tokens)
        word_counts = {t: n for t, n in counts.items() if not is_symbol_token(t)}
        n_words = sum(word_counts.values())
        n_tokens = len(tokens)
        lines = text.splitlines() or [""]
        mean_len = sum(len(w) * n for w, n in word_counts.items()) / n_words if n_words else 0.0
        stop_words = p["stop_words"] if p["stop_words"] is not None else profile.stop_words
        if stop_words is None:
            n_stop = -1.0  # no list for this language: rule skipped
        elif profile.no_space_script:
            n_stop = sum(1 for w in stop_words if w in text)
        else:
            present = set(map(str.lower, word_counts))
            n_stop = sum(1 for w in set(stop_words) if w in present)
        s = {
            "gopher_words": float(n_words),
            "gopher_mean_word_length": mean_len,
            "gopher_hash_ratio": text.count("#") / max(n_tokens, 1),
            "gopher_ellipsis_ratio": (text.count("...") + text.count("…")) / max(n_tokens, 1),
            "gopher_bullet_lines_ratio": sum(l.lstrip().startswith(("•", "-")) for l in lines) / len(lines),
            "gopher_ellipsis_lines_ratio": sum(l.rstrip().endswith(("...", "…")) for l in lines) / len(lines),
            "gopher_alpha_words_ratio": _alpha_words_ratio(counts, word_counts, profile.no_space_script),
            "gopher_stop_words": float(n_stop),
        }
        doc.signals.update(s)

        reason = first_failing_rule(s, self.RULES, p)
        return self.drop(doc, reason) if reason else doc


def _alpha_words_ratio(token_counts: collections.Counter, word_counts: dict[str, int],
                       no_space_script: bool) -> float:
    """Words with a letter / all tokens (punctuation included, datatrove's semantics), from
    the count of each distinct token (``token_counts``) and of each distinct word.

    In no-space scripts every character is a word, so a figure or a unit stands for a
    whole word among one-character words ("气温零下5℃", "增长3.5%"): counted as words
    with a letter, a weather or finance report is not a "page of symbols"; the "|" frame
    of table rows is layout, not text, and is not counted at all (issue #15).
    """
    n_tokens = sum(token_counts.values())
    if no_space_script:
        alpha = sum(n for w, n in word_counts.items() if is_number_or_unit(w) or any(map(str.isalpha, w)))
        alpha += sum(n for t, n in token_counts.items() if is_symbol_token(t) and is_number_or_unit(t))
        return alpha / max(n_tokens - token_counts["|"], 1)
    return sum(n for w, n in word_counts.items() if any(map(str.isalpha, w))) / max(n_tokens, 1)


def _split_at_newline_runs(text: str) -> list[str]:
    """``re.split(r"\n+", text)`` by str.split, 5x cheaper (issue #16): the empty pieces
    between consecutive newlines go, an empty first or last piece (a text that starts or
    ends with a newline) stays."""
    parts = text.split("\n")
    return parts if len(parts) <= 2 else [parts[0], *filter(None, parts[1:-1]), parts[-1]]


def count_duplicates(items: list[str]) -> tuple[int, int]:
    """(number of repeated items, characters in them); the first occurrence is not a repeat."""
    seen: set[str] = set()
    n_dup = chars_dup = 0
    for item in items:
        if item in seen:
            n_dup += 1
            chars_dup += len(item)
        else:
            seen.add(item)
    return n_dup, chars_dup


def template_line_chars(text: str) -> int:
    """Characters of the lines whose frame (punctuation and masked numbers, see
    ``segmentation.line_frames``) has >= TEMPLATE_MIN_FRAME marks and is shared by >=
    TEMPLATE_MIN_LINES lines: text poured line after line into one mould (lottery tips,
    generated product blurbs), which neither duplicated lines nor n-grams see because the
    words in the slots differ."""
    frames = line_frames(text)
    shared = {frame for frame, n in collections.Counter(frames).items()
              if n >= TEMPLATE_MIN_LINES and len(frame) >= TEMPLATE_MIN_FRAME}
    if not shared:
        return 0
    return sum(len(line) for line, frame in zip(text.split("\n"), frames) if frame in shared)


# n-gram statistics are vectorized: words become 64-bit ids, n-grams 64-bit polynomial
# hashes built incrementally from (n-1)-grams, and one stable sort per n (of the positions
# that can repeat: _ngram_repetition) finds counts and first occurrences. 2.5x faster than
# tuples in a Counter on the real pages, identical results there; two different n-grams
# share a hash with probability ~2^-64.
_MIX = np.uint64(0x9E3779B97F4A7C15)
_BASE = np.uint64(0xBF58476D1CE4E5B9)


def _word_ids(words) -> np.ndarray:
    """One id per word, in order of first occurrence."""
    # Looked up by C loops: a setdefault per word in a generator cost a third of the hashing.
    vocab = dict(zip(dict.fromkeys(words), itertools.count()))
    return np.fromiter(map(vocab.__getitem__, words), dtype=np.uint64, count=len(words))


def _unigram_hashes(ids: np.ndarray) -> np.ndarray:
    mixed = (ids + np.uint64(1)) * _MIX  # spread small ids over 64 bits (uint64 wraps)
    mixed ^= mixed >> np.uint64(31)
    mixed *= _BASE
    return mixed


def _stable_groups(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions in stable sorted order of their hashes, True where a new hash starts in
    that order): equal n-grams sit together, first occurrence first. What np.unique's
    return_index/counts/inverse gave, without building the arrays these rules never use."""
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    first = np.empty(len(hashes), dtype=bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return order, first


def _group_sizes(first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index where each group starts, its size) from ``_stable_groups``' ``first``."""
    group_starts = np.flatnonzero(first)
    if len(group_starts) == 0:
        return group_starts, group_starts
    # Not np.diff(append=...): its Python wrapper cost more than the subtraction (issue #16).
    return group_starts, np.concatenate((group_starts[1:], [len(first)])) - group_starts


def _top_of_groups(positions: np.ndarray, group_starts: np.ndarray, counts: np.ndarray,
                   prefix_chars: np.ndarray, n: int, joiner: int) -> int:
    """``_top_ngram_chars`` from n-gram start ``positions`` in stable hash order and the
    ``_group_sizes`` among them."""
    if len(positions) == 0:
        return 0
    top = counts.max()
    if top <= 1:
        return 0
    start = int(positions[group_starts[counts == top]].min())
    return (int(prefix_chars[start + n] - prefix_chars[start]) + joiner * (n - 1)) * int(top)


def _covered_chars(starts: np.ndarray, word_chars: np.ndarray, n: int) -> int:
    """Characters of the words covered by the n-grams starting at ``starts`` (unique)."""
    if len(starts) == 0:
        return 0
    cover = np.zeros(len(word_chars) + 1, dtype=np.int32)
    cover[starts] += 1  # starts are unique, so plain fancy-index updates are exact
    cover[starts + n] -= 1
    return int(word_chars[np.cumsum(cover[:-1]) > 0].sum())


def _top_ngram_chars(hashes: np.ndarray, prefix_chars: np.ndarray, n: int, joiner: int = 1) -> int:
    """Characters of the most frequent n-gram times its count, its words joined by
    ``joiner`` characters: one space as datatrove joins them (spaced scripts), none for a
    no-space script, whose text has no space between its characters (joining them counted
    n - 1 characters the text does not have: a character 8-gram weighed 15; issue #15).
    Ties go to the n-gram that occurs first, as Counter.most_common does. An n-gram that
    occurs once is no repetition: 0."""
    order, first = _stable_groups(hashes)
    return _top_of_groups(order, *_group_sizes(first), prefix_chars, n, joiner)


def _duplicated_ngram_chars(hashes: np.ndarray, word_chars: np.ndarray, n: int) -> int:
    """Characters of words covered by a repeated (non-first) occurrence of any n-gram."""
    order, first = _stable_groups(hashes)
    return _covered_chars(order[~first], word_chars, n)  # the non-first occurrences


def _ngram_repetition(words, top_ns: list[int], dup_ns: list[int], word_chars: np.ndarray,
                      prefix_chars: np.ndarray, joiner: int) -> tuple[dict[int, int], dict[int, int]]:
    """({n: _top_ngram_chars} for ``top_ns``, {n: _duplicated_ngram_chars} for ``dup_ns``).

    An n-gram occurs again only where its first n - 1 words occur again, so each n hashes
    and sorts only the positions whose (n-1)-gram repeats, not all of them (issue #16: by
    n = 5 a few percent of a page's positions, none on two pages in five; the n-gram sorts
    took two fifths of the stage). The hashes are those of every position (the tests build
    them, ``_ngram_hashes`` in tests/test_quality_stages.py) and the
    groups of repeated n-grams, hence both results, those of the sort over all positions,
    unless two different n-grams share a 64-bit hash (see above).
    """
    max_n = max([*top_ns, *dup_ns], default=1)
    ids = _word_ids(words)
    mixed = _unigram_hashes(ids)
    top = {1: _top_ngram_chars(mixed, prefix_chars, 1, joiner)} if 1 in top_ns else {}
    dup = {1: _duplicated_ngram_chars(mixed, word_chars, 1)} if 1 in dup_ns else {}
    # Positions whose word occurs again (ids are exact: no hash needed for n = 1), and
    # the hash of the n-gram at each of them.
    as_index = ids.astype(np.int64)
    candidates = np.flatnonzero(np.bincount(as_index)[as_index] >= 2)
    hashes = mixed[candidates]
    for n in range(2, max_n + 1):
        if len(candidates) == 0:  # nothing repeats: neither does any longer n-gram
            top.update((m, 0) for m in top_ns if m >= n)
            dup.update((m, 0) for m in dup_ns if m >= n)
            break
        starts_ngram = candidates <= len(words) - n  # the last (n-1)-gram starts no n-gram
        candidates = candidates[starts_ngram]
        hashes = hashes[starts_ngram] * _BASE + mixed[candidates + (n - 1)]
        order, first = _stable_groups(hashes)
        positions = candidates[order]
        group_starts, counts = _group_sizes(first)
        if n in top_ns:
            top[n] = _top_of_groups(positions, group_starts, counts, prefix_chars, n, joiner)
        if n in dup_ns:
            dup[n] = _covered_chars(positions[~first], word_chars, n)
        repeated = np.sort(order[np.repeat(counts >= 2, counts)])  # in position order
        candidates, hashes = candidates[repeated], hashes[repeated]
    return top, dup


class GopherRepetition(LanguageAwareStage):
    """Repeated lines, paragraphs and n-grams (keyword spam, boilerplate, generated text)."""

    name = "gopher_repetition"
    DEFAULTS: dict[str, Any] = {
        "dup_line_frac": 0.30,
        "dup_para_frac": 0.30,
        "dup_line_char_frac": 0.20,
        "dup_para_char_frac": 0.20,
        "top_n_grams": {2: 0.20, 3: 0.18, 4: 0.16},
        "dup_n_grams": {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10},
        # Not a Gopher rule (issue #15): share of characters in template lines. Off (null)
        # by default: spaced languages number and frame their lines in good prose too
        # (docs/quality.md); the language table switches it on for no-space scripts. The
        # signal is measured only where the row is on (-1 elsewhere).
        "template_line_char_frac": None,
    }
    REASONS = ("gopher_empty", "gopher_dup_para_frac", "gopher_dup_para_chars", "gopher_dup_line_frac",
               "gopher_dup_line_chars", "gopher_template_lines", "gopher_top_ngram", "gopher_dup_ngram")
    # Paragraphs before lines, then n-grams (ngram_rules), as datatrove checks them; the
    # template-line row (ours) follows the line rows it extends.
    RULES = (Rule("dup_para_frac", "gopher_dup_para_frac", "gopher_dup_para_frac", MAX),
             Rule("dup_para_char_frac", "gopher_dup_para_char_frac", "gopher_dup_para_chars", MAX),
             Rule("dup_line_frac", "gopher_dup_line_frac", "gopher_dup_line_frac", MAX),
             Rule("dup_line_char_frac", "gopher_dup_line_char_frac", "gopher_dup_line_chars", MAX),
             Rule("template_line_char_frac", "gopher_template_line_char_frac", "gopher_template_lines", MAX,
                  exempt=-1.0))

    @staticmethod
    def ngram_rules(params: dict[str, Any]) -> tuple[Rule, ...]:
        """One row per configured n, smallest n first: which n exist depends on the
        document's language (character scripts double them), so the rows follow params."""
        return (*(Rule("top_n_grams", f"gopher_top_{n}_gram_char_frac", "gopher_top_ngram", MAX, key=n)
                  for n in sorted(params["top_n_grams"] or {})),
                *(Rule("dup_n_grams", f"gopher_dup_{n}_gram_char_frac", "gopher_dup_ngram", MAX, key=n)
                  for n in sorted(params["dup_n_grams"] or {})))

    def process(self, doc: Document) -> StageResult:
        profile, p = self.settings(doc)
        text = doc.text
        if not text.strip():
            return self.drop(doc, "gopher_empty")
        n_chars = len(text)
        paragraphs = _PARAGRAPH_SPLIT.split(text.strip())
        para_dup, para_dup_chars = count_duplicates(paragraphs)
        lines = _split_at_newline_runs(text)
        line_dup, line_dup_chars = count_duplicates(lines)
        s = {
            "gopher_dup_para_frac": para_dup / len(paragraphs),
            "gopher_dup_para_char_frac": para_dup_chars / n_chars,
            "gopher_dup_line_frac": line_dup / len(lines),
            "gopher_dup_line_char_frac": line_dup_chars / n_chars,
            # -1: not measured. Only where the row is on (no-space scripts): spaced pages
            # would pay ~15% of this stage's CPU for a signal no rule reads.
            "gopher_template_line_char_frac": (template_line_chars(text) / n_chars
                                               if p["template_line_char_frac"] is not None else -1.0),
        }
        # n-grams over tokenizer-like tokens, punctuation included (as datatrove): a page of
        # empty table cells "| | | |" is repetition too.
        words = per_text(word_tokens, text, profile.segmentation, profile.join_hyphens)
        word_chars = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        prefix_chars = np.concatenate(([0], np.cumsum(word_chars)))
        top_n, dup_n = p["top_n_grams"] or {}, p["dup_n_grams"] or {}
        joiner = 0 if profile.no_space_script else 1
        top_chars, dup_chars = _ngram_repetition(words, sorted(top_n), sorted(dup_n), word_chars, prefix_chars,
                                                 joiner)
        # Signals for every n so thresholds can be re-applied later; ordered checks below.
        for n in sorted(top_n):
            s[f"gopher_top_{n}_gram_char_frac"] = top_chars[n] / n_chars
        for n in sorted(dup_n):
            s[f"gopher_dup_{n}_gram_char_frac"] = dup_chars[n] / n_chars
        doc.signals.update(s)

        reason = first_failing_rule(s, (*self.RULES, *self.ngram_rules(p)), p)
        return self.drop(doc, reason) if reason else doc
