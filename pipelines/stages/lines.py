"""Line-level cleanup in the style of RefinedWeb (Penedo et al. 2023, section G.2).

Extraction leaves menu items, counters ("12 comments"), all-caps banners and cookie
notices between the paragraphs. This stage removes such lines, strips Wikipedia-style
"[edit]"/"[citation needed]" marks, and collapses runs of blank lines to at most one
empty line (two consecutive newlines). When it had to remove more than 5% of the words,
the page is mostly boilerplate and is dropped ("lines_removed_too_many"), as RefinedWeb
does.

Pattern lists are deliberately small (en/de/fr/zh): a long list removes real sentences.
Navigation phrases only count in short lines (<= ``nav_max_words`` words); counters and
cookie/JavaScript notices are removed at any length, as C4 does.
"""
from __future__ import annotations

import re
from typing import Any

from pipelines.stages.base import Document, StageResult
from pipelines.stages.language_table import LanguageAwareStage
from pipelines.stages.rules import MAX, Rule, first_failing_rule
from pipelines.stages.segmentation import quality_words

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

# Whole short line is one of these (after lowercasing and stripping punctuation).
NAV_EXACT = frozenset({
    "home", "menu", "next", "previous", "print", "search", "share", "subscribe", "top", "login", "log in",
    "startseite", "suche", "weiter", "zurück", "drucken", "teilen", "anmelden",
    "accueil", "recherche", "suivant", "précédent", "imprimer", "partager",
    "首页", "登录", "注册", "搜索", "更多", "分享", "上一页", "下一页", "返回",
})
# Phrases that mark a short line as navigation/boilerplate wherever they occur in it.
NAV_CONTAINS = (
    "read more", "sign in", "sign up", "log in", "log out", "items in cart", "your cart", "shopping cart",
    "accept cookies", "cookie settings", "skip to content", "back to top", "share this", "all rights reserved",
    "weiterlesen", "mehr lesen", "anmelden", "registrieren", "warenkorb", "cookies akzeptieren",
    "nach oben", "alle rechte vorbehalten",
    "lire la suite", "en savoir plus", "se connecter", "s'inscrire", "panier", "accepter les cookies",
    "retour en haut", "tous droits réservés",
    "阅读全文", "阅读更多", "购物车", "返回顶部", "分享到", "上一篇", "下一篇", "版权所有", "当前位置",
)
# C4's line rules that FineWeb keeps, plus their de/fr/zh equivalents.
POLICY_PHRASES = (
    "javascript", "terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies",
    "use cookies", "datenschutzerklärung", "nutzungsbedingungen", "verwendet cookies",
    "politique de confidentialité", "utilise des cookies", "conditions d'utilisation",
    "隐私政策", "使用条款", "使用cookie",
)
_PUNCT_RE = re.compile(r"[^\w\s']+", re.UNICODE)
_BLANK_RUNS_RE = re.compile(r"\n{3,}")


# What line_removal_reason returns; each is also a signal ``lines_removed_<reason>``.
LINE_REMOVAL_REASONS = ("no_letters", "counter", "policy", "uppercase", "navigation")


def line_removal_reason(line: str, words_in_line: int, nav_max_words: int, min_upper_letters: int,
                        max_upper_frac: float) -> str | None:
    """Why a (stripped, non-empty) line is boilerplate, or None to keep it."""
    if not any(c.isalpha() for c in line):
        return "no_letters"  # only digits, punctuation, symbols
    lower = line.lower()
    if COUNTER_RE.match(line):
        return "counter"
    if any(p in lower for p in POLICY_PHRASES):
        return "policy"
    cased = [c for c in line if c.isupper() or c.islower()]
    if len(cased) >= min_upper_letters and sum(c.isupper() for c in cased) / len(cased) > max_upper_frac:
        return "uppercase"
    if words_in_line <= nav_max_words:
        normalized = " ".join(_PUNCT_RE.sub(" ", lower).split())
        if normalized in NAV_EXACT or any(p in normalized for p in NAV_CONTAINS):
            return "navigation"
    return None


class LineCleanup(LanguageAwareStage):
    name = "lines"
    DEFAULTS: dict[str, Any] = {
        "max_removed_words_frac": 0.05,  # RefinedWeb: drop the page above 5% removed words
        "nav_max_words": 10,  # navigation phrases only in lines this short
        "max_uppercase_frac": 0.5,  # a line with more upper- than lowercase letters...
        "min_uppercase_letters": 5,  # ...and at least this many letters ("USA" stays)
        "strip_citations": True,
    }
    REASONS = ("lines_empty_doc", "lines_removed_too_many")
    RULES = (Rule("max_removed_words_frac", "words_removed_frac", "lines_removed_too_many", MAX),)

    def process(self, doc: Document) -> StageResult:
        profile, p = self.settings(doc)
        kept: list[str] = []
        total_words = removed_words = total_lines = removed_lines = 0
        removed_by: dict[str, int] = {}  # removal reason -> lines it removed
        for raw in doc.text.split("\n"):
            line = raw.strip()
            if p["strip_citations"]:
                line = CITATION_RE.sub("", line).strip()
            if not line:
                kept.append("")  # paragraph structure; blank runs collapsed below
                continue
            n_words = len(quality_words(line, profile.segmentation))
            total_words += n_words
            total_lines += 1
            why = line_removal_reason(line, n_words, p["nav_max_words"], p["min_uppercase_letters"],
                                      p["max_uppercase_frac"])
            if why:
                removed_by[why] = removed_by.get(why, 0) + 1
                removed_words += n_words
                removed_lines += 1
                continue
            kept.append(line)
        if not total_lines:
            return self.drop(doc, "lines_empty_doc")
        words_frac = removed_words / total_words if total_words else 1.0
        doc.signals["lines_removed_frac"] = removed_lines / total_lines
        doc.signals["words_removed_frac"] = words_frac
        # Which kinds of boilerplate went, only for kinds that were found, so a page
        # dropped for too many removed words says what they were.
        for why, count in sorted(removed_by.items()):
            doc.signals[f"lines_removed_{why}"] = float(count)
        reason = first_failing_rule(doc.signals, self.RULES, p)
        if reason:
            return self.drop(doc, reason)
        doc.text = _BLANK_RUNS_RE.sub("\n\n", "\n".join(kept)).strip()
        return doc
