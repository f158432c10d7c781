"""End to end through the real broker: HTTP in at ingest, scores and live alerts out of the API."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from services.common.kafka import partition_for
from tests.fixtures.system import System
from tests.fixtures.touchpoints import touchpoint
from tests.fixtures.waiting import eventually

pytestmark = pytest.mark.integration


async def test_a_posted_event_changes_the_constituents_score(system: System) -> None:
    constituent = f"c-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{system.api_url}/v1/constituents/{constituent}")).status_code == 404

        response = await client.post(
            f"{system.ingest_url}/v1/events", json=touchpoint(constituent, "event.attended")
        )
        assert response.status_code == 202
        assert response.json() == {"accepted": 1, "rejected": []}

        async def scored(events: int) -> dict[str, Any] | None:
            answer = await client.get(f"{system.api_url}/v1/constituents/{constituent}")
            body = answer.json() if answer.status_code == 200 else None
            return body if body and body["events"] == events else None

        first = await eventually(lambda: scored(1))
        assert first["scores"]["content"] > 50

        failure = touchpoint(constituent, "donation.failed", amount=25, currency="USD")
        assert (await client.post(f"{system.ingest_url}/v1/events", json=[failure])).status_code == 202
        second = await eventually(lambda: scored(2))
        assert second["scores"]["operations"] < first["scores"]["operations"]
        assert second["scores"]["overall"] < first["scores"]["overall"]
        assert second["counts"]["lifetime"]["by_type"] == {"event.attended": 1, "donation.failed": 1}
        assert second["counts"]["24h"]["failures"] == 1
        assert second["roles"] == ["event_attendee"]
        assert second["explain"][0]["type"] == "donation.failed"


async def test_a_repeated_event_is_counted_once(system: System) -> None:
    constituent = f"c-{uuid.uuid4().hex[:8]}"
    event = touchpoint(constituent, "web.page_view")
    async with httpx.AsyncClient() as client:
        for _ in range(3):
            assert (await client.post(f"{system.ingest_url}/v1/events", json=event)).status_code == 202
        marker = touchpoint(constituent, "web.form_submitted", form="newsletter")
        assert (await client.post(f"{system.ingest_url}/v1/events", json=marker)).status_code == 202

        async def saw_marker() -> dict[str, Any] | None:
            answer = await client.get(f"{system.api_url}/v1/constituents/{constituent}")
            body = answer.json() if answer.status_code == 200 else None
            return body if body and "web.form_submitted" in body["counts"]["lifetime"]["by_type"] else None

        body = await eventually(saw_marker)
        assert body["counts"]["lifetime"]["by_type"] == {"web.page_view": 1, "web.form_submitted": 1}


async def read_alerts(response: httpx.Response, wanted_constituent: str) -> dict[str, Any]:
    data: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            data.append(line.removeprefix("data: "))
        elif line == "" and data:
            alert = orjson.loads("\n".join(data))
            data.clear()
            if alert["constituent_id"] == wanted_constituent:
                return alert  # type: ignore[no-any-return]
    raise AssertionError("stream ended without the alert")


async def test_a_failed_donation_arrives_on_the_live_alert_stream(system: System) -> None:
    constituent = f"c-{uuid.uuid4().hex[:8]}"
    failure = touchpoint(
        constituent, "donation.failed", amount=700, currency="USD", error_code="card_declined"
    )
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=40)) as client:
        async with client.stream("GET", f"{system.api_url}/v1/alerts/stream") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            listening = asyncio.create_task(read_alerts(stream, constituent))
            response = await client.post(f"{system.ingest_url}/v1/events", json=failure)
            assert response.status_code == 202
            async with asyncio.timeout(30):
                alert = await listening
        assert alert["kind"] == "transaction.failed"
        assert alert["severity"] == "critical"
        assert alert["evidence"] == [failure["event_id"]]

        listed = (await client.get(f"{system.api_url}/v1/alerts", params={"limit": 1000})).json()["alerts"]
        assert alert["alert_id"] in {a["alert_id"] for a in listed}


async def test_every_service_exports_its_metrics(system: System) -> None:
    async with httpx.AsyncClient() as client:
        expected = {
            system.ingest_url: ["mp_ingest_events_accepted_total", "mp_http_request_duration_seconds"],
            system.scorer_url: [
                "mp_scorer_events_total",
                "mp_scorer_event_time_lag_seconds",
                "mp_scorer_alerts_published_total",
            ],
            system.api_url: ["mp_api_view_entries", "mp_api_sse_clients", "mp_http_request_duration_seconds"],
        }
        for url, names in expected.items():
            text = (await client.get(f"{url}/metrics")).text
            for name in names:
                assert f"# TYPE {name} " in text, f"{url}/metrics lacks {name}"


async def test_a_reconnecting_stream_client_resumes_after_its_last_event_id(system: System) -> None:
    constituent = f"c-{uuid.uuid4().hex[:8]}"
    first, second = (touchpoint(constituent, "donation.failed", amount=5) for _ in range(2))
    second["constituent_id"] = f"{constituent}-b"
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=40)) as client:
        assert (await client.post(f"{system.ingest_url}/v1/events", json=first)).status_code == 202
        async with (
            client.stream(
                "GET", f"{system.api_url}/v1/alerts/stream", params={"kind": "transaction.failed"}
            ) as stream,
            asyncio.timeout(30),  # keep-alives every 15 s would defeat a read timeout alone
        ):
            last_id = None
            async for line in stream.aiter_lines():
                if line.startswith("id: "):
                    last_id = line.removeprefix("id: ")
                if line.startswith("data: ") and constituent in line:
                    break
        assert last_id is not None
        # disconnected; meanwhile another alert opens — and is published before the client comes back, so
        # only the resume (what it missed after Last-Event-ID), never live delivery, can bring it
        assert (await client.post(f"{system.ingest_url}/v1/events", json=second)).status_code == 202

        async def published() -> bool:
            params = {"constituent_id": second["constituent_id"]}
            return bool((await client.get(f"{system.api_url}/v1/alerts", params=params)).json()["alerts"])

        await eventually(published)
        headers = {"Last-Event-ID": last_id}
        async with client.stream(
            "GET",
            f"{system.api_url}/v1/alerts/stream",
            headers=headers,
            params={"constituent_id": second["constituent_id"]},
        ) as resumed:
            async with asyncio.timeout(20):
                alert = await read_alerts(resumed, second["constituent_id"])
    assert alert["evidence"] == [second["event_id"]]


async def test_a_batch_is_written_as_one_record_per_partition_and_every_event_is_scored(
    system: System,
) -> None:
    tag = uuid.uuid4().hex[:8]
    people = [f"b-{tag}-{n}" for n in range(40)]
    batch = [touchpoint(person, "web.page_view") for person in people for _ in range(3)]
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{system.ingest_url}/v1/events", json=batch)
        assert answer.status_code == 202 and answer.json()["accepted"] == 120

        async def all_scored() -> bool:
            for person in people:
                view = await client.get(f"{system.api_url}/v1/constituents/{person}")
                if view.status_code != 200 or view.json()["events"] != 3:
                    return False
            return True

        await eventually(all_scored, timeout_s=60)

    consumer = AIOKafkaConsumer(
        system.topic("MP_TOPIC_TOUCHPOINTS"),
        bootstrap_servers=system.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    ours: list[tuple[int, bytes | None, Any]] = []
    try:
        async with asyncio.timeout(30):
            while sum(len(events) for _, _, events in ours) < len(batch):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        events = _touchpoints_in(record.value)
                        if any(tag in str(event.get("constituent_id")) for event in events):
                            ours.append((record.partition, record.key, events))
    finally:
        await consumer.stop()
    assert len(ours) <= 8, "more than one record per partition for one request"
    for partition, key, events in ours:
        assert key is None
        assert {partition_for(e["constituent_id"].encode(), 8) for e in events} == {partition}


def _touchpoints_in(value: bytes) -> list[dict[str, Any]]:
    """The events of a record (JSON; anything else is none)."""
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError:
        return []
    return [
        event for event in (decoded if isinstance(decoded, list) else [decoded]) if isinstance(event, dict)
    ]
