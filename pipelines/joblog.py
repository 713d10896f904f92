"""Logs people can read: one format, Beam's known noise dropped, and a short summary at
the end of every job.

Beam prints, per process, warnings that say nothing about the user's run ("apitools not
found", "No semi_persistent_directory found", "Discarding unparseable args", and the
DirectRunner's relay of each worker's copy of them). ``BeamNoiseFilter`` drops exactly
those messages; everything else, Beam's real warnings included, still shows.
"""
from __future__ import annotations

import logging
import time
from typing import Optional

# Substrings of messages that carry no information for a user of these jobs.
BEAM_NOISE = (
    "apitools not found",
    "No semi_persistent_directory found",
    "Discarding unparseable args",
    "Missing pipeline option (runner)",
    "Logging handler created",
)
NOISY_LOGGERS = ("trafilatura", "htmldate", "courlan", "apache_beam", "distributed", "numba")
TOP_REASONS = 5


class BeamNoiseFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to judge
            return True
        return not any(noise in message for noise in BEAM_NOISE)


_FILTER = BeamNoiseFilter()


def install_noise_filter() -> None:
    """Drop Beam's noise on the root logger and its handlers (idempotent). Called when the
    package is imported, before Beam's own import-time warnings are logged."""
    root = logging.getLogger()
    if _FILTER not in root.filters:
        root.addFilter(_FILTER)
    for handler in root.handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)


def setup(level: int = logging.INFO) -> float:
    """Configure logging for a job's main(); returns the start time for ``log_summary``."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    install_noise_filter()
    return time.monotonic()


def _top(reasons: dict, n: int = TOP_REASONS) -> str:
    top = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    more = len(reasons) - len(top)
    return ", ".join(f"{k} {v:,}" for k, v in top) + (f", +{more} more" if more > 0 else "")


def summary_lines(job: str, stats: Optional[dict], seconds: float, output: str) -> list[str]:
    """A few lines a person reads at the end of a job: what came in, what was kept and
    why the rest went, how long it took, where the output is."""
    stats = stats or {}
    lines = [f"{job}: done in {seconds:.1f} s; output in {output}"]
    if "records_read" in stats:
        lines.append(f"{job}: {stats['records_read']:,} records read, {stats['documents_kept']:,} documents kept")
    elif "documents_in" in stats:
        lines.append(f"{job}: {stats['documents_in']:,} documents in, {stats['documents_kept']:,} kept")
    if stats.get("dropped"):
        lines.append(f"{job}: dropped {sum(stats['dropped'].values()):,}: {_top(stats['dropped'])}")
    if stats.get("errors"):
        lines.append(f"{job}: errors {sum(stats['errors'].values()):,}: {_top(stats['errors'])}")
    if "tokens" in stats:
        lines.append(f"{job}: {stats['tokens']:,} tokens in {stats.get('documents', 0):,} documents")
    return lines


def log_summary(job: str, stats: Optional[dict], started: float, output: str) -> None:
    log = logging.getLogger(f"pipelines.{job}")
    for line in summary_lines(job, stats, time.monotonic() - started, output):
        log.info("%s", line)
