"""The report's contributions in the compiled fold (services/fold_core/src/report.rs) against
services/domain/report/contributions.py: the same people's events, in batches — out of order, repeated,
granting roles late, across more windows than a person keeps, failed gifts of every kind of amount,
recoveries and people newly at risk — move the same counters (each person once per window per batch)
and leave each person the same windows and roles, through the state's bytes too."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from services.domain.report import contributions
from services.domain.report.counters import WindowCounters
from services.domain.scoring import ConstituentState, Outcome, apply_event
from tests.unit.core.test_differential import MODEL, START, amounts, compiled, event_types, offsets, sources

PEOPLE = ["person-1", "person-2", "person-3"]
# seconds from START: besides the differential test's spread, instants on the edges of the horizons a
# person's windows take late events for (48 h for an hour, 40 days for a day, after their newest event)
HOUR, DAY = 3600.0, 86400.0
times = offsets | st.sampled_from(
    [0.0, 3599.0, 3600.0, 48 * HOUR, 49 * HOUR + 1, 49 * HOUR - 1, 41 * DAY, 41 * DAY + 1, 41 * DAY - 1]
)
failure_attributes = st.fixed_dictionaries(
    {},
    optional={
        "amount": amounts,
        "processor": st.sampled_from(["stripe", "paypal", "other-pay", "", 3]),
        "error_code": st.sampled_from(["card_declined", "expired_card", "weird", "", None, 0, 51]),
        "recurring": st.sampled_from([True, False]),
        "form": st.sampled_from(["volunteer_signup", "petition", "newsletter"]),
    },
)


@st.composite
def batches(draw: Any) -> list[list[tuple[str, Any]]]:
    """Batches of three people's events, with recoveries and drops below the floor among them."""
    out = []
    for _ in range(draw(st.integers(1, 6))):
        batch: list[tuple[str, Any]] = []
        for n in range(draw(st.integers(1, 25))):
            if draw(st.integers(0, 12)) == 0:
                what = draw(st.sampled_from(["recovered", "fell_below_floor"]))
                batch.append((what, (START + float(draw(times)), draw(st.sampled_from([0.0, 25.0, 19.99])))))
                continue
            kind = draw(
                st.sampled_from(["donation.failed", "donation.succeeded", "web.form_submitted"]) | event_types
            )
            event = {
                "event_id": f"e-{draw(st.integers(0, 40))}" if draw(st.booleans()) else f"u-{len(out)}-{n}",
                "type": kind,
                "source": draw(st.just(kind.split(".")[0]) | sources),
                "attributes": draw(failure_attributes),
            }
            batch.append(("event", (draw(st.sampled_from(PEOPLE)), event, START + float(draw(times)))))
        out.append(batch)
    return out


def counted(counters: WindowCounters | list[tuple[str, list[tuple[str, int]]]]) -> dict[str, Counter[str]]:
    """Counters compared as sums: a counter at zero and a window with none are as good as absent."""
    items = counters.items() if isinstance(counters, dict) else counters
    out = {window: Counter({name: v for name, v in dict(values).items() if v}) for window, values in items}
    return {window: values for window, values in out.items() if values}


@settings(max_examples=300, deadline=None)
@given(batches())
def test_the_compiled_report_moves_the_counters_as_the_python_model(
    batches: list[list[tuple[str, Any]]],
) -> None:
    core = compiled()
    model = core.Model(MODEL.model_dump_json())
    people = {name: core.Constituent(name) for name in PEOPLE}
    states = {name: ConstituentState(name) for name in PEOPLE}
    for batch in batches:
        counters, expected_counters = core.ReportCounters(), {}
        journal = contributions.Journal()
        for kind, step in batch:
            if kind == "event":
                name, event, at = step
                event = {**event, "constituent_id": name}
                if people[name].apply(model, orjson.dumps(event), at) != "duplicate":
                    people[name].report_event(model, orjson.dumps(event), at, counters)
                if apply_event(states[name], event, at, MODEL) is not Outcome.DUPLICATE:
                    contributions.on_event(states[name], event, at, MODEL, expected_counters, journal)
            else:
                at, amount = step
                getattr(counters, kind)(at, amount)
                getattr(contributions, kind)(expected_counters, at, amount)
        for person in people.values():
            person.report_flush(model, counters)
        journal.flush(states, MODEL, expected_counters)
        assert counted(counters.to_dict()) == counted(expected_counters)
        for name, person in people.items():
            held = orjson.loads(person.to_json())
            assert held["report_windows"] == states[name].report_windows
            assert held["role_since"] == states[name].role_since
            assert orjson.loads(core.Constituent.from_bytes(person.to_bytes()).to_json()) == held
            restored = core.Constituent.from_python_state(orjson.dumps(states[name].to_dict()))
            assert orjson.loads(restored.to_json())["report_windows"] == states[name].report_windows


def test_a_donor_moves_from_one_window_score_to_the_next_as_in_python() -> None:
    core = compiled()
    model = core.Model(MODEL.model_dump_json())
    person, state = core.Constituent("person-1"), ConstituentState("person-1")
    gift = {"type": "donation.succeeded", "source": "donation", "constituent_id": "person-1"}
    results = []
    for n in range(2):  # two batches, one gift each, in the same hour
        counters, expected, journal = core.ReportCounters(), {}, contributions.Journal()
        event, at = {**gift, "event_id": f"g-{n}"}, START + 60.0 * n
        person.apply(model, orjson.dumps(event), at)
        person.report_event(model, orjson.dumps(event), at, counters)
        person.report_flush(model, counters)
        apply_event(state, event, at, MODEL)
        contributions.on_event(state, event, at, MODEL, expected, journal)
        journal.flush({"person-1": state}, MODEL, expected)
        results.append((counted(counters.to_dict()), counted(expected)))
    assert [got for got, _ in results] == [expected for _, expected in results]
    first, second = (got[f"h:{int(START // 3600)}"] for got, _ in results)
    assert first["people|all"] == 1 and first["people|role:donor"] == 1  # in, with the role the gift gave
    assert "people|all" not in second and second["sum|all|overall"] > 0  # moved, not counted again
