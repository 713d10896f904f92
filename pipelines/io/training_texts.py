"""Texts for training a classifier: plain text, JSONL and document Parquet, by path, glob or folder.

``read_texts(specs)`` returns the documents' texts and a count of what was read and
skipped. Formats, by file name:

- ``*.parquet``: the project's documents (pipelines/io/documents.py), the ``text`` column;
- ``*.jsonl`` / ``*.jsonl.gz``: one JSON object per line with a ``text`` field (lines that
  are not such an object are counted as ``bad_json_lines``, not fatal);
- anything else is plain UTF-8 text (``.gz`` unpacked), split by ``text_split``:
  ``line`` (one document per line), ``blank`` (blocks between blank lines), ``wikitext``
  (WikiText's ``= Title =`` / ``= = Section = =`` layout: one document per section, its
  word-level tokenization undone: ``@-@`` -> ``-``, ``<unk>`` removed, so the classifier
  learns the text, not WikiText's markup), or ``auto`` (``wikitext`` when the file has
  ``= Title =`` headings, else ``line``).

In a folder only files ending in ``.parquet``, ``.jsonl[.gz]`` or ``.txt[.gz]`` are read
(a clean job's output folder also holds stats.json and report.html).
"""
from __future__ import annotations

import collections
import glob
import gzip
import json
import os
import re
from typing import Iterator


TEXT_SPLITS = ("auto", "line", "blank", "wikitext")
FOLDER_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".txt", ".txt.gz")
_WIKI_TITLE = re.compile(r"^ = (?!=)(.+?) = $")
_WIKI_HEADING = re.compile(r"^ (?:= )+(.+?) (?:= ?)+$")
_WIKI_SECTION = re.compile(r"^ = = (?!=)(.+?) = = $")
_WIKI_JOINERS = re.compile(r" @([-,.])@ ")


def expand_paths(specs: list[str]) -> list[str]:
    """Files named by paths, globs and folders (folders: every file below, sorted)."""
    files: list[str] = []
    for spec in specs:
        if os.path.isdir(spec):
            # Only known kinds: a clean job's folder also holds stats.json, report.html, _SUCCESS.
            found = sorted(os.path.join(root, name) for root, _, names in os.walk(spec) for name in names
                           if name.endswith(FOLDER_SUFFIXES) and not name.startswith((".", "_")))
        elif any(ch in spec for ch in "*?["):
            found = sorted(p for p in glob.glob(spec, recursive=True) if os.path.isfile(p))
        else:
            found = [spec] if os.path.isfile(spec) else []
        if not found:
            raise FileNotFoundError(f"no input files at {spec!r}: pass a text/JSONL/Parquet file, a glob or a folder")
        files.extend(found)
    return list(dict.fromkeys(files))


def _open_text(path: str):
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def wikitext_documents(lines: list[str]) -> Iterator[str]:
    """WikiText sections as documents (the lead of an article is a section), markup undone."""
    current: list[str] = []
    for line in lines:
        line = line.rstrip("\n")
        if _WIKI_TITLE.match(line) or _WIKI_SECTION.match(line):
            if current:
                yield "\n".join(current)
            current = []
        heading = _WIKI_HEADING.match(line)
        text = heading.group(1) if heading else line.strip()
        text = _WIKI_JOINERS.sub(r"\1", text).replace("<unk>", "")
        text = " ".join(text.split())
        if text:
            current.append(text)
    if current:
        yield "\n".join(current)


def _text_documents(path: str, text_split: str, counts: collections.Counter) -> Iterator[str]:
    with _open_text(path) as f:
        lines = f.readlines()
    if text_split == "auto":
        text_split = "wikitext" if any(_WIKI_TITLE.match(line.rstrip("\n")) for line in lines) else "line"
    counts[f"text_files_{text_split}"] += 1
    if text_split == "wikitext":
        yield from wikitext_documents(lines)
    elif text_split == "blank":
        yield from (block.strip() for block in re.split(r"\n\s*\n", "".join(lines)))
    else:
        yield from (line.strip() for line in lines)


def _jsonl_documents(path: str, counts: collections.Counter) -> Iterator[str]:
    with _open_text(path) as f:
        for line in f:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                counts["bad_json_lines"] += 1
                continue
            yield obj["text"]


def read_texts(specs: list[str], text_split: str = "auto") -> tuple[list[str], collections.Counter]:
    """Non-empty texts of every document under ``specs``, and counts of files and skips."""
    if text_split not in TEXT_SPLITS:
        raise ValueError(f"text_split must be one of {list(TEXT_SPLITS)}, got {text_split!r}")
    counts: collections.Counter = collections.Counter()
    texts: list[str] = []
    for path in expand_paths(specs):
        name = path[:-3] if path.endswith(".gz") else path
        if name.endswith(".parquet"):
            # Imported here: pipelines.io.documents pulls in Beam (seconds), text/JSONL need none of it.
            from pipelines.io.documents import expand_document_inputs, iter_parquet_documents

            expand_document_inputs([path])  # footer check: a foreign file fails here, named
            docs = (d.text for d in iter_parquet_documents(path))
        elif name.endswith(".jsonl"):
            docs = _jsonl_documents(path, counts)
        else:
            docs = _text_documents(path, text_split, counts)
        counts["files"] += 1
        for text in docs:
            if text.strip():
                texts.append(text)
            else:
                counts["empty_documents"] += 1
    counts["documents"] = len(texts)
    return texts, counts
