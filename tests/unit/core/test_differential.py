"""The compiled fold (services/fold_core, `mission_pulse_core`) against its specification, the Python
model of services/domain/scoring.py: the same streams — out of order, repeated, late, of types and sources
the model does not know, gifts of every kind of amount, events that give roles — must leave the same
state, to the float, and the same scores at any instant.

Where a toolchain is present (`cargo`: every machine here, and CI) the core must have been built; where it
is not, these are skipped and the scorer runs the Python model (docs/compiled-core.md)."""

from __future__ import annotations

import importlib
import shutil
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.config_files import load_scoring_model
from services.common.settings import CommonSettings
from services.domain.scoring import ConstituentState, apply_event, scores_at
from services.domain.scoring_model import ScoringModel


def compiled() -> ModuleType:
    if shutil.which("cargo") is None:
        return pytest.importorskip("mission_pulse_core", reason="no Rust toolchain: the Python model runs")
    return importlib.import_module("mission_pulse_core")  # a toolchain and no core: `make core` failed


MODEL = load_scoring_model(CommonSettings().scoring_config)
SCORING_FIELDS = [
    "constituent_id",
    "reference_time",
    "contributions",
    "seen_event_ids",
    "counts",
    "hourly",
    "last_touch",
    "roles",
    "events",
    "giving",
    "timeline",
    "score_peaks",
    "score_alerts_opened",
    "score_alert_opened_at",
    "failed_transaction",
    "handoffs",
    "early_follow_ups",
    "recovery",
    "recovery_early",
    "report_windows",
    "role_since",
]  # the fields of ConstituentState the core folds so far
START = 1_767_225_600.0  # 2026-01-01

event_types = st.sampled_from([*sorted(MODEL.impacts), "web.unknown_thing", "crm.note_added"])
sources = st.sampled_from([*sorted(MODEL.sources), "crm"])
amounts = st.one_of(
    st.integers(-1000, 10**6),
    st.floats(-1e6, 1e9, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.125, 2.675, 1.005, 19.99, 0.1]),
    st.booleans(),
    st.text(max_size=3),
    st.none(),
)
attributes = st.fixed_dictionaries(
    {},
    optional={
        "amount": amounts,
        "recurring": st.sampled_from([True, False, 1, 1.0, 0, "true"]),
        "form": st.sampled_from(["volunteer_signup", "petition", "newsletter", "other"]),
        "template": st.sampled_from(["newsletter", "receipt"]),
    },
)
# seconds from START: within hours, days, months (hourly buckets and giving periods roll over), a year
offsets = st.one_of(
    st.floats(0, 7200), st.floats(0, 40 * 86400), st.floats(0, 400 * 86400), st.integers(0, 10**7)
)


@st.composite
def streams(draw: Any) -> list[tuple[dict[str, Any], float]]:
    events = []
    for n in range(draw(st.integers(1, 40))):
        event_type = draw(event_types)
        event = {
            "event_id": f"e-{draw(st.integers(0, 12))}",  # a small pool: repeats, across sources too
            "type": event_type,
            "source": draw(st.just(event_type.split(".")[0]) | sources),
        }
        if draw(st.booleans()):
            event["attributes"] = draw(attributes)
        if draw(st.booleans()):
            event["department"] = draw(st.sampled_from(["fundraising", "", "events"]))
        at = START + float(draw(offsets))
        event["occurred_at"] = datetime.fromtimestamp(at, UTC).isoformat()
        events.append((event, at))
        if n and draw(st.integers(0, 9)) == 0:  # the same event again, later or earlier
            events.append((events[-1][0], START + float(draw(offsets))))
    return events


def python_fold(
    events: list[tuple[dict[str, Any], float]], model: ScoringModel
) -> tuple[list[str], ConstituentState]:
    state = ConstituentState("person-1")
    return [apply_event(state, event, at, model).value for event, at in events], state


@settings(max_examples=300, deadline=None)
@given(streams())
def test_the_compiled_fold_leaves_the_state_the_python_model_leaves(
    events: list[tuple[dict[str, Any], float]],
) -> None:
    core = compiled()
    model = core.Model(MODEL.model_dump_json())
    person = core.Constituent("person-1")

    outcomes = [person.apply(model, orjson.dumps(event), at) for event, at in events]

    expected_outcomes, expected = python_fold(events, MODEL)
    assert outcomes == expected_outcomes
    as_dict = expected.to_dict()
    assert orjson.loads(person.to_json()) == {name: as_dict[name] for name in SCORING_FIELDS}
    newest = max(at for _, at in events)
    for at in (newest, newest + 3600, newest + 90 * 86400):
        expected_scores = scores_at(expected, MODEL, at)
        assert person.scores_at(model, at) == (
            expected_scores.overall,
            expected_scores.content,
            expected_scores.operations,
            expected_scores.principles,
        )


def test_a_decay_over_months_is_pythons_to_the_last_bit() -> None:
    """0.5 ** x by the C library's pow, as Python computes it; exp2(-x), which a compiler may put in its
    place, is one bit off for this span (found by the round trip through a Python-written state)."""
    core = compiled()
    model = core.Model(MODEL.model_dump_json())
    events = [
        ({"event_id": "e-1", "type": "donation.payment_method_updated", "source": "donation"}, START),
        ({"event_id": "e-0", "type": "donation.failed", "source": "donation"}, 1788477492.5675464),
    ]
    person = core.Constituent("person-1")
    for event, at in events:
        person.apply(model, orjson.dumps(event), at)

    _, expected = python_fold(events, MODEL)
    held = orjson.loads(person.to_json())["contributions"]["donation.payment_method_updated"]
    assert (
        held
        == expected.contributions["donation.payment_method_updated"]
        == [0.0, 5.2871775971680365e-11, 0.0]
    )


def test_a_model_it_cannot_read_is_a_clear_error() -> None:
    core = compiled()
    with pytest.raises(ValueError, match="scoring model: missing field `baseline`"):
        core.Model("{}")


def test_an_event_it_cannot_read_is_a_clear_error() -> None:
    core = compiled()
    model = core.Model(MODEL.model_dump_json())
    with pytest.raises(ValueError, match="event: missing field `source`"):
        core.Constituent("person-1").apply(model, b'{"event_id": "e", "type": "web.page_view"}', START)
