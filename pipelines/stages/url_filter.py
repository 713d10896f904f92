"""URL filter: UT1-format blocklists plus a weighted URL-word score (RefinedWeb style).

Decides from the URL alone, before any HTML is parsed, so it is the cheapest place to
remove adult, malware and phishing pages.

Blocklist format (UT1, University Toulouse Capitole; the list family RefinedWeb,
RedPajama-v2 and FineWeb use): a folder of category folders, each with
  ``domains``      one domain per line; a document is blocked when its host OR any parent
                   domain is listed (``a.b.example.com`` is checked as ``a.b.example.com``,
                   ``b.example.com``, ``example.com``) -- a few set look-ups per URL;
  ``urls``         URL prefixes without scheme (``example.com/some/path``);
  ``expressions``  regular expressions matched against the URL without scheme;
                   (UT1's ``very_restrictive_expression`` files are opt-in: they match
                   words like "teen", "gay" or "mature" and remove much benign content);
  ``usage``        "black" or "white" (informational; white lists are not blocklists).

URL words (``url_words`` file, ``word weight`` per line): a *hard* word (weight
``hard``) drops the document at once; *soft* words add their weight and the document is
dropped when the sum reaches ``soft_word_threshold``. Words are matched against URL
tokens (the URL split on non-alphanumerics), never raw substrings, so "sussex" or
"essex" do not hit "sex".
"""
from __future__ import annotations

import ipaddress
import logging
import pathlib
import re
import time
from typing import Iterable, Optional, Union
from urllib.parse import urlsplit

from pipelines.stages.base import Document, Stage, StageResult

log = logging.getLogger(__name__)

DEFAULT_BLOCKLIST_DIR = pathlib.Path(__file__).resolve().parents[1] / "resources" / "blocklist"
DEFAULT_URL_WORDS = DEFAULT_BLOCKLIST_DIR / "url_words"
# Categories removed by default: content we never want in a pretraining corpus and
# that the URL alone identifies well. Others (gambling, dating, ...) are opt-in.
DEFAULT_CATEGORIES = ("adult", "malware", "phishing")
DEFAULT_SOFT_WORD_THRESHOLD = 2.0

_TOKEN_SPLIT = re.compile(r"[^a-z0-9]+")
# squidGuard/UT1 compare URLs without the "www." / "www2." host prefix.
_WWW_PREFIX = re.compile(r"^www\d*\.")


def _read_lines(path: pathlib.Path) -> list[str]:
    """Non-empty, non-comment lines, lowercased (UT1 lists are case-insensitive)."""
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", errors="replace") as f:
        return [s for s in (line.strip().lower() for line in f) if s and not s.startswith("#")]


def parse_categories(categories: Union[None, str, Iterable[str]]) -> Optional[tuple[str, ...]]:
    """None -> defaults; "all" -> every black category; "a,b" or ["a", "b"] -> those."""
    if categories is None:
        return DEFAULT_CATEGORIES
    if isinstance(categories, str):
        categories = categories.split(",")
    names = tuple(c.strip() for c in categories if c.strip())
    if names == ("all",):
        return None  # None means "every category whose usage says black"
    return names


def load_url_words(path: Union[str, pathlib.Path]) -> tuple[frozenset[str], dict[str, float]]:
    """Parse a ``word weight`` file into (hard words, soft word -> weight)."""
    hard, soft = set(), {}
    for line in _read_lines(pathlib.Path(path)):
        parts = line.split()
        word = parts[0]
        weight = parts[1] if len(parts) > 1 else "1"
        if weight == "hard":
            hard.add(word)
            continue
        try:
            soft[word] = float(weight)
        except ValueError:
            log.warning("url_words %s: ignoring line with non-numeric weight: %r", path, line)
    return frozenset(hard), soft


class UrlFilter(Stage):
    """Drop documents whose URL is blocklisted or scores too high on URL words.

    Args:
        blocklist_dir: a UT1-format folder (e.g. the unpacked UT1 ``blacklists`` tarball).
        categories: category names, a comma-separated string, or "all" (every category
            whose ``usage`` says black). Default: adult, malware, phishing.
        use_default: also use the small blocklist embedded in pipelines/resources.
        soft_word_threshold: summed weight of soft URL words at which a URL is dropped.
        url_words_path: ``word weight`` file; default the embedded list. "" disables.
        very_restrictive: also apply UT1 ``very_restrictive_expression`` files.
    """

    name = "url_filter"

    def __init__(
        self,
        blocklist_dir: Optional[str] = None,
        categories: Union[None, str, Iterable[str]] = None,
        use_default: bool = True,
        soft_word_threshold: float = DEFAULT_SOFT_WORD_THRESHOLD,
        url_words_path: Optional[str] = None,
        very_restrictive: bool = False,
    ):
        self.blocklist_dirs = ([str(DEFAULT_BLOCKLIST_DIR)] if use_default else []) + (
            [str(blocklist_dir)] if blocklist_dir else []
        )
        self.categories = parse_categories(categories)
        self.soft_word_threshold = float(soft_word_threshold)
        self.url_words_path = str(DEFAULT_URL_WORDS) if url_words_path is None else url_words_path
        self.very_restrictive = very_restrictive
        if blocklist_dir and not pathlib.Path(blocklist_dir).is_dir():
            raise ValueError(
                f"--blocklist_dir {blocklist_dir!r} is not a folder; pass the unpacked UT1 "
                "'blacklists' folder (one sub-folder per category with domains/urls files)"
            )
        self._loaded = False

    # ---------------------------------------------------------------- loading
    def _category_dirs(self) -> list[pathlib.Path]:
        found, seen = [], set()
        for root in map(pathlib.Path, self.blocklist_dirs):
            for cat_dir in sorted(p for p in root.iterdir() if p.is_dir()):
                if self.categories is None:
                    if "black" not in _read_lines(cat_dir / "usage"):
                        continue
                elif cat_dir.name not in self.categories:
                    continue
                found.append(cat_dir)
                seen.add(cat_dir.name)
        if self.categories is not None:
            missing = [c for c in self.categories if c not in seen]
            if missing:
                available = sorted(
                    {p.name for root in map(pathlib.Path, self.blocklist_dirs) for p in root.iterdir() if p.is_dir()}
                )
                raise ValueError(
                    f"blocklist categories {missing} not found in {self.blocklist_dirs}; "
                    f"available: {available} (choose with --blocklist_categories)"
                )
        return found

    def setup(self) -> None:
        if self._loaded:
            return
        started = time.perf_counter()
        domains: set[str] = set()
        # host -> URL path prefixes under that host (UT1 urls are "host/path" prefixes).
        url_prefixes: dict[str, set[str]] = {}
        patterns: list[str] = []
        self.skipped_expressions = 0
        expression_files = ["expressions"] + (["very_restrictive_expression"] if self.very_restrictive else [])
        for cat_dir in self._category_dirs():
            for d in _read_lines(cat_dir / "domains"):
                domains.add(d.lstrip("."))
            for u in _read_lines(cat_dir / "urls"):
                host, _, rest = u.partition("/")
                url_prefixes.setdefault(_WWW_PREFIX.sub("", host), set()).add("/" + rest if rest else "")
            for name in expression_files:
                for expr in _read_lines(cat_dir / name):
                    try:
                        re.compile(expr)
                    except re.error as exc:
                        # UT1 targets POSIX regex engines; skip (and count) what Python rejects.
                        self.skipped_expressions += 1
                        log.warning("skipping blocklist expression %s/%s (%s): %.80s", cat_dir.name, name, exc, expr)
                        continue
                    patterns.append(expr)
        self._domains = frozenset(domains)
        # Longest prefixes first does not matter for a yes/no answer; sorted for determinism.
        self._url_prefixes = {h: tuple(sorted(p)) for h, p in url_prefixes.items()}
        # One alternation compiled once: a single pass over the URL instead of one per line.
        self._expression = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
        self._hard_words, self._soft_words = (
            load_url_words(self.url_words_path) if self.url_words_path else (frozenset(), {})
        )
        self._loaded = True
        log.info(
            "url_filter: %d domains, %d url prefixes, %d expressions (%d skipped), %d hard + %d soft words in %.2fs",
            len(self._domains), sum(map(len, self._url_prefixes.values())), len(patterns),
            self.skipped_expressions, len(self._hard_words), len(self._soft_words), time.perf_counter() - started,
        )

    def __getstate__(self):
        # Ship only the plain arguments; each worker loads the lists in setup().
        state = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        state["_loaded"] = False
        return state

    # ---------------------------------------------------------------- matching
    @staticmethod
    def _host_candidates(host: str) -> list[str]:
        """The host and every parent domain (for an IP address: only itself)."""
        try:
            ipaddress.ip_address(host.strip("[]"))
            return [host]
        except ValueError:
            pass
        labels = host.split(".")
        return [".".join(labels[i:]) for i in range(len(labels))]

    def process(self, doc: Document) -> StageResult:
        if not self._loaded:
            self.setup()
        try:
            parts = urlsplit(doc.url.strip())
            host = (parts.hostname or "").rstrip(".")
        except ValueError:  # e.g. malformed IPv6 brackets
            return self.drop(doc, "invalid_url")
        if not host:
            return self.drop(doc, "invalid_url")
        if not host.isascii():
            try:
                host = host.encode("idna").decode("ascii")  # UT1 stores IDNs as punycode
            except UnicodeError:
                pass
        candidates = self._host_candidates(host)
        if any(c in self._domains for c in candidates):
            return self.drop(doc, "blocklist_domain")

        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        path = path.lower()
        for c in candidates:
            prefixes = self._url_prefixes.get(_WWW_PREFIX.sub("", c))
            # "" is a whole-host entry ("example.com" in a urls file).
            if prefixes and any(path.startswith(p) for p in prefixes):
                return self.drop(doc, "blocklist_url")

        bare = _WWW_PREFIX.sub("", host) + path  # URL as UT1 writes it: no scheme, no www.
        if self._expression is not None and self._expression.search(bare):
            return self.drop(doc, "blocklist_expression")

        tokens = set(_TOKEN_SPLIT.split(bare))
        if not tokens.isdisjoint(self._hard_words):
            return self.drop(doc, "url_hard_word")
        score = float(sum(self._soft_words.get(t, 0.0) for t in tokens))
        doc.signals["url_soft_word_score"] = score
        if score >= self.soft_word_threshold:
            return self.drop(doc, "url_soft_words")
        return doc
