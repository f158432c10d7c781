"""The web beacon: what a website's page sends with ``navigator.sendBeacon`` → web touchpoints.

A beacon is one JSON object (sent as ``text/plain`` by sendBeacon, or ``application/json`` by fetch):
``{"type": "page_view" | "form_submitted" | "error" | "login_failed", "anonymous_id"?, "user_id"?,
"user_hash"?, "event_id"?, "occurred_at"?, "url"?, "form"?, "error_code"?}``. See docs/sources.md.

Anyone can post a beacon naming anyone, so a logged-in user's events are theirs only with ``user_hash``
= HMAC-SHA256(MP_BEACON_SECRET, user_id), which the site's backend puts in the page (the identity
verification Intercom and similar tools use). Without a valid hash the event counts for the browser's
``anonymous_id`` only, which never shares an identity with a user. Beacons carry no email address.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime
from typing import Any

from services.domain.identity import IdentifierKind
from services.ingest.adapters import Mapped, Unusable, iso, text

TYPES = {
    "page_view": "web.page_view",
    "form_submitted": "web.form_submitted",
    "error": "web.error",
    "login_failed": "web.login_failed",
}
DEPARTMENTS = {"web.error": "it", "web.login_failed": "it"}
MAX_AGE_SECONDS = 24 * 3600
MAX_AHEAD_SECONDS = 300


def user_hash(secret: bytes, user_id: str) -> str:
    """What the site's backend puts in the page beside a logged-in user's id (hex)."""
    return hmac.new(secret, user_id.encode(), hashlib.sha256).hexdigest()


def verified_user(beacon: dict[str, Any], secret: bytes) -> str | None:
    """The beacon's user_id when its user_hash proves it; None otherwise."""
    user_id, given = text(beacon.get("user_id")), text(beacon.get("user_hash"))
    if user_id is None or given is None or not given.isascii():  # a hex digest is ASCII (and compare_digest
        return None  # refuses to compare other text: a 500 before, issue 34)
    return user_id if hmac.compare_digest(given.lower(), user_hash(secret, user_id)) else None


def _occurred_at(beacon: dict[str, Any], now: float) -> str:
    occurred_at = text(beacon.get("occurred_at"))
    if occurred_at is None:
        return iso(now)
    try:
        parsed = datetime.fromisoformat(occurred_at)
    except ValueError as error:  # the reason names the field, never echoes the value (docs/privacy.md)
        raise Unusable("occurred_at: not an ISO 8601 date-time") from error
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    age = now - parsed.timestamp()
    if age > MAX_AGE_SECONDS or -age > MAX_AHEAD_SECONDS:
        raise Unusable(
            f"occurred_at must be within the last {MAX_AGE_SECONDS // 3600} h and at most "
            f"{MAX_AHEAD_SECONDS // 60} min ahead"
        )
    return parsed.isoformat()


def map_beacon(beacon: Any, now: float, secret: bytes, site: str | None = None) -> Mapped:
    """``site``: the site's own name (its host) when sites have secrets of their own (MP_BEACON_SITES):
    its user ids, visitor ids and event ids are then its own (``site:id``)."""
    scoped = (lambda value: f"{site}:{value}") if site else (lambda value: value)
    if not isinstance(beacon, dict):
        raise Unusable("a beacon is one JSON object")
    named = beacon.get("type")
    kind = TYPES.get(named) if isinstance(named, str) else None  # a list or an object is no type either
    if kind is None:
        raise Unusable(f"type must be one of {sorted(TYPES)}")
    if "email" in beacon:
        raise Unusable("a beacon carries no email address: name a logged-in user with user_id and user_hash")
    who: dict[IdentifierKind, str] = {}
    user = verified_user(beacon, secret)
    if user is not None:
        who["web_user"] = scoped(user)
    elif text(beacon.get("anonymous_id")):
        who["web_visitor"] = scoped(beacon["anonymous_id"])
    else:
        raise Unusable("a beacon needs anonymous_id, or user_id with a valid user_hash")
    attributes = {name: beacon[name] for name in ("url", "form", "error_code") if text(beacon.get(name))}
    body = {
        "event_id": f"web:{scoped(text(beacon.get('event_id')) or uuid.uuid4().hex)}",
        "source": "web",
        "type": kind,
        "occurred_at": _occurred_at(beacon, now),
        "department": DEPARTMENTS.get(kind, "marketing"),
        "attributes": attributes,
    }
    return Mapped(event=body, identifiers=who)
