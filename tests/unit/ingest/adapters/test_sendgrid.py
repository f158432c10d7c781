"""SendGrid Event Webhook: signed deliveries and the mapping of its events."""

from __future__ import annotations

import time

import orjson
import pytest

from services.domain.events import validation_error
from services.ingest.adapters import Unusable, Unverified, sendgrid
from tests.fixtures.providers import (
    complete,
    sendgrid_event,
    sendgrid_key,
    sendgrid_signature,
)


def test_a_signed_sendgrid_delivery_verifies_and_tampering_or_staleness_does_not() -> None:
    private, public = sendgrid_key()
    key = sendgrid.load_public_key(public)
    payload = orjson.dumps([sendgrid_event("delivered")])
    now = time.time()
    stamp = str(int(now))
    sendgrid.verify(payload, sendgrid_signature(private, payload, stamp), stamp, key, now)
    with pytest.raises(Unverified):
        sendgrid.verify(payload + b" ", sendgrid_signature(private, payload, stamp), stamp, key, now)
    with pytest.raises(Unverified, match="within"):
        old = str(int(now) - 3600)
        sendgrid.verify(payload, sendgrid_signature(private, payload, old), old, key, now)
    other_private, _ = sendgrid_key()
    with pytest.raises(Unverified):
        sendgrid.verify(payload, sendgrid_signature(other_private, payload, stamp), stamp, key, now)
    with pytest.raises(Unverified, match="missing"):
        sendgrid.verify(payload, None, stamp, key, now)


def test_sendgrid_events_map_to_email_touchpoints_and_deferrals_are_skipped() -> None:
    kinds = [
        "processed",
        "deferred",
        "delivered",
        "bounce",
        "dropped",
        "open",
        "click",
        "spamreport",
        "unsubscribe",
        "group_unsubscribe",
    ]
    mapped = sendgrid.map_events([sendgrid_event(kind, sg_event_id=f"sg-{kind}") for kind in kinds])
    assert [m.event["type"] for m in mapped] == [
        "email.sent",
        "email.delivered",
        "email.bounced",
        "email.bounced",
        "email.opened",
        "email.clicked",
        "email.complained",
        "email.unsubscribed",
        "email.unsubscribed",
    ]
    assert mapped[0].event["event_id"] == "sendgrid:sg-processed"
    assert mapped[0].event["attributes"]["template"] == "receipt"  # type: ignore[index]
    assert mapped[0].identifiers == {"email": "ada@example.org"}
    assert all(validation_error(complete(m.event)) is None for m in mapped)


def test_sendgrid_custom_arguments_carry_template_and_correlation() -> None:
    [mapped] = sendgrid.map_events(
        [sendgrid_event("processed", template="volunteer_welcome", correlation_id="form-77")]
    )
    assert mapped.event["attributes"]["template"] == "volunteer_welcome"  # type: ignore[index]
    assert mapped.event["correlation_id"] == "form-77"


@pytest.mark.parametrize(
    "payload", [{"event": "delivered"}, [{"event": "teleported", "sg_event_id": "x"}], [7]]
)
def test_unusable_sendgrid_deliveries_say_why(payload: object) -> None:
    with pytest.raises(Unusable):
        sendgrid.map_events(payload)
