"""What a dead letter says: where it came from, why it was refused, when, and the payload. Pure.

Everything Mission Pulse refuses (unparseable, unverifiable, schema-invalid, unusable) is kept on the
dead-letter topic so an operator can see it, count it by reason, and replay it after a fix — with personal
data taken out (services/domain/redaction.py). Input that failed verification (a bad signature, a foreign
SNS topic, a beacon from another origin) or is not JSON at all is kept only as its SHA-256 and size:
nothing an unknown sender wrote, and nothing that could not be told apart from personal data, reaches the
topic. See docs/privacy.md.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from services.domain.redaction import EmailKey, redact_payload, redact_text

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


UNVERIFIED: frozenset[ReasonCode] = frozenset({"signature", "not_allowed"})


def dead_letter(
    *,
    source: str,
    reason_code: ReasonCode,
    reason: str,
    raw: bytes,
    service: str,
    at: float,
    size: int | None = None,
    email_key: EmailKey | None = None,
) -> dict[str, Any]:
    """The envelope written to the dead-letter topic: the payload redacted and kept as text, cut at 64 KiB
    (or, unverified, only its SHA-256). ``size``: the whole payload's size when ``raw`` is only its
    beginning (a body refused as too large). ``email_key``: how addresses become identity keys."""
    size = len(raw) if size is None else size
    letter: dict[str, Any] = {
        "source": source,
        "reason_code": reason_code,
        "reason": redact_text(reason, email_key),
        "received_at": datetime.fromtimestamp(at, UTC).isoformat(),
        "service": service,
        "payload_bytes": size,
    }
    redacted = None if reason_code in UNVERIFIED else redact_payload(raw, email_key)
    if redacted is None:  # unverified, or not JSON: what it said is not kept, only what identifies it
        return {**letter, "payload": "", "payload_sha256": hashlib.sha256(raw).hexdigest(), "truncated": True}
    complete = size == len(raw) and len(redacted) <= MAX_PAYLOAD_BYTES
    kept = redacted[:MAX_PAYLOAD_BYTES].decode("utf-8", "replace")
    return {**letter, "payload": kept, "truncated": not complete}


@dataclass
class DeadLetterBudget:
    """How many dead letters one caller may cause per minute (per source and key): beyond the budget one
    more is kept as a sample, marked ``over_budget``, and the rest are only counted — so a flood of
    garbage cannot push real dead letters out of an operator's view or fill the topic."""

    per_minute: int
    _used: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)  # → (minute, letters)

    def admit(self, source: str, caller: str, now: float) -> Literal["keep", "sample", "drop"]:
        minute = int(now // 60)
        used_minute, used = self._used.get((source, caller), (minute, 0))
        used = used if used_minute == minute else 0
        self._used[(source, caller)] = (minute, used + 1)
        if len(self._used) > 10_000:  # callers are keys and sources: few; keep it bounded anyway
            self._used = {k: v for k, v in self._used.items() if v[0] == minute}
        if used < self.per_minute:
            return "keep"
        return "sample" if used == self.per_minute else "drop"
