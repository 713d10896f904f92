"""Input resolution (--input / --crawl) and reading WARCs over HTTP from a local server."""
from __future__ import annotations

import collections
import functools
import gzip
import http.server
import os
import shutil
import socket
import threading
from pathlib import Path

import pytest

from pipelines.io.inputs import ARCHIVE_SUFFIXES, InputError, crawl_paths, resolve_inputs
from pipelines.io.warc import iter_warc_outcomes

CRAWL = "CC-TEST-2024-01"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


class _CutHandler(_QuietHandler):
    """Announces the whole file but sends only its first half: a dropped connection."""

    def do_GET(self):
        data = Path(self.translate_path(self.path)).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True


def _serve(directory: Path, handler=_QuietHandler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def cc_mirror(tmp_path_factory, shared_data):
    """A tiny Common Crawl look-alike: crawl-data/<crawl>/warc.paths.gz plus the files."""
    root = tmp_path_factory.mktemp("cc")
    sources = [shared_data / "warc" / "cc-main-2020-34-excerpt.warc.gz",
               shared_data / "warc" / "edge" / "dupes.warc.gz",
               shared_data / "warc" / "edge" / "wpull.warc.gz"]
    listed = []
    for i, src in enumerate(sources):
        rel = f"crawl-data/{CRAWL}/segments/1700000000000.{i}/warc/{CRAWL}-0000{i}.warc.gz"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(src, root / rel)
        listed.append(rel)
    # Listing order is not sorted order on purpose: "first N" must follow the listing.
    listed = [listed[2], listed[0], listed[1]]
    (root / "crawl-data" / CRAWL / "warc.paths.gz").write_bytes(gzip.compress(("\n".join(listed) + "\n").encode()))
    server, base = _serve(root)
    yield root, base, listed, dict(zip([f"{CRAWL}-0000{i}" for i in range(3)], sources))
    server.shutdown()
    server.server_close()


# ----------------------------------------------------------------------------- crawl ids

def test_crawl_id_takes_the_first_max_files_of_the_listing(cc_mirror):
    _, base, listed, _ = cc_mirror
    urls = resolve_inputs(None, crawl=CRAWL, max_files=2, cc_base_url=base)
    assert urls == sorted(f"{base}/{p}" for p in listed[:2])
    assert len(resolve_inputs(None, crawl=CRAWL, cc_base_url=base)) == len(listed)


def test_crawl_urls_read_over_http_like_the_local_files(cc_mirror):
    _, base, listed, sources = cc_mirror
    for url in resolve_inputs(None, crawl=CRAWL, max_files=2, cc_base_url=base):
        local = sources[Path(url).name[: -len(".warc.gz")]]
        remote = [(o, d.id if d else None, d.payload if d else None) for o, d in iter_warc_outcomes(url)]
        here = [(o, d.id if d else None, d.payload if d else None) for o, d in iter_warc_outcomes(str(local))]
        assert remote == here and remote
        # The crawl id is inferred from the Common Crawl style URL.
        assert all(d.crawl == CRAWL for o, d in iter_warc_outcomes(url) if d is not None)


def test_crawl_listing_from_a_file_system_path(cc_mirror):
    root, _, listed, _ = cc_mirror
    paths = crawl_paths(CRAWL, max_files=1, cc_base_url=str(root))
    assert paths == [f"{root}/{listed[0]}"] and Path(paths[0]).exists()


@pytest.mark.parametrize("bad", ["CC-MAIN-2024", "cc-main-2024-10", "2024-10", "CC-MAIN-2024-10/"])
def test_malformed_crawl_id_is_rejected_with_the_expected_form(bad):
    with pytest.raises(InputError, match="CC-MAIN-YYYY-WW"):
        resolve_inputs(None, crawl=bad)


def test_unknown_crawl_says_to_check_the_id(cc_mirror):
    _, base, _, _ = cc_mirror
    with pytest.raises(InputError, match="HTTP 404.*check the crawl id"):
        resolve_inputs(None, crawl="CC-MAIN-1999-01", cc_base_url=base)


def test_unreachable_base_url_is_an_input_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(InputError, match="cannot download"):
        resolve_inputs(None, crawl="CC-MAIN-2024-10", cc_base_url=f"http://127.0.0.1:{port}")


# ----------------------------------------------------------------------------- URLs

def test_url_inputs_are_checked_before_the_pipeline_starts(cc_mirror):
    _, base, listed, _ = cc_mirror
    assert resolve_inputs(f"{base}/{listed[0]}") == [f"{base}/{listed[0]}"]
    with pytest.raises(InputError, match="HTTP 404"):
        resolve_inputs(f"{base}/no/such.warc.gz")


def test_connection_dropped_mid_file_counts_truncated(shared_data, tmp_path):
    src = shared_data / "warc" / "iana-crawl.warc.gz"
    shutil.copy(src, tmp_path / "iana.warc.gz")
    server, base = _serve(tmp_path, _CutHandler)
    try:
        outcomes = list(iter_warc_outcomes(f"{base}/iana.warc.gz"))
    finally:
        server.shutdown()
        server.server_close()
    names = [o for o, _ in outcomes]
    full = [o for o, _ in iter_warc_outcomes(str(src))]
    assert names[-1] == "error:warc.truncated" and names.count("error:warc.truncated") == 1
    assert 0 < len(names) - 1 < len(full)
    assert names[:-1] == full[: len(names) - 1]  # the records before the cut are read as usual


def test_unopenable_url_is_one_unreadable_file_outcome(cc_mirror):
    _, base, _, _ = cc_mirror
    assert list(iter_warc_outcomes(f"{base}/missing.warc.gz")) == [("error:warc.unreadable_file", None)]


# ----------------------------------------------------------------------------- local paths

def test_folder_is_searched_recursively_for_archives(shared_data):
    folder = shared_data / "warc"
    expected = sorted(str(Path(root, name).resolve()) for root, _, names in os.walk(folder)
                      for name in names if name.endswith(ARCHIVE_SUFFIXES))
    found = resolve_inputs(str(folder))
    assert found == expected and len(found) > 5
    assert any(Path(p).parent.name == "edge" for p in found)  # subfolders are searched too
    assert not any(p.endswith("not-a-warc") for p in found)


def test_glob_comma_list_sorting_and_dedup(shared_data, monkeypatch):
    warc = shared_data / "warc"
    spec = f"{warc}/real-pages-*.warc.gz, {warc}/iana-crawl.warc.gz,{warc}/real-pages-00000.warc.gz"
    found = resolve_inputs(spec)
    assert found == sorted(set(found))
    assert len(found) == len(list(warc.glob("real-pages-*.warc.gz"))) + 1
    assert resolve_inputs(spec, max_files=2) == sorted(found)[:2]
    # relative paths come back absolute, so workers in other directories can open them
    monkeypatch.chdir(warc)
    assert resolve_inputs("iana-crawl.warc.gz") == [str(warc / "iana-crawl.warc.gz")]


@pytest.mark.parametrize("spec, message", [
    ("/no/such/file.warc.gz", "does not exist"),
    ("/no/such/dir/*.warc.gz", "matches no files"),
    ("", "no input given"),
    ("unknownfs://bucket/x.warc.gz", "cannot list"),
])
def test_bad_inputs_say_what_to_do(spec, message):
    with pytest.raises(InputError, match=message):
        resolve_inputs(spec)


def test_folder_without_archives_and_bad_max_files(tmp_path):
    (tmp_path / "notes.txt").write_text("not a warc")
    with pytest.raises(InputError, match="holds no"):
        resolve_inputs(str(tmp_path))
    with pytest.raises(InputError, match="positive"):
        resolve_inputs(str(tmp_path), max_files=0)
    assert issubclass(InputError, ValueError)


def test_crawl_and_paths_combine(cc_mirror, test_data):
    _, base, listed, _ = cc_mirror
    combined = resolve_inputs(str(test_data / "sample.warc.gz"), crawl=CRAWL, max_files=1, cc_base_url=base)
    assert combined == sorted([str(test_data / "sample.warc.gz"), f"{base}/{listed[0]}"])
    assert collections.Counter(combined).most_common(1)[0][1] == 1
