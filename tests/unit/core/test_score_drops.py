"""``score.dropped`` in the compiled fold (services/fold_core/src/score_drops.rs) against
services/domain/alerts/score_drops.py: folded batch by batch as the scorer folds them — each batch's
events, then for the person the score at their newest event noted among the hourly peaks and the alert
updated with the batch's newest event — both give the same alerts, to the character, and the same state."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from services.domain.alerts.score_drops import note_score, score_alert_update
from services.domain.scoring import ConstituentState, Outcome, apply_event, scores_at
from tests.unit.core.test_differential import MODEL, SCORING_FIELDS, START, compiled, streams

Events = list[tuple[dict[str, Any], float]]


def python_batches(batches: list[Events]) -> tuple[list[Any], ConstituentState]:
    state, alerts = ConstituentState("person-1"), []
    for batch in batches:
        latest = None
        for event, at in batch:
            if apply_event(state, event, at, MODEL) is not Outcome.DUPLICATE and (
                latest is None or at >= latest[0]
            ):
                latest = (at, event)
        if latest is not None:
            overall = scores_at(state, MODEL, state.reference_time).overall
            note_score(state, state.reference_time, overall, MODEL)
            alerts.append(score_alert_update(state, overall, MODEL, latest[1]))
    return alerts, state


def compiled_batches(batches: list[Events]) -> tuple[list[Any], Any]:
    core = compiled()
    model = core.Model(MODEL.model_dump_json())
    person, alerts = core.Constituent("person-1"), []
    for batch in batches:
        latest = None
        for event, at in batch:
            if person.apply(model, orjson.dumps(event), at) != "duplicate" and (
                latest is None or at >= latest[0]
            ):
                latest = (at, event)
        if latest is not None:
            reference_time = orjson.loads(person.to_json())["reference_time"]
            overall = person.scores_at(model, reference_time)[0]
            person.note_score(model, reference_time, overall)
            alert = person.score_alert_update(model, overall, orjson.dumps(latest[1]))
            alerts.append(None if alert is None else orjson.loads(alert))
    return alerts, person


@settings(max_examples=300, deadline=None)
@given(st.lists(streams(), min_size=1, max_size=6))
def test_the_compiled_fold_raises_and_resolves_score_drops_as_the_python_model(batches: list[Events]) -> None:
    alerts, person = compiled_batches(batches)

    expected_alerts, expected = python_batches(batches)
    assert alerts == expected_alerts
    as_dict = expected.to_dict()
    assert orjson.loads(person.to_json()) == {name: as_dict[name] for name in SCORING_FIELDS}


def failures(first: int, count: int, at: float) -> Events:
    return [
        (
            {
                "event_id": f"f-{n}",
                "type": "donation.failed",
                "source": "donation",
                "department": "fundraising",
                "occurred_at": f"2026-01-0{1 + n % 9}T00:00:00+00:00",
            },
            at + n,
        )
        for n in range(first, first + count)
    ]


def test_a_drop_opens_once_and_resolves_once_as_in_python() -> None:
    gifts = [
        (
            {"event_id": f"g-{n}", "type": "donation.succeeded", "source": "donation", "occurred_at": "x"},
            START + n,
        )
        for n in range(6)
    ]
    batches = [
        gifts,
        failures(0, 3, START + 60),
        failures(3, 3, START + 120),
        gifts[:1],
        failures(6, 1, START + 30 * 86400),
    ]

    alerts, _ = compiled_batches(batches)

    assert [a and (a["status"], a["detail"]) for a in alerts] == [
        a and (a["status"], a["detail"]) for a in python_batches(batches)[0]
    ]
    assert [a["status"] for a in alerts if a] == ["open", "resolved"]  # the rule did fire: not vacuous


def test_a_peak_counts_for_the_drop_window_and_not_an_hour_longer() -> None:
    gifts = [
        (
            {"event_id": f"g-{n}", "type": "donation.succeeded", "source": "donation", "occurred_at": "x"},
            START + n,
        )
        for n in range(6)
    ]
    for hours, opened in ((23, True), (24, False)):  # the window is 24 h (deploy/config/scoring.toml)
        batches = [gifts, failures(0, 2, START + hours * 3600)]

        alerts, _ = compiled_batches(batches)

        assert alerts == python_batches(batches)[0]
        assert (alerts[-1] is not None) is opened, hours
