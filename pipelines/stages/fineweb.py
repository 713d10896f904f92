"""FineWeb's own quality rules (Penedo et al. 2024), as in datatrove's FineWebQualityFilter.

They target what Gopher and C4 let through on modern crawls: pages that are mostly
short lines (menus, lists of links), pages whose lines repeat, and list-like pages with
a newline every couple of words.
"""
from __future__ import annotations

from typing import Any

from pipelines.stages.base import Document, StageResult
from pipelines.stages.gopher import count_duplicates
from pipelines.stages.language_table import LanguageAwareStage
from pipelines.stages.rules import MAX, MIN, Rule, first_failing_rule
from pipelines.stages.segmentation import (
    ends_sentence_cjk,
    ends_with_terminal_punctuation,
    is_unterminated_paragraph_cjk,
    table_row_content,
    word_tokens_of_respaced,
)


def _ends_sentence_or_paragraph_cjk(line: str) -> bool:
    """A line of Chinese/Japanese text that ends a sentence (。” ；), or a paragraph of
    clauses whose final 。 the site left out: both are text, not menu or list lines."""
    return ends_sentence_cjk(line) or is_unterminated_paragraph_cjk(line)


class FineWebQuality(LanguageAwareStage):
    name = "fineweb"
    DEFAULTS: dict[str, Any] = {
        "line_punct_thr": 0.12,  # min share of lines ending in terminal punctuation
        "line_punct_exclude_zero": False,  # True: a page with no such line at all passes
        "short_line_thr": 0.67,  # max share of lines <= short_line_length characters
        "short_line_length": 30,
        "char_duplicates_ratio": 0.01,  # max chars in repeated lines / chars
        "new_line_ratio": 0.3,  # max newlines per word
    }
    REASONS = ("fineweb_empty", "fineweb_line_punct_ratio", "fineweb_short_line_ratio",
               "fineweb_char_dup_ratio", "fineweb_list_ratio")
    # Checked in this order (datatrove's), the first failure is the drop reason.
    RULES = (Rule("line_punct_thr", "fineweb_line_punct_ratio", "fineweb_line_punct_ratio", MIN,
                  exempt=0.0, exempt_if="line_punct_exclude_zero"),
             Rule("short_line_thr", "fineweb_short_line_ratio", "fineweb_short_line_ratio", MAX),
             Rule("char_duplicates_ratio", "fineweb_char_dup_ratio", "fineweb_char_dup_ratio", MAX),
             Rule("new_line_ratio", "fineweb_new_line_ratio", "fineweb_list_ratio", MAX))

    def process(self, doc: Document) -> StageResult:
        profile, p = self.settings(doc)
        text = doc.text
        lines = [line for line in text.split("\n") if line.strip()]
        if not lines:
            return self.drop(doc, "fineweb_empty")
        _, dup_chars = count_duplicates(lines)
        # Sites frame articles in layout tables, which extraction writes as table rows
        # ("| Die Sitzung fand am Montag statt. |", "| 第六十九条 本法自公布之日起施行。 |"):
        # a row ends where its cell text ends, so judge that text and skip rule rows
        # (datatrove reads the raw line, which ends in "|": a page of such rows scored 0).
        punct_lines = [c for c in (table_row_content(l).rstrip() for l in lines) if c] or lines
        ends_sentence = ends_with_terminal_punctuation
        if profile.no_space_script:  # Chinese/Japanese lines end in 。” or ；
            ends_sentence = _ends_sentence_or_paragraph_cjk
        # Tokens as a word tokenizer counts them (punctuation included): FineWeb's 0.3 was
        # tuned on spaCy tokens.
        n_tokens = len(word_tokens_of_respaced(text, profile.segmentation, profile.join_hyphens))
        s = {
            "fineweb_line_punct_ratio": sum(ends_sentence(l) for l in punct_lines) / len(punct_lines),
            "fineweb_short_line_ratio": sum(len(l) <= p["short_line_length"] for l in lines) / len(lines),
            "fineweb_char_dup_ratio": dup_chars / max(len(text) - text.count("\n"), 1),
            "fineweb_new_line_ratio": text.count("\n") / max(n_tokens, 1),
        }
        doc.signals.update(s)

        reason = first_failing_rule(s, self.RULES, p)
        return self.drop(doc, reason) if reason else doc
