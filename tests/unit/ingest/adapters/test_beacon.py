"""The web beacon: a browser event becomes a web touchpoint of its user."""

from __future__ import annotations

import pytest

from services.domain.events import validation_error
from services.ingest.adapters import Unusable, beacon
from tests.fixtures.providers import (
    complete,
)


def test_a_beacon_becomes_a_web_touchpoint_of_its_user() -> None:
    mapped = beacon.map_beacon(
        {
            "type": "form_submitted",
            "user_id": "u-1",
            "form": "volunteer_signup",
            "url": "https://org.example/volunteer",
            "event_id": "b-1",
        },
        now=1_795_000_000,
    )
    assert mapped.event["type"] == "web.form_submitted"
    assert mapped.event["event_id"] == "web:b-1"
    assert mapped.identifiers == {"web_user": "u-1"}
    assert validation_error(complete(mapped.event)) is None


@pytest.mark.parametrize(
    "payload",
    [
        [1],
        {"type": "scroll", "user_id": "u"},
        {"type": "page_view"},
        {"type": "page_view", "user_id": "u", "occurred_at": "yesterday"},
    ],
)
def test_unusable_beacons_say_why(payload: object) -> None:
    with pytest.raises(Unusable):
        beacon.map_beacon(payload, now=0)
