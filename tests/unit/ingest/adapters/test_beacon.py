"""The web beacon: a browser event becomes a web touchpoint — of a logged-in user only with the user hash
the site's backend gave the page, of the browser's anonymous id otherwise."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.domain.events import validation_error
from services.ingest.adapters import Unusable, beacon
from tests.fixtures.providers import complete

SECRET = b"beacon-secret"
NOW = 1_795_000_000.0


def at(seconds_from_now: float) -> str:
    return datetime.fromtimestamp(NOW + seconds_from_now, UTC).isoformat()


def test_a_beacon_with_a_valid_user_hash_becomes_a_web_touchpoint_of_its_user() -> None:
    mapped = beacon.map_beacon(
        {
            "type": "form_submitted",
            "user_id": "u-1",
            "user_hash": beacon.user_hash(SECRET, "u-1"),
            "anonymous_id": "browser-7",
            "form": "volunteer_signup",
            "url": "https://org.example/volunteer",
            "event_id": "b-1",
        },
        now=NOW,
        secret=SECRET,
    )
    assert mapped.event["type"] == "web.form_submitted"
    assert mapped.event["event_id"] == "web:b-1"
    assert mapped.identifiers == {"web_user": "u-1"}
    assert validation_error(complete(mapped.event)) is None


@pytest.mark.parametrize(
    "claim",
    [
        {"user_id": "u-1"},  # no hash: anyone can name anyone
        {"user_id": "u-1", "user_hash": "00" * 32},
        {"user_id": "u-1", "user_hash": beacon.user_hash(b"another site's secret", "u-1")},
        {"user_id": "u-1", "user_hash": beacon.user_hash(SECRET, "u-2")},
        {"user_id": "u-1", "user_hash": "é" * 64},  # not ASCII: a 500 before (issue 34)
    ],
)
def test_without_a_valid_user_hash_the_event_counts_for_the_anonymous_id_only(claim: dict[str, str]) -> None:
    mapped = beacon.map_beacon(
        {"type": "error", "anonymous_id": "browser-7", **claim}, now=NOW, secret=SECRET
    )
    assert mapped.identifiers == {"web_visitor": "browser-7"}


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ([1], "one JSON object"),
        ({"type": "scroll", "anonymous_id": "b"}, "type must be one of"),
        ({"type": ["page_view"], "anonymous_id": "b"}, "type must be one of"),
        ({"type": "page_view"}, "needs anonymous_id"),
        ({"type": "page_view", "user_id": "u-1"}, "needs anonymous_id"),
        ({"type": "page_view", "anonymous_id": "b", "occurred_at": "yesterday"}, "occurred_at"),
        ({"type": "page_view", "anonymous_id": "b", "occurred_at": at(-25 * 3600)}, "within the last 24 h"),
        ({"type": "page_view", "anonymous_id": "b", "occurred_at": at(6 * 60)}, "at most 5 min ahead"),
        ({"type": "page_view", "anonymous_id": "b", "email": "ada@example.org"}, "no email address"),
    ],
)
def test_unusable_beacons_say_why(payload: object, why: str) -> None:
    with pytest.raises(Unusable, match=why):
        beacon.map_beacon(payload, now=NOW, secret=SECRET)


def test_a_beacon_from_the_last_day_keeps_its_time() -> None:
    mapped = beacon.map_beacon(
        {"type": "page_view", "anonymous_id": "b", "occurred_at": at(-23 * 3600)}, now=NOW, secret=SECRET
    )
    assert mapped.event["occurred_at"] == at(-23 * 3600)


def test_sites_with_secrets_of_their_own_have_ids_of_their_own() -> None:
    """Issue 34: one secret for every site, and web:<user_id> without the site — user 42 of the shop was
    user 42 of the main site, and a site that leaked its secret could speak for every other's users."""
    shop, main = b"shop-secret", b"main-secret"
    claim = {"type": "page_view", "user_id": "42", "anonymous_id": "b-1", "event_id": "e-1"}
    on_shop = beacon.map_beacon(
        {**claim, "user_hash": beacon.user_hash(shop, "42")}, NOW, shop, "shop.org.example"
    )
    assert on_shop.identifiers == {"web_user": "shop.org.example:42"}
    assert on_shop.event["event_id"] == "web:shop.org.example:e-1"
    # the shop's hash is no proof on the main site: there the event counts for the visitor only
    on_main = beacon.map_beacon(
        {**claim, "user_hash": beacon.user_hash(shop, "42")}, NOW, main, "www.org.example"
    )
    assert on_main.identifiers == {"web_visitor": "www.org.example:b-1"}


def test_the_sites_setting_pairs_each_origin_with_its_secret() -> None:
    from pydantic import ValidationError

    from services.ingest.settings import IngestSettings

    settings = IngestSettings(beacon_sites="https://shop.org.example=s1, https://www.org.example=s2")
    assert settings.beacon_site_secrets == {
        "https://shop.org.example": b"s1",
        "https://www.org.example": b"s2",
    }
    assert settings.beacon_origin_list == ["https://shop.org.example", "https://www.org.example"]
    with pytest.raises(ValidationError, match="origin=secret"):
        IngestSettings(beacon_sites="shop.org.example")
