"""The experience score: properties that must hold whatever the events and their order."""

import itertools
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.domain.scoring import (
    DIMENSIONS,
    ConstituentState,
    Outcome,
    ScoringModel,
    apply_event,
    scores_at,
)

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "config" / "scoring.toml"
MODEL = ScoringModel.from_toml(SHIPPED.read_text())
START = 1_790_000_000.0
DAY = 86_400.0

known_types = st.sampled_from(sorted(MODEL.impacts))
events = st.lists(
    st.tuples(st.integers(0, 10**6), known_types, st.floats(0, 90 * DAY)),
    min_size=1,
    max_size=40,
    unique_by=lambda e: e[0],
)


def fold(batch: list[tuple[int, str, float]]) -> ConstituentState:
    state = ConstituentState(constituent_id="c-1")
    for number, event_type, offset in batch:
        event = {"event_id": f"e{number}", "type": event_type, "source": event_type.split(".")[0]}
        apply_event(state, event, START + offset, MODEL)
    return state


@settings(max_examples=200)
@given(events, st.randoms())
def test_the_same_events_give_the_same_score_in_any_order(batch: list, rng) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(batch)
    rng.shuffle(shuffled)
    at = START + 100 * DAY
    first, second = scores_at(fold(batch), MODEL, at), scores_at(fold(shuffled), MODEL, at)
    for dimension in ("overall", *DIMENSIONS):
        assert math.isclose(getattr(first, dimension), getattr(second, dimension), abs_tol=1e-6)


@given(events)
def test_a_repeated_event_id_counts_once(batch: list) -> None:  # type: ignore[no-untyped-def]
    once = fold(batch)
    twice = fold(batch + batch)
    assert twice.events == once.events == len(batch)
    assert twice.sums == pytest.approx(once.sums)


def test_remembered_event_ids_are_bounded() -> None:
    state = fold([(n, "web.page_view", float(n)) for n in range(MODEL.dedup_window * 3)])
    assert len(state.recent_event_ids) == MODEL.dedup_window


@given(events, st.floats(0, 365 * DAY))
def test_scores_stay_between_0_and_100(batch: list, later: float) -> None:  # type: ignore[no-untyped-def]
    scores = scores_at(fold(batch), MODEL, START + 90 * DAY + later)
    for dimension in ("overall", *DIMENSIONS):
        assert 0.0 <= getattr(scores, dimension) <= 100.0


@given(events, st.lists(st.floats(0, 400 * DAY), min_size=2, max_size=10))
def test_without_new_events_a_score_moves_monotonically_toward_the_baseline(batch: list, waits: list) -> None:  # type: ignore[no-untyped-def]
    state = fold(batch)
    distances = [
        abs(scores_at(state, MODEL, START + 90 * DAY + wait).overall - MODEL.baseline)
        for wait in sorted(waits)
    ]
    assert all(later <= earlier + 1e-9 for earlier, later in itertools.pairwise(distances))


def test_a_newcomer_starts_at_the_baseline() -> None:
    scores = scores_at(ConstituentState(constituent_id="new"), MODEL, START)
    assert scores.overall == pytest.approx(MODEL.baseline)


def test_a_failed_donation_lowers_operations_and_the_overall_score() -> None:
    state = ConstituentState(constituent_id="c-1")
    event = {"event_id": "e1", "type": "donation.failed", "source": "donation"}
    assert apply_event(state, event, START, MODEL) is Outcome.SCORED
    scores = scores_at(state, MODEL, START)
    assert scores.operations < MODEL.baseline
    assert scores.overall < MODEL.baseline
    assert scores.content == pytest.approx(MODEL.baseline)


def test_an_impact_halves_after_one_half_life() -> None:
    state = fold([(1, "donation.failed", 0.0)])
    at_once = scores_at(state, MODEL, START).operations
    half_life_later = state.sums["operations"] * 0.5
    assert MODEL.dimension_score(half_life_later) == pytest.approx(
        scores_at(state, MODEL, START + MODEL.half_life_hours * 3600).operations
    )
    assert at_once < scores_at(state, MODEL, START + MODEL.half_life_hours * 3600).operations


def test_unknown_types_are_counted_but_do_not_move_the_score() -> None:
    state = ConstituentState(constituent_id="c-1")
    event = {"event_id": "e1", "type": "crm.synced", "source": "crm"}
    assert apply_event(state, event, START, MODEL) is Outcome.UNKNOWN_TYPE
    assert state.counts_by_type == {"crm.synced": 1}
    assert scores_at(state, MODEL, START).overall == pytest.approx(MODEL.baseline)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version = ", "not valid TOML"),
        (SHIPPED.read_text().replace("principles = 0.2", "principles = 0.3"), "weights must sum to 1"),
        (SHIPPED.read_text().replace("half_life_hours = 168.0", "half_life_hours = 0"), "half_life_hours"),
        (SHIPPED.read_text().replace("{ content = 1 }", "{ contnet = 1 }"), "impacts.web.page_view.contnet"),
    ],
)
def test_an_invalid_configuration_is_refused_with_a_precise_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="scoring config") as raised:
        ScoringModel.from_toml(text)
    assert message in str(raised.value)
