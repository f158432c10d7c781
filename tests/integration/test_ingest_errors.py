"""Bad input gets a precise 4xx, and what was rejected is kept on the dead-letter topic."""

from __future__ import annotations

import uuid

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from tests.integration.conftest import System
from tests.integration.test_pipeline import touchpoint

pytestmark = pytest.mark.integration


def test_unparseable_bodies_get_400(system: System) -> None:
    response = httpx.post(
        f"{system.ingest_url}/v1/events", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("body is not valid JSON")


def test_a_body_of_only_invalid_events_gets_422_naming_each_problem(system: System) -> None:
    broken = touchpoint("c-1", "web.page_view")
    broken["occurred_at"] = "last tuesday"
    response = httpx.post(f"{system.ingest_url}/v1/events", json=[broken, {"event_id": "x"}])
    assert response.status_code == 422
    rejected = response.json()["rejected"]
    assert [r["index"] for r in rejected] == [0, 1]
    assert rejected[0]["error"] == "occurred_at: 'last tuesday' is not a 'date-time'"
    assert "is a required property" in rejected[1]["error"]


def test_more_than_1000_events_get_413(system: System) -> None:
    events = [touchpoint("c-1", "web.page_view") for _ in range(1001)]
    response = httpx.post(f"{system.ingest_url}/v1/events", json=events)
    assert response.status_code == 413
    assert response.json()["detail"] == "1001 events in one request, at most 1000"


def test_a_body_over_1_mib_gets_413(system: System) -> None:
    event = touchpoint("c-1", "web.page_view")
    event["attributes"] = {"padding": "x" * (1024 * 1024)}
    response = httpx.post(f"{system.ingest_url}/v1/events", json=event)
    assert response.status_code == 413
    assert response.json()["detail"].startswith("body of")


def test_ndjson_is_accepted(system: System) -> None:
    body = b"\n".join(orjson.dumps(touchpoint("c-nd", "web.page_view")) for _ in range(3))
    response = httpx.post(
        f"{system.ingest_url}/v1/events", content=body, headers={"content-type": "application/x-ndjson"}
    )
    assert response.status_code == 202
    assert response.json() == {"accepted": 3, "rejected": []}


async def test_valid_events_are_accepted_beside_rejected_ones_which_go_to_the_dead_letter_topic(
    system: System,
) -> None:
    marker = f"not-a-type-{uuid.uuid4().hex}"
    batch = [touchpoint("c-1", "web.page_view"), {**touchpoint("c-1", "web.page_view"), "type": marker}]
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{system.ingest_url}/v1/events", json=batch)
    assert response.status_code == 202
    assert response.json()["accepted"] == 1
    assert [r["index"] for r in response.json()["rejected"]] == [1]

    consumer = AIOKafkaConsumer(
        "touchpoints-dead-letters",
        bootstrap_servers=system.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        found = None
        for _ in range(20):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    letter = orjson.loads(record.value)
                    if letter["payload"].get("type") == marker:
                        found = letter
            if found:
                break
    finally:
        await consumer.stop()
    assert found is not None, "the rejected event never reached the dead-letter topic"
    assert found["reason"].startswith("type:")
    assert found["service"] == "ingest"
