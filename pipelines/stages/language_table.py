"""The one per-language table of quality-rule choices, and the base class that applies it.

Word-based rules (Gopher, C4, FineWeb, line cleanup) were designed for English. For a
language the table says (a) how to count words, (b) which stop words prove the text is
running prose, and (c) which thresholds differ from the English defaults and why.

How a stage picks its settings for one document (later wins):
  1. the stage defaults (the FineWeb/Gopher/C4 values, see each stage's DEFAULTS);
  2. the stage parameters given in the config (global for all languages);
  3. this table's row for ``doc.language`` (only the keys the row sets);
  4. the config's ``languages: {<lang>: {<stage>: {...}}}`` overrides.
A document without a language whose text is mostly Chinese/Japanese/Thai script gets
the ``NO_SPACE_SCRIPT`` row, so a missing language id never applies English word rules
to Chinese.

Thresholds for no-space scripts count characters: each Han/kana/Thai character is one
"word" (``segmentation.quality_words``). A Chinese word is ~1.5-2 characters, so n-gram
lengths are doubled and minimum lengths adjusted; the mean word length rule is
meaningless (always 1) and is switched off. These values were checked on the fixtures in
tests/data/quality_* and on the Chinese pages of the CC-MAIN-2020-34 excerpt, not on a
large labelled sample: treat them as a documented starting point.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional

from pipelines.stages.base import Document, Stage
from pipelines.stages.segmentation import (
    SEGMENTATION_CHARS,
    SEGMENTATION_SPACES,
    is_no_space_text,
)


@dataclasses.dataclass(frozen=True)
class LanguageProfile:
    code: str
    segmentation: str = SEGMENTATION_CHARS
    # None: no list known, the Gopher stop-word rule is skipped (English stop words
    # would reject every non-English page).
    stop_words: Optional[tuple[str, ...]] = None
    # Stop words are matched as substrings when words are single characters (Thai
    # stop words span several characters), as whole words otherwise.
    no_space_script: bool = False
    # German writes compounds with hyphens ("Büssing-NAG"): one token, as spaCy's German
    # tokenizer has it; English splits them ("well", "-", "known").
    join_hyphens: bool = False
    overrides: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)


# Character-based thresholds shared by Chinese, Japanese and Thai.
_CHAR_SCRIPT_OVERRIDES: dict[str, dict[str, Any]] = {
    "lines": {"nav_max_words": 20, "disclaimer_max_words": 100},
    # 50 English words carry about as much as 100 Chinese characters.
    "gopher_quality": {"min_doc_words": 100, "max_doc_words": 200_000,
                       "min_avg_word_length": None, "max_avg_word_length": None},
    # n-grams of characters: n doubled so that an n-gram spans about n words.
    # Template lines: drop a page when more than half of its text is lines cast in a
    # frame 3+ lines share (gopher.template_line_chars); good zh dev pages reach at most 0.23 (docs/quality.md).
    "gopher_repetition": {"top_n_grams": {4: 0.20, 6: 0.18, 8: 0.16},
                          "dup_n_grams": {10: 0.15, 12: 0.14, 14: 0.13, 16: 0.12, 18: 0.11, 20: 0.10},
                          "template_line_char_frac": 0.5},
    # a 3-word line is about 5 characters; CJK sentences end in 。！？ (counted).
    "c4": {"min_words_per_line": 5},
    # 30 Latin characters are ~5 words, ~10 Chinese characters; a line is a list item
    # when it averages under ~5 characters (0.2 newlines per character).
    "fineweb": {"short_line_length": 10, "new_line_ratio": 0.2},
}

_THAI_OVERRIDES: dict[str, dict[str, Any]] = {
    **_CHAR_SCRIPT_OVERRIDES,
    # Thai "characters" are code points (vowel and tone marks included): ~4 per word.
    "gopher_quality": {**_CHAR_SCRIPT_OVERRIDES["gopher_quality"], "min_doc_words": 200},
    "fineweb": {"short_line_length": 15, "new_line_ratio": 0.1},
}

LANGUAGE_TABLE: dict[str, LanguageProfile] = {
    # Gopher's own list (Rae et al. 2021, appendix A).
    "en": LanguageProfile("en", stop_words=("the", "be", "to", "of", "and", "that", "have", "with")),
    # Small lists of the most frequent function words; any 2 of them in >= 50 words of
    # real prose is near certain, in a keyword list it is not.
    "de": LanguageProfile("de", stop_words=("der", "die", "das", "und", "ist", "nicht", "zu", "mit", "den", "von", "ein", "eine"),
                          join_hyphens=True),
    "fr": LanguageProfile("fr", stop_words=("le", "la", "les", "de", "des", "et", "est", "que", "un", "une", "en", "du")),
    "es": LanguageProfile("es", stop_words=("el", "la", "de", "que", "y", "en", "los", "se", "del", "las", "un", "por")),
    "it": LanguageProfile("it", stop_words=("il", "di", "che", "e", "la", "un", "per", "non", "del", "una", "sono", "con")),
    "pt": LanguageProfile("pt", stop_words=("de", "que", "e", "o", "a", "do", "da", "em", "um", "para", "com", "não")),
    "nl": LanguageProfile("nl", stop_words=("de", "het", "een", "en", "van", "is", "dat", "op", "te", "in", "niet", "voor")),
    "ru": LanguageProfile("ru", stop_words=("и", "в", "не", "на", "что", "с", "по", "как", "это", "он", "к", "из")),
    "pl": LanguageProfile("pl", stop_words=("i", "w", "nie", "na", "się", "z", "że", "do", "to", "jest", "jak", "o")),
    # Chinese/Japanese: single characters that occur in nearly every paragraph of prose.
    # zh: 一 中 为 对 added in issue #15, function characters among the 15 most frequent of
    # the zh dev reference pages (in 36-39 of its 40 pages; a 269-character finance report
    # had 的 alone of the first list).
    "zh": LanguageProfile("zh", stop_words=("的", "了", "是", "在", "和", "有", "不", "这", "也", "就", "人", "我",
                                            "一", "中", "为", "对"),
                          no_space_script=True, overrides=_CHAR_SCRIPT_OVERRIDES),
    "ja": LanguageProfile("ja", stop_words=("の", "に", "は", "を", "た", "が", "で", "て", "と", "し", "ます", "です"),
                          no_space_script=True, overrides=_CHAR_SCRIPT_OVERRIDES),
    "th": LanguageProfile("th", stop_words=("ที่", "และ", "ใน", "ของ", "เป็น", "ได้", "มี", "การ", "จะ", "ไม่"),
                          no_space_script=True, overrides=_THAI_OVERRIDES),
    # Korean separates words with spaces: whitespace words, but words (eojeol: stem plus
    # particles) average ~3 syllables, so the English 3..10 mean length would reject half
    # of all Korean pages. Particles attach to words, so the list holds standalone words.
    "ko": LanguageProfile("ko", segmentation=SEGMENTATION_SPACES,
                          stop_words=("이", "그", "수", "것", "등", "및", "더", "또", "있는", "있다", "하는", "그리고"),
                          overrides={"gopher_quality": {"min_avg_word_length": 1.5, "max_avg_word_length": 8},
                                     "fineweb": {"short_line_length": 15}}),
}

# Used when a document has no row of its own but its text is mostly no-space script.
NO_SPACE_SCRIPT = LanguageProfile("no_space_script", no_space_script=True, overrides=_CHAR_SCRIPT_OVERRIDES)
DEFAULT_PROFILE = LanguageProfile("default")


def normalize_language(language: str) -> str:
    """'zh-Hans', 'zh_TW', 'ZH' -> 'zh' (fastText and CLD codes both reduce to ISO 639-1)."""
    return (language or "").replace("_", "-").split("-")[0].strip().lower()


def profile_for(language: str, text: str = "") -> LanguageProfile:
    lang = normalize_language(language)
    if lang in LANGUAGE_TABLE:
        return LANGUAGE_TABLE[lang]
    if text and is_no_space_text(text, lang):
        return NO_SPACE_SCRIPT
    return DEFAULT_PROFILE


class LanguageAwareStage(Stage):
    """A stage whose thresholds depend on ``doc.language`` (see the module docstring).

    Subclasses define ``name`` and ``DEFAULTS`` and call ``self.settings(doc)`` to get
    ``(profile, params)``; merged params are cached per language.
    """

    DEFAULTS: dict[str, Any] = {}

    def __init__(self, languages: Optional[Mapping[str, Mapping[str, Any]]] = None, **params: Any):
        self._check_keys(params, "stage parameters")
        self.params = {**self.DEFAULTS, **params}
        self.language_overrides: dict[str, dict[str, Any]] = {}
        for lang, overrides in (languages or {}).items():
            self._check_keys(overrides, f"languages.{lang}")
            self.language_overrides[normalize_language(lang)] = dict(overrides)
        self._cache: dict[str, dict[str, Any]] = {}

    def _check_keys(self, params: Mapping[str, Any], where: str) -> None:
        unknown = sorted(set(params) - set(self.DEFAULTS))
        if unknown:
            raise ValueError(
                f"{self.name}: unknown parameter(s) {unknown} in {where}; "
                f"allowed: {sorted(self.DEFAULTS)}")

    def settings(self, doc: Document) -> tuple[LanguageProfile, dict[str, Any]]:
        profile = profile_for(doc.language, doc.text)
        lang = normalize_language(doc.language)
        key = f"{lang}\x1f{profile.code}"
        params = self._cache.get(key)
        if params is None:
            params = {**self.params, **profile.overrides.get(self.name, {}),
                      **self.language_overrides.get(lang, {})}
            self._cache[key] = params
        return profile, params
