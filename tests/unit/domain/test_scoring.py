"""The experience score (scoring.py, readings.py): what holds whatever the events and their order."""

import itertools
import math
from dataclasses import MISSING, Field, fields
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.domain import dedup
from services.domain.readings import explain, lifetime_counts, rolling_counts, score_history
from services.domain.scoring import ConstituentState, Outcome, apply_event, dimension_score, scores_at
from services.domain.scoring_model import DIMENSIONS, ScoringModel
from tests.fixtures.config import MODEL, SHIPPED_MODEL

START = 1_790_000_000.0
DAY = 86_400.0

known_types = st.sampled_from(sorted(MODEL.impacts))
events = st.lists(
    st.tuples(st.integers(0, 10**6), known_types, st.floats(0, 90 * DAY)),
    min_size=1,
    max_size=40,
    unique_by=lambda e: e[0],
)


def event(number: int, event_type: str, **attributes: object) -> dict[str, object]:
    return {
        "event_id": f"e{number}",
        "type": event_type,
        "source": event_type.split(".")[0],
        "attributes": attributes,
    }


def fold(batch: list[tuple[int, str, float]]) -> ConstituentState:
    state = ConstituentState(constituent_id="c-1")
    for number, event_type, offset in batch:
        apply_event(state, event(number, event_type), START + offset, MODEL)
    return state


def comparable(state: ConstituentState) -> dict[str, object]:
    """Everything that must not depend on arrival order (what dedup remembers of events beyond its
    horizon does)."""
    facts = state.to_dict()
    del facts["seen_event_ids"]
    facts["contributions"] = {t: [round(v, 6) for v in sums] for t, sums in state.contributions.items()}
    return facts


@settings(max_examples=200)
@given(events, st.randoms())
def test_the_same_events_give_the_same_score_in_any_order(batch: list, rng) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(batch)
    rng.shuffle(shuffled)
    at = START + 100 * DAY
    first, second = scores_at(fold(batch), MODEL, at), scores_at(fold(shuffled), MODEL, at)
    for dimension in ("overall", *DIMENSIONS):
        assert math.isclose(getattr(first, dimension), getattr(second, dimension), abs_tol=1e-6)


@settings(max_examples=100)
@given(events, st.randoms())
def test_rolling_facts_and_roles_do_not_depend_on_order_either(batch: list, rng) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(batch)
    rng.shuffle(shuffled)
    assert comparable(fold(batch)) == comparable(fold(shuffled))


a_years_history = st.lists(
    st.tuples(st.integers(0, 10**6), known_types, st.floats(0, 400 * DAY)),
    min_size=1,
    max_size=300,
    unique_by=lambda e: e[0],
)


@given(a_years_history, st.randoms())
def test_a_repeated_event_id_counts_once_however_old(batch: list, rng) -> None:  # type: ignore[no-untyped-def]
    once = fold(batch)
    repeats = batch + batch
    rng.shuffle(repeats)
    twice = fold(repeats)
    assert twice.events == once.events == len(batch)
    assert comparable(twice) == comparable(once)


def test_every_event_id_is_remembered_not_only_the_last_256() -> None:
    first = [(n, "web.page_view", n * 60.0) for n in range(5000)]  # 5,000 events in 3.5 days
    state = fold(first)
    for number, event_type, offset in first[:10]:
        assert apply_event(state, event(number, event_type), START + offset, MODEL) is Outcome.DUPLICATE
    assert state.events == 5000


def test_an_event_dated_a_year_before_the_newest_is_still_remembered_and_its_repeat_dropped() -> None:
    """A backfill re-read (a replay, a rebalance, a CRM import sent twice) counts nothing twice."""
    state = fold([(1, "web.page_view", 0.0), (2, "web.page_view", 400 * DAY)])
    assert len(state.seen_event_ids) == 2  # both days kept
    assert apply_event(state, event(1, "web.page_view"), START, MODEL) is Outcome.DUPLICATE
    assert apply_event(state, event(2, "web.page_view"), START + 400 * DAY, MODEL) is Outcome.DUPLICATE
    assert state.events == 2


def test_a_state_written_with_the_last_256_ids_keeps_them() -> None:
    old = {"constituent_id": "c-1", "recent_event_ids": ["web:e7"], "last_touch": {"web": START}}
    state = ConstituentState.from_dict(old)
    assert apply_event(state, event(7, "web.page_view"), START, MODEL) is Outcome.DUPLICATE


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
    half_life_later = state.contributions["donation.failed"][1] * 0.5
    assert dimension_score(MODEL, half_life_later) == pytest.approx(
        scores_at(state, MODEL, START + MODEL.half_life_hours * 3600).operations
    )
    assert at_once < scores_at(state, MODEL, START + MODEL.half_life_hours * 3600).operations


def test_unknown_types_and_sources_are_counted_as_other_and_do_not_move_the_score() -> None:
    state = ConstituentState(constituent_id="c-1")
    event = {"event_id": "e1", "type": "crm.synced", "source": "crm"}
    assert apply_event(state, event, START, MODEL) is Outcome.UNKNOWN_TYPE
    assert lifetime_counts(state) == {"by_source": {"other": 1}, "by_type": {"other": 1}}
    assert state.last_touch == {"other": START}
    assert scores_at(state, MODEL, START).overall == pytest.approx(MODEL.baseline)


def test_whatever_types_and_sources_a_caller_names_a_persons_maps_stay_as_small_as_the_model() -> None:
    state = ConstituentState(constituent_id="c-1")
    for n in range(2000):
        apply_event(state, {"event_id": f"e{n}", "type": f"made.up{n}", "source": f"s{n % 50}"}, START, MODEL)
    assert state.events == 2000
    assert set(state.counts) == {"other|other"} and set(state.last_touch) == {"other"}
    assert dedup.count(state.seen_event_ids) == 2000


def test_an_event_id_counts_once_per_source_not_across_sources() -> None:
    state = ConstituentState(constituent_id="c-1")
    claimed = {"event_id": "sendgrid:sg-1", "type": "email.opened", "source": "web"}  # a web key, first
    real = {"event_id": "sendgrid:sg-1", "type": "email.opened", "source": "email"}
    assert apply_event(state, claimed, START, MODEL) is Outcome.SCORED
    assert apply_event(state, real, START, MODEL) is Outcome.SCORED  # the provider's event still counts
    assert apply_event(state, real, START + 1, MODEL) is Outcome.DUPLICATE


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version = ", "not valid TOML"),
        (SHIPPED_MODEL.read_text().replace("principles = 0.2", "principles = 0.3"), "weights must sum to 1"),
        (
            SHIPPED_MODEL.read_text().replace("half_life_hours = 168.0", "half_life_hours = 0"),
            "half_life_hours",
        ),
        (
            SHIPPED_MODEL.read_text().replace("{ content = 1 }", "{ contnet = 1 }"),
            "impacts.web.page_view.contnet",
        ),
        (SHIPPED_MODEL.read_text().replace('role = "donor"', 'role = "Donor!"'), "roles.0.role"),
    ],
)
def test_an_invalid_configuration_is_refused_with_a_precise_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="scoring config") as raised:
        ScoringModel.from_toml(text)
    assert message in str(raised.value)


def test_a_late_event_counts_with_the_weight_it_would_have_had_on_time() -> None:
    on_time = fold([(1, "donation.failed", 0.0), (2, "web.page_view", 3 * DAY)])
    late = ConstituentState(constituent_id="c-1")
    apply_event(late, event(2, "web.page_view"), START + 3 * DAY, MODEL)
    apply_event(late, event(1, "donation.failed"), START, MODEL)  # arrives three days late
    assert scores_at(late, MODEL, START + 4 * DAY) == scores_at(on_time, MODEL, START + 4 * DAY)
    assert scores_at(late, MODEL, START + 4 * DAY).operations < MODEL.baseline


def test_rolling_counts_cover_24_hours_7_days_and_30_days_of_event_time() -> None:
    state = fold(
        [
            (1, "donation.failed", 0.0),
            (2, "web.page_view", 5 * DAY),
            (3, "email.bounced", 9.5 * DAY),
            (4, "web.page_view", 10 * DAY),
        ]
    )
    counts = rolling_counts(state, MODEL, START + 10 * DAY)
    assert counts["24h"] == {
        "by_source": {"email": 1, "web": 1},
        "by_type": {"email.bounced": 1, "web.page_view": 1},
        "failures": 1,
    }
    assert counts["7d"]["by_type"] == {"email.bounced": 1, "web.page_view": 2}
    assert counts["30d"]["by_type"] == {"donation.failed": 1, "email.bounced": 1, "web.page_view": 2}
    assert counts["30d"]["failures"] == 2


def test_hourly_buckets_older_than_30_days_are_dropped() -> None:
    state = fold([(n, "web.page_view", n * DAY) for n in range(60)])
    assert len(state.hourly) == 30
    assert lifetime_counts(state)["by_type"] == {"web.page_view": 60}


def test_roles_are_derived_from_events_across_silos() -> None:
    state = ConstituentState(constituent_id="c-1")
    apply_event(state, event(1, "donation.succeeded", amount=20, recurring=True), START, MODEL)
    apply_event(state, event(2, "web.form_submitted", form="volunteer_signup"), START, MODEL)
    apply_event(state, event(3, "event.attended"), START, MODEL)
    apply_event(state, event(4, "web.form_submitted", form="contact"), START, MODEL)
    assert state.roles == ["donor", "event_attendee", "recurring_donor", "volunteer"]


def test_the_last_touch_per_channel_is_the_newest_event_time() -> None:
    state = fold([(1, "web.page_view", 50.0), (2, "web.page_view", 10.0), (3, "email.opened", 20.0)])
    assert state.last_touch == {"web": START + 50, "email": START + 20}
    assert state.last_event_at == START + 50


def test_explain_lists_what_moves_the_score_most_with_decayed_points() -> None:
    state = fold([(1, "donation.failed", 0.0), (2, "web.page_view", 0.0), (3, "web.page_view", 0.0)])
    rows = explain(state, MODEL, START + MODEL.half_life_hours * 3600)
    assert [row["type"] for row in rows] == ["donation.failed", "web.page_view"]
    assert rows[0]["points"]["operations"] == pytest.approx(-10.0)
    assert rows[1]["events"] == 2


def test_the_service_refuses_to_start_on_a_missing_or_invalid_config(tmp_path: Path) -> None:
    from services.common.config_files import ConfigError, load_scoring_model

    with pytest.raises(ConfigError, match=r"cannot read scoring config .*MP_SCORING_CONFIG"):
        load_scoring_model(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text(SHIPPED_MODEL.read_text().replace("baseline = 50.0", "baseline = 150.0"))
    with pytest.raises(ConfigError, match=r"invalid scoring config: .*broken\.toml: baseline"):
        load_scoring_model(broken)


def test_the_timeline_keeps_the_newest_touchpoints_by_event_time_in_order() -> None:
    batch = [(n, "web.page_view", float(n * 60)) for n in range(MODEL.timeline_length + 5)]
    state = fold(list(reversed(batch)))
    kept = [touch[3] for touch in state.timeline]
    assert kept == [f"e{n}" for n in range(5, MODEL.timeline_length + 5)]
    assert [touch[1:3] for touch in state.timeline[:1]] == [["web", "web.page_view"]]


@given(events)
def test_the_score_history_is_the_score_of_the_events_up_to_each_touchpoint(batch: list) -> None:  # type: ignore[no-untyped-def]
    history = score_history(fold(batch), MODEL)
    kept = sorted(batch, key=lambda e: (e[2], f"e{e[0]}"))[-MODEL.timeline_length :]
    assert [at for at, _ in history] == sorted({START + offset for _, _, offset in kept})
    for at, scores in history:
        so_far = fold([e for e in batch if START + e[2] <= at])
        expected = scores_at(so_far, MODEL, at)
        for dimension in ("overall", *DIMENSIONS):
            assert math.isclose(getattr(scores, dimension), getattr(expected, dimension), abs_tol=1e-6)


def test_the_score_history_leaves_out_touchpoints_too_old_to_rebuild_exactly() -> None:
    ancient = -START  # the year 1970 minus 56 years of seconds: far beyond 20 half-lives
    state = fold([(1, "donation.failed", ancient), (2, "web.page_view", 0.0), (3, "email.opened", 60.0)])
    history = score_history(state, MODEL)
    assert [at for at, _ in history] == [START, START + 60.0]


def test_the_written_out_init_takes_every_field_in_order_with_its_declared_default() -> None:
    """``ConstituentState.__init__`` is written by hand (compiled, unlike the generated one): it must match
    the fields, their order and their defaults, and give every state containers of its own."""
    declared = fields(ConstituentState)
    new, other = ConstituentState("someone"), ConstituentState("someone else")
    for declared_field in declared[1:]:
        default = (
            declared_field.default_factory()  # type: ignore[misc]
            if declared_field.default is MISSING
            else declared_field.default
        )
        assert getattr(new, declared_field.name) == default, declared_field.name
        if isinstance(default, dict | list):
            assert getattr(new, declared_field.name) is not getattr(other, declared_field.name)
    values = [distinct_value(f, number) for number, f in enumerate(declared)]  # positional, in order
    state = ConstituentState(*values)
    assert [getattr(state, f.name) for f in declared] == values


def distinct_value(declared_field: Field[Any], number: int) -> Any:
    """A value of the field's type (compiled code checks it) that no other field gets; None for the
    optional ones (of different types: mypy checks that the two are not swapped)."""
    if declared_field.name == "constituent_id":
        return f"person {number}"
    default = declared_field.default
    if default is MISSING:
        return {"value": number} if isinstance(declared_field.default_factory(), dict) else [number]  # type: ignore[misc]
    if isinstance(default, float):
        return number + 0.5
    if isinstance(default, int):
        return number
    return None
