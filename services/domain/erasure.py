"""Erasing a constituent on request, and suppressing them. Pure: no I/O.

An erasure is one record on the ``erasures`` topic (compacted, keyed and partitioned like the touchpoints):
who was erased, when, by which key, why, and whether they are suppressed. Every service follows it:

- the scorer deletes the person's state (tombstones on its changelogs) and publishes a tombstone to
  ``constituent-scores``; on any replay (a rebuilt scorer, a new consumer group) it drops the person's
  touchpoints written before the erasure, so an erased person never comes back;
- the API takes them out of its views, and publishes every alert it holds about them with their id and
  evidence removed (``erased_alert``);
- ingest forgets their identity links — unless they are suppressed: then it keeps recognising them and
  drops (and counts) every later event that resolves to them, as Segment's "delete and suppress" does.

Without suppression, later events naming the person's identifiers start a new, unlinked person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

from services.domain.alerts.model import Alert


class Erasure(TypedDict):
    constituent_id: str
    at: float  # epoch seconds: touchpoints written before it are the erased person's
    by: str  # the key that asked
    reason: str
    suppress: bool


def erased_alert(alert: Alert) -> Alert:
    """The alert as it stays after its person's erasure: its id, kind, status and times, no person — nor
    the operators' notes, which may name them."""
    erased: Alert = {
        **alert,
        "constituent_id": None,
        "evidence": [],
        "title": f"{alert.get('kind', 'alert')} (details erased)",
        "detail": "The constituent's details were erased at their request.",
        "erased": True,
    }
    if "actions" in erased:
        erased["actions"] = [{**entry, "note": None} for entry in erased["actions"]]
    return erased


@dataclass
class ErasureRegistry:
    """The erasures so far (the followed topic), for deciding what a replay must drop."""

    erased_at: dict[str, float] = field(default_factory=dict)
    suppressed: set[str] = field(default_factory=set)

    def apply(self, erasure: Any) -> Erasure:
        """Fold one record of the topic; ValueError (KeyError, TypeError) for one that is not an erasure."""
        if not isinstance(erasure, dict) or not isinstance(erasure.get("constituent_id"), str):
            raise ValueError("not an erasure")
        at = float(erasure["at"])
        self.erased_at[erasure["constituent_id"]] = max(at, self.erased_at.get(erasure["constituent_id"], at))
        if erasure.get("suppress"):
            self.suppressed.add(erasure["constituent_id"])
        return erasure  # type: ignore[return-value]

    def written_before(self, constituent_id: str, timestamp: float) -> bool:
        """Whether a touchpoint written at ``timestamp`` belongs to an erased past of the constituent."""
        erased = self.erased_at.get(constituent_id)
        return erased is not None and timestamp <= erased
