"""Feeds the simulator's journeys to ingest over HTTP at a steady rate, in real time."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import os
import time
import uuid

import httpx

from services.simulator.traffic import Event, JourneyMaker

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
    key = os.environ.get("MP_INGEST_API_KEY")
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
                batch.append(heapq.heappop(due)[2])
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
