"""UrlFilter against the real UT1 lists in ../shared/data/blocklists/ut1 and the embedded default."""
from __future__ import annotations

import pickle
import re

import pytest

from pipelines.stages.base import Document, Drop
from pipelines.stages.url_filter import UrlFilter


def outcome(stage: UrlFilter, url: str) -> str:
    result = stage.process(Document(id="t", url=url))
    return result.reason if isinstance(result, Drop) else "kept"


def first_entries(path, n):
    """The first n real entries of a UT1 list file (skipping comments)."""
    lines = [l.strip() for l in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    return [l for l in lines if l and not l.startswith("#")][:n]


@pytest.fixture(scope="module")
def ut1(shared_data):
    return shared_data / "blocklists" / "ut1"


def test_real_domains_and_parent_domains_are_blocked(ut1):
    stage = UrlFilter(blocklist_dir=str(ut1), categories=["gambling", "dating"], use_default=False)
    stage.setup()
    for domain in first_entries(ut1 / "gambling" / "domains", 5) + first_entries(ut1 / "dating" / "domains", 5):
        assert outcome(stage, f"https://{domain}/") == "blocklist_domain", domain
        # Any sub-domain of a listed domain is blocked through its parent.
        assert outcome(stage, f"http://www.news.{domain}/page?id=3") == "blocklist_domain", domain
        # A domain that merely ends with the same characters is not a sub-domain.
        assert outcome(stage, f"https://not{domain}/") != "blocklist_domain", domain


def test_real_url_prefixes_are_blocked(ut1):
    stage = UrlFilter(blocklist_dir=str(ut1), categories=["malware"], use_default=False)
    stage.setup()
    entries = [e for e in first_entries(ut1 / "malware" / "urls", 200) if "/" in e][:5]
    assert entries, "the malware urls list should contain host/path prefixes"
    for entry in entries:
        assert outcome(stage, f"https://{entry}") == "blocklist_url", entry
        assert outcome(stage, f"http://www.{entry}/deeper/page.html") == "blocklist_url", entry
        host = entry.split("/", 1)[0]
        # Same host, unrelated path: a prefix list must not block the whole host.
        assert outcome(stage, f"https://{host}/zz-unlisted-path-42") == "kept", entry


def test_category_selection(ut1):
    gambling_domain = first_entries(ut1 / "gambling" / "domains", 1)[0]
    only_dating = UrlFilter(blocklist_dir=str(ut1), categories="dating", use_default=False)
    assert outcome(only_dating, f"https://{gambling_domain}/") == "kept"
    everything = UrlFilter(blocklist_dir=str(ut1), categories="all", use_default=False)
    assert outcome(everything, f"https://{gambling_domain}/") == "blocklist_domain"
    with pytest.raises(ValueError, match="available"):
        UrlFilter(blocklist_dir=str(ut1), categories=["no_such_category"]).setup()
    with pytest.raises(ValueError, match="blocklist_dir"):
        UrlFilter(blocklist_dir=str(ut1 / "does-not-exist"))


def test_real_ut1_expressions_compile_and_match(ut1):
    # The malware expression is a bare-IP "search" landing-page pattern.
    expr = first_entries(ut1 / "malware" / "expressions", 1)[0]
    re.compile(expr)
    stage = UrlFilter(blocklist_dir=str(ut1), categories=["malware"], use_default=False, url_words_path="")
    stage.setup()
    assert stage.skipped_expressions == 0
    assert outcome(stage, "http://203.0.113.7/search?q=12345") == "blocklist_expression"
    assert outcome(stage, "http://203.0.113.7/search?q=cats") == "kept"
    # The very restrictive adult expressions are opt-in: they also hit benign URLs.
    strict = UrlFilter(blocklist_dir=str(ut1), categories=["adult"], use_default=False, very_restrictive=True)
    normal = UrlFilter(blocklist_dir=str(ut1), categories=["adult"], use_default=False)
    benign = "https://www.example.org/adult-education/courses"
    assert outcome(strict, benign) == "blocklist_expression"
    assert outcome(normal, benign) == "kept"


def test_benign_real_urls_pass(shared_data, ut1):
    from warcio.archiveiterator import ArchiveIterator

    urls = []
    with open(shared_data / "warc" / "real-pages-00000.warc.gz", "rb") as f:
        for record in ArchiveIterator(f):
            if record.rec_type == "response":
                urls.append(record.rec_headers.get_header("WARC-Target-URI"))
    stage = UrlFilter(blocklist_dir=str(ut1))  # defaults: adult, malware, phishing
    kept = [u for u in urls if outcome(stage, u) == "kept"]
    # News, blogs and government pages: the filter must keep (nearly) all of them.
    assert len(kept) >= 0.97 * len(urls), [u for u in urls if u not in kept]


def test_url_words_match_tokens_not_substrings():
    stage = UrlFilter()  # embedded default list + url_words
    assert outcome(stage, "http://www.sussex.ac.uk/news/essex") == "kept"
    assert outcome(stage, "https://example.com/sex-education-for-parents") == "kept"  # one soft word
    assert outcome(stage, "https://example.com/free-porn-videos") == "url_hard_word"
    assert outcome(stage, "https://example.com/hot-teen-sex-nude") == "url_soft_words"
    doc = Document(id="x", url="https://example.com/sex-education")
    stage.process(doc)
    assert doc.signals["url_soft_word_score"] == 1.0  # "sex 1" in the embedded url_words
    relaxed = UrlFilter(soft_word_threshold=10)
    assert outcome(relaxed, "https://example.com/hot-teen-sex-nude") == "kept"


def test_embedded_default_and_invalid_urls():
    stage = UrlFilter()
    assert outcome(stage, "https://de.xhamster.com/videos/x") == "blocklist_domain"
    assert outcome(stage, "https://testsafebrowsing.appspot.com/s/phishing.html") == "blocklist_url"
    assert outcome(stage, "https://www.mypornsite.net/") == "blocklist_expression"
    for bad in ["", "not a url", "http://[::1", "mailto:someone"]:
        assert outcome(stage, bad) == "invalid_url", bad


def test_pickles_without_loaded_lists(ut1):
    stage = UrlFilter(blocklist_dir=str(ut1))
    stage.setup()
    clone = pickle.loads(pickle.dumps(stage))
    assert "_domains" not in clone.__dict__  # lists are re-loaded per worker, not shipped
    assert outcome(clone, "https://www.pornhub.com/") == "blocklist_domain"
