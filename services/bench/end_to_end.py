"""End to end: ingest, scorer and API together under steady load, measured with marker events."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from services.bench.measure import Figures, percentiles
from services.common.processes import free_port, start_service, stop, wait_until_ready
from services.common.settings import CommonSettings


def end_to_end(settings: CommonSettings, rates: tuple[int, ...], seconds: float) -> Figures:
    """Ingest, scorer and API together under steady background load: accepted → score visible at the
    API, and donation.failed accepted → its alert on the SSE stream, for marker events sent meanwhile."""
    suffix = uuid.uuid4().hex[:6]
    ports = {name: free_port() for name in ("ingest", "scorer", "api")}
    env = {name: value for name, value in os.environ.items() if name != "MP_AUTH_CONFIG"}
    env["MP_ENVIRONMENT"] = "development"  # measured without keys
    env |= {
        "MP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "MP_INGEST_PORT": str(ports["ingest"]),
        "MP_SCORER_WEB_PORT": str(ports["scorer"]),
        "MP_API_PORT": str(ports["api"]),
        "MP_SCORER_APP_ID": f"bench-e2e-{suffix}",
        "MP_SCORER_DATA_DIR": tempfile.mkdtemp(prefix="bench-e2e-"),
        "MP_IDENTITY_SECRET": "bench",
        "MP_LOG_LEVEL": "WARNING",
        **{
            f"MP_TOPIC_{name.upper()}": f"bench-e2e-{name}-{suffix}"
            for name in ("touchpoints", "scores", "alerts", "dead_letters", "identities")
        },
    }
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    processes = [start_service(name, env, subprocess.DEVNULL) for name in ports]
    figures: Figures = {}
    try:
        for name, process in zip(ports, processes, strict=True):
            wait_until_ready(f"{urls[name]}/readyz", process, timeout_s=120)
        for rate in rates:
            command = [sys.executable, "-m", "services.bench.load", urls["ingest"], "50", str(seconds), "8"]
            load = subprocess.Popen([*command, str(rate)], stdout=subprocess.PIPE, text=True, env=env)
            measured = asyncio.run(_markers(urls["ingest"], urls["api"], seconds, f"{suffix}-{rate}"))
            background, _ = load.communicate(timeout=seconds + 120)
            figures[f"{rate:,} events/s"] = {"background load": orjson.loads(background), **measured}
    finally:
        for process in processes:
            stop(process, timeout_s=60)
    return figures


async def _markers(ingest: str, api: str, seconds: float, tag: str) -> Figures:
    """Every 100 ms a page view of a new person (polled at the API until scored) and, every 500 ms, a
    failed donation of another (awaited on the SSE stream); latencies from ingest's 202."""
    to_score: list[float] = []
    to_alert: list[float] = []
    awaited: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=30) as client:

        async def listen() -> None:
            params = {"kind": "transaction.failed"}
            async with client.stream("GET", f"{api}/v1/alerts/stream", params=params, timeout=None) as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("data: "):
                        constituent = orjson.loads(line[6:]).get("constituent_id")
                        if constituent in awaited:
                            to_alert.append(time.perf_counter() - awaited.pop(constituent))

        async def scored(constituent: str) -> None:
            event = _marker(constituent, "web.page_view")
            assert (await client.post(f"{ingest}/v1/events", json=event)).status_code == 202
            accepted = time.perf_counter()
            while (await client.get(f"{api}/v1/constituents/{constituent}")).status_code != 200:
                await asyncio.sleep(0.002)
            to_score.append(time.perf_counter() - accepted)

        async def alerted(constituent: str) -> None:
            event = _marker(constituent, "donation.failed")
            assert (await client.post(f"{ingest}/v1/events", json=event)).status_code == 202
            awaited[constituent] = time.perf_counter()

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0.5)  # connected
        markers = []
        for n in range(int(seconds * 10)):
            markers.append(asyncio.create_task(scored(f"e2e-{tag}-{n}")))
            if n % 5 == 0:
                markers.append(asyncio.create_task(alerted(f"e2e-{tag}-failed-{n}")))
            await asyncio.sleep(0.1)
        await asyncio.wait_for(asyncio.gather(*markers), timeout=120)
        for _ in range(600):  # alerts a storm budget suppressed never come: count them as missing
            if not awaited:
                break
            await asyncio.sleep(0.1)
        listener.cancel()
    return {
        "accepted → score at the API": {"samples": len(to_score), **percentiles(to_score)},
        "donation.failed → alert on SSE": {
            "samples": len(to_alert),
            "missing": len(awaited),
            **percentiles(to_alert),
        },
    }


def _marker(constituent: str, event_type: str) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4().hex,
        "source": event_type.split(".")[0],
        "type": event_type,
        "occurred_at": datetime.now(UTC).isoformat(),
        "constituent_id": constituent,
        "attributes": {"amount": 10, "currency": "USD"} if event_type == "donation.failed" else {},
    }
