"""Broken hand-offs in the compiled fold (services/fold_core/src/handoffs.rs) against
services/domain/alerts/handoffs.py: the same triggers, follow-ups (in time, late, before their trigger),
bounces, cancellations, watermarks and storm suppressions give the same alerts to the character and the
same hand-offs owed, through the state's bytes too — the shipped rules and rules that reach the corners
(hours, numbers in attributes, a cancellation without correlation)."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.config_files import load_alert_rules
from services.common.settings import CommonSettings
from services.domain.alerts import handoffs
from services.domain.alerts.rules import HandoffRule
from services.domain.scoring import ConstituentState
from tests.unit.core.test_differential import START, compiled

CORNERS = (
    HandoffRule.model_validate(
        {
            "name": "thanks-call",
            "owner": "programs",
            "trigger": {"type": "custom.pledged", "attributes": {"tier": 1}},
            "follow_up": {"type": "email.sent", "attributes": {"template": "thanks", "tier": 1.0}},
            "deadline_minutes": 90,
            "departments": ["programs", "marketing"],
            "severity": "critical",
            "cancelled_by": {"type": "custom.withdrawn"},
        }
    ),
    HandoffRule.model_validate(
        {
            "name": "weekly-check",
            "owner": "programs",
            "trigger": {"type": "custom.checked"},
            "follow_up": {"type": "custom.checked"},
            "same_correlation_id": True,
            "deadline_minutes": 0.5,
            "departments": ["programs", "programs"],
            "severity": "info",
        }
    ),
)
RULES = load_alert_rules(CommonSettings().alerts_config).handoffs + CORNERS

KINDS = [
    ("donation.succeeded", "donation", {}),
    ("donation.succeeded", "donation", {"recurring": True}),
    ("donation.failed", "donation", {}),
    ("donation.recurring_cancelled", "donation", {}),
    ("email.sent", "email", {"template": "receipt"}),
    ("email.sent", "email", {"template": "payment_recovery"}),
    ("email.sent", "email", {"template": "volunteer_welcome"}),
    ("email.sent", "email", {"template": "thanks", "tier": True}),
    ("email.bounced", "email", {"template": "receipt"}),
    ("email.bounced", "email", {"template": "thanks", "tier": 1}),
    ("web.form_submitted", "web", {"form": "volunteer_signup"}),
    ("event.registered", "events", {}),
    ("custom.pledged", "web", {"tier": 1}),
    ("custom.withdrawn", "web", {}),
    ("custom.checked", "web", {}),
]


@st.composite
def steps(draw: Any) -> list[tuple[str, Any]]:
    """Events of one person — minutes to weeks apart, out of order, some ids again — with watermarks
    passing and storm control holding a hand-off's alert back between them."""
    out: list[tuple[str, Any]] = []
    latest = START
    for n in range(draw(st.integers(1, 40))):
        what = draw(st.integers(0, 9))
        if what == 0:
            out.append(("expire", latest + draw(st.sampled_from([0.0, 60.0, 1800.0, 7200.0, 9 * 86400.0]))))
        elif what == 1:
            out.append(("suppress", f"h-{draw(st.integers(0, 12))}"))
        else:
            kind, source, attributes = draw(st.sampled_from(KINDS))
            at = START + draw(
                st.one_of(
                    st.sampled_from([0, 600, 3600]),  # at one instant: a follow-up with its trigger
                    st.integers(0, 4 * 3600),
                    st.floats(0, 3 * 86400),
                    st.integers(0, 40 * 86400),
                )
            )
            latest = max(latest, at)
            event: dict[str, Any] = {
                "event_id": f"h-{draw(st.integers(0, 12))}" if draw(st.booleans()) else f"u-{n}",
                "type": kind,
                "source": source,
                "constituent_id": "person-1",
                "attributes": attributes,
            }
            correlation = draw(st.sampled_from([None, "pay-1", "pay-2"]))
            if correlation is not None:
                event["correlation_id"] = correlation
            out.append(("event", (event, float(at))))
    return out


def held(state: ConstituentState) -> dict[str, Any]:
    return {"handoffs": state.handoffs, "early_follow_ups": state.early_follow_ups}


@settings(max_examples=400, deadline=None)
@given(steps())
def test_the_compiled_hand_offs_alert_and_owe_as_the_python_model(steps: list[tuple[str, Any]]) -> None:
    core = compiled()
    rules = core.HandoffRules(orjson.dumps([rule.model_dump(mode="json") for rule in RULES]).decode())
    person, state = core.Constituent("person-1"), ConstituentState("person-1")
    for kind, step in steps:
        if kind == "event":
            event, at = step
            alerts = person.on_handoff_event(rules, orjson.dumps(event), at)
            expected = handoffs.on_event(state.handoffs, state.early_follow_ups, event, at, RULES)
        elif kind == "expire":
            alerts = person.expire_handoffs(rules, step)
            expected = handoffs.expire(state.handoffs, step, RULES)
        else:
            person.suppress_handoff(step)
            for handoff in state.handoffs:  # as BatchProcessor._admit marks it
                if handoff["trigger_event_id"] == step:
                    handoff["suppressed"] = True
            alerts, expected = [], []
        assert [orjson.loads(alert) for alert in alerts] == expected, (kind, step)
        assert person.next_deadline() == handoffs.next_deadline(state.handoffs)
    as_json = orjson.loads(person.to_json())
    assert {name: as_json[name] for name in ("handoffs", "early_follow_ups")} == held(state)
    restored = core.Constituent.from_python_state(orjson.dumps(state.to_dict()))
    assert orjson.loads(restored.to_json())["handoffs"] == state.handoffs  # a Python state read in
    from_bytes = core.Constituent.from_bytes(person.to_bytes())  # the layout carries them
    assert orjson.loads(from_bytes.to_json()) == as_json


def test_a_receipt_missing_then_late_opens_and_resolves_as_in_python() -> None:
    core = compiled()
    rules = core.HandoffRules(orjson.dumps([rule.model_dump(mode="json") for rule in RULES]).decode())
    person, state = core.Constituent("person-1"), ConstituentState("person-1")
    gift = {
        "event_id": "g-1",
        "type": "donation.succeeded",
        "source": "donation",
        "constituent_id": "person-1",
    }
    receipt = {**gift, "event_id": "r-1", "type": "email.sent", "source": "email"}
    receipt["attributes"] = {"template": "receipt"}
    gift["correlation_id"] = receipt["correlation_id"] = "pay-1"
    got = [person.on_handoff_event(rules, orjson.dumps(gift), START)]
    got.append(person.expire_handoffs(rules, START + 16 * 60))
    got.append(person.on_handoff_event(rules, orjson.dumps(receipt), START + 20 * 60))
    expected = [
        handoffs.on_event(state.handoffs, state.early_follow_ups, gift, START, RULES),
        handoffs.expire(state.handoffs, START + 16 * 60, RULES),
        handoffs.on_event(state.handoffs, state.early_follow_ups, receipt, START + 20 * 60, RULES),
    ]
    assert [[orjson.loads(a) for a in alerts] for alerts in got] == expected
    opened, resolved = expected[1][0], expected[2][0]
    assert (opened["status"], opened["title"]) == (
        "open",
        "donation-receipt: email.sent template=receipt missing",
    )
    assert resolved["detail"] == "The follow-up arrived 5 min after the 15 min deadline (late)."
    assert resolved["opened_at"] == "2026-01-01T00:15:00+00:00"  # the deadline, as Python writes it
