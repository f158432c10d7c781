"""A state over its byte limit is trimmed by the documented rule, oldest and least needed first."""

from __future__ import annotations

from services.domain.scoring import ConstituentState, apply_event
from services.domain.scoring_model import ScoringModel
from services.domain.state_bounds import size_of, trim

START = 1_790_000_000.0
HOUR = 3600.0


def busy(model: ScoringModel, hours: int) -> ConstituentState:
    """Someone with an event of every type in each of ``hours`` hours of the last 30 days."""
    state = ConstituentState(constituent_id="c-1")
    types = sorted(model.impacts)
    for hour in range(hours):
        for n, event_type in enumerate(types):
            event = {"event_id": f"{hour}-{n}", "type": event_type, "source": event_type.split(".")[0]}
            apply_event(state, event, START + hour * HOUR, model)
    return state


def test_a_state_over_the_limit_loses_its_oldest_hourly_buckets_first(model: ScoringModel) -> None:
    state = busy(model, hours=150)  # 3,000 event ids (33 KB) and 150 hours of buckets
    assert size_of(state) > 64 * 1024
    lifetime, newest = dict(state.counts), max(state.hourly, key=int)
    removed = trim(state, 64 * 1024)
    assert size_of(state) <= 64 * 1024
    assert removed["hourly_buckets"] > 0 and "event_ids" not in removed
    assert state.counts == lifetime and newest in state.hourly  # lifetime counts and recent hours stay


def test_a_tiny_limit_trims_everything_it_may_and_keeps_what_scoring_needs(model: ScoringModel) -> None:
    state = busy(model, hours=30)
    contributions, events = dict(state.contributions), state.events
    trim(state, 1)
    assert len(state.hourly) == 1 and len(state.seen_event_ids) == 1  # the newest day
    assert state.contributions == contributions and state.events == events


def test_a_state_within_the_limit_is_left_alone(model: ScoringModel) -> None:
    state = busy(model, hours=2)
    before = state.to_dict()
    assert trim(state, 64 * 1024) == {}
    assert state.to_dict() == before
