"""Whether an event matches a configured ``EventMatch``: its type, and every attribute the rule names.
Pure. A function of a compiled module rather than a method of the (pydantic, so interpreted) configuration
model: it runs for every event against every role and hand-off rule that could apply, and as a method it
was ~2% of the scorer's time (docs/performance.md)."""

from __future__ import annotations

from typing import Any

from services.domain.config import EventMatch


def matches(rule: EventMatch, event: dict[str, Any], as_type: str | None = None) -> bool:
    """``event`` is of the rule's type (or ``as_type``) with all of its ``attributes``."""
    if event["type"] != (as_type or rule.type):
        return False
    wanted: dict[str, Any] = rule.attributes
    if not wanted:
        return True
    present = event.get("attributes") or {}
    for name, value in wanted.items():  # noqa: SIM110 - a loop is faster than all(genexpr), and this runs per event
        if present.get(name) != value:
            return False
    return True
