"""Failed transactions in the compiled fold (services/fold_core/src/transactions.rs) against
services/domain/alerts/transactions.py: the same failures, repeats, successes and storms give the same
alerts — opened, escalated once, resolved — to the character, and the same state."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.config_files import load_alert_rules
from services.common.settings import CommonSettings
from services.domain.alerts.transactions import on_transaction
from services.domain.scoring import ConstituentState, Outcome, apply_event
from tests.unit.core.test_differential import MODEL, SCORING_FIELDS, START, compiled

RULES = load_alert_rules(CommonSettings().alerts_config).failed_transactions

payment_attributes = st.fixed_dictionaries(
    {},
    optional={
        "amount": st.one_of(
            st.integers(0, 2000), st.floats(0, 5000, allow_nan=False), st.booleans(), st.text(max_size=2)
        ),
        "recurring": st.sampled_from([True, False, 1, "yes"]),
        "currency": st.sampled_from(["USD", "EUR", "", " ", "GBP\x1f", "CHF\t"]),
        "error_code": st.sampled_from(["card_declined", "", "insufficient_funds", 0, 51, None]),
    },
)


@st.composite
def payments(draw: Any) -> list[tuple[dict[str, Any], float, bool]]:
    """Failures and successes of one person, minutes to hours apart, some repeated; each with whether a
    storm budget lets an alert open."""
    events = []
    for n in range(draw(st.integers(1, 30))):
        at = START + draw(st.one_of(st.integers(0, 3 * 3600), st.floats(0, 86400)))
        event = {
            "event_id": f"p-{draw(st.integers(0, 25))}",
            "type": draw(st.sampled_from(["donation.failed", "donation.failed", "donation.succeeded"])),
            "source": "donation",
            "constituent_id": "person-1",
            "occurred_at": f"t{n}",
        }
        if draw(st.booleans()):
            event["attributes"] = draw(payment_attributes)
        if draw(st.booleans()):
            event["department"] = draw(st.sampled_from(["finance", ""]))
        events.append((event, float(at), draw(st.integers(0, 5)) > 0))
    return events


@settings(max_examples=300, deadline=None)
@given(payments())
def test_the_compiled_fold_opens_escalates_and_resolves_as_the_python_model(
    events: list[tuple[dict[str, Any], float, bool]],
) -> None:
    core = compiled()
    model, rules = core.Model(MODEL.model_dump_json()), core.TransactionRules(RULES.model_dump_json())
    person, state = core.Constituent("person-1"), ConstituentState("person-1")
    alerts, expected_alerts = [], []
    for event, at, may_open in events:
        if person.apply(model, orjson.dumps(event), at) != "duplicate":
            alert = person.on_transaction(rules, orjson.dumps(event), at, may_open)
            alerts.append(None if alert is None else orjson.loads(alert))
        if apply_event(state, event, at, MODEL) is not Outcome.DUPLICATE:
            expected_alerts.append(on_transaction(state, event, at, RULES, may_open))

    assert alerts == expected_alerts
    as_dict = state.to_dict()
    assert orjson.loads(person.to_json()) == {name: as_dict[name] for name in SCORING_FIELDS}
    assert orjson.loads(core.Constituent.from_bytes(person.to_bytes()).to_json()) == orjson.loads(
        person.to_json()
    )


def test_three_failures_within_the_hour_escalate_once_and_a_success_resolves_as_in_python() -> None:
    core = compiled()
    model, rules = core.Model(MODEL.model_dump_json()), core.TransactionRules(RULES.model_dump_json())
    person, state = core.Constituent("person-1"), ConstituentState("person-1")
    attributes = {"amount": 25, "currency": "USD", "error_code": "card_declined"}
    events = [
        ({"event_id": f"f-{n}", "type": "donation.failed", "attributes": attributes}, START + n * 600)
        for n in range(4)
    ] + [({"event_id": "ok", "type": "donation.succeeded", "attributes": attributes}, START + 3000)]
    alerts, expected = [], []
    for event, at in events:
        event = {**event, "source": "donation", "constituent_id": "person-1", "occurred_at": f"at {at:g}"}
        person.apply(model, orjson.dumps(event), at)
        alert = person.on_transaction(rules, orjson.dumps(event), at, True)
        alerts.append(None if alert is None else orjson.loads(alert))
        apply_event(state, event, at, MODEL)
        expected.append(on_transaction(state, event, at, RULES, True))

    assert alerts == expected
    assert [a and (a["status"], a["severity"], a["title"]) for a in alerts] == [
        ("open", "warning", "Failed donation of 25 USD"),
        None,
        ("open", "critical", "3 failed donations within 60 min"),
        None,
        ("resolved", "critical", "3 failed donations within 60 min"),
    ]
