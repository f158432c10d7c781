"""A constituent as the API presents them: every instant written as ISO 8601 in UTC — the timeline's, the
score history's (points at timeline instants, then now), each source's newest touch — whatever the answer
shares between its parts."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import orjson
import pytest

from services.api.presentation import constituent_now
from services.domain.readings import score_history, score_record
from services.domain.scoring import ConstituentState, apply_event
from tests.fixtures.config import MODEL


def written(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


@pytest.mark.parametrize("seed", range(20))
def test_every_instant_of_an_answer_is_the_iso_time_of_its_epoch(seed: int) -> None:
    rng, types = random.Random(seed), sorted(MODEL.impacts)
    state, at = ConstituentState("c-1"), 1_795_000_000.0 + rng.random() * 86_400
    for n in range(rng.randint(1, 30)):
        event_type = rng.choice(types)
        at += rng.choice([0.0, 0.5, rng.random() * 3_600])  # some at one instant, some a fraction apart
        event = {"event_id": f"e{n}", "type": event_type, "source": event_type.split(".")[0]}
        apply_event(state, event, at, MODEL)
    published = orjson.loads(orjson.dumps(score_record(state, MODEL, at + 1.25)))
    now = at + rng.random() * 86_400
    answer = constituent_now(published, MODEL, now)
    assert answer["as_of"] == written(now)
    assert answer["updated_at"] == written(at + 1.25)
    assert answer["last_event_at"] == written(state.last_event_at)
    assert answer["last_touch"] == {source: written(t) for source, t in state.last_touch.items()}
    assert [row["occurred_at"] for row in answer["timeline"]] == [
        written(touch[0]) for touch in reversed(state.timeline)
    ]
    points = [written(t) for t, _ in score_history(state, MODEL)] + [written(now)]
    assert [point["at"] for point in answer["history"]] == points
    assert len(points) > 1
