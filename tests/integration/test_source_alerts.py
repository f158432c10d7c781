"""What no one else watches, end to end on the real broker with shortened windows: a source that stops
sending is seen (source.silent) and cleared when it resumes; a burst of bad signatures is a source being
refused (source.rejecting) — and a scorer replaying the same topics reaches the same alert."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.fixtures.config import CONFIG
from tests.fixtures.ledger import alert_updates
from tests.fixtures.providers import payment_intent, stripe_event, stripe_signature
from tests.fixtures.replicas import replaying_scorer
from tests.fixtures.system import System, isolated_topics, launch
from tests.fixtures.touchpoints import touchpoint

pytestmark = pytest.mark.integration
SILENT_AFTER_S = 6.0
SES_SILENCE = re.compile(
    r'(source = "email/ses"\nowner = "it-ops"\nack_within_minutes = 30\n)'
    r"silent_after_minutes = 30\nmin_expected = 20"
)


def shortened_rules(tmp: Path) -> Path:
    text = (CONFIG / "alerts.toml").read_text()
    text, replaced = SES_SILENCE.subn(
        rf"\1silent_after_minutes = {SILENT_AFTER_S / 60}\nmin_expected = 3", text
    )
    assert replaced == 1
    path = tmp / "alerts.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def watched(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp("source-alerts")
    with launch(
        bootstrap,
        tmp / "system",
        MP_ALERTS_CONFIG=str(shortened_rules(tmp)),
        MP_SCORER_SOURCE_CHECK_INTERVAL_S="1",
        MP_STRIPE_WEBHOOK_SECRETS="whsec_current",
        # the burst below comes from one address: more than a sender's default budget of unverified posts
        MP_WEBHOOK_UNVERIFIED_RATE_PER_SECOND="50",
        **isolated_topics("source-alerts"),
    ) as system:
        yield system


def alerts_of(system: System, kind: str) -> list[dict[str, Any]]:
    return httpx.get(f"{system.api_url}/v1/alerts", params={"kind": kind, "limit": 100}).json()["alerts"]  # type: ignore[no-any-return]


def wait_until(condition: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.3)
    return found


def ses_events(n: int) -> list[dict[str, Any]]:
    return [touchpoint(f"ses-{uuid.uuid4().hex[:6]}", "email.delivered", provider="ses") for _ in range(n)]


def test_a_source_that_stops_sending_is_seen_within_its_window_and_cleared_when_it_resumes(
    watched: System,
) -> None:
    with httpx.Client(base_url=watched.ingest_url) as client:
        for _ in range(8):  # a steady trickle: 40 events over about 4 s
            assert client.post("/v1/events", json=ses_events(5)).status_code == 202
            time.sleep(0.5)
        assert alerts_of(watched, "source.silent") == []  # sending: not silent
        stopped = time.monotonic()
        [silent] = wait_until(lambda: alerts_of(watched, "source.silent"), 60, "source.silent never opened")
        took = time.monotonic() - stopped
        assert took >= SILENT_AFTER_S - 1, f"opened after {took:.1f} s, before its {SILENT_AFTER_S} s window"
        assert (silent["rule"], silent["owner"], silent["status"]) == ("silence:email/ses", "it-ops", "open")
        assert client.post("/v1/events", json=ses_events(1)).status_code == 202
    wait_until(
        lambda: alerts_of(watched, "source.silent")[0]["status"] == "resolved",
        30,
        "never resolved on resuming",
    )


def bad_delivery(n: int) -> tuple[bytes, dict[str, str]]:
    payload = orjson.dumps(stripe_event("payment_intent.succeeded", payment_intent(), f"evt_bad{n}"))
    signed = stripe_signature(payload, "whsec_rotated_away")  # a secret ingest no longer has
    return payload, {"Stripe-Signature": signed, "content-type": "application/json"}


def test_a_burst_of_bad_signatures_is_a_source_being_refused_and_a_replay_finds_the_same(
    watched: System, tmp_path: Path
) -> None:
    with httpx.Client(base_url=watched.ingest_url) as client:
        for n in range(15):
            payload, headers = bad_delivery(n)
            assert client.post("/v1/webhooks/stripe", content=payload, headers=headers).status_code == 401
    [rejecting] = wait_until(
        lambda: alerts_of(watched, "source.rejecting"), 60, "source.rejecting never opened"
    )
    assert (rejecting["rule"], rejecting["owner"]) == ("rejecting:donation/stripe", "it-ops")
    assert "signature" in rejecting["detail"]

    # a scorer of a new group replays the same topics from the start: the same decision, the same alert
    with replaying_scorer(watched, tmp_path):
        opened = wait_until(
            lambda: [
                u for u in alert_updates(watched) if u["kind"] == "source.rejecting" and u["status"] == "open"
            ][1:],
            90,
            "the replaying scorer never reached a decision",
        )
        assert {u["alert_id"] for u in opened} == {rejecting["alert_id"]}
