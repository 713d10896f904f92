"""A learned quality filter: hashed word n-grams and a logistic regression (GPT-3, DCLM).

A linear classifier trained to tell text the user trusts (positives: Wikipedia, a curated
set) from random crawl documents (negatives) scores every document in [0, 1]; the score
goes to ``signals["quality_classifier_score"]`` and the document is kept

- ``mode: threshold``: when the score is >= ``threshold`` (null: score only, keep all);
- ``mode: pareto``: by GPT-3's rule, when ``np.random.pareto(alpha) > 1 - score``. The
  draw is seeded by the document id, so reruns and any worker order give the same
  decisions. NumPy's ``pareto`` is the Lomax distribution, P(X > x) = (1 + x)^-alpha, so
  a document of score s is kept with probability ``pareto_keep_probability(s, alpha)``
  = (2 - s)^-alpha: 1 at s = 1, 1.5^-9 = 2.6% at s = 0.5 for GPT-3's alpha 9. The
  rule keeps some low-score documents, which GPT-3 wanted for diversity.

Features (``Features``): scikit-learn's ``HashingVectorizer`` over lowercased words from
:func:`pipelines.stages.segmentation.words` (each Chinese/Japanese/Thai character is a
word, so word bigrams are character bigrams there, the usual CJK n-gram), unigrams and
bigrams, hashed into ``n_features`` buckets (no vocabulary to store). Why scikit-learn
rather than fastText's supervised mode: docs/quality_classifier.md (measured).

The model is data only (nothing read from disk may run code): a folder with
``model.json`` (feature settings, label names, training summary, the weights' SHA-256
and a probe: the buckets of a fixed text, re-hashed on load so a scikit-learn whose
hashing changed is refused) and ``weights.npz`` (``coef`` float32[n_features],
``intercept``), loaded with ``allow_pickle=False``. ``load_model`` checks all of it and
raises :class:`ModelError` with one line saying what to do. Train one with
``python -m pipelines.quality_classifier train``.
"""
from __future__ import annotations

import hashlib
import json
import math
import pathlib
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from pipelines.stages.base import Document, StageResult
from pipelines.stages.language_table import LanguageAwareStage
from pipelines.stages.segmentation import words

FORMAT = "corpus-pipeline/quality-classifier"
FORMAT_VERSION = 1
MODEL_JSON = "model.json"
WEIGHTS_FILE = "weights.npz"
SIGNAL = "quality_classifier_score"
MODES = ("threshold", "pareto")
TOKENIZERS = {"segmentation.words": words}  # by name in model.json; the only one so far
PROBE_TEXT = "The quick brown fox jumps over the lazy dog. 中文分词 Übergrößenträger 2024"

TRAIN_HINT = ("train one with `python -m pipelines.quality_classifier train --positive PATHS "
              "--negative PATHS --output MODEL`")


class ModelError(ValueError):
    """A missing, damaged or mismatched model folder; the message says what to do."""


def default_feature_settings(n_features: int = 2 ** 18, ngram_range: Sequence[int] = (1, 2)) -> dict[str, Any]:
    return {
        "vectorizer": "sklearn.feature_extraction.text.HashingVectorizer",
        # HashingVectorizer's scheme: signed 32-bit MurmurHash3 (seed 0) of the UTF-8
        # n-gram ("w1 w2"), bucket = abs(hash) mod n_features; the probe below pins it.
        "hashing": "murmurhash3_32 seed 0, abs() mod n_features",
        "n_features": int(n_features),
        "ngram_range": [int(ngram_range[0]), int(ngram_range[1])],
        "tokenizer": "segmentation.words",
        "lowercase": True,
        "alternate_sign": False,  # plain counts: a weight per bucket reads as "this n-gram"
        "norm": "l2",  # long and short documents on one scale
    }


class Features:
    """Text -> sparse hashed n-gram vectors, rebuilt from model.json's ``features``."""

    def __init__(self, settings: Mapping[str, Any]):
        from sklearn.feature_extraction.text import HashingVectorizer

        self.settings = dict(settings)
        self.vectorizer = HashingVectorizer(
            n_features=int(settings["n_features"]), ngram_range=tuple(settings["ngram_range"]),
            tokenizer=TOKENIZERS[settings["tokenizer"]], token_pattern=None, lowercase=bool(settings["lowercase"]),
            alternate_sign=bool(settings["alternate_sign"]), norm=settings["norm"], dtype=np.float32,
        )

    def transform(self, texts: Sequence[str]):
        return self.vectorizer.transform(texts)

    def probe(self, text: str = PROBE_TEXT) -> list[int]:
        """The buckets a text hashes to: stored at training, compared on load."""
        return sorted(int(i) for i in self.transform([text]).indices)


def _sha256(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Model:
    """Weights and feature settings of a trained classifier; ``scores`` gives P(positive)."""

    def __init__(self, features: Mapping[str, Any], coef: np.ndarray, intercept: float,
                 meta: Optional[Mapping[str, Any]] = None):
        self.meta = dict(meta or {})
        self.features = Features(features)
        self.coef = np.asarray(coef, dtype=np.float32)
        self.intercept = float(intercept)

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        x = self.features.transform(texts)
        logits = np.asarray(x @ self.coef, dtype=np.float64) + self.intercept
        return 1.0 / (1.0 + np.exp(-logits))

    def save(self, folder: str | pathlib.Path, training: Optional[Mapping[str, Any]] = None) -> pathlib.Path:
        folder = pathlib.Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        weights = folder / WEIGHTS_FILE
        np.savez_compressed(weights, coef=self.coef, intercept=np.float64(self.intercept))
        import sklearn

        meta = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "library": f"scikit-learn {sklearn.__version__}",
            "features": self.features.settings,
            "probe": {"text": PROBE_TEXT, "buckets": self.features.probe()},
            "labels": {"0": "negative (random crawl)", "1": "positive (trusted text)"},
            "score": "P(positive) = 1 / (1 + exp(-(x . coef + intercept)))",
            "weights": {"file": WEIGHTS_FILE, "sha256": _sha256(weights), "bytes": weights.stat().st_size},
            "training": dict(training or self.meta.get("training") or {}),
        }
        (folder / MODEL_JSON).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        self.meta = meta
        return folder


def _model_folder(path: str | pathlib.Path) -> pathlib.Path:
    p = pathlib.Path(path)
    return p.parent if p.name == MODEL_JSON else p


def load_model(path: str | pathlib.Path) -> Model:
    """Load and check a model folder (or its model.json); ModelError says what is wrong."""
    folder = _model_folder(path)
    meta_path = folder / MODEL_JSON
    if not meta_path.is_file():
        raise ModelError(f"quality classifier model {path}: no {MODEL_JSON} there; pass the folder written by "
                         f"`pipelines.quality_classifier train`, or {TRAIN_HINT}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelError(f"quality classifier model {meta_path}: not valid JSON ({e}); {TRAIN_HINT}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"quality classifier model {meta_path}: not a {FORMAT} v{FORMAT_VERSION} file; {TRAIN_HINT}")
    try:
        features = meta["features"]
        expected_sha = meta["weights"]["sha256"]
        weights = folder / meta["weights"]["file"]
        probe = meta["probe"]
        if features.get("tokenizer") not in TOKENIZERS:
            raise KeyError(f"tokenizer {features.get('tokenizer')!r}")
    except (KeyError, TypeError, AttributeError) as e:
        raise ModelError(f"quality classifier model {meta_path}: missing or unknown entry {e}; {TRAIN_HINT}") from None
    if weights.parent != folder or not weights.is_file():
        raise ModelError(f"quality classifier model {folder}: weights file {weights.name} missing; {TRAIN_HINT}")
    if _sha256(weights) != expected_sha:
        raise ModelError(f"quality classifier model {weights}: SHA-256 differs from {MODEL_JSON} (file changed or "
                         f"damaged); retrain or restore both files together")
    try:
        with np.load(weights, allow_pickle=False) as z:
            coef, intercept = z["coef"], z["intercept"]
    except Exception as e:  # a damaged archive or one holding objects (pickles are refused)
        raise ModelError(f"quality classifier model {weights}: unreadable weights ({e}); {TRAIN_HINT}") from None
    n = features.get("n_features")
    if coef.dtype != np.float32 or coef.shape != (n,) or intercept.shape != () \
            or not np.isfinite(coef).all() or not math.isfinite(float(intercept)):
        raise ModelError(f"quality classifier model {weights}: weights do not match {MODEL_JSON} "
                         f"(coef {coef.dtype}{coef.shape}, n_features {n}); {TRAIN_HINT}")
    try:
        model = Model(features, coef, float(intercept), meta)
    except (KeyError, TypeError, ValueError) as e:  # settings HashingVectorizer refuses
        raise ModelError(f"quality classifier model {meta_path}: bad feature settings ({e}); {TRAIN_HINT}") from None
    if not isinstance(probe, dict) or model.features.probe(str(probe.get("text"))) != probe.get("buckets"):
        raise ModelError(f"quality classifier model {folder}: this scikit-learn hashes text differently from the "
                         f"one that trained it ({meta.get('library')}); retrain the model with this installation")
    return model


def pareto_keep_probability(score, alpha: float):
    """P(np.random.pareto(alpha) > 1 - score): NumPy's pareto is Lomax, P(X > x) = (1 + x)^-alpha."""
    return np.power(2.0 - np.asarray(score, dtype=np.float64), -alpha)


def pareto_draw(doc_id: str, alpha: float) -> float:
    """GPT-3's Pareto draw for one document, seeded by its id (stable across runs and workers)."""
    seed = int.from_bytes(hashlib.sha256(doc_id.encode("utf-8", "surrogatepass")).digest()[:8], "little")
    return float(np.random.default_rng(seed).pareto(alpha))


def pareto_keeps(doc_id: str, score: float, alpha: float) -> bool:
    return pareto_draw(doc_id, alpha) > 1.0 - score


class QualityClassifier(LanguageAwareStage):
    """Score documents with a trained model (``model``: its folder) and keep by threshold or Pareto.

    Per-language overrides may change ``mode``, ``threshold`` and ``pareto_alpha`` (a
    classifier's scores differ by language); one model serves every language.
    Drop reasons: ``low_score`` (threshold mode), ``pareto`` (Pareto mode).
    """

    name = "quality_classifier"
    DEFAULTS: dict[str, Any] = {"model": None, "mode": "threshold", "threshold": 0.5, "pareto_alpha": 9}
    REASONS = ("low_score", "pareto")

    def __init__(self, languages: Optional[Mapping[str, Mapping[str, Any]]] = None, **params: Any):
        super().__init__(languages=languages, **params)
        for where, p in [("", self.params)] + [(f"languages.{k}.", v) for k, v in self.language_overrides.items()]:
            if where and "model" in p:
                raise ValueError(f"{self.name}: {where}model: one model serves every language; set "
                                 f"{self.name}.model only")
            if p.get("mode", "threshold") not in MODES:
                raise ValueError(f"{self.name}: {where}mode: expected one of {list(MODES)}, got {p['mode']!r}")
            if p.get("pareto_alpha") is not None and not p["pareto_alpha"] > 0:
                raise ValueError(f"{self.name}: {where}pareto_alpha: expected a number > 0, got {p['pareto_alpha']!r}")
        if not self.params["model"]:
            raise ValueError(f"{self.name} is enabled but has no model: set {self.name}.model: PATH in the config "
                             f"(a folder with {MODEL_JSON}), and {TRAIN_HINT}")
        load_model(self.params["model"])  # fail at start-up, before any input is read
        self._model: Optional[Model] = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_model"] = None  # workers load it in setup()
        return state

    def setup(self) -> None:
        if self._model is None:
            self._model = load_model(self.params["model"])

    def process(self, doc: Document) -> StageResult:
        self.setup()
        _, p = self.settings(doc)
        score = float(self._model.scores([doc.text])[0])
        doc.signals[SIGNAL] = score
        if p["mode"] == "pareto":
            return doc if pareto_keeps(doc.id, score, p["pareto_alpha"]) else self.drop(doc, "pareto")
        if p["threshold"] is not None and score < p["threshold"]:
            return self.drop(doc, "low_score")
        return doc
