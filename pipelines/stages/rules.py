"""Quality thresholds as data: each rule is one row, one function applies a table of them.

A document-level quality stage first computes its signals and stores them on
``doc.signals``, then asks :func:`first_failing_rule` which row, in table order, the
document fails. Keeping the thresholds in rows (instead of one ``if`` per rule) makes the
order of the checks, the parameter behind each one and its drop reason readable in one
place, and makes "null switches the rule off" hold for every rule the same way.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping, Optional

MIN = "min"  # the document fails when its signal is below the limit
MAX = "max"  # the document fails when its signal is above the limit


@dataclasses.dataclass(frozen=True)
class Rule:
    """One threshold: ``signal`` must stay on the right side of the limit in ``param``.

    A null limit in the config switches the rule off. ``key`` reads the limit from a
    mapping parameter (the n-gram tables: ``params["top_n_grams"][2]``). ``exempt`` is a
    signal value that means "not measured" (the Gopher stop-word count is -1 for a
    language without a list), so the rule is skipped; with ``exempt_if`` that holds only
    when that boolean parameter is true (FineWeb's ``line_punct_exclude_zero``).
    """

    param: str
    signal: str
    reason: str
    bound: str
    key: Any = None
    exempt: Optional[float] = None
    exempt_if: Optional[str] = None

    def __post_init__(self) -> None:
        # A misspelt bound would silently never fail: refuse it when the table is built.
        if self.bound not in (MIN, MAX):
            raise ValueError(f"rule {self.reason}: bound must be {MIN!r} or {MAX!r}, got {self.bound!r}")

    def limit(self, params: Mapping[str, Any]) -> Optional[float]:
        value = params[self.param]
        if self.key is not None:
            value = (value or {}).get(self.key)
        return value

    def fails(self, signals: Mapping[str, float], params: Mapping[str, Any]) -> bool:
        limit = self.limit(params)
        if limit is None:
            return False
        value = signals[self.signal]
        if self.exempt is not None and value == self.exempt and (self.exempt_if is None or params[self.exempt_if]):
            return False
        return value < limit if self.bound == MIN else value > limit


def first_failing_rule(signals: Mapping[str, float], rules: Iterable[Rule],
                       params: Mapping[str, Any]) -> Optional[str]:
    """Drop reason of the first rule (in table order) the signals fail; None when all pass."""
    for rule in rules:
        if rule.fails(signals, params):
            return rule.reason
    return None
