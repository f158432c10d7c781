"""The Mission Experience report read off the windows' counters: the experience per window (in all, by
role or by source), the top drivers, the hand-off matrix, failed and recovered gifts, value at risk.
Pure. Every figure is defined in docs/reports.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from services.domain.report.contributions import ALL, BINS
from services.domain.report.counters import granularity_of, window_bounds
from services.domain.report.handoff_matrix import TOOK_BUCKETS
from services.domain.scoring_model import DIMENSIONS

By = Literal["role", "source"] | None
OUTCOMES = ("triggered", "in_time", "late", "broken", "cancelled", "pending")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def total(windows: Iterable[Counter[str]]) -> Counter[str]:
    summed: Counter[str] = Counter()
    for counted in windows:
        summed.update(counted)
    return summed


def experience_rows(windows: dict[str, Counter[str]], by: By = None) -> list[dict[str, Any]]:
    """One row per window (and group): people with a touchpoint in it, their mean window scores and the
    distribution of the overall one, oldest window first."""
    rows = []
    for window in sorted(windows, key=lambda w: window_bounds(w)[0]):
        counted = windows[window]
        start, _ = window_bounds(window)
        prefix = f"{by}:" if by else None
        groups = sorted(
            name.split("|", 1)[1]
            for name, value in counted.items()
            if name.startswith("people|") and value > 0 and (
                name == f"people|{ALL}" if prefix is None else name.startswith(f"people|{prefix}")
            )
        )  # fmt: skip
        for group in groups:
            people = counted[f"people|{group}"]
            row: dict[str, Any] = {
                "window": window,
                "granularity": granularity_of(window),
                "start": _iso(start),
                "people": people,
                "mean": {
                    name: round(counted[f"sum|{group}|{name}"] / people / 100, 2)
                    for name in ("overall", *DIMENSIONS)
                },
                "histogram": [counted[f"hist|{group}|{n}"] for n in range(BINS)],
            }
            if by:
                row[by] = group.split(":", 1)[1]
            rows.append(row)
    return rows


def drivers(counted: Counter[str], top: int = 5) -> dict[str, list[dict[str, Any]]]:
    """The event types that added and took away the most weighted points (the ``explain`` arithmetic,
    summed over everyone), with how many events."""
    rows: list[dict[str, Any]] = []
    for name, value in counted.items():
        if name.startswith("driver|") and name.endswith("|points"):
            event_type = name.split("|")[1]
            rows.append(
                {"type": event_type, "points": value / 1000, "events": counted[f"driver|{event_type}|events"]}
            )
    negative = sorted((r for r in rows if r["points"] < 0), key=lambda r: float(r["points"]))[:top]
    positive = sorted((r for r in rows if r["points"] > 0), key=lambda r: -float(r["points"]))[:top]
    return {"negative": negative, "positive": positive}


def _quantile(buckets: Counter[int], q: float) -> float | None:
    """The upper bound (seconds) of the bucket the q-quantile falls in; None when beyond the last."""
    count = sum(buckets.values())
    if not count:
        return None
    running = 0
    for bound in (*TOOK_BUCKETS, 0):
        running += buckets[bound]
        if running >= q * count:
            return float(bound) if bound else None
    return None


def handoff_matrix(counted: Counter[str]) -> list[dict[str, Any]]:
    """Per rule and department pair: the hand-offs triggered, how they ended, and p50/p90 of the time to
    the follow-up (a bucket's upper bound)."""
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    took: dict[tuple[str, str], Counter[int]] = {}
    for name, value in counted.items():
        parts = name.split("|")
        if parts[0] != "handoff":
            continue
        key = (parts[1], parts[2])
        cell = cells.setdefault(
            key, {"rule": parts[1], "from": parts[2].split(">")[0], "to": parts[2].split(">")[1]}
        )
        if parts[3] == "took":
            took.setdefault(key, Counter())[int(parts[4])] += value
        else:
            cell[parts[3]] = cell.get(parts[3], 0) + value
    rows = []
    for key, cell in sorted(cells.items()):
        for outcome in OUTCOMES:
            cell.setdefault(outcome, 0)
        settled = cell["in_time"] + cell["late"] + cell["broken"]
        cell["broken_share"] = round(cell["broken"] / settled, 4) if settled else 0.0
        cell["p50_s"] = _quantile(took.get(key, Counter()), 0.5)
        cell["p90_s"] = _quantile(took.get(key, Counter()), 0.9)
        rows.append(cell)
    return rows


def gifts(counted: Counter[str]) -> dict[str, Any]:
    failed: dict[tuple[str, str], dict[str, Any]] = {}
    for name, value in counted.items():
        parts = name.split("|")
        if parts[0] == "failed":
            row = failed.setdefault((parts[1], parts[2]), {"processor": parts[1], "error_code": parts[2]})
            row["count" if parts[3] == "count" else "amount"] = value if parts[3] == "count" else value / 100
    rows = sorted(failed.values(), key=lambda r: (-r.get("amount", 0), r["processor"], r["error_code"]))
    return {
        "failed": [{"count": 0, "amount": 0.0, **row} for row in rows],
        "recovered": {"count": counted["recovered|count"], "amount": counted["recovered|cents"] / 100},
    }


def value_at_risk(counted: Counter[str]) -> dict[str, Any]:
    """People newly below the at-risk floor, and what they gave in the 12 months before."""
    return {"people": counted["at_risk|count"], "giving_12_months": counted["at_risk|giving_cents"] / 100}
