"""A load generator for ingest, in its own process: `python -m services.bench.load URL BATCH SECONDS CONNS
[RATE]`. Without RATE each connection sends as fast as answers come (closed loop); with RATE (events/s)
the connections keep to that steady rate as an open model: each request falls due on a schedule whatever
the answers, and its latency counts from when it was due — a service falling behind shows in the p99 rather
than being asked less (coordinated omission).

Prints one JSON object: requests, events, events/s, requests/s, p50/p99 latency, errors.
"""

from __future__ import annotations

import asyncio
import sys
import time

import httpx
import orjson

from services.bench.data import events
from services.bench.measure import percentiles


async def main(url: str, batch: int, seconds: float, connections: int, rate: float | None) -> None:
    source = events(10_000_000, 100_000, seed=7)
    latencies: list[float] = []
    errors = 0
    sent = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        stop = time.perf_counter() + seconds

        async def worker(number: int) -> None:
            nonlocal errors, sent
            interval = connections * batch / rate if rate else 0.0
            next_at = time.perf_counter() + number * interval / connections
            while time.perf_counter() < stop:
                body = b"[" + b",".join(value for _, value in (next(source) for _ in range(batch))) + b"]"
                if interval:  # open model: each request is due on a schedule, and timed from then
                    await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                    started, next_at = next_at, next_at + interval
                else:
                    started = time.perf_counter()
                response = await client.post(
                    "/v1/events", content=body, headers={"content-type": "application/json"}
                )
                latencies.append(time.perf_counter() - started)
                if response.status_code == 202:
                    sent += batch
                else:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker(number) for number in range(connections)))
        elapsed = time.perf_counter() - began
    print(
        orjson.dumps(
            {
                "batch": batch,
                "connections": connections,
                "requests": len(latencies),
                "events": sent,
                "events_per_s": round(sent / elapsed),
                "requests_per_s": round(len(latencies) / elapsed),
                "errors": errors,
                **percentiles(latencies),
            }
        ).decode()
    )


if __name__ == "__main__":
    rate = float(sys.argv[5]) if len(sys.argv) > 5 else None
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), rate))
