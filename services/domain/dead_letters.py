"""What a dead letter says: where it came from, why it was refused, when, and the raw payload. Pure.

Everything Mission Pulse refuses (unparseable, unverifiable, schema-invalid, unusable) is kept on the
dead-letter topic so an operator can see it, count it by reason, and replay it after a fix.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

MAX_PAYLOAD_BYTES = 64 * 1024

ReasonCode = Literal[
    "unparseable",  # not JSON / NDJSON / the provider's format at all
    "too_large",  # over a size limit
    "schema",  # JSON, but not a valid touchpoint v1 event
    "signature",  # a webhook whose signature did not verify (or was missing, or stale, or another topic's)
    "not_allowed",  # a beacon from an origin not allowed to post
    "unmapped",  # a provider event this adapter cannot turn into a touchpoint
    "future",  # dated too far ahead of the scorer's clock
    "not_touchpoint",  # a record on the touchpoints topic that is not one (another producer wrote it)
]


def dead_letter(
    *,
    source: str,
    reason_code: ReasonCode,
    reason: str,
    raw: bytes,
    service: str,
    at: float,
    size: int | None = None,
) -> dict[str, Any]:
    """The envelope written to the dead-letter topic; the payload is kept as text, cut at 64 KiB.
    ``size``: the whole payload's size when ``raw`` is only its beginning (a body refused as too large)."""
    kept = raw[:MAX_PAYLOAD_BYTES]
    size = len(raw) if size is None else size
    return {
        "source": source,
        "reason_code": reason_code,
        "reason": reason,
        "received_at": datetime.fromtimestamp(at, UTC).isoformat(),
        "service": service,
        "payload": kept.decode("utf-8", "replace"),
        "payload_bytes": size,
        "truncated": size > len(kept),
    }
