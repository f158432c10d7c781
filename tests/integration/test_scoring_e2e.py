"""Scores through the real broker: order, duplicates and a killed scorer change nothing."""

from __future__ import annotations

import random
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from services.domain.readings import score_record
from services.scorer.processing import BatchProcessor, Incoming
from tests.fixtures.config import MODEL, RULES
from tests.fixtures.system import System, isolated_topics, launch
from tests.fixtures.touchpoints import journey
from tests.fixtures.waiting import post_each, wait_for_counts

pytestmark = pytest.mark.integration


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
