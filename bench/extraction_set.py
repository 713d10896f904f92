"""The labelled extraction set: hand labels kept as references to the shared pages.

The pages are third-party data (../shared/data/README.md: never copy them into the repo),
so ``bench/extraction_labels.jsonl`` holds no text. It holds, per page, which of the page's
numbered visible text blocks are its main content, and a short hash of each chosen
block's text; the gold main text is rebuilt here, at run time, from ../shared.

Blocks (``page_blocks``): the HTML is decoded as the clean job decodes it
(``pipelines.stages.charset.decode_html``), parsed with lxml, and walked in document
order; a new block starts whenever the walk enters or leaves a block-level element
(``BLOCK_TAGS``), so the text of one paragraph with its links and bold words is one
block. Invisible content is skipped (``<head>``, scripts, styles, ``<noscript>``,
templates, SVG, form controls, ``hidden`` and inline ``display:none``). Whitespace is
collapsed; empty blocks are not numbered. Deterministic: the same bytes give the same
blocks; a change of this code or of lxml that moves a block is caught by the hashes.

Labelling rule (docs/clean_stages.md, "Labelled extraction set"): main content is the
headline of the page's main item (once, where it is repeated), its standfirst, its body
(paragraphs, in-body subheadings, lists, tables, quotes and embedded posts, footnotes,
image captions that describe the picture) and, on a forum or Q&A thread, the posts
themselves. Not main content: bylines, datelines, photo credits and author bios; site
navigation, menus and breadcrumbs; related/"read also" links and teasers of other items,
also inside the body; comments under an article; forum signatures; share, print and
follow buttons; cookie, paywall, newsletter and subscription notices; ads; tag lists;
footers and legal boilerplate.

    .venv/bin/python bench/extraction_set.py list                 # every page: n, lang hint, blocks, URL
    .venv/bin/python bench/extraction_set.py show FILE INDEX      # a page's numbered blocks, for labelling
    .venv/bin/python bench/extraction_set.py label FILE INDEX LANG KIND RANGES   # prints a labels line
    .venv/bin/python bench/extraction_set.py check                # every label still matches its page
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import pathlib
import re
import sys
from typing import Iterator, Optional

import lxml.html

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.io.warc import iter_warc_outcomes  # noqa: E402
from pipelines.stages.charset import decode_html  # noqa: E402

SHARED = REPO.parent / "shared" / "data"


def checked_choice(parser, flag: str, value: str, allowed, rounds: int) -> list[str]:
    """The comma-separated names of ``flag``, each one of ``allowed``, with ``rounds`` >= 1;
    otherwise the parser's error (exit 2) before any page is measured."""
    names = value.split(",")
    unknown = [n for n in names if n not in allowed]
    if unknown:
        parser.error(f"{flag}: unknown {', '.join(unknown)}; choose from {', '.join(allowed)}")
    if rounds < 1:
        parser.error("--rounds must be >= 1")
    return names


def shared_missing(what: str = "") -> bool:
    """True, after printing the one JSON line the extraction benches skip with, when
    ../shared/data is absent (a user's fresh clone): their inputs are the shared pages."""
    if SHARED.is_dir():
        return False
    print(json.dumps({"skipped": f"{SHARED} is missing" + (f": {what}" if what else "")}))
    return True
LABELS = REPO / "bench" / "extraction_labels.jsonl"
# The WARCs the set draws from, relative to SHARED.
SOURCES = tuple(f"warc/real-pages-{i:05d}.warc.gz" for i in range(4)) + ("zh/zh-news-00000.warc.gz",)

BLOCK_TAGS = frozenset("""
address article aside blockquote body caption center dd details dialog dir div dl dt fieldset figcaption
figure footer form frame frameset h1 h2 h3 h4 h5 h6 header hgroup hr html legend li main menu nav ol p pre
section summary table tbody td tfoot th thead tr ul
""".split())
INVISIBLE_TAGS = frozenset("head script style noscript template svg math select option textarea button input "
                           "iframe object embed canvas audio video map".split())
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_SPACES = re.compile(r"\s+")
HASH_CHARS = 8


def block_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]


def _hidden(el) -> bool:
    return el.get("hidden") is not None or bool(_HIDDEN_STYLE.search(el.get("style") or ""))


def html_blocks(html: str) -> list[str]:
    """The visible text blocks of an HTML document, in document order (see module doc)."""
    # Parsed from UTF-8 bytes: lxml refuses a str that carries an XML encoding declaration.
    root = lxml.html.fromstring(html.encode("utf-8", "surrogatepass"),
                                parser=lxml.html.HTMLParser(encoding="utf-8", remove_comments=True))
    blocks: list[str] = []
    buffer: list[str] = []

    def flush():
        text = _SPACES.sub(" ", "".join(buffer)).strip()
        if text:
            blocks.append(text)
        buffer.clear()

    def walk(el):
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
        if tag and tag not in INVISIBLE_TAGS and not _hidden(el):
            is_block = tag in BLOCK_TAGS
            if is_block:
                flush()
            if tag == "br":
                buffer.append(" ")
            buffer.append(el.text or "")
            for child in el:
                walk(child)
            if is_block:
                flush()
            elif tag in ("td", "th"):
                buffer.append(" ")
        if el.tail:  # the tail is text of the parent, after this element
            buffer.append(el.tail)

    walk(root)
    flush()
    return blocks


def iter_pages(relative: str) -> Iterator[tuple[int, str, str, bytes, str]]:
    """(index, document id, URL, payload, http charset) of each HTML response of a shared WARC."""
    index = 0
    for outcome, doc in iter_warc_outcomes(str(SHARED / relative)):
        if doc is None:
            continue
        yield index, doc.id, doc.url, doc.payload, doc.http_charset
        index += 1


@functools.lru_cache(maxsize=8)
def _pages(relative: str) -> dict[str, tuple[int, str, bytes, str]]:
    return {doc_id: (index, url, payload, charset) for index, doc_id, url, payload, charset in iter_pages(relative)}


def page_html(relative: str, doc_id: str) -> tuple[str, str]:
    """(URL, decoded HTML) of one page, decoded as the clean job decodes it."""
    index, url, payload, charset = _pages(relative)[doc_id]
    return url, decode_html(payload, charset)[0]


def parse_ranges(ranges: str) -> list[int]:
    """"3-5,9" -> [3, 4, 5, 9]."""
    numbers: list[int] = []
    for part in ranges.split(","):
        first, _, last = part.strip().partition("-")
        numbers.extend(range(int(first), int(last or first) + 1))
    return sorted(set(numbers))


def format_ranges(numbers: list[int]) -> str:
    parts, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            parts.append(str(start) if start == n else f"{start}-{n}")
            start = None
    return ",".join(parts)


def load_labels(path: pathlib.Path = LABELS) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class LabelDrift(ValueError):
    """A page's blocks no longer match its label (other lxml, other splitter, other page)."""


def gold_text(label: dict, blocks: Optional[list[str]] = None) -> str:
    """The hand-labelled main text of a page, rebuilt from the shared WARC; raises
    LabelDrift when the page's blocks no longer match the label's hashes."""
    if blocks is None:
        blocks = html_blocks(page_html(label["warc"], label["id"])[1])
    if len(blocks) != label["blocks"]:
        raise LabelDrift(f"{label['url']}: {len(blocks)} blocks, the label was made on {label['blocks']}")
    chosen = parse_ranges(label["main"])
    hashes = label["hashes"].split()
    drifted = [n for n, h in zip(chosen, hashes) if block_hash(blocks[n]) != h]
    if drifted or len(hashes) != len(chosen):
        raise LabelDrift(f"{label['url']}: blocks {drifted} changed since labelling")
    return "\n".join(blocks[n] for n in chosen)


def make_label(relative: str, index: int, language: str, kind: str, ranges: str) -> dict:
    for i, doc_id, url, payload, charset in iter_pages(relative):
        if i == index:
            blocks = html_blocks(decode_html(payload, charset)[0])
            chosen = parse_ranges(ranges)
            if chosen[-1] >= len(blocks):
                raise SystemExit(f"block {chosen[-1]} does not exist ({len(blocks)} blocks)")
            return {"warc": relative, "id": doc_id, "url": url, "language": language, "kind": kind,
                    "blocks": len(blocks), "main": format_ranges(chosen),
                    "hashes": " ".join(block_hash(blocks[n]) for n in chosen)}
    raise SystemExit(f"{relative} has no page {index}")


def _show(relative: str, index: int, width: int) -> None:
    for i, doc_id, url, payload, charset in iter_pages(relative):
        if i != index:
            continue
        html = decode_html(payload, charset)[0]
        lang = re.search(r"<html[^>]*\blang=[\"']?([\w-]+)", html, re.I)
        print(f"# {relative} #{index} {url} lang={lang.group(1) if lang else '?'}")
        blocks = html_blocks(html)
        short: list[str] = []  # runs of short blocks (menus) on one line

        def emit_short(end):
            if short:
                first = end - len(short)
                items = [f"{first + k}:{t}" for k, t in enumerate(short)]
                if len(items) > 12:  # a long menu: its end (next to the content) matters most
                    items = items[:3] + ["…"] + items[-8:]
                print(" | ".join(items))
                short.clear()

        for n, text in enumerate(blocks):
            if len(text) < 30:
                short.append(text)
                continue
            emit_short(n)
            print(f"{n}: {text[:width]}" + (f" …[{len(text)}]" if len(text) > width else ""))
        emit_short(len(blocks))
        return


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    show = sub.add_parser("show")
    show.add_argument("warc")
    show.add_argument("index", type=int)
    show.add_argument("--width", type=int, default=110)
    label = sub.add_parser("label")
    for name in ("warc", "index", "language", "kind", "ranges"):
        label.add_argument(name, type=int if name == "index" else str)
    sub.add_parser("check")
    args = p.parse_args(argv)
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED} is missing: the extraction set is built from the shared pages")
    if args.cmd == "list":
        for relative in SOURCES:
            for index, doc_id, url, payload, charset in iter_pages(relative):
                html = decode_html(payload, charset)[0]
                lang = re.search(r"<html[^>]*\blang=[\"']?([\w-]+)", html, re.I)
                print(relative, index, lang.group(1) if lang else "?", len(html_blocks(html)), url)
    elif args.cmd == "show":
        _show(args.warc, args.index, args.width)
    elif args.cmd == "label":
        print(json.dumps(make_label(args.warc, args.index, args.language, args.kind, args.ranges), ensure_ascii=False))
    elif args.cmd == "check":
        bad = 0
        for lab in load_labels():
            try:
                gold_text(lab)
            except LabelDrift as e:
                bad += 1
                print("DRIFT", e)
        print(f"{len(load_labels()) - bad} labels match, {bad} drifted")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
