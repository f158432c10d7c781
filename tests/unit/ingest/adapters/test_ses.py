"""Amazon SES notifications (as SNS delivers them) mapped to email touchpoints."""

from __future__ import annotations

import pytest

from services.domain.events import validation_error
from services.ingest.adapters import ses
from tests.fixtures.providers import (
    complete,
    ses_event,
    sns_message,
    sns_signer,
)


def test_a_notification_naming_several_recipients_is_one_touchpoint_each() -> None:
    key, _ = sns_signer()
    message = sns_message(key, ses_event("Bounce", ["ada@example.org", "bob@example.org"]))
    mapped = ses.map_notification(message)
    assert [m.identifiers["email"] for m in mapped] == ["ada@example.org", "bob@example.org"]
    assert {m.event["type"] for m in mapped} == {"email.bounced"}
    assert mapped[0].event["event_id"] != mapped[1].event["event_id"]
    assert mapped[0].event["correlation_id"] == "pi_3PqX"
    assert all(validation_error(complete(m.event)) is None for m in mapped)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("Send", "email.sent"),
        ("Delivery", "email.delivered"),
        ("Complaint", "email.complained"),
        ("Reject", "email.bounced"),
        ("Open", "email.opened"),
        ("Click", "email.clicked"),
    ],
)
def test_ses_event_types_map_to_the_vocabulary(kind: str, expected: str) -> None:
    key, _ = sns_signer()
    [mapped] = ses.map_notification(sns_message(key, ses_event(kind)))
    assert mapped.event["type"] == expected


def test_ses_delivery_delays_are_not_touchpoints() -> None:
    key, _ = sns_signer()
    assert ses.map_notification(sns_message(key, ses_event("DeliveryDelay"))) == []
