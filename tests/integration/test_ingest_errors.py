"""Bad input gets a precise 4xx, and what was rejected is kept on the dead-letter topic."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.fixtures.ledger import wait_quiescent
from tests.fixtures.system import System, launch
from tests.fixtures.touchpoints import touchpoint
from tests.fixtures.waiting import dead_letter_of, dead_letter_with

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
    assert rejected[0]["error"] == "occurred_at: not an RFC 3339 date-time with an offset"
    assert "last tuesday" not in response.text  # a reason names the field and rule, never the value
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

    letter = await dead_letter_with(system, marker)
    assert letter["reason"].startswith("type:")
    assert (letter["service"], letter["source"], letter["reason_code"]) == ("ingest", "api", "schema")
    assert letter["received_at"]


def test_an_unparseable_body_is_kept_as_a_dead_letter_too(system: System) -> None:
    garbage = f"{{garbage-{uuid.uuid4().hex}".encode()
    response = httpx.post(
        f"{system.ingest_url}/v1/events", content=garbage, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    letter = asyncio.run(dead_letter_of(system, garbage))  # not JSON: kept as its hash and size only
    assert (letter["reason_code"], letter["payload"], letter["payload_bytes"]) == (
        "unparseable",
        "",
        len(garbage),
    )


def dlq_replay(system: System, *arguments: str) -> subprocess.CompletedProcess[str]:
    """``mission-pulse dlq-replay`` on the system's broker and topics, posting to its ingest."""
    return system.command("dlq-replay", "--ingest-url", system.ingest_url, *arguments)


def dead_letters_with(system: System, marker: str) -> list[dict[str, Any]]:
    listed = httpx.get(f"{system.api_url}/v1/dlq", params={"limit": 1000}).json()["dead_letters"]
    return [letter for letter in listed if marker in letter["payload"]]


def test_replaying_an_event_still_invalid_keeps_it_again_with_its_reason(system: System) -> None:
    marker = f"replay-{uuid.uuid4().hex}"
    bad = {**touchpoint("c-1", "web.page_view"), "type": marker}
    assert httpx.post(f"{system.ingest_url}/v1/events", json=[bad]).status_code == 422
    asyncio.run(dead_letter_with(system, marker))
    replay = dlq_replay(system, "--reason-code", "schema")
    assert replay.returncode == 0, replay.stderr
    rejected_again = re.search(r"rejected again: (\d+)", replay.stdout)
    assert rejected_again and int(rejected_again.group(1)) >= 1, replay.stdout
    deadline = time.monotonic() + 15
    while len(dead_letters_with(system, marker)) < 2:  # the schema did not change: refused, kept again
        assert time.monotonic() < deadline, "the replayed event was not dead-lettered again"
        time.sleep(0.3)
    assert [letter["reason_code"] for letter in dead_letters_with(system, marker)] == ["schema", "schema"]


def test_an_event_refused_as_too_large_is_replayed_after_the_fix_accepted_and_scored(
    bootstrap: str, tmp_path: Path
) -> None:
    person = f"big-{uuid.uuid4().hex[:8]}"
    event = touchpoint(person, "web.form_submitted", form="volunteer_signup", note="x" * 3000)
    with launch(bootstrap, tmp_path, MP_INGEST_MAX_BODY_BYTES="2048") as system:
        refused = httpx.post(f"{system.ingest_url}/v1/events", json=event)
        assert refused.status_code == 413 and refused.json()["detail"].startswith("body of")
        letter = asyncio.run(dead_letter_with(system, event["event_id"]))  # 413s are kept too, whole
        assert (letter["reason_code"], letter["truncated"]) == ("too_large", False)

        system.services["ingest"].stop()  # the fix: a larger body limit
        system.env["MP_INGEST_MAX_BODY_BYTES"] = str(1024 * 1024)
        system.start("ingest")
        # The dry run comes after the fix: had it posted, ingest would have taken the event this time.
        dry = dlq_replay(system, "--reason-code", "too_large", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "1 can be replayed" in dry.stdout and "replayed 1/1" not in dry.stdout
        assert wait_quiescent(system, [person]) == {person: 0}  # the dry run posted nothing

        replay = dlq_replay(system, "--reason-code", "too_large")
        assert replay.returncode == 0, replay.stderr
        assert re.search(r"accepted: 1$", replay.stdout, re.M), replay.stdout
        assert wait_quiescent(system, [person]) == {person: 1}


async def test_a_record_another_producer_wrote_badly_is_dead_lettered_by_the_scorer_which_goes_on(
    system: System,
) -> None:
    from aiokafka import AIOKafkaProducer

    garbage = f"{{not-json-{uuid.uuid4().hex}".encode()
    producer = AIOKafkaProducer(bootstrap_servers=system.bootstrap)
    await producer.start()
    try:
        topic = system.topic("MP_TOPIC_TOUCHPOINTS")
        await producer.send_and_wait(topic, key=b"c-bad", value=garbage)
    finally:
        await producer.stop()
    letter = await dead_letter_of(system, garbage, timeout_s=30)
    assert (letter["service"], letter["source"], letter["reason_code"]) == (
        "scorer",
        "touchpoints",
        "unparseable",
    )

    after = touchpoint(f"c-{uuid.uuid4().hex[:8]}", "web.page_view")
    async with httpx.AsyncClient() as client, asyncio.timeout(30):
        assert (await client.post(f"{system.ingest_url}/v1/events", json=after)).status_code == 202
        while (
            await client.get(f"{system.api_url}/v1/constituents/{after['constituent_id']}")
        ).status_code != 200:
            await asyncio.sleep(0.3)
