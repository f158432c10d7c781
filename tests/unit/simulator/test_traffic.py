"""The simulator's traffic: valid, reproducible, and with the failures the demo needs."""

from collections import Counter
from datetime import datetime

from services.domain.events import validation_error
from services.simulator.traffic import REFUSED_UNTIL, JourneyMaker

START = 1_790_000_000.0


def journeys(seed: int, count: int, run_id: str = "run1") -> list[dict[str, object]]:
    maker = JourneyMaker(seed=seed, constituents=300, run_id=run_id)
    return [event for n in range(count) for _, event in maker.next_journey(START + n)]


def test_every_simulated_event_meets_the_contract() -> None:
    for event in journeys(seed=1, count=500):
        sent = {name: value for name, value in event.items() if name != REFUSED_UNTIL}  # the runner's mark
        assert validation_error(sent) is None, event


def test_the_same_seed_gives_the_same_traffic() -> None:
    assert journeys(seed=3, count=50) == journeys(seed=3, count=50)


def test_event_ids_differ_between_runs_so_a_restart_is_not_taken_for_duplicates() -> None:
    first = {event["event_id"] for event in journeys(seed=3, count=50, run_id="a")}
    second = {event["event_id"] for event in journeys(seed=3, count=50, run_id="b")}
    assert not first & second


def test_traffic_spans_the_silos_and_includes_failures() -> None:
    traffic = journeys(seed=1, count=2000)
    types = Counter(str(event["type"]) for event in traffic)
    assert {str(event["source"]) for event in traffic} == {"web", "email", "donation", "events"}
    assert types["donation.failed"] > 0
    assert types["email.bounced"] > 0
    # some receipts are missing: fewer receipt emails than successful gifts
    receipts = sum(1 for e in traffic if e["type"] == "email.sent" and "'receipt'" in repr(e["attributes"]))
    assert 0 < receipts < types["donation.succeeded"]


def test_a_gateway_outage_fails_every_stripe_payment_for_a_while_and_recovery_emails_follow_failures() -> (
    None
):
    maker = JourneyMaker(seed=1, constituents=300, run_id="r")
    during, after = [], []
    for second in range(0, 200):
        for _, event in maker.next_journey(START + second):
            attributes = event.get("attributes", {})
            if (
                event["type"] in ("donation.succeeded", "donation.failed")
                and attributes.get("processor") == "stripe"
            ):
                (during if 60 <= second < 150 else after).append(event)
    assert during and all(e["type"] == "donation.failed" for e in during)
    assert {e["attributes"]["error_code"] for e in during} == {"gateway_timeout"}
    assert any(e["type"] == "donation.succeeded" for e in after)
    recoveries = [e for e in journeys(seed=1, count=500) if "'payment_recovery'" in repr(e.get("attributes"))]
    assert recoveries


def scheduled(seconds: int) -> list[tuple[float, float, dict[str, object]]]:
    """(second the journey started, when it reaches ingest, event) for journeys one a second."""
    maker = JourneyMaker(seed=2, constituents=300, run_id="p")
    return [
        (second, when, event)
        for second in range(seconds)
        for when, event in maker.next_journey(START + second)
    ]


def test_the_email_provider_pauses_and_its_deliveries_arrive_when_it_resumes_on_their_own_times() -> None:
    emails = [(when, e) for _, when, e in scheduled(360) if e["source"] == "email"]
    occurred = [
        (when, datetime.fromisoformat(str(e["occurred_at"])).timestamp() - START) for when, e in emails
    ]
    held = [when - START for when, at in occurred if 170 <= at < 245]
    assert held and all(245 <= when < 250 for when in held)  # delivered when it resumes, dated as they were
    assert not [when for when, _ in emails if 170 <= when - START < 245]  # nothing arrives during the pause


def test_a_rotated_stripe_secret_refuses_its_deliveries_for_a_while_then_they_are_sent_again() -> None:
    traffic = scheduled(360)
    refused = [e for second, _, e in traffic if REFUSED_UNTIL in e]
    assert refused and all(e["attributes"]["processor"] == "stripe" for e in refused)  # type: ignore[index]
    assert all(START + 350 <= float(e[REFUSED_UNTIL]) < START + 356 for e in refused)  # type: ignore[arg-type]


def test_failed_recurring_gifts_are_recovered_by_a_card_update_or_cancelled() -> None:
    traffic = journeys(seed=4, count=3000)
    types = Counter(str(event["type"]) for event in traffic)
    assert types["donation.payment_method_updated"] > 0 and types["donation.recurring_cancelled"] > 0
    recurring = [e for e in traffic if e["type"] == "donation.failed" and e["attributes"]["recurring"]]  # type: ignore[index]
    assert recurring and all(str(e["attributes"]["subscription"]).startswith("sub_") for e in recurring)  # type: ignore[index]
