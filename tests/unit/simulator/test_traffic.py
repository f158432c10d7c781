"""The simulator's traffic: valid, reproducible, and with the failures the demo needs."""

from collections import Counter

from services.domain.events import validation_error
from services.simulator.traffic import JourneyMaker

START = 1_790_000_000.0


def journeys(seed: int, count: int, run_id: str = "run1") -> list[dict[str, object]]:
    maker = JourneyMaker(seed=seed, constituents=300, run_id=run_id)
    return [event for n in range(count) for _, event in maker.next_journey(START + n)]


def test_every_simulated_event_meets_the_contract() -> None:
    for event in journeys(seed=1, count=500):
        assert validation_error(event) is None, event


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
            if event["type"].startswith("donation.") and attributes.get("processor") == "stripe":
                (during if 60 <= second < 150 else after).append(event)
    assert during and all(e["type"] == "donation.failed" for e in during)
    assert {e["attributes"]["error_code"] for e in during} == {"gateway_timeout"}
    assert any(e["type"] == "donation.succeeded" for e in after)
    recoveries = [e for e in journeys(seed=1, count=500) if "'payment_recovery'" in repr(e.get("attributes"))]
    assert recoveries
