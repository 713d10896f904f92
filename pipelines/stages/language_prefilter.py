"""The language prefilter: a cheap language check before the expensive extractor.

With ``--languages``, most of a crawl is dropped by language id after paying for the
expensive extraction. ``Extract`` first runs a cheap extraction (resiliparse's main
content, ``extract.CHEAP_EXTRACTOR``, about 13x cheaper than trafilatura,
bench/extraction_eval.py; the same text the ``cascade`` extractor measures its steps
against, computed once per page); this prefilter runs the same fastText model as the ``langid``
stage on that text and drops a page only when no wanted language reaches
``min_wanted_score`` there. That margin is far below the ``langid`` threshold (0.65) on
purpose: the cheap text is not the text ``langid`` will see, so only pages that clearly
cannot pass may go. The margin was chosen by measurement on the shared WARCs
(bench/extraction_cascade.py, docs/clean_stages.md): every page the plain path keeps
scores far above it on the cheap text.

A page whose cheap text is empty (or whose cheap extraction failed) is never dropped
here: the expensive extractor decides, as without the prefilter.
"""
from __future__ import annotations

from typing import Iterable, Optional, Union

from pipelines.stages.langid import LanguageId

# Chosen on the shared WARCs (docs/clean_stages.md): among pages that pass langid on the
# plain path, the lowest wanted-language score on the cheap text is 0.29 (en) / 0.11 (de),
# but for two pages whose trafilatura text is English boilerplate on a page that is not
# English (0.0016, 0.003; the lines stage drops both later). 0.02 is 5-14x below every
# real page and drops nearly all other-language pages (0.005 would keep 2.5 % of them).
DEFAULT_MIN_WANTED_SCORE = 0.02


class LanguagePrefilter:
    """``cannot_pass(cheap_text)``: True when the page is clearly in no wanted language.

    Args:
        languages: the wanted codes (the ``langid`` stage's ``--languages``).
        model_path: the fastText model (default: the one ``langid`` uses).
        min_wanted_score: drop when the best wanted language scores below this on the
            cheap text.
    Picklable (it travels into the extraction child); the model loads in ``setup()``.
    """

    def __init__(self, languages: Union[str, Iterable[str]], model_path: Optional[str] = None,
                 min_wanted_score: float = DEFAULT_MIN_WANTED_SCORE):
        self.langid = LanguageId(model_path=model_path, languages=languages)
        if self.langid.languages is None:
            raise ValueError("the language prefilter needs at least one wanted language")
        if not 0.0 <= min_wanted_score <= 1.0:
            raise ValueError(f"min_wanted_score must be within [0, 1], got {min_wanted_score}")
        self.min_wanted_score = float(min_wanted_score)

    def setup(self) -> None:
        self.langid.setup()

    def wanted_score(self, text: str) -> float:
        """The best probability of a wanted language for ``text`` (all labels are asked)."""
        return max((score for lang, score in self.langid.ranked(text, -1) if lang in self.langid.languages),
                   default=0.0)

    def cannot_pass(self, cheap_text: str) -> bool:
        """True when the page's cheap text is clearly in no wanted language; never for an
        empty text (no evidence: the expensive extractor decides)."""
        if not cheap_text.strip():
            return False
        return self.wanted_score(cheap_text) < self.min_wanted_score
