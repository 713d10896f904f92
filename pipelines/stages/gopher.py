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

import re
from collections import Counter
from typing import Any

from pipelines.stages.base import Document, StageResult
from pipelines.stages.language_table import LanguageAwareStage
from pipelines.stages.segmentation import is_symbol_token, quality_words, word_tokens

_PARAGRAPH_SPLIT = re.compile(r"\n{2,}")
_LINE_SPLIT = re.compile(r"\n+")


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

    def process(self, doc: Document) -> StageResult:
        profile, p = self.settings(doc)
        text = doc.text
        # Tokens as a word tokenizer emits them, punctuation included: ratios "per word"
        # (hashes, alphabetic words) count over all tokens, as in datatrove, on which
        # FineWeb's thresholds were tuned; lengths and counts use the non-symbol tokens.
        tokens = word_tokens(text, profile.segmentation, profile.join_hyphens)
        words = [t for t in tokens if not is_symbol_token(t)]
        n_words = len(words)
        n_tokens = len(tokens)
        lines = text.splitlines() or [""]
        mean_len = sum(map(len, words)) / n_words if n_words else 0.0
        stop_words = p["stop_words"] if p["stop_words"] is not None else profile.stop_words
        if stop_words is None:
            n_stop = -1.0  # no list for this language: rule skipped
        elif profile.no_space_script:
            n_stop = sum(1 for w in stop_words if w in text)
        else:
            present = set(w.lower() for w in words)
            n_stop = sum(1 for w in set(stop_words) if w in present)
        s = {
            "gopher_words": float(n_words),
            "gopher_mean_word_length": mean_len,
            "gopher_hash_ratio": text.count("#") / max(n_tokens, 1),
            "gopher_ellipsis_ratio": (text.count("...") + text.count("…")) / max(n_tokens, 1),
            "gopher_bullet_lines_ratio": sum(l.lstrip().startswith(("•", "-")) for l in lines) / len(lines),
            "gopher_ellipsis_lines_ratio": sum(l.rstrip().endswith(("...", "…")) for l in lines) / len(lines),
            "gopher_alpha_words_ratio": sum(any(c.isalpha() for c in w) for w in words) / max(n_tokens, 1),
            "gopher_stop_words": float(n_stop),
        }
        doc.signals.update(s)

        if p["min_doc_words"] is not None and n_words < p["min_doc_words"]:
            return self.drop(doc, "gopher_short_doc")
        if p["max_doc_words"] is not None and n_words > p["max_doc_words"]:
            return self.drop(doc, "gopher_long_doc")
        if p["min_avg_word_length"] is not None and mean_len < p["min_avg_word_length"]:
            return self.drop(doc, "gopher_word_length_low")
        if p["max_avg_word_length"] is not None and mean_len > p["max_avg_word_length"]:
            return self.drop(doc, "gopher_word_length_high")
        if p["max_symbol_word_ratio"] is not None:
            if s["gopher_hash_ratio"] > p["max_symbol_word_ratio"]:
                return self.drop(doc, "gopher_hash_ratio")
            if s["gopher_ellipsis_ratio"] > p["max_symbol_word_ratio"]:
                return self.drop(doc, "gopher_ellipsis_ratio")
        if p["max_bullet_lines_ratio"] is not None and s["gopher_bullet_lines_ratio"] > p["max_bullet_lines_ratio"]:
            return self.drop(doc, "gopher_bullet_lines")
        if p["max_ellipsis_lines_ratio"] is not None and s["gopher_ellipsis_lines_ratio"] > p["max_ellipsis_lines_ratio"]:
            return self.drop(doc, "gopher_ellipsis_lines")
        if p["min_alpha_words_ratio"] is not None and s["gopher_alpha_words_ratio"] < p["min_alpha_words_ratio"]:
            return self.drop(doc, "gopher_alpha_words")
        if p["min_stop_words"] is not None and n_stop >= 0 and n_stop < p["min_stop_words"]:
            return self.drop(doc, "gopher_stop_words")
        return doc


def _duplicates(items: list[str]) -> tuple[int, int]:
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


def _top_ngram_chars(words: list[str], n: int) -> int:
    """Characters in the most frequent n-gram times its count (n-gram = words joined by a space)."""
    if len(words) < n:
        return 0
    counts = Counter(zip(*(words[i:] for i in range(n))))
    gram, count = counts.most_common(1)[0]
    return (sum(map(len, gram)) + n - 1) * count if count > 1 else 0


def _duplicated_ngram_chars(words: list[str], n: int) -> int:
    """Characters of words covered by a repeated (non-first) occurrence of any n-gram."""
    if len(words) <= n:
        return 0
    seen: set[tuple[str, ...]] = set()
    covered_until = 0  # words[start:covered_until] already counted
    chars = 0
    for start, gram in enumerate(zip(*(words[i:] for i in range(n)))):
        if gram in seen:
            begin = max(start, covered_until)
            chars += sum(len(w) for w in words[begin:start + n])
            covered_until = start + n
        else:
            seen.add(gram)
    return chars


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
    }
    REASONS = ("gopher_empty", "gopher_dup_para_frac", "gopher_dup_para_chars", "gopher_dup_line_frac",
               "gopher_dup_line_chars", "gopher_top_ngram", "gopher_dup_ngram")

    def process(self, doc: Document) -> StageResult:
        profile, p = self.settings(doc)
        text = doc.text
        if not text.strip():
            return self.drop(doc, "gopher_empty")
        n_chars = len(text)
        paragraphs = _PARAGRAPH_SPLIT.split(text.strip())
        para_dup, para_dup_chars = _duplicates(paragraphs)
        lines = _LINE_SPLIT.split(text)
        line_dup, line_dup_chars = _duplicates(lines)
        s = {
            "gopher_dup_para_frac": para_dup / len(paragraphs),
            "gopher_dup_para_char_frac": para_dup_chars / n_chars,
            "gopher_dup_line_frac": line_dup / len(lines),
            "gopher_dup_line_char_frac": line_dup_chars / n_chars,
        }
        words = quality_words(text, profile.segmentation)
        # Signals for every n so thresholds can be re-applied later; ordered checks below.
        for n in sorted(p["top_n_grams"] or {}):
            s[f"gopher_top_{n}_gram_char_frac"] = _top_ngram_chars(words, n) / n_chars
        for n in sorted(p["dup_n_grams"] or {}):
            s[f"gopher_dup_{n}_gram_char_frac"] = _duplicated_ngram_chars(words, n) / n_chars
        doc.signals.update(s)

        if p["dup_para_frac"] is not None and s["gopher_dup_para_frac"] > p["dup_para_frac"]:
            return self.drop(doc, "gopher_dup_para_frac")
        if p["dup_para_char_frac"] is not None and s["gopher_dup_para_char_frac"] > p["dup_para_char_frac"]:
            return self.drop(doc, "gopher_dup_para_chars")
        if p["dup_line_frac"] is not None and s["gopher_dup_line_frac"] > p["dup_line_frac"]:
            return self.drop(doc, "gopher_dup_line_frac")
        if p["dup_line_char_frac"] is not None and s["gopher_dup_line_char_frac"] > p["dup_line_char_frac"]:
            return self.drop(doc, "gopher_dup_line_chars")
        for n, limit in sorted((p["top_n_grams"] or {}).items()):
            if s[f"gopher_top_{n}_gram_char_frac"] > limit:
                return self.drop(doc, "gopher_top_ngram")
        for n, limit in sorted((p["dup_n_grams"] or {}).items()):
            if s[f"gopher_dup_{n}_gram_char_frac"] > limit:
                return self.drop(doc, "gopher_dup_ngram")
        return doc
