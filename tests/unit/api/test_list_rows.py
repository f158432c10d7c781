"""A ranked list's row from the person's summary (services/api/list_rows.py) is the row the whole record
gives: the score now is ``scores_at`` over the published state to the float, whatever the events, the
instant asked and the summary's trip through Redis (kept packed beside the record)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from services.api.list_rows import list_row, list_summary, packed, unpacked
from services.domain.readings import score_record
from services.domain.scoring import ConstituentState, apply_event, scores_at
from tests.fixtures.config import MODEL

TYPES = [*sorted(MODEL.impacts), "custom.unknown"]
EVENTS = st.lists(
    st.tuples(st.sampled_from(TYPES), st.floats(min_value=0, max_value=90 * 86_400)),
    max_size=25,
)


def row_from_the_whole_record(published: dict, now: float) -> dict:
    """The specification: the state read back whole, scored as of ``now``."""
    state = ConstituentState.from_dict(published)
    return {
        "constituent_id": state.constituent_id,
        "score": scores_at(state, MODEL, now).to_dict()["overall"],
        "roles": state.roles,
        "last_event_at": datetime.fromtimestamp(state.last_event_at, UTC).isoformat(),
        "score_at_last_event": published["scores"]["overall"],
    }


@settings(max_examples=200, deadline=None)
@given(EVENTS, st.floats(min_value=-86_400, max_value=400 * 86_400))
def test_a_row_from_the_summary_is_the_row_from_the_whole_record(
    events: list[tuple[str, float]], later: float
) -> None:
    state, start = ConstituentState("c-1"), 1_795_000_000.0
    for n, (event_type, offset) in enumerate(events):
        event = {"event_id": f"e{n}", "type": event_type, "source": event_type.split(".")[0]}
        if event_type == "donation.completed":
            event["attributes"] = {"amount": 25 + n, "currency": "USD"}
        apply_event(state, event, start + offset, MODEL)
    published = orjson.loads(orjson.dumps(score_record(state, MODEL, start)))
    now = start + later
    kept = unpacked("c-1", packed(list_summary(published)))  # as Redis keeps it
    assert kept == list_summary(published)
    assert list_row(kept, MODEL, now) == row_from_the_whole_record(published, now)


def test_a_person_with_no_impact_stays_at_the_baseline() -> None:
    published = orjson.loads(orjson.dumps(score_record(ConstituentState("c-2"), MODEL, 0.0)))
    row = list_row(list_summary(published), MODEL, 1_795_000_000.0)
    assert row == row_from_the_whole_record(published, 1_795_000_000.0)
    assert row["score"] == round(MODEL.baseline, 2)
