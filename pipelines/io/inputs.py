"""Turn what the user typed (``--input``, ``--crawl``) into a sorted list of WARC files.

``--input`` accepts, comma-separated: a file, a folder (every *.warc, *.warc.gz, *.arc,
*.arc.gz below it, recursively), a glob (``data/*.warc.gz``, ``gs://bucket/cc/**``),
an http(s):// URL, or any path Beam's FileSystems knows (gs://, s3://, hdfs://, ...).

``--crawl CC-MAIN-2024-10`` reads ``<cc_base_url>/crawl-data/<crawl>/warc.paths.gz``
and takes the FIRST ``max_files`` paths in the order Common Crawl lists them (sorted
by segment, then file number). That choice is deterministic and the listing never
changes for a published crawl, so ``--crawl X --max_files 10`` names the same ten
files on every machine and every rerun; it is a slice of a few segments, not a random
sample of the crawl. ``cc_base_url`` may be https://data.commoncrawl.org (default),
``s3://commoncrawl`` or a mirror.

Every failure raises :class:`InputError` with a message that says what to do.
"""
from __future__ import annotations

import glob
import gzip
import logging
import os
import re
import urllib.error
import urllib.request
from typing import Optional

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

log = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")
CRAWL_ID_RE = re.compile(r"^CC-[A-Z]+-\d{4}-\d{2}$")
DEFAULT_CC_BASE_URL = "https://data.commoncrawl.org"
HTTP_TIMEOUT_S = 30
_GLOB_CHARS = "*?["


class InputError(ValueError):
    """The input specification cannot be resolved; the message says how to fix it."""


def resolve_inputs(input_spec: Optional[str], crawl: Optional[str] = None,
                   max_files: Optional[int] = None,
                   cc_base_url: str = DEFAULT_CC_BASE_URL) -> list[str]:
    """Sorted, de-duplicated list of WARC/ARC paths or URLs.

    ``max_files`` keeps the first N crawl paths in listing order (see module doc) and
    the first N of the sorted ``input_spec`` files, so a quick run stays quick.
    """
    if max_files is not None and max_files < 1:
        raise InputError(f"--max_files must be a positive number of files, got {max_files}")
    if not (input_spec and input_spec.strip()) and not crawl:
        raise InputError("no input given: pass --input (a WARC file, folder, glob or URL, "
                         "comma-separated) or --crawl (a Common Crawl id like CC-MAIN-2024-10)")
    files: list[str] = []
    if input_spec and input_spec.strip():
        local: list[str] = []
        for part in input_spec.split(","):
            part = part.strip()
            if part:
                local.extend(_resolve_one(part))
        local = sorted(set(local))
        files.extend(local[:max_files] if max_files else local)
    if crawl:
        files.extend(crawl_paths(crawl, max_files=max_files, cc_base_url=cc_base_url))
    return sorted(set(files))


def crawl_paths(crawl: str, max_files: Optional[int] = None,
                cc_base_url: str = DEFAULT_CC_BASE_URL) -> list[str]:
    """Full URLs of the first ``max_files`` WARC files of a Common Crawl crawl."""
    crawl = crawl.strip()
    if not CRAWL_ID_RE.match(crawl):
        raise InputError(f"--crawl {crawl!r} is not a Common Crawl id: use the form CC-MAIN-YYYY-WW, "
                         "e.g. CC-MAIN-2024-10 (see https://commoncrawl.org/overview for the list)")
    base = cc_base_url.rstrip("/")
    listing = f"{base}/crawl-data/{crawl}/warc.paths.gz"
    data = _fetch(listing, what=f"the WARC listing of crawl {crawl}",
                  hint=f"check the crawl id (is {crawl} published?) and --cc_base_url")
    try:
        text = gzip.decompress(data).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"{listing} is not a gzip-compressed list of paths ({exc}); "
                         "check --cc_base_url points at a Common Crawl mirror") from exc
    paths = [line.strip() for line in text.splitlines() if line.strip()]
    if not paths:
        raise InputError(f"{listing} lists no WARC files; check the crawl id")
    chosen = paths[:max_files] if max_files else paths
    log.info("crawl %s: %d WARC files listed, using %d", crawl, len(paths), len(chosen))
    return [f"{base}/{path.lstrip('/')}" for path in chosen]


def _is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def _has_scheme(spec: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", spec))


def _is_archive(path: str) -> bool:
    return path.lower().endswith(ARCHIVE_SUFFIXES)


def _resolve_one(spec: str) -> list[str]:
    if _is_url(spec):
        _check_url(spec)
        return [spec]
    if _has_scheme(spec):
        return _resolve_remote(spec)
    return _resolve_local(spec)


def _resolve_local(spec: str) -> list[str]:
    path = os.path.expanduser(spec)
    if any(ch in path for ch in _GLOB_CHARS):
        found = [p for p in glob.glob(path, recursive=True) if os.path.isfile(p)]
        if not found:
            raise InputError(f"the glob {spec!r} matches no files; check the pattern "
                             "(quote it so the shell does not expand it)")
        return [os.path.abspath(p) for p in found]
    if os.path.isdir(path):
        found = [os.path.join(root, name) for root, _, names in os.walk(path) for name in names
                 if _is_archive(name)]
        if not found:
            raise InputError(f"the folder {spec!r} holds no {', '.join(ARCHIVE_SUFFIXES)} files; "
                             "pass the folder that contains the WARC files")
        return [os.path.abspath(p) for p in found]
    if os.path.isfile(path):
        return [os.path.abspath(path)]
    raise InputError(f"input {spec!r} does not exist; pass an existing WARC file, folder, glob or URL")


def _resolve_remote(spec: str) -> list[str]:
    """gs://, s3://, hdfs:// ...: a file, a glob, or a folder (prefix), via Beam FileSystems."""
    try:
        if any(ch in spec for ch in _GLOB_CHARS):
            found = _match(spec)
            if not found:
                raise InputError(f"the glob {spec!r} matches no files; check the pattern and your credentials")
            return found
        if not spec.endswith("/") and FileSystems.exists(spec):
            return [spec]  # an object; object stores report prefixes ("folders") as absent
        found = [p for p in _match(spec.rstrip("/") + "/**") if _is_archive(p)]
    except InputError:
        raise
    except Exception as exc:  # unknown scheme, missing client library, no credentials
        raise InputError(f"cannot list {spec!r}: {exc}. Install the Beam extra for this file system "
                         "(e.g. apache-beam[gcp] for gs://, apache-beam[aws] for s3://) and check access") from exc
    if not found:
        raise InputError(f"no WARC/ARC files at {spec!r}; pass an existing file, folder or glob")
    return found


def _match(pattern: str) -> list[str]:
    return [m.path for m in FileSystems.match([pattern])[0].metadata_list]


def _check_url(url: str) -> None:
    """Fail early (before a pipeline starts) on an URL that cannot be fetched."""
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S):
            return
    except urllib.error.HTTPError as exc:
        if exc.code not in (403, 405, 501):  # some servers refuse HEAD but serve GET
            raise InputError(f"{url} answered HTTP {exc.code}; check the URL") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise InputError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}; check the URL "
                         "and the network (or download the file and pass its path)") from exc
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Range": "bytes=0-0"}),
                                    timeout=HTTP_TIMEOUT_S):
            return
    except (urllib.error.URLError, OSError) as exc:
        raise InputError(f"cannot fetch {url}: {getattr(exc, 'reason', exc)}; check the URL") from exc


def _fetch(location: str, what: str, hint: str) -> bytes:
    """Whole small object (a path listing) from http(s) or any Beam file system."""
    try:
        if _is_url(location):
            with urllib.request.urlopen(location, timeout=HTTP_TIMEOUT_S) as response:
                return response.read()
        with FileSystems.open(location, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            return f.read()
    except urllib.error.HTTPError as exc:
        raise InputError(f"cannot download {what} from {location}: HTTP {exc.code}; {hint}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise InputError(f"cannot download {what} from {location}: {getattr(exc, 'reason', exc)}; "
                         f"{hint}, and check the network") from exc
    except Exception as exc:  # Beam file system errors (BeamIOError, missing extra)
        raise InputError(f"cannot read {what} from {location}: {exc}; {hint}") from exc
