"""Script-aware word segmentation shared by quality rules, MinHash and decontamination.

Whitespace word counts are wrong for Chinese, Japanese, Thai and other scripts written
without spaces. We treat every character of those scripts as one "word" (a unigram):
it is deterministic, dependency-free and, for n-gram based rules (shingles, repetition,
13-gram decontamination), behaves like character n-grams, which is what the CJK
literature uses. Languages with spaces keep regular ``\\w+`` words.

Thresholds that count words must therefore be per-language: 50 Chinese characters are
far fewer "words" of meaning than 50 English words. See the per-language table in the
quality stage configuration.
"""
from __future__ import annotations

import functools
import re
import unicodedata

# Han (incl. extensions), Hiragana, Katakana, Hangul syllables/jamo, Thai, Lao, Khmer,
# Myanmar. Each character becomes one token.
_NO_SPACE_RANGES = (
    "\u0e00-\u0e7f"  # Thai
    "\u0e80-\u0eff"  # Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u309f"  # Hiragana
    "\u30a0-\u30ff"  # Katakana
    "\u3400-\u4dbf"  # CJK Ext A
    "\u4e00-\u9fff"  # CJK Unified
    "\uac00-\ud7af"  # Hangul syllables
    "\uf900-\ufaff"  # CJK compatibility
    "\U00020000-\U0002ffff"  # CJK Ext B..F
)
_TOKEN_RE = re.compile(rf"[{_NO_SPACE_RANGES}]|[^\W{_NO_SPACE_RANGES}]+", re.UNICODE)
_NO_SPACE_CHAR_RE = re.compile(rf"[{_NO_SPACE_RANGES}]")

NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "dz"})


def words(text: str) -> list[str]:
    """Split into words; each char of a no-space script is its own word."""
    return _TOKEN_RE.findall(text)


def no_space_char_fraction(text: str) -> float:
    """Share of non-space characters that belong to scripts written without spaces."""
    # split() drops exactly the str.isspace() characters: a C loop, not one per character
    # (the quality stages ask this per stage for a language outside the table; issue #16).
    non_space = sum(map(len, text.split()))
    if not non_space:
        return 0.0
    return len(_NO_SPACE_CHAR_RE.findall(text)) / non_space


def is_no_space_text(text: str, language: str = "") -> bool:
    """True when word-based thresholds would mis-judge this text."""
    if language in NO_SPACE_LANGUAGES:
        return True
    return no_space_char_fraction(text) > 0.3


def normalize_for_matching(text: str) -> str:
    """Lowercase, strip accents, punctuation and digits; collapse whitespace.

    Used for MinHash shingles and decontamination n-grams so trivially different
    copies (case, accents, numbering) still match.
    """
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"[\d\W_]+", " ", text, flags=re.UNICODE)
    return " ".join(text.split())


# ---------------------------------------------------------------------------
# Quality-rule helpers (lines, Gopher, C4, FineWeb). ``words()`` above stays the
# tokenization for matching (MinHash, decontamination); the helpers below decide how
# *quality rules* count words per language.
# ---------------------------------------------------------------------------

import regex as _regex  # the `regex` module knows Unicode's Sentence_Terminal property

# Hangul is kept per-character by ``words()`` (good for shingles), but Korean is written
# with spaces between words (eojeol), so quality rules count whitespace-separated words.
_SPACED_WORD_RE = re.compile(r"\w+", re.UNICODE)
# Every Unicode sentence terminal (., !, ?, 。, ！, ？, ؟, ।, ...): the same set as
# datatrove's TERMINAL_PUNCTUATION, taken from the Unicode database instead of a copy.
TERMINAL_PUNCTUATION_RE = _regex.compile(r"\p{Sentence_Terminal}")
_SENTENCE_END_RE = _regex.compile(r"[\p{Sentence_Terminal}]+[\"'”’»)\]]*(?=\s|$)|[。！？｡]+")

SEGMENTATION_CHARS = "chars"  # each character of a no-space script is a word
SEGMENTATION_SPACES = "spaces"  # \w+ runs, Hangul included (Korean)


def quality_words(text: str, segmentation: str = SEGMENTATION_CHARS) -> list[str]:
    """Words as quality rules count them.

    ``chars`` (default, all languages but Korean): ``words()``, so Chinese/Japanese/Thai
    characters are one word each and Latin/Cyrillic words are ``\\w+`` runs.
    ``spaces``: ``\\w+`` runs without splitting Hangul (Korean has spaces).
    """
    return quality_word_finder(segmentation)(text)


def quality_word_finder(segmentation: str = SEGMENTATION_CHARS):
    """``quality_words`` for one segmentation as a bound ``findall``: per-line loops call
    it without two Python calls per line in between (a quarter of their word counting)."""
    return (_SPACED_WORD_RE if segmentation == SEGMENTATION_SPACES else _TOKEN_RE).findall


# Word tokens as a rule-based tokenizer (spaCy, which datatrove uses) emits them: "3.5",
# "U.S", "10:30", "AT&T", "o'clock" stay one token; slashes split; every punctuation mark
# is a token of its own ("..." is one), except the period of an ordinal ("27. März") or
# of a short abbreviation before a lowercase word/number ("bzw. die", "S. 14"). Hyphens
# split in English ("well-known" -> 3 tokens) but not in German compounds
# ("Büssing-NAG"), hence ``join_hyphens`` per language. Gopher's ratios count over these.
_LOWER_OR_DIGIT = r"[^\W_A-ZÀ-ÖØ-ÞА-ЯЁ]"  # a letter that is not uppercase, or a digit


@functools.lru_cache(maxsize=None)
def _token_re(segmentation: str, join_hyphens: bool) -> re.Pattern:
    no_space = "" if segmentation == SEGMENTATION_SPACES else _NO_SPACE_RANGES
    word_char = rf"[^\W{no_space}]" if no_space else r"\w"
    joiners = r"[.,:@&'’-]" if join_hyphens else r"[.,:@&'’]"
    parts = [
        r"\b\d{1,2}\.(?=\s+\w)",  # ordinal: "27. März"
        rf"\b[A-Za-zÀ-ÿА-яЁё]{{1,3}}\.(?=\s+{_LOWER_OR_DIGIT})",  # abbreviation: "bzw. die", "S. 14"
        r"\b(?:[^\W\d_]{1,3}\.){2,}",  # dotted abbreviation with its last period: "U.S.", "z.B.", "u.a."
    ]
    if no_space:
        parts.append(rf"[{no_space}]")
    parts += [rf"{word_char}+(?:{joiners}{word_char}+)*", r"\.\.\.", r"[^\w\s]"]
    return re.compile("|".join(parts), re.UNICODE)


def word_tokens(text: str, segmentation: str = SEGMENTATION_CHARS, join_hyphens: bool = False) -> list[str]:
    """Word and punctuation tokens, as a word tokenizer would produce them (see above)."""
    return _token_re(segmentation, join_hyphens).findall(text)


def is_symbol_token(token: str) -> bool:
    """True for a ``word_tokens`` token of punctuation/symbols (no letter, digit or CJK).

    ``word_tokens`` never mixes the two (a symbol token is one mark or "..."; a word token
    starts with a \\w character), so the first character decides: as fast as it gets in
    the per-token loops of the quality filters.
    """
    first = token[0]
    return not (first.isalnum() or first == "_")


def ends_with_terminal_punctuation(line: str) -> bool:
    """True when the (right-stripped by the caller) line ends with a sentence terminal."""
    return bool(line) and TERMINAL_PUNCTUATION_RE.match(line[-1]) is not None


def count_sentences(text: str) -> int:
    """Approximate sentence count: runs of sentence terminals followed by a space or the
    end, plus CJK full stops (no space follows them). A non-empty remainder without a
    terminal counts as one sentence, like a sentence splitter would."""
    text = text.strip()
    if not text:
        return 0
    ends = [m for m in _SENTENCE_END_RE.finditer(text) if not _is_abbreviation_period(text, m)]
    tail = text[ends[-1].end():].strip() if ends else text
    return len(ends) + (1 if tail else 0)


_LAST_WORD_RE = _regex.compile(r"(\w+)$")
_NEXT_LOWER_OR_DIGIT_RE = _regex.compile(r"\s+[\p{Ll}\d]")


def _is_abbreviation_period(text: str, match) -> bool:
    """A lone '.' after an ordinal ("17. Dezember") or after a short word followed by a
    lowercase word or a number ("Art. 90", "bzw. die") ends no sentence; a tokenizer keeps
    that period in the token, as the word tokens above do."""
    if match.group() != ".":
        return False
    # Only the word right before the period matters: look at a short window, not the
    # whole prefix (that made sentence counting quadratic in the line length).
    last = _LAST_WORD_RE.search(text, max(0, match.start() - 8), match.start())
    if not last:
        return False
    word = last.group(1)
    if word.isdigit():
        return len(word) <= 2
    return len(word) <= 3 and _NEXT_LOWER_OR_DIGIT_RE.match(text, match.end()) is not None


# ---------------------------------------------------------------------------
# Line and token classes the CJK variants of the rules need (issue #15). Chinese news
# quotes whole sentences (“……。”), so a line ends in a closing quote after its 。; a
# statute or a list ends clauses in ；; sites lay articles out in tables, which the
# extractor writes as "| cell | cell |" rows; weather and finance reports are full of
# figures and units (12℃, 3.5%, 28951亿元) that are words of the text, not symbols.
# ---------------------------------------------------------------------------

# Closing quotes and brackets that may follow a sentence terminal at the end of a line.
_LINE_END_CLOSERS = "\"'”’»)]）」』》】〉"
# Clause terminals that end a line of running Chinese/Japanese text besides 。！？.
_CJK_EXTRA_TERMINALS = "；;"
# A markdown table row as trafilatura writes tables: "| a | b |" (also the "|---|" rule).
_TABLE_ROW_RE = re.compile(r"^\s*\|.*\|\s*$")
# A number ("2020", "3.5", "28,951", "10:30") or a unit/currency sign standing alone.
_NUMBER_RE = re.compile(r"^\d+(?:[.,:]\d+)*$")
UNIT_SYMBOLS = frozenset("%％‰°℃℉¥￥$€£㎡㎞㎏")


# A short note in brackets after the last sentence of a paragraph: the source or the
# reporter ("……。（德清县发改局）", "……。(记者 张三)", "... (Reuters)").
_TRAILING_NOTE_RE = re.compile(r"\s*[(（][^()（）]{1,20}[)）]$")


def ends_sentence_cjk(line: str) -> bool:
    """True when a (right-stripped) line ends a sentence or clause, closing quotes and
    brackets after the terminal allowed: "……。”", "第一条 ……；", and so does a sentence
    followed by a short bracketed source note: "……。（德清县发改局）"."""
    stripped = line.rstrip(_LINE_END_CLOSERS)
    if not stripped:
        return False
    if stripped[-1] in _CJK_EXTRA_TERMINALS or ends_with_terminal_punctuation(stripped):
        return True
    note = _TRAILING_NOTE_RE.search(line)
    return note is not None and note.start() > 0 and ends_sentence_cjk(line[:note.start()])


def is_unterminated_paragraph_cjk(line: str) -> bool:
    """True for a line of Chinese running text whose closing 。 the site left out: at least
    two full-width commas inside (clauses of one sentence; menus, titles and list items
    have none). Some sites (toutiao) end every paragraph so. Japanese separates clauses
    with 、, so this rarely fires there."""
    return line.count("，") >= 2


def is_table_row(line: str) -> bool:
    """True for a table row as the extractor writes it ("| cell | cell |")."""
    return _TABLE_ROW_RE.match(line) is not None


def table_row_content(line: str) -> str:
    """The text of a line with a table row's frame and empty cells removed ("| a | b |" ->
    "a | b", "| 一段正文。 |  |" -> "一段正文。": a layout table's empty cell is no text
    after the paragraph); "" for a rule row ("|---|---|") or an empty row; other lines
    unchanged."""
    if not is_table_row(line):
        return line
    cells = [cell.strip() for cell in line.strip()[1:-1].split("|")]
    return " | ".join(cell for cell in cells if cell.strip("-: "))


def is_number_or_unit(token: str) -> bool:
    """True for a token that is a number or a unit/currency sign ("2020", "3.5", "℃", "%")."""
    return token in UNIT_SYMBOLS or _NUMBER_RE.match(token) is not None


# A line's "frame": what is left when its words are taken out and its numbers masked
# ("第001期：四三各配七六码，三四组合中头彩，送：声色十中金。" -> "0：，，：。"). Generated spam
# repeats one frame line after line with other words in the slots (lottery tips
# "| 129期〖大水牛〗下注一万,信心100% |", product blurbs with a fixed number of clauses);
# a writer's sentences rarely share a frame of several marks (issue #15).
# A number, one mark, or a line break (to split the frames of a whole text at once).
# ``regex``'s \w includes combining marks (Unicode's definition; ``re``'s does not): Thai
# and Devanagari vowel signs are letters of a word, not punctuation of a frame.
_FRAME_MARK_RE = _regex.compile(r"\d+|[^\w\s]|_|\n")


def _frame_of(text: str) -> str:
    return "".join(["0" if mark[0].isdigit() else mark for mark in _FRAME_MARK_RE.findall(text)])


def line_frames(text: str) -> list[str]:
    """The frame of every line of ``text`` (one per line, split at each newline): its punctuation
    and masked numbers, a table row's frame and empty cells removed ("" for a rule row).
    One findall over the whole text, not one per line: the quality stages must not get
    slower."""
    frames = _frame_of(text).split("\n")
    if "|" in text:
        for i, line in enumerate(text.split("\n")):
            if is_table_row(line):
                frames[i] = _frame_of(table_row_content(line))
    return frames


# ---------------------------------------------------------------------------
# One text's splits shared between stages (issue #16). gopher_repetition and
# gopher_quality tokenize the same ``doc.text`` one after the other: the second one reads
# the first one's tokens (a third of gopher_quality's CPU); fineweb reads them too where
# c4 changed only whitespace (word_tokens_of_respaced).
# ---------------------------------------------------------------------------

_memo: tuple[str, dict] = ("", {})  # (the last text asked about, {(fn, args): result})


def per_text(fn, text: str, *args) -> tuple:
    """``tuple(fn(text, *args))``, computed once per text object, for a pure ``fn``.

    Keyed by the identity of ``text``, which the memo holds: a stage that changes a text
    assigns a new string (a str never changes in place), and the held reference keeps the
    old one's id from being reused, so a split of an old text is never handed out for a
    new one. Only the last text is kept: the stages run one document at a time. A tuple,
    so no caller can change what the next one reads. Under threads, documents that
    interleave only miss: each result stays bound to its own text.
    """
    global _memo
    memo_text, values = _memo
    if memo_text is not text:
        values = {}
        _memo = (text, values)
    key = (fn, args)
    value = values.get(key)
    if value is None:
        value = values[key] = tuple(fn(text, *args))
    return value


def word_tokens_of_respaced(text: str, segmentation: str = SEGMENTATION_CHARS, join_hyphens: bool = False) -> tuple:
    """``per_text(word_tokens, text, ...)``, also reused from the last text tokenized when
    ``text`` differs from it only in whitespace (fineweb reads c4's text, which is the
    gopher stages' text without its blank lines on half of the pages).

    Exact: no ``word_tokens`` alternative matches whitespace, and the pattern sees it only
    through ``\\b`` (whitespace is no word character either way) and ``(?=\\s+...)``
    lookaheads (any non-empty run of it is skipped the same), so two texts with the same
    ``split()`` (``str.isspace`` is ``\\s``) have the same tokens. A test pins this.
    """
    global _memo
    memo_text, values = _memo
    key = (word_tokens, (segmentation, join_hyphens))
    tokens = values.get(key)
    if memo_text is not text and tokens is not None and memo_text.split() == text.split():
        _memo = (text, {key: tokens})
        return tokens
    return per_text(word_tokens, text, segmentation, join_hyphens)
