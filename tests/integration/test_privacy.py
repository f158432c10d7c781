"""Privacy and bounds on a running system: a flood of refused input cannot flood the dead letters, and no
caller can make one person's record grow without bound."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import orjson
import pytest

from services.common.processes import free_port
from tests.fixtures.ledger import Ledger, check, topic_values, wait_quiescent
from tests.fixtures.system import System, launch, start_service, wait_for
from tests.fixtures.touchpoints import touchpoint
from tests.fixtures.waiting import wait_for_counts

pytestmark = pytest.mark.integration
BUDGET = 20


@pytest.fixture(scope="module")
def bounded(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp("privacy")
    with launch(bootstrap, tmp, MP_INGEST_DEAD_LETTERS_PER_MINUTE=str(BUDGET)) as system:
        yield system


def metric(system: System, name: str) -> float:
    text = httpx.get(f"{system.ingest_url}/metrics").text
    return sum(float(value) for value in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def test_a_flood_of_refused_events_keeps_a_budget_of_dead_letters_and_counts_the_rest(
    bounded: System,
) -> None:
    flood = [{**touchpoint("c-1", "web.page_view"), "type": "NOT A TYPE"} for _ in range(1000)]
    with httpx.Client(base_url=bounded.ingest_url) as client:
        for _ in range(3):
            assert client.post("/v1/events", json=flood).status_code == 422  # every one refused, answered
    letters = topic_values(bounded, "MP_TOPIC_DEAD_LETTERS")
    # per minute: the budget, then one sample; the three requests may straddle a minute
    assert BUDGET < len(letters) <= 2 * (BUDGET + 1), len(letters)
    assert sum(b'"over_budget":true' in letter for letter in letters) in (1, 2)
    assert metric(bounded, "mp_ingest_dead_letters_over_budget_total") == 3000 - len(letters)
    listed = httpx.get(f"{bounded.api_url}/v1/dlq").json()
    assert sum(row["count"] for row in listed["counts"]) == len(letters)  # the view counts what was kept


def test_two_thousand_made_up_types_for_one_person_make_a_bounded_record_and_everyone_else_is_scored(
    bounded: System,
) -> None:
    person = f"grow-{uuid.uuid4().hex[:8]}"
    others = [f"other-{uuid.uuid4().hex[:8]}" for _ in range(20)]
    ledger = Ledger()
    with httpx.Client(base_url=bounded.ingest_url) as client:
        for start in (0, 1000):
            made_up = [
                {**touchpoint(person, "web.page_view"), "type": f"made.up_{n}", "source": f"s{n % 40}"}
                for n in range(start, start + 1000)
            ]
            assert ledger.post(client, made_up).status_code == 202
        assert (
            ledger.post(client, [touchpoint(other, "web.page_view") for other in others]).status_code == 202
        )
    report = check(bounded, ledger, name="two-thousand-types")
    assert report.events == (2020, 2020, 2020, 0, 0)  # the person counts them all; everyone else is scored
    view = httpx.get(f"{bounded.api_url}/v1/constituents/{person}").json()
    assert view["counts"]["lifetime"] == {"by_source": {"other": 2000}, "by_type": {"other": 2000}}
    scores = [value for value in topic_values(bounded, "MP_TOPIC_SCORES") if person.encode() in value]
    assert scores and max(len(value) for value in scores) < 16 * 1024  # made-up names do not make it grow


def test_an_erased_person_is_gone_from_every_view_every_replica_and_every_rebuild(
    bounded: System, tmp_path: Path
) -> None:
    erased, kept = f"erase-{uuid.uuid4().hex[:8]}", f"keep-{uuid.uuid4().hex[:8]}"
    user = f"u-{uuid.uuid4().hex[:8]}"
    linked = httpx.post(
        f"{bounded.ingest_url}/v1/identify", json={"constituent_id": erased, "web_user": user}
    )
    assert linked.status_code == 200
    ledger = Ledger()
    with httpx.Client(base_url=bounded.ingest_url) as client:
        events = [touchpoint(erased, kind, amount=40) for kind in ("donation.failed", "web.page_view")]
        assert ledger.post(client, [*events, touchpoint(kept, "web.page_view")]).status_code == 202
    check(bounded, ledger)
    api = bounded.api_url
    population = httpx.get(f"{api}/v1/scores/summary").json()["population"]
    [alert] = httpx.get(f"{api}/v1/alerts", params={"constituent_id": erased}).json()["alerts"]

    receipt = httpx.post(f"{api}/v1/constituents/{erased}/erase", json={"reason": "the donor asked"})
    assert receipt.status_code == 200, receipt.text
    assert receipt.json()["removed"]["scores"] == "removed"
    again = httpx.post(f"{api}/v1/constituents/{erased}/erase", json={"reason": "the donor asked"})
    assert again.status_code == 200 and again.json()["removed"]["scores"] == "none held"  # idempotent

    def gone_from(url: str) -> None:
        assert httpx.get(f"{url}/v1/constituents/{erased}").status_code == 404
        listed = httpx.get(f"{url}/v1/constituents", params={"limit": 1000}).json()["constituents"]
        assert erased not in {row["constituent_id"] for row in listed}
        assert httpx.get(f"{url}/v1/alerts", params={"constituent_id": erased}).json()["alerts"] == []
        scrubbed = httpx.get(f"{url}/v1/alerts/{alert['alert_id']}").json()
        assert (scrubbed["constituent_id"], scrubbed["evidence"], scrubbed["kind"]) == (
            None,
            [],
            alert["kind"],
        )
        assert (
            erased not in orjson.dumps(httpx.get(f"{url}/v1/alerts", params={"limit": 1000}).json()).decode()
        )

    gone_from(api)
    assert httpx.get(f"{api}/v1/scores/summary").json()["population"] == population - 1

    port = free_port()  # a replica started afterwards, reading every topic from the beginning
    replica = start_service("api", {**bounded.env, "MP_API_PORT": str(port)}, tmp_path)
    try:
        wait_for(f"http://127.0.0.1:{port}/readyz", replica)
        gone_from(f"http://127.0.0.1:{port}")
    finally:
        replica.stop()

    bounded.services["scorer"].stop()  # a scorer rebuilt from its changelog (its tables live in memory)
    bounded.start("scorer")
    with httpx.Client(base_url=bounded.ingest_url) as client:
        later = [touchpoint(kept, "email.opened"), touchpoint(erased, "web.page_view")]
        assert client.post("/v1/events", json=later).status_code == 202
    # The rebuilt scorer holds the kept person's history (2 events) and none of the erased person's: their
    # next event starts a new record (1 event, not 3) with nothing of before, not even the old alert.
    assert wait_quiescent(bounded, [kept, erased]) == {kept: 2, erased: 1}
    renewed = httpx.get(f"{api}/v1/constituents/{erased}").json()
    assert renewed["counts"]["lifetime"]["by_type"] == {"web.page_view": 1}
    assert httpx.get(f"{api}/v1/alerts", params={"constituent_id": erased}).json()["alerts"] == []

    deadline = time.monotonic() + 15  # ingest forgot the link: the identifier is nobody's now
    while (
        httpx.post(f"{bounded.ingest_url}/v1/identify", json={"web_user": user}).json()["constituent_id"]
        == erased
    ):
        assert time.monotonic() < deadline, "ingest still links the erased person's identifier"
        time.sleep(0.5)


def test_a_suppressed_persons_later_events_are_dropped_and_counted(bounded: System) -> None:
    person = f"suppress-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=bounded.ingest_url) as client:
        assert client.post("/v1/events", json=touchpoint(person, "web.page_view")).status_code == 202
    wait_quiescent(bounded, [person])
    erased = httpx.post(
        f"{bounded.api_url}/v1/constituents/{person}/erase", json={"reason": "asked", "suppress": True}
    )
    assert erased.status_code == 200 and erased.json()["suppressed"] is True
    before = metric(bounded, "mp_ingest_events_suppressed_total")
    deadline = time.monotonic() + 15
    while metric(bounded, "mp_ingest_events_suppressed_total") == before:  # ingest read the erasure
        answer = httpx.post(f"{bounded.ingest_url}/v1/events", json=touchpoint(person, "web.page_view"))
        assert answer.status_code == 202
        assert time.monotonic() < deadline, "the suppressed person's events were never dropped"
        time.sleep(0.5)
    assert httpx.post(f"{bounded.ingest_url}/v1/events", json=touchpoint(person, "web.page_view")).json() == {
        "accepted": 0,
        "rejected": [],
    }
    assert wait_quiescent(bounded, [person]) == {person: 0}
    # nobody can link someone's identifiers to them (silencing that someone), nor move theirs away
    identify = f"{bounded.ingest_url}/v1/identify"
    towards = httpx.post(identify, json={"constituent_id": person, "email": "someone.else@example.org"})
    assert towards.status_code == 409 and "suppressed" in towards.json()["detail"]


def test_an_id_with_a_slash_is_erased_through_the_cli_and_its_letters_leave_the_dlq(system: System) -> None:
    """Issue 34: the CLI did not URL-encode ids (one holding "/" could not be erased), and the erased
    person's dead letters stayed in the API's view. On a system of its own: in ``bounded`` the flood test's
    dead letters use up the minute's budget, and this test's letter, sent within the same minute, was only
    counted (it failed so in a clean-clone run)."""
    person = f"crm/{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=system.ingest_url) as client:
        assert client.post("/v1/events", json=touchpoint(person, "web.page_view")).status_code == 202
        bad = {**touchpoint(person, "web.page_view"), "occurred_at": "not a time"}
        assert client.post("/v1/events", json=bad).status_code == 422  # a dead letter naming them
    api = system.api_url
    wait_for_counts(system, {person: 1})
    letters = lambda: httpx.get(f"{api}/v1/dlq", params={"limit": 1000}).text  # noqa: E731
    deadline = time.monotonic() + 30
    while person not in letters() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert person in letters()
    done = system.command("erase", person, "--reason", "the donor asked", "--api-url", api)
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        gone = httpx.get(f"{api}/v1/constituents/{quote(person, safe='')}").status_code == 404
        if gone and person not in letters():
            break
        time.sleep(0.3)
    assert gone and person not in letters()
