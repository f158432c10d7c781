"""Feeds the simulator's journeys to ingest over HTTP at a steady rate, in real time."""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import hmac
import itertools
import logging
import secrets
import time
import uuid

import httpx
import orjson

from services.common.settings import ClientSettings
from services.simulator.traffic import REFUSED_UNTIL, Event, JourneyMaker

log = logging.getLogger(__name__)
EVENTS_PER_JOURNEY = 4.0  # about, across the personas' stories
TICK_S = 0.25


async def simulate(
    ingest_url: str, rate: float, constituents: int, seed: int, duration_s: float | None
) -> None:
    """Post about ``rate`` events/s until ``duration_s`` passes (forever when None); retries on 503."""
    maker = JourneyMaker(seed, constituents, run_id=uuid.uuid4().hex[:8])
    due: list[tuple[float, int, Event]] = []
    tiebreak = itertools.count()
    sent = accepted = 0
    journeys_owed = 0.0
    started = last_report = time.time()
    key = ClientSettings().ingest_secret()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(base_url=ingest_url, timeout=15, headers=headers) as client:
        while duration_s is None or time.time() - started < duration_s:
            now = time.time()
            journeys_owed += rate * TICK_S / EVENTS_PER_JOURNEY
            while journeys_owed >= 1:
                journeys_owed -= 1
                for when, event in maker.next_journey(now):
                    heapq.heappush(due, (when, next(tiebreak), event))
            batch: list[Event] = []
            while due and due[0][0] <= now:
                event = heapq.heappop(due)[2]
                if REFUSED_UNTIL in event:  # Stripe's secret was rotated: refused now, resent once fixed
                    await deliver_with_a_stale_secret(client, event)
                    resend = {name: value for name, value in event.items() if name != REFUSED_UNTIL}
                    heapq.heappush(due, (float(event[REFUSED_UNTIL]), next(tiebreak), resend))
                else:
                    batch.append(event)
            if batch:
                try:
                    response = await client.post("/v1/events", json=batch)
                except httpx.HTTPError as error:
                    response = None
                    log.warning("ingest unreachable; will retry", extra={"error": repr(error)})
                if response is not None and response.status_code in (401, 403):
                    raise SystemExit(
                        f"ingest refused the simulator's key (MP_INGEST_API_KEY): {response.text}"
                    )
                if response is not None and response.status_code == 202:
                    sent += len(batch)
                    accepted += response.json()["accepted"]
                else:
                    for event in batch:  # keep them for the next tick: nothing is dropped
                        heapq.heappush(due, (now, next(tiebreak), event))
            if now - last_report >= 10:
                log.info("simulator progress", extra={"sent": sent, "accepted": accepted, "queued": len(due)})
                last_report = now
            await asyncio.sleep(TICK_S)


STALE_SECRET = secrets.token_urlsafe(24)  # what Stripe still signs with after ingest's secret was rotated


async def deliver_with_a_stale_secret(client: httpx.AsyncClient, event: Event) -> None:
    """The event as Stripe would deliver it, signed with a secret ingest no longer has: refused (401) and
    dead-lettered, which is what source.rejecting sees (the simulator sends the event again later)."""
    created = int(time.time())
    shaped = {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": "payment_intent.succeeded"
        if event["type"] == "donation.succeeded"
        else "payment_intent.payment_failed",
        "created": created,
        "data": {"object": {"id": f"pi_{uuid.uuid4().hex[:24]}", "object": "payment_intent", "metadata": {}}},
    }
    payload = orjson.dumps(shaped)
    digest = hmac.new(STALE_SECRET.encode(), f"{created}.".encode() + payload, hashlib.sha256).hexdigest()
    headers = {"Stripe-Signature": f"t={created},v1={digest}", "Content-Type": "application/json"}
    try:
        await client.post("/v1/webhooks/stripe", content=payload, headers=headers)
    except httpx.HTTPError as error:
        log.warning(
            "ingest unreachable; a refused Stripe delivery was not attempted", extra={"error": repr(error)}
        )
