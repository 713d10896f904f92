"""Line-level cleanup in the style of RefinedWeb (Penedo et al. 2023, section G.2).

Extraction leaves menu items, counters ("12 comments"), all-caps banners and cookie
notices between the paragraphs. This stage removes such lines, strips Wikipedia-style
"[edit]"/"[citation needed]" marks, and collapses runs of blank lines to at most one
empty line (two consecutive newlines). When it had to remove more than 5% of the words,
the page is mostly boilerplate and is dropped ("lines_removed_too_many"), as RefinedWeb
does.

Word lists are per language, in pipelines/resources/line_words.yaml (small on purpose: a
long list removes real sentences). Navigation phrases only count in short lines (<=
``nav_max_words`` words), copyright/disclaimer phrases in lines of <= ``disclaimer_max_words``;
counters and cookie/JavaScript notices are removed at any length, as C4 does. A trailing
block of related headlines (after a marker such as "Related articles"/"热门推荐", or a run of
numbered link titles or ranked hot-news items) is cut off (``headline_block_start``; issue
#15), together with the boilerplate lines right before it (share buttons, a comment
disclaimer, a channel menu); its words do not count toward the 5% rule.
"""
from __future__ import annotations

import dataclasses
import functools
import pathlib
import re
from typing import Any

import yaml

from pipelines.stages.base import Document, StageResult
from pipelines.stages.language_table import LanguageAwareStage, normalize_language
from pipelines.stages.rules import MAX, Rule, first_failing_rule
from pipelines.stages.segmentation import ends_sentence_cjk, quality_word_finder

# Leading blanks go too, so "old town [citation needed]." becomes "old town."
CITATION_RE = re.compile(r"\s*\[(?:\d+|edit|citation needed|bearbeiten|modifier|編輯|编辑)\]", re.IGNORECASE)

# "3 likes", "12 Kommentare", "Share 5", "1.2k views", "(点击：1290)", "阅读 300".
_COUNTER_WORDS_LATIN = (
    r"likes?|comments?|shares?|views?|replies|reply|retweets?|followers?|votes?|reviews?|answers?|"
    r"kommentare?|antworten|aufrufe|teilen|gefällt mir|bewertungen|"
    r"commentaires?|partages?|vues|réponses|j'aime|avis"
)
_COUNTER_WORDS_ZH = r"点击|阅读|浏览|评论|点赞|分享|收藏|回复|人气|次浏览|次阅读|条评论"
_NUMBER = r"\d[\d.,]*\s*[kKmM]?"
COUNTER_RE = re.compile(
    rf"^[\s(\[（【]*(?:{_NUMBER}\s*(?:{_COUNTER_WORDS_LATIN})|(?:{_COUNTER_WORDS_LATIN})\s*[:：]?\s*{_NUMBER}"
    rf"|(?:{_COUNTER_WORDS_ZH})\s*[:：]?\s*{_NUMBER}|{_NUMBER}\s*(?:人|次|条)?(?:{_COUNTER_WORDS_ZH}))[\s)\]）】]*$",
    re.IGNORECASE,
)

WORDS_PATH = pathlib.Path(__file__).resolve().parents[1] / "resources" / "line_words.yaml"
_PUNCT_RE = re.compile(r"[^\w\s']+", re.UNICODE)
_BLANK_RUNS_RE = re.compile(r"\n{3,}")
_ASCII_LOWERCASE = bytes(range(ord("a"), ord("z") + 1))
# An item of a numbered list: "1. ...", "- 56. ...", "3、回复【社保】...", "(2) ..."; or of a
# ranked hot-news list, rank and read count glued to the headline ("- 163675成龙参观…":
# rank 1, 63675 reads), at least 4 digits not followed by a unit or a date ("- 2019年…").
_NUMBERED_ITEM_RE = re.compile(r"^\s*(?:(?:[-*•]\s*)?[(（]?\d{1,3}\s*[.、．)）]\s*\S"
                               r"|[-*•]\s*\d{4,}(?![\d年月日号时点分秒元万亿%％.,:：])\S)")


@dataclasses.dataclass(frozen=True)
class LineWords:
    """The phrase lists one page is matched against (see pipelines/resources/line_words.yaml)."""

    navigation_exact: frozenset = frozenset()
    navigation_contains: tuple = ()
    policy: tuple = ()
    copyright: tuple = ()
    headline_markers: tuple = ()

    def merged(self, other: "LineWords") -> "LineWords":
        return LineWords(*(a | b if isinstance(a, frozenset) else a + b
                           for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))


@functools.lru_cache(maxsize=None)
def _word_table() -> dict[str, LineWords]:
    with open(WORDS_PATH, encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    return {lang: LineWords(frozenset(str(w).lower() for w in lists.get("navigation_exact") or ()),
                            *(tuple(str(w).lower() for w in lists.get(field.name) or ())
                              for field in dataclasses.fields(LineWords)[1:]))
            for lang, lists in raw.items()}


@functools.lru_cache(maxsize=None)
def line_words(language: str = "") -> LineWords:
    """``common`` plus the lists of ``language`` (English where it has none); every
    language's lists together for ``"*"`` (what a page of unknown language is matched against)."""
    table = _word_table()
    if language == "*":
        merged = LineWords()
        for words in table.values():
            merged = merged.merged(words)
        return merged
    return table["common"].merged(table.get(language) or table["en"])


# What line_removal_reason returns, then the block rule; each is also a signal
# ``lines_removed_<reason>``.
LINE_REMOVAL_REASONS = ("no_letters", "counter", "policy", "copyright", "uppercase", "navigation", "headline_list")


def _normalized(lower: str) -> str:
    return " ".join(_PUNCT_RE.sub(" ", lower).split())


def _is_uppercase_banner(line: str, min_upper_letters: int, max_upper_frac: float) -> bool:
    """At least ``min_upper_letters`` upper-case letters, over ``max_upper_frac`` of the letters.

    Two exact shortcuts first (issue #16; counting letter by letter was a third of the
    stage): an upper-case letter is no ASCII lower-case letter (counted on the UTF-8
    bytes, where no multi-byte character has an ASCII byte), so a line of at least
    (1 - max_upper_frac) of those cannot be over the share (+1: a float margin); and
    upper-case letters are among the isupper() characters (a few symbols such as "Ⓐ" are
    upper case too), which bound their count from above. Most lines stop at the first.
    """
    utf8 = line.encode("utf-8", "surrogatepass")
    ascii_lower = len(utf8) - len(utf8.translate(None, _ASCII_LOWERCASE))
    if ascii_lower >= (1 - max_upper_frac) * len(line) + 1:
        return False
    upper_bound = sum(map(str.isupper, line))
    if upper_bound < min_upper_letters:
        return False
    n_letters = sum(map(str.isalpha, line))
    if not n_letters or upper_bound / n_letters <= max_upper_frac:
        return False
    upper = sum(1 for c in line if c.isupper() and c.isalpha())
    return upper >= min_upper_letters and upper / n_letters > max_upper_frac


def line_removal_reason(line: str, words_in_line: int, nav_max_words: int, min_upper_letters: int,
                        max_upper_frac: float, words: LineWords | None = None,
                        disclaimer_max_words: float | None = 30) -> str | None:
    """Why a (stripped, non-empty) line is boilerplate, or None to keep it. ``words``:
    the page language's lists (default: every language's)."""
    words = words or line_words("*")
    if not any(map(str.isalpha, line)):
        return "no_letters"  # only digits, punctuation, symbols
    lower = line.lower()
    if COUNTER_RE.match(line):
        return "counter"
    if any(p in lower for p in words.policy):
        return "policy"
    if (disclaimer_max_words is not None and words_in_line <= disclaimer_max_words
            and any(p in lower for p in words.copyright)):
        return "copyright"
    # Share of upper case among all letters: Han characters are letters without case, so
    # "5G", "IFA" or "COVID" in a Chinese sentence do not make it an all-caps banner.
    if _is_uppercase_banner(line, min_upper_letters, max_upper_frac):
        return "uppercase"
    if words_in_line <= nav_max_words:
        normalized = _normalized(lower)
        if normalized in words.navigation_exact or any(p in normalized for p in words.navigation_contains):
            return "navigation"
    return None


def headline_block_start(lines: list[str], counts: list[int], nav_max_words: int, words: LineWords) -> int:
    """Index of the first line of a trailing block of related headlines, or len(lines).

    Two shapes (issue #15; pages keep such lists after the article): a short marker line
    ("Related articles", "热门推荐", "加载更多", "责任编辑：…") after the first quarter of the
    page's words and followed by no line of prose (more than 2 x ``nav_max_words`` words,
    ending a sentence), which opens the block up to the end; or a run of >= 3 numbered items at
    the end ("1、回复【社保】…", "- 56. 蔡健雅… [引用日期…]"), followed by at most 3 short
    lines and preceded by at most one short heading. ``lines`` are stripped, non-empty;
    ``counts`` their word counts.
    """
    total = sum(counts)
    # From the end: is there a line of prose (long, ending a sentence) at or after i?
    prose_after = [False] * (len(lines) + 1)
    for i in range(len(lines) - 1, -1, -1):
        prose_after[i] = prose_after[i + 1] or (counts[i] > 2 * nav_max_words and ends_sentence_cjk(lines[i]))
    seen = 0
    for i, (line, n) in enumerate(zip(lines, counts)):
        if (seen >= total / 4 and n <= nav_max_words and words.headline_markers and not prose_after[i + 1]
                and _normalized(line.lower()).startswith(words.headline_markers)):
            return i
        seen += n
    end = len(lines)
    while end > 0 and len(lines) - end < 3 and counts[end - 1] <= nav_max_words \
            and not _NUMBERED_ITEM_RE.match(lines[end - 1]):
        end -= 1
    start = end
    # Link titles end without a sentence terminal; numbered steps of a recipe or a how-to
    # end theirs ("3. Bake for 20 minutes.") and are text.
    while start > 0 and _NUMBERED_ITEM_RE.match(lines[start - 1]) and not ends_sentence_cjk(lines[start - 1]):
        start -= 1
    if end - start < 3:
        return len(lines)
    if start > 0 and counts[start - 1] <= nav_max_words:
        start -= 1  # its heading ("扫描下方二维码解锁更多技能", "References")
    return start


class LineCleanup(LanguageAwareStage):
    name = "lines"
    DEFAULTS: dict[str, Any] = {
        "max_removed_words_frac": 0.05,  # RefinedWeb: drop the page above 5% removed words
        "nav_max_words": 10,  # navigation phrases only in lines this short
        "max_uppercase_frac": 0.5,  # a line with more upper- than lowercase letters...
        "min_uppercase_letters": 5,  # ...and at least this many letters ("USA" stays)
        "strip_citations": True,
        "disclaimer_max_words": 30,  # copyright/disclaimer phrases only in lines this short
        "remove_headline_blocks": True,  # cut a trailing related-headline block
    }
    REASONS = ("lines_empty_doc", "lines_removed_too_many")
    RULES = (Rule("max_removed_words_frac", "words_removed_frac", "lines_removed_too_many", MAX),)

    def process(self, doc: Document) -> StageResult:
        profile, p = self.settings(doc)
        words = line_words(normalize_language(doc.language) or "*")  # no language: every list
        rows: list[str] = []  # stripped lines, "" for blank ones (paragraph structure)
        strip_citations = p["strip_citations"]
        for raw in doc.text.split("\n"):
            line = raw.strip()
            if strip_citations and "[" in line:  # every mark has one; most lines none
                line = CITATION_RE.sub("", line).strip()
            rows.append(line)
        content = [i for i, line in enumerate(rows) if line]
        if not content:
            return self.drop(doc, "lines_empty_doc")
        find_words = quality_word_finder(profile.segmentation)
        counts = [len(find_words(rows[i])) for i in content]
        block = len(content)
        if p["remove_headline_blocks"]:
            block = headline_block_start([rows[i] for i in content], counts, p["nav_max_words"], words)
        reasons = [line_removal_reason(rows[i], n_words, p["nav_max_words"], p["min_uppercase_letters"],
                                       p["max_uppercase_frac"], words, p["disclaimer_max_words"])
                   for i, n_words in zip(content, counts)]
        # The page furniture that leads into the block (share buttons, the comment
        # disclaimer, a channel menu "- 推荐 / - 娱乐 …" before "热点新闻") belongs to it:
        # boilerplate lines right before the block, up to the article's last kept line.
        while 0 < block < len(content) and reasons[block - 1]:
            block -= 1
        removed_by: dict[str, int] = {}  # removal reason -> lines it removed
        removed: set[int] = set()
        total_words = sum(counts)
        removed_words = 0
        for k, (i, n_words) in enumerate(zip(content, counts)):
            why = "headline_list" if k >= block else reasons[k]
            if why:
                removed_by[why] = removed_by.get(why, 0) + 1
                removed.add(i)
                # A cut-off trailing block says nothing about the page above it (the
                # later rules judge what is left): only line removals count toward
                # RefinedWeb's share of removed words.
                removed_words += n_words if why != "headline_list" else 0
        kept_words = total_words - sum(n for k, n in enumerate(counts) if k >= block)
        words_frac = removed_words / kept_words if kept_words else 1.0
        doc.signals["lines_removed_frac"] = len(removed) / len(content)
        doc.signals["words_removed_frac"] = words_frac
        # Which kinds of boilerplate went, only for kinds that were found, so a page
        # dropped for too many removed words says what they were.
        for why, count in sorted(removed_by.items()):
            doc.signals[f"lines_removed_{why}"] = float(count)
        reason = first_failing_rule(doc.signals, self.RULES, p)
        if reason:
            return self.drop(doc, reason)
        kept = [line for i, line in enumerate(rows) if i not in removed]
        doc.text = _BLANK_RUNS_RE.sub("\n\n", "\n".join(kept)).strip()
        return doc
