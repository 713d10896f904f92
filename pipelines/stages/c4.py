"""C4's line and page rules (Raffel et al. 2020; TFDS c4_utils.py), as FineWeb applies them.

Defaults match datatrove's ``C4QualityFilter`` as FineWeb configured it: every rule on
except "lines must end in terminal punctuation" (FineWeb found it removes too much good
text: headings, list items). Lines are removed; the page is dropped for "lorem ipsum",
a curly bracket (code, templates) or fewer than 5 sentences left.

The bad-words list rule of C4 is not part of this stage (it needs a downloaded list and
FineWeb relies on the URL filter instead).

For no-space scripts "words per line" counts characters and the long-word check counts
``\\w`` runs, so a Chinese paragraph (no spaces at all) is not one 1000-character "word".
"""
from __future__ import annotations

import re
from typing import Any, Optional

from pipelines.stages.base import Document, StageResult
from pipelines.stages.language_table import LanguageAwareStage, LanguageProfile
from pipelines.stages.rules import MIN, Rule, first_failing_rule
from pipelines.stages.segmentation import (
    count_sentences,
    ends_with_terminal_punctuation,
    quality_words,
    words as script_words,
)

# Wikipedia-style citation marks: [1], [edit], [citation needed].
CITATION_RE = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]", re.IGNORECASE)
POLICY_PHRASES = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")


def has_terminal_punctuation(line: str) -> bool:
    # C4 keeps '.', '!', '?', '"' and "'" endings but not an ellipsis.
    if not line or line.endswith("..."):
        return False
    return line.endswith(('"', "'")) or ends_with_terminal_punctuation(line)


# What c4_line_rule returns, in C4's order. Two drop the whole page instead of the line
# (name -> drop reason); each of the others is also a signal ``c4_lines_removed_<name>``.
LINE_RULES = ("long_word", "no_terminal_punct", "few_words", "lorem_ipsum", "javascript", "curly_bracket", "policy")
PAGE_LINE_RULES = {"lorem_ipsum": "c4_lorem_ipsum", "curly_bracket": "c4_curly_bracket"}


def c4_line_rule(line: str, p: dict[str, Any], profile: LanguageProfile) -> tuple[Optional[str], str]:
    """(name of the first C4 line rule the stripped, non-empty ``line`` fails, or None;
    the line with citation marks removed). C4's order: the long-word check sees the line
    before citations are stripped, the others after."""
    # A word is no longer than its line: most lines need no split (issue #16).
    if p["max_word_length"] is not None and len(line) > p["max_word_length"]:
        tokens = script_words(line) if profile.no_space_script else line.split()
        if any(len(t) > p["max_word_length"] for t in tokens):
            return "long_word", line
    if p["remove_citations"]:
        line = CITATION_RE.sub("", line)
    if p["filter_no_terminal_punct"] and not has_terminal_punctuation(line):
        return "no_terminal_punct", line
    n_words = len(quality_words(line, profile.segmentation) if profile.no_space_script else line.split())
    if p["min_words_per_line"] is not None and n_words < p["min_words_per_line"]:
        return "few_words", line
    lower = line.lower()
    if p["filter_lorem_ipsum"] and "lorem ipsum" in lower:
        return "lorem_ipsum", line
    if p["filter_javascript"] and "javascript" in lower:
        return "javascript", line
    if p["filter_curly_bracket"] and "{" in line:
        return "curly_bracket", line
    if p["filter_policy"] and any(phrase in lower for phrase in POLICY_PHRASES):
        return "policy", line
    return None, line


class C4Quality(LanguageAwareStage):
    name = "c4"
    DEFAULTS: dict[str, Any] = {
        "remove_citations": True,
        "filter_no_terminal_punct": False,  # C4 had it on; FineWeb turned it off
        "min_num_sentences": 5,  # None disables
        "min_words_per_line": 3,  # None disables
        "max_word_length": 1000,  # None disables
        "filter_lorem_ipsum": True,
        "filter_javascript": True,
        "filter_curly_bracket": True,
        "filter_policy": True,
    }
    REASONS = ("c4_lorem_ipsum", "c4_curly_bracket", "c4_too_few_sentences")
    # Page rules on what the line rules left (lorem ipsum and "{" drop the page from
    # inside the line scan: PAGE_LINE_RULES).
    RULES = (Rule("min_num_sentences", "c4_sentences", "c4_too_few_sentences", MIN),)

    def process(self, doc: Document) -> StageResult:
        profile, p = self.settings(doc)
        kept: list[str] = []
        n_lines = n_sentences = 0
        verdict = None
        removed_by: dict[str, int] = {}  # line rule -> lines it removed
        for raw in doc.text.splitlines():
            line = raw.strip()
            if not line:
                continue
            n_lines += 1
            rule, line = c4_line_rule(line, p, profile)
            if rule in PAGE_LINE_RULES:
                verdict = PAGE_LINE_RULES[rule]
                break  # the page goes: the remaining lines need no look
            if rule is not None:
                removed_by[rule] = removed_by.get(rule, 0) + 1
                continue
            n_sentences += count_sentences(line)
            kept.append(line)

        doc.signals["c4_lines_removed_frac"] = (1 - len(kept) / n_lines) if n_lines and verdict is None else 0.0
        doc.signals["c4_sentences"] = float(n_sentences)
        # Which rules removed the lines, only for rules that removed some (a page has few
        # of the five); none on a page the line scan dropped, whose removed share is 0 too.
        if verdict is None:
            for rule, count in sorted(removed_by.items()):
                doc.signals[f"c4_lines_removed_{rule}"] = float(count)
        reason = verdict or first_failing_rule(doc.signals, self.RULES, p)
        if reason:
            return self.drop(doc, reason)
        doc.text = "\n".join(kept).strip()
        return doc
