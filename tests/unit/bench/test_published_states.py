"""The API benchmark's population: each record as if that person's touchpoints had been folded."""

import orjson
import pytest

from services.bench import http_cases
from services.common.config_files import load_scoring_model
from services.common.settings import CommonSettings
from services.domain.readings import score_record
from services.domain.scoring import ConstituentState, apply_event


def folded(n: int, now: float) -> bytes:
    """Person ``n`` folded one event at a time, as the scorer would."""
    model = load_scoring_model(CommonSettings().scoring_config)
    state = ConstituentState(f"{http_cases.API_POPULATION_PREFIX}{n:07d}")
    touches = http_cases.ONE_TOUCH_EACH
    for step, event_type in enumerate(touches[: 1 + n % len(touches)]):
        event = {"event_id": f"{n}-{step}", "type": event_type, "source": event_type.split(".")[0]}
        apply_event(state, event, now - 3600 + step * 60, model)
    return orjson.dumps(score_record(state, model, now))


def test_each_written_in_record_is_the_persons_own_folded_record(monkeypatch: pytest.MonkeyPatch) -> None:
    now = 1_795_000_000.0
    monkeypatch.setattr(http_cases.time, "time", lambda: now)
    records = list(http_cases.published_states(23, "scores"))
    assert [record.key for record in records] == [f"b-{n:07d}".encode() for n in range(23)]
    for n, record in enumerate(records):
        assert record.value == folded(n, now), n
        assert http_cases.TEMPLATE_ID.encode() not in record.value
