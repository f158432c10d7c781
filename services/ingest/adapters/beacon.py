"""The web beacon: what a website's page sends with ``navigator.sendBeacon`` → web touchpoints.

A beacon is one JSON object (sent as ``text/plain`` by sendBeacon, or ``application/json`` by fetch):
``{"type": "page_view" | "form_submitted" | "error" | "login_failed", "user_id"?, "anonymous_id"?,
"email"?, "event_id"?, "occurred_at"?, "url"?, "form"?, "error_code"?}``. See docs/sources.md.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from services.ingest.adapters import Mapped, Unusable, identifiers, iso, text

TYPES = {
    "page_view": "web.page_view",
    "form_submitted": "web.form_submitted",
    "error": "web.error",
    "login_failed": "web.login_failed",
}
DEPARTMENTS = {"web.error": "it", "web.login_failed": "it"}


def map_beacon(beacon: Any, now: float) -> Mapped:
    if not isinstance(beacon, dict):
        raise Unusable("a beacon is one JSON object")
    kind = TYPES.get(beacon.get("type"))  # type: ignore[arg-type]
    if kind is None:
        raise Unusable(f"type must be one of {sorted(TYPES)}")
    who = identifiers(email=beacon.get("email"), web_user=beacon.get("user_id") or beacon.get("anonymous_id"))
    if not who:
        raise Unusable("a beacon needs user_id or anonymous_id (or email)")
    occurred_at = text(beacon.get("occurred_at"))
    if occurred_at is not None:
        try:
            parsed = datetime.fromisoformat(occurred_at)
        except ValueError as error:
            raise Unusable(f"occurred_at: {error}") from error
        occurred_at = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).isoformat()
    attributes = {name: beacon[name] for name in ("url", "form", "error_code") if text(beacon.get(name))}
    body = {
        "event_id": f"web:{text(beacon.get('event_id')) or uuid.uuid4().hex}",
        "source": "web",
        "type": kind,
        "occurred_at": occurred_at or iso(now),
        "department": DEPARTMENTS.get(kind, "marketing"),
        "attributes": attributes,
    }
    return Mapped(event=body, identifiers=who)
