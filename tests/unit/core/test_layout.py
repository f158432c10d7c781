"""A constituent's state as the compiled fold's bytes (services/fold_core/src/layout.rs): what the
changelog will carry. Read back it is the same state — folding on from it gives what folding on without
the round trip gives, to the float — and so is a state the Python model wrote; anything else is a clear
ValueError, never a crash."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings

from services.domain.alerts.score_drops import note_score, score_alert_update
from services.domain.scoring import ConstituentState, apply_event
from tests.unit.core.test_differential import MODEL, START, compiled, python_fold, streams

Events = list[tuple[dict[str, Any], float]]


@settings(max_examples=200, deadline=None)
@given(streams(), streams())
def test_a_state_read_back_from_its_bytes_folds_on_as_the_one_never_written(
    before: Events, after: Events
) -> None:
    core = compiled()
    model = core.Model(MODEL.model_dump_json())
    kept, restored = core.Constituent("person-1"), None
    for event, at in before:
        kept.apply(model, orjson.dumps(event), at)
    kept.note_score(model, START, 50.0)  # hourly peaks, and a score.dropped alert open since the last event
    kept.note_score(model, START + 7200, 45.5)
    kept.score_alert_update(model, 10.0, orjson.dumps(before[-1][0]))
    restored = core.Constituent.from_bytes(kept.to_bytes())
    assert restored.to_json() == kept.to_json()

    for event, at in after:
        assert restored.apply(model, orjson.dumps(event), at) == kept.apply(model, orjson.dumps(event), at)
    assert restored.to_json() == kept.to_json()


@settings(max_examples=200, deadline=None)
@given(streams(), streams())
def test_a_state_the_python_model_wrote_folds_on_in_the_core_as_in_python(
    before: Events, after: Events
) -> None:
    core = compiled()
    model = core.Model(MODEL.model_dump_json())
    _, written = python_fold(before, MODEL)
    note_score(
        written, START, 50.0, MODEL
    )  # hourly peaks, and a score.dropped alert open since the last event
    note_score(written, START + 7200, 45.5, MODEL)
    score_alert_update(written, 10.0, MODEL, before[-1][0])
    person = core.Constituent.from_python_state(orjson.dumps(written.to_dict()))

    restored_in_python = ConstituentState.from_dict(orjson.loads(orjson.dumps(written.to_dict())))
    outcomes = [person.apply(model, orjson.dumps(event), at) for event, at in after]

    assert outcomes == [apply_event(restored_in_python, event, at, MODEL).value for event, at in after]
    expected = restored_in_python.to_dict()
    assert orjson.loads(person.to_json()) == {name: expected[name] for name in orjson.loads(person.to_json())}


def test_a_typical_persons_scoring_state_fits_in_a_fraction_of_its_json() -> None:
    """Ten touchpoints over a month from three sources, ids as UUIDs: the scoring fields the Python model
    keeps as ~2 KB of JSON."""
    core = compiled()
    model = core.Model(MODEL.model_dump_json())
    person, state = (
        core.Constituent("0f8e4c1a-6d2b-4d7e-9a51-3c2b1e0d9f7a"),
        ConstituentState("0f8e4c1a-6d2b"),
    )
    kinds = ["web.page_view", "email.opened", "email.clicked", "donation.succeeded", "web.form_submitted"]
    for n in range(10):
        event = {
            "event_id": f"7c9e6679-7425-40de-944b-e07fc1f90a{n:02d}",
            "type": kinds[n % 5],
            "source": kinds[n % 5].split(".")[0],
            "attributes": {"amount": 25, "form": "newsletter"},
        }
        person.apply(model, orjson.dumps(event), START + n * 3 * 86400.0)
        apply_event(state, event, START + n * 3 * 86400.0, MODEL)

    size = len(person.to_bytes())

    assert size <= 700  # 681 B on 2026-12-07 (with the empty hand-off lists)
    as_json = orjson.loads(person.to_json())  # the same fields as the Python model writes them
    assert size * 3 < len(
        orjson.dumps({name: value for name, value in state.to_dict().items() if name in as_json})
    )


def test_bytes_it_did_not_write_are_a_clear_error_at_every_length() -> None:
    core = compiled()
    model = core.Model(MODEL.model_dump_json())
    person = core.Constituent("person-1")
    for n in range(5):
        event = {
            "event_id": f"e-{n}",
            "type": "donation.succeeded",
            "source": "donation",
            "attributes": {"amount": 5},
        }
        person.apply(model, orjson.dumps(event), START + n * 3600.0)
    written = person.to_bytes()

    for length in range(len(written)):
        with pytest.raises(ValueError):
            core.Constituent.from_bytes(written[:length])
    with pytest.raises(ValueError, match="state layout version 9, this core reads 1"):
        core.Constituent.from_bytes(b"\x09" + written[1:])
    with pytest.raises(ValueError, match="bytes after the state"):
        core.Constituent.from_bytes(written + b"\x00")
