"""Amazon SES notifications (delivered by SNS, verified by services/ingest/adapters/sns.py) → email
touchpoints. One SES notification may name several recipients: each becomes its own touchpoint.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from services.ingest.adapters import Mapped, Unusable, identifiers, text

TYPES = {
    "Send": "email.sent",
    "Delivery": "email.delivered",
    "Bounce": "email.bounced",
    "Reject": "email.bounced",
    "Complaint": "email.complained",
    "Open": "email.opened",
    "Click": "email.clicked",
}
IGNORED = frozenset({"DeliveryDelay", "Rendering Failure", "Subscription"})


def map_notification(message: dict[str, Any]) -> list[Mapped]:
    """Touchpoints for an SNS Notification carrying an SES event (one per recipient)."""
    try:
        return _map(orjson.loads(message["Message"]))
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as error:
        raise Unusable(f"not a usable SES notification: {type(error).__name__} {error}") from error


def _map(ses: dict[str, Any]) -> list[Mapped]:
    kind = ses.get("eventType") or ses["notificationType"]
    if kind in IGNORED:
        return []
    if kind not in TYPES:
        raise ValueError(f"unknown SES event {kind!r}")
    mail = ses["mail"]
    detail = ses.get(kind[0].lower() + kind[1:], {})
    if kind == "Bounce":
        recipients = [r["emailAddress"] for r in detail["bouncedRecipients"]]
    elif kind == "Complaint":
        recipients = [r["emailAddress"] for r in detail["complainedRecipients"]]
    elif kind == "Delivery":
        recipients = list(detail["recipients"])
    else:
        recipients = list(mail["destination"])
    tags = mail.get("tags") or {}

    def tag(name: str) -> str | None:
        values = tags.get(name)
        return text(values[0]) if isinstance(values, list) and values else None

    attributes: dict[str, Any] = {"provider": "ses"}
    for name, value in (
        ("template", tag("template")),
        ("url", detail.get("link")),
        ("reason", detail.get("bounceType") or detail.get("reason")),
    ):
        if text(value):
            attributes[name] = value
    occurred_at = datetime.fromisoformat(detail.get("timestamp") or mail["timestamp"]).isoformat()
    mapped = []
    for index, recipient in enumerate(recipients):
        body: dict[str, Any] = {
            "event_id": f"ses:{mail['messageId']}:{kind}:{index}",
            "source": "email",
            "type": TYPES[kind],
            "occurred_at": occurred_at,
            "department": "marketing",
            "attributes": attributes,
        }
        if tag("correlation_id"):
            body["correlation_id"] = tag("correlation_id")
        mapped.append(
            Mapped(event=body, identifiers=identifiers(constituent=tag("constituent_id"), email=recipient))
        )
    return mapped
