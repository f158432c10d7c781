"""Recurring-gift recovery in the compiled fold (services/fold_core/src/recovery.rs) against
services/domain/alerts/recovery.py: the same failures, dunning steps (in order, before their failure,
late, for other subscriptions), recoveries, cancellations and watermarks give the same alerts to the
character, the same cases opened and closed, and the same cases kept — through the state's bytes too."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.config_files import load_alert_rules
from services.common.settings import CommonSettings
from services.domain.alerts import recovery
from services.domain.alerts.rules import RecoveryRules
from services.domain.scoring import ConstituentState
from tests.unit.core.test_differential import START, compiled

SHIPPED = load_alert_rules(CommonSettings().alerts_config).recovery
assert SHIPPED is not None
TIGHT = RecoveryRules.model_validate(  # hours and days that are not whole, a template of its own
    {
        "owner": "fundraising",
        "email_template": "dunning",
        "email_within_hours": 1.5,
        "update_within_days": 0.5,
        "lost_after_days": 2.25,
        "severity": "critical",
    }
)
DAY = 86400.0

subscriptions = st.sampled_from([None, "sub-1", "sub-2", "", 7])
money = st.fixed_dictionaries(
    {},
    optional={
        "amount": st.sampled_from([25, 25.5, 0, 1e6, True, "10"]),
        "currency": st.sampled_from(["USD", "", "EUR\t", 5, None]),
        "attempt": st.sampled_from([2, 3.7, 0, False]),
    },
)


@st.composite
def events(draw: Any, template: str) -> list[tuple[str, Any]]:
    """One person's gifts and dunning steps, minutes to weeks apart and out of order, with watermarks."""
    out: list[tuple[str, Any]] = []
    latest, times = START, [START]
    for n in range(draw(st.integers(1, 35))):
        if draw(st.integers(0, 7)) == 0:
            out.append(("expire", latest + draw(st.sampled_from([0.0, 3600.0, 2 * DAY, 8 * DAY, 40 * DAY]))))
            continue
        if draw(st.integers(0, 7)) == 0:  # on the edge of a deadline: the stall, the loss, forgetting
            edge = draw(st.sampled_from([24 * 3600.0, 7 * DAY, 21 * DAY, 30 * DAY, 51 * DAY]))
            out.append(("expire", draw(st.sampled_from(times)) + edge))
            continue
        kind = draw(
            st.sampled_from(
                [
                    "donation.failed",
                    "donation.failed",
                    "email.sent",
                    "email.delivered",
                    "email.bounced",
                    "donation.payment_method_updated",
                    "donation.recurring_cancelled",
                    "donation.succeeded",
                    "web.page_view",
                ]
            )
        )
        attributes: dict[str, Any] = draw(money)
        if kind.startswith("email."):
            attributes = {"template": draw(st.sampled_from([template, template, "receipt"]))}
        if draw(st.integers(0, 3)) > 0:
            attributes["recurring"] = draw(st.sampled_from([True, True, False, 1]))
        subscription = draw(subscriptions)
        if subscription is not None:
            attributes["subscription"] = subscription
        at = START + draw(
            st.one_of(st.sampled_from([0, 3600, DAY]), st.floats(0, 10 * DAY), st.integers(0, 45 * 86400))
        )
        latest = max(latest, at)
        times.append(at)
        event = {
            "event_id": f"r-{draw(st.integers(0, 9))}" if draw(st.booleans()) else f"u-{n}",
            "type": kind,
            "source": kind.split(".")[0],
            "attributes": attributes,
        }
        out.append(("event", (event, float(at))))
    return out


def as_tuples(update: recovery.RecoveryUpdate) -> tuple[list[Any], int, list[tuple[Any, ...]]]:
    closed = [(c.outcome, c.amount, c.seconds, c.at) for c in update.closed]
    return update.alerts, update.opened, closed


@pytest.mark.parametrize("rules", [SHIPPED, TIGHT], ids=["shipped", "tight"])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_compiled_recovery_follows_cases_as_the_python_model(rules: RecoveryRules, data: Any) -> None:
    core = compiled()
    steps = data.draw(events(rules.email_template))
    compiled_rules = core.RecoveryRules(rules.model_dump_json())
    person, state = core.Constituent("person-1"), ConstituentState("person-1")
    for kind, step in steps:
        if kind == "event":
            event, at = step
            got = person.on_recovery_event(compiled_rules, orjson.dumps(event), at)
            expected = ([], 0, [])  # as the scorer asks: only when the event concerns recovery
            if recovery.concerns(event, state.recovery, rules):
                early = state.recovery_early
                expected = as_tuples(recovery.on_event(state.recovery, early, "person-1", event, at, rules))
        else:
            got = person.expire_recovery(compiled_rules, step)
            expected = as_tuples(recovery.expire(state.recovery, "person-1", step, rules))
        alerts, opened, closed = got
        assert ([orjson.loads(alert) for alert in alerts], opened, closed) == expected, (kind, step)
        assert person.next_recovery_deadline() == recovery.next_deadline(state.recovery)
    as_json = orjson.loads(person.to_json())
    assert as_json["recovery"] == state.recovery
    assert as_json["recovery_early"] == state.recovery_early
    assert orjson.loads(core.Constituent.from_bytes(person.to_bytes()).to_json()) == as_json
    restored = core.Constituent.from_python_state(orjson.dumps(state.to_dict()))
    assert orjson.loads(restored.to_json())["recovery"] == state.recovery  # a Python state read in


def test_a_bounced_recovery_email_stalls_and_a_later_gift_recovers_as_in_python() -> None:
    core = compiled()
    rules = core.RecoveryRules(SHIPPED.model_dump_json())
    person, state = core.Constituent("person-1"), ConstituentState("person-1")
    gift = {"recurring": True, "subscription": "sub-1", "amount": 25, "currency": "USD"}
    stream = [
        ({"event_id": "f-1", "type": "donation.failed", "source": "donation", "attributes": gift}, START),
        (
            {"event_id": "b-1", "type": "email.bounced", "source": "email",
             "attributes": {"template": "payment_recovery", "subscription": "sub-1"}},
            START + 3600,
        ),
        ({"event_id": "s-1", "type": "donation.succeeded", "source": "donation", "attributes": gift},
         START + 3 * DAY),
    ]  # fmt: skip
    got, expected = [], []
    for event, at in stream:
        alerts, _, _ = person.on_recovery_event(rules, orjson.dumps(event), at)
        got.append([orjson.loads(alert) for alert in alerts])
        update = recovery.on_event(state.recovery, state.recovery_early, "person-1", event, at, SHIPPED)
        expected.append(update.alerts)
    assert got == expected
    assert [[(a["status"], a["title"]) for a in alerts] for alerts in got] == [
        [],
        [("open", "Recurring gift of 25 USD not being recovered: the recovery email bounced")],
        [("resolved", "Recurring gift of 25 USD not being recovered: the recovery email bounced")],
    ]
    assert got[2][0]["detail"].endswith("Recovered: 25 USD received 3.0 days after the failure.")
