"""A ranked list's row from what little it needs: the person's summary, not their whole record. Pure.

A row of `/v1/constituents` shows the id, the roles, the newest event's time, the overall score then and the
score now — drifted toward the baseline since, which ``scores_at`` works out from the decayed impact sums.
``list_summary`` keeps just that from a published record: the sums already added up (in the order
``scores_at`` adds them, so the float is the same), the instant they are decayed to, and whether there are
any. The Redis serving tier keeps it ``packed`` beside each record (services/serving/redis_scores.py), so
a list of 50 reads and parses 50 summaries of ~100 bytes rather than 50 records of ~1.5 KB; ``list_row``
then gives what ``scores_at`` over the whole record would (tests/unit/api/test_list_rows.py holds it to that).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypedDict

import orjson

from services.domain.scoring import decay, scores_from_totals
from services.domain.scoring_model import ScoringModel


class ListSummary(TypedDict):
    """What a ranked list shows of one person, as kept (JSON) beside their record."""

    constituent_id: str
    roles: list[str]
    last_event_at: float  # epoch seconds of the newest event (0.0: none)
    reference_time: float  # the instant ``totals`` are decayed to
    totals: list[float]  # content, operations, principles: the impact sums added up
    decays: bool  # any impact at all (``scores_at`` decays only then)
    score_at_last_event: float


def list_summary(published: dict[str, Any]) -> ListSummary:
    """The summary of a published score record (as ``ConstituentState.from_dict`` would read it)."""
    content = operations = principles = 0.0
    contributions: dict[str, list[float]] = published.get("contributions") or {}
    for sums in contributions.values():  # as scores_at adds them
        content += sums[0]
        operations += sums[1]
        principles += sums[2]
    touches: dict[str, float] = published.get("last_touch") or {}
    return {
        "constituent_id": published["constituent_id"],
        "roles": published.get("roles") or [],
        "last_event_at": max(touches.values(), default=0.0),
        "reference_time": published.get("reference_time", 0.0),
        "totals": [content, operations, principles],
        "decays": bool(contributions),
        "score_at_last_event": published["scores"]["overall"],
    }


def packed(summary: ListSummary) -> bytes:
    """The summary as Redis keeps it, beside the person's id: a JSON array without the id or the field
    names (~100 bytes for a donor, against ~200 as an object)."""
    return orjson.dumps(
        [
            summary["roles"],
            summary["last_event_at"],
            summary["reference_time"],
            summary["totals"],
            summary["decays"],
            summary["score_at_last_event"],
        ]
    )


def unpacked(constituent_id: str, kept: bytes) -> ListSummary:
    """The summary ``packed`` kept for ``constituent_id``."""
    roles, last_event_at, reference_time, totals, decays, score = orjson.loads(kept)
    return {
        "constituent_id": constituent_id,
        "roles": roles,
        "last_event_at": last_event_at,
        "reference_time": reference_time,
        "totals": totals,
        "decays": decays,
        "score_at_last_event": score,
    }


def list_row(summary: ListSummary, model: ScoringModel, now: float) -> dict[str, Any]:
    """The row of a ranked list as of ``now``."""
    content, operations, principles = summary["totals"]
    factor = decay(model, max(0.0, now - summary["reference_time"])) if summary["decays"] else 1.0
    scores = scores_from_totals(model, [content * factor, operations * factor, principles * factor])
    return {
        "constituent_id": summary["constituent_id"],
        "score": round(scores.overall, 2),  # as Scores.to_dict gives it
        "roles": summary["roles"],
        "last_event_at": datetime.fromtimestamp(summary["last_event_at"], UTC).isoformat(),
        "score_at_last_event": summary["score_at_last_event"],
    }
