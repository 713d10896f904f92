"""Completion markers: nothing half-written may look finished.

Every job, when it starts, deletes its old ``_SUCCESS``, ``stats.json`` and
``report.html`` (``begin``), and writes ``OUTPUT/_SUCCESS`` last (``write_success``):
JSON with the job name, the package version, the flags, the input folders with the
SHA-256 of their own ``_SUCCESS``, and the headline counts. A folder without it is
unfinished, whatever else it holds.

A job reading another job's output goes through ``resolve_input``:
* an output root (``CLEAN``) reads that job's main output (``CLEAN/documents``), never
  ``removed/``;
* a folder written by one of our jobs without ``_SUCCESS`` is refused with
  :class:`IncompleteInputError` (the job exits 2 saying what to do), unless the user
  passes ``--allow_incomplete_input``;
* anything else (the user's own Parquet files, a glob) is read as given.

``_SUCCESS`` holds no time stamp: a step rerun on the same inputs with the same flags
writes the same bytes, so the digests chain like ``make``'s dependencies
(``pipelines.run`` skips a step whose marker matches what it would be run with).
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import tempfile
from importlib import metadata
from typing import Any, Iterable, Optional


SUCCESS_NAME = "_SUCCESS"
STALE_ON_START = (SUCCESS_NAME, "stats.json", "report.html")
# Where a job's main output lies inside its output root ("" = the root itself).
MAIN_OUTPUT = "documents"
# Files that only our jobs write at the top of an output root, and shard names that only
# our writers use: how an unfinished folder of ours is told from the user's own files.
_OUR_ROOT_FILES = ("stats.json", "manifest.json", "tokenizer.model", "run_config.json")
_OUR_SHARD_GLOBS = ("part-*-of-*.parquet", "*-train-*-of-*.arrow")


class IncompleteInputError(ValueError):
    """An input folder written by one of our jobs that has no ``_SUCCESS``."""


def package_version() -> str:
    try:
        return metadata.version("corpus-pipeline")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


# --- files: local paths through os, remote ones (gs://, s3://) through Beam's filesystem
# layer, imported only then: the trainer writes and checks markers too, without Beam.

def _remote(path: str) -> bool:
    return "://" in path


def _beam_fs():
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


def _join(folder: str, *names: str) -> str:
    return _beam_fs().join(folder, *names) if _remote(folder) else os.path.join(folder, *names)


def _exists(path: str) -> bool:
    if not _remote(path):
        return os.path.exists(path)
    try:
        return _beam_fs().exists(path)
    except Exception:  # an unreachable remote path is "not there" for this purpose
        return False


def _matches(pattern: str) -> bool:
    if not _remote(pattern):
        return bool(glob.glob(pattern))
    try:
        return any(r.metadata_list for r in _beam_fs().match([pattern]))
    except Exception:
        return False


def _read(path: str) -> bytes:
    if not _remote(path):
        with open(path, "rb") as f:
            return f.read()
    with _beam_fs().open(path) as f:
        return f.read()


def _write(path: str, data: bytes) -> None:
    if not _remote(path):
        # Written beside, then renamed: a kill mid-write never leaves a half marker.
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
        return
    with _beam_fs().create(path) as f:
        f.write(data)


def _delete(paths: list[str]) -> None:
    local = [p for p in paths if not _remote(p)]
    for path in local:
        os.remove(path)
    if len(local) < len(paths):
        _beam_fs().delete([p for p in paths if _remote(p)])


def begin(output: str, extra: Iterable[str] = ()) -> None:
    """Delete the marker, stats.json and report.html of an earlier run in ``output`` (and
    the job's ``extra`` files), so a run killed after this point can never look finished
    and no file of the earlier run is read as this run's."""
    stale = [p for p in (_join(output, n) for n in (*STALE_ON_START, *extra)) if _exists(p)]
    if stale:
        _delete(stale)


def success_path(folder: str) -> str:
    return _join(folder, SUCCESS_NAME)


def _read_json(path: str) -> Optional[dict]:
    """A small JSON file as data, or None when it is missing or not JSON."""
    if not _exists(path):
        return None
    try:
        return json.loads(_read(path).decode("utf-8"))
    except (ValueError, OSError):
        return None


def read_success(folder: str) -> Optional[dict]:
    """The marker of ``folder`` as a dict, or None when there is none (or it is not JSON)."""
    return _read_json(success_path(folder))


def success_digest(folder: str) -> Optional[str]:
    path = success_path(folder)
    return hashlib.sha256(_read(path)).hexdigest() if _exists(path) else None


def jsonable_flags(args: Any, beam_args: Iterable[str] = ()) -> dict:
    """A job's parsed flags (an argparse Namespace or a dict) as plain JSON values, sorted,
    plus the Beam arguments it passed through."""
    items = vars(args).items() if not isinstance(args, dict) else args.items()
    flags = {}
    for key, value in sorted(items):
        if isinstance(value, (str, int, float, bool)) or value is None:
            flags[key] = value
        elif isinstance(value, (list, tuple)):
            flags[key] = [v if isinstance(v, (str, int, float, bool)) else str(v) for v in value]
        else:
            flags[key] = str(value)
    beam_args = list(beam_args)
    if beam_args:
        flags["beam_args"] = beam_args
    return flags


def write_success(output: str, job: str, flags: dict, inputs: Iterable[str], counts: dict) -> str:
    """Write ``output/_SUCCESS`` (call it last: everything it vouches for is written)."""
    record = {
        "job": job,
        "version": package_version(),
        "flags": flags,
        "inputs": [{"path": p, "success_sha256": success_digest(p)} for p in inputs],
        "counts": counts,
    }
    data = (json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    _write(success_path(output), data)
    return success_path(output)


def _is_ours(folder: str, main_output: str = "") -> bool:
    """Whether ``folder`` was written by one of our jobs, finished or not: it holds a file
    only our jobs write, or shards named as only our writers name them (also in its
    main-output sub-folder, for a job killed before it wrote anything else)."""
    if any(_exists(_join(folder, n)) for n in (SUCCESS_NAME,) + _OUR_ROOT_FILES):
        return True
    folders = [folder] + ([_join(folder, main_output)] if main_output else [])
    return any(_matches(_join(f, g)) for f in folders for g in _OUR_SHARD_GLOBS)


def _looks_like_glob_or_file(spec: str) -> bool:
    return any(ch in spec for ch in "*?[") or spec.endswith((".parquet", ".arrow", ".json", ".model"))


def _has_main_output(folder: str, main_output: str) -> bool:
    # A match, not exists(): on gs:// and s3:// a "folder" is no object of its own.
    return _matches(_join(folder, main_output, "*"))


def _owning_root(folder: str, main_output: str) -> Optional[str]:
    """The job output root that ``folder`` is (or whose main output it is), or None for a
    folder that is not ours."""
    parent, _, name = folder.rpartition("/")
    if main_output and _is_ours(folder, main_output) and _has_main_output(folder, main_output):
        return folder
    if main_output and name == main_output and parent and _is_ours(parent, main_output):
        return parent  # CLEAN/documents: the marker is CLEAN/_SUCCESS
    if _is_ours(folder):
        return folder
    return None


def resolve_input(spec: str, allow_incomplete: bool = False, main_output: str = MAIN_OUTPUT) -> tuple[str, Optional[str]]:
    """(what to read, the job output root it belongs to or None) for one ``--input`` value.

    ``main_output`` is the sub-folder holding the producing job's main output
    (``documents`` for clean and dedup; ``""`` for shards and tokenizers, read from the
    root itself). A glob or a file is judged by the folder it lies in, so
    ``CLEAN/documents/*.parquet`` of an unfinished job is refused like ``CLEAN``.
    """
    spec = spec.rstrip("/")
    if not spec:
        return spec, None
    if _looks_like_glob_or_file(spec):
        read, root = spec, _owning_root(spec.rpartition("/")[0] or ".", main_output)
    else:
        root = _owning_root(spec, main_output)
        read = spec
        if root == spec and main_output:
            if _has_main_output(spec, main_output):
                read = _join(spec, main_output)  # an output root reads its main output only, never removed/
            elif not any(_matches(_join(spec, g)) for g in _OUR_SHARD_GLOBS):
                job = (read_success(spec) or {}).get("job", "one of our jobs")
                raise ValueError(f"{spec} is an output of {job} with no {main_output}/ to read: pass the output "
                                 "of the clean or dedup job")
    if root is None:
        return spec, None  # the user's own files
    if not allow_incomplete and read_success(root) is None:
        raise IncompleteInputError(
            f"{root} has no {SUCCESS_NAME}: the job that writes it did not finish (killed, failed, or "
            f"still running). Rerun that job into {root}, or pass --allow_incomplete_input to read "
            "what is there anyway")
    return read, root


def check_not_inside_inputs(output: str, roots: Iterable[str]) -> None:
    """An output that is an input root, or inside or around one, would delete what the job
    is about to read (every job clears its outputs first)."""
    out = _normalized(output)
    for root in roots:
        r = _normalized(root)
        if out == r or out.startswith(r + "/") or r.startswith(out + "/"):
            raise ValueError(f"--output {output} overlaps the input {root}: give an output folder of its own")


def _normalized(path: str) -> str:
    return path.rstrip("/") if _remote(path) else os.path.abspath(path)


def check_output(output: str) -> None:
    """Fail before any work on an output that cannot be one: an existing file, or a local
    folder that cannot be created or written. Raises ValueError with what to do."""
    if _remote(output):
        return  # remote filesystems report permissions when the job writes

    if os.path.isfile(output):
        raise ValueError(f"--output {output} is an existing file: give a folder")
    try:
        os.makedirs(output, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=output, prefix=".write-check-"):
            pass
    except OSError as e:
        raise ValueError(f"--output {output} cannot be written ({e.strerror}): give a folder you can write to") from None


def read_stats(output: str) -> Optional[dict]:
    return _read_json(_join(output, "stats.json"))


HEADLINE_KEYS = ("records_read", "documents_in", "documents_kept", "documents", "tokens", "vocab_size",
                 "training_documents")


def headline_counts(stats: Optional[dict]) -> dict:
    """The few numbers of a job's stats that a person (and the run report) looks at first."""
    stats = stats or {}
    counts = {k: stats[k] for k in HEADLINE_KEYS if k in stats}
    if isinstance(stats.get("dropped"), dict):
        counts["dropped"] = sum(stats["dropped"].values())
    if isinstance(stats.get("errors"), dict):
        counts["errors"] = sum(stats["errors"].values())
    return counts


def finish(output: str, job: str, flags: dict, inputs: Iterable[str], started: float,
           stats: Optional[dict] = None) -> str:
    """The end of every job: write ``_SUCCESS`` (last), then the summary lines."""
    from pipelines import joblog

    stats = stats if stats is not None else read_stats(output)
    path = write_success(output, job, flags, inputs, headline_counts(stats))
    joblog.log_summary(job, stats, started, output)
    return path


def resolve_inputs(specs: Iterable[str], allow_incomplete: bool = False,
                   main_output: str = MAIN_OUTPUT) -> tuple[list[str], list[str]]:
    """``resolve_input`` for every spec: (what to read, the job output roots they came from)."""
    reads, roots = [], []
    for spec in specs:
        read, root = resolve_input(spec, allow_incomplete, main_output)
        reads.append(read)
        if root is not None and root not in roots:
            roots.append(root)
    return reads, roots
