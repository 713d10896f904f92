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
    non_space = sum(1 for c in text if not c.isspace())
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
