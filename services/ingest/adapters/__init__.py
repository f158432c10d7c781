"""Provider payloads → touchpoint v1 events. Each adapter is a pure mapping plus its verification.

An adapter returns ``Mapped`` events: a touchpoint without ``constituent_id``, and the identifiers the
provider knows (email, Stripe customer, web user), which identity resolution turns into a constituent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.domain.identity import IdentifierKind


class Unusable(ValueError):
    """The payload cannot be turned into events (dead-lettered with this reason)."""


class Unverified(ValueError):
    """The payload's signature did not verify (dead-lettered; the sender gets a 4xx)."""


@dataclass(frozen=True, slots=True)
class Mapped:
    event: dict[str, Any]  # touchpoint v1 fields except constituent_id
    identifiers: dict[IdentifierKind, str]


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def text(value: Any) -> str | None:
    """A non-empty string, or None."""
    return value if isinstance(value, str) and value.strip() else None


def identifiers(**found: Any) -> dict[IdentifierKind, str]:
    return {kind: value for kind, value in found.items() if text(value)}  # type: ignore[misc]
