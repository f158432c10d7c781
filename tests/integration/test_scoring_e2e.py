"""Scores through the real broker: order, duplicates and a killed scorer change nothing."""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from services.common.config_files import load_alert_rules, load_scoring_model
from services.common.settings import CommonSettings
from services.domain.scoring import score_record
from services.scorer.processing import BatchProcessor, Incoming
from tests.integration.conftest import System, isolated_topics, launch

pytestmark = pytest.mark.integration
MODEL = load_scoring_model(CommonSettings().scoring_config)
RULES = load_alert_rules(CommonSettings().alerts_config)
TYPES = [
    "web.page_view",
    "email.opened",
    "donation.succeeded",
    "donation.failed",
    "email.bounced",
    "event.attended",
    "web.form_submitted",
    "email.clicked",
]
SOURCES = {"web": "web", "email": "email", "donation": "donation", "event": "events"}


def journey(constituent: str, count: int, rng: random.Random) -> list[dict[str, Any]]:
    """``count`` events over the last three days (so most are late), with a few attributes."""
    now = time.time()
    events = []
    for n in range(count):
        event_type = rng.choice(TYPES)
        events.append(
            {
                "event_id": f"{constituent}-{n}",
                "source": SOURCES[event_type.split(".")[0]],
                "type": event_type,
                "occurred_at": datetime.fromtimestamp(now - rng.uniform(0, 3 * 86400), UTC).isoformat(),
                "constituent_id": constituent,
                "attributes": {"form": "volunteer_signup"} if event_type == "web.form_submitted" else {},
            }
        )
    return events


def post_each(system: System, events: list[dict[str, Any]]) -> None:
    with httpx.Client(base_url=system.ingest_url) as client:
        for event in events:
            assert client.post("/v1/events", json=event).status_code == 202


def wait_for_counts(system: System, expected: dict[str, int], timeout_s: float = 60) -> dict[str, Any]:
    """Each constituent's API view once it has counted exactly the expected number of events."""
    deadline = time.monotonic() + timeout_s
    views: dict[str, Any] = {}
    with httpx.Client(base_url=system.api_url) as client:
        while time.monotonic() < deadline:
            for constituent, events in expected.items():
                answer = client.get(f"/v1/constituents/{constituent}")
                if answer.status_code == 200 and answer.json()["events"] >= events:
                    views[constituent] = answer.json()
            if len(views) == len(expected):
                break
            time.sleep(0.3)
    assert len(views) == len(expected), f"not all scored: {sorted(set(expected) - set(views))}"
    assert {c: v["events"] for c, v in views.items()} == expected, "an event was counted twice"
    return views


def comparable(view: dict[str, Any]) -> dict[str, Any]:
    return {key: view[key] for key in ("scores_at_last_event", "roles", "last_event_at", "last_touch")} | {
        "lifetime": view["counts"]["lifetime"]
    }


def test_the_same_events_in_another_order_and_with_duplicates_give_identical_scores(system: System) -> None:
    rng = random.Random(11)
    tag = uuid.uuid4().hex[:6]
    events = journey(f"fwd-{tag}", 40, rng)
    reordered = [{**e, "constituent_id": f"rev-{tag}"} for e in reversed(events)]
    shuffled_twice = [{**e, "constituent_id": f"dup-{tag}"} for e in events + events[:15]]
    rng.shuffle(shuffled_twice)

    post_each(system, events + reordered + shuffled_twice)
    views = wait_for_counts(system, {f"fwd-{tag}": 40, f"rev-{tag}": 40, f"dup-{tag}": 40})
    forward, backward, duplicated = (comparable(views[f"{p}-{tag}"]) for p in ("fwd", "rev", "dup"))
    assert forward == backward == duplicated


@pytest.mark.faults
@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_a_scorer_killed_mid_stream_loses_and_doubles_nothing(
    bootstrap: str, tmp_path: Path, store: str
) -> None:
    rng = random.Random(5)
    people = [f"k-{n}" for n in range(12)]
    events = [event for person in people for event in journey(person, 25, rng)]
    rng.shuffle(events)
    first, second, third = events[:120], events[120:200], events[200:]

    topics = isolated_topics()
    with launch(
        bootstrap, tmp_path, MP_SCORER_STORE=store, MP_SCORER_SESSION_TIMEOUT_S="6", **topics
    ) as system:
        post_each(system, first)
        wait_for_counts(
            system,
            {
                p: sum(e["constituent_id"] == p for e in first)
                for p in people
                if any(e["constituent_id"] == p for e in first)
            },
        )
        post_each(system, second)
        system.kill("scorer")  # mid-stream: some of `second` may be scored and uncommitted
        post_each(system, third + first[:30])  # the replay of already-scored events must not count
        system.start("scorer")
        views = wait_for_counts(system, {p: 25 for p in people}, timeout_s=90)

    records = [Incoming(0, e["constituent_id"].encode(), orjson.dumps(e)) for e in events]
    expected = BatchProcessor(MODEL, RULES).process(records, lambda *_: None, time.time())
    for person in people:
        published = score_record(expected.changed[person], MODEL, 0.0)
        for dimension, value in published["scores"].items():
            assert views[person]["scores_at_last_event"][dimension] == pytest.approx(value, abs=0.011)
        assert views[person]["roles"] == published["roles"]
