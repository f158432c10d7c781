"""Privacy and bounds on a running system: a flood of refused input cannot flood the dead letters, and no
caller can make one person's record grow without bound."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from tests.fixtures.ledger import Ledger, check
from tests.fixtures.system import System, launch
from tests.fixtures.touchpoints import touchpoint

pytestmark = pytest.mark.integration
BUDGET = 20


@pytest.fixture(scope="module")
def bounded(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp("privacy")
    with launch(bootstrap, tmp, MP_INGEST_DEAD_LETTERS_PER_MINUTE=str(BUDGET)) as system:
        yield system


async def records_on(system: System, setting: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        system.topic(setting), bootstrap_servers=system.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        values: list[bytes] = []
        while batch := await consumer.getmany(timeout_ms=2000):
            values += [record.value or b"" for records in batch.values() for record in records]
        return values
    finally:
        await consumer.stop()


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
    letters = asyncio.run(records_on(bounded, "MP_TOPIC_DEAD_LETTERS"))
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
    scores = [
        value for value in asyncio.run(records_on(bounded, "MP_TOPIC_SCORES")) if person.encode() in value
    ]
    assert scores and max(len(value) for value in scores) < 16 * 1024  # made-up names do not make it grow
