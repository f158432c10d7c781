"""`make soak` / `mission-pulse soak`: a bounded steady load on the whole system; memory, lag and errors
sampled every 10 s; stops by itself and writes bench/results/soak-<timestamp>.{json,md}."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
from tqdm import tqdm

from services.bench.data import events
from services.bench.measure import metric_total
from services.bench.run import RESULTS
from services.common.processes import free_port, rss_bytes, start_service, stop, wait_until_ready
from services.common.settings import CommonSettings

SAMPLE_EVERY_S = 10.0
BATCH = 100


def soak(minutes: float, rate: float, constituents: int) -> Path:
    """A fixed population, so that once everyone has been seen memory should stay flat."""
    settings = CommonSettings()
    ports = {"ingest": free_port(), "scorer": free_port(), "api": free_port()}
    env = {name: value for name, value in os.environ.items() if name != "MP_AUTH_CONFIG"}
    env["MP_ENVIRONMENT"] = "development"  # measured without keys
    env |= {
        "MP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "MP_IDENTITY_SECRET": "soak",
        "MP_LOG_LEVEL": "INFO",  # kept: rebalances and recoveries are logged at INFO
        "MP_INGEST_PORT": str(ports["ingest"]),
        "MP_SCORER_WEB_PORT": str(ports["scorer"]),
        "MP_API_PORT": str(ports["api"]),
        "MP_SCORER_DATA_DIR": tempfile.mkdtemp(prefix="soak-"),
    }
    logs = RESULTS / time.strftime("soak-%Y%m%dT%H%M%SZ-logs", time.gmtime())
    logs.mkdir(parents=True)
    print(f"service logs in {logs}", flush=True)
    processes = {name: start_service(name, env, logs / f"{name}.log") for name in ("ingest", "scorer", "api")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    samples: list[dict[str, Any]] = []
    sent = errors = 0
    accepted: Counter[str] = Counter()
    try:
        for name in processes:
            wait_until_ready(urls[name] + "/readyz", processes[name])
        source = events(10**9, constituents, seed=11)
        began = time.monotonic()
        ends = began + minutes * 60
        next_sample = began
        interval = BATCH / rate
        with (
            httpx.Client(base_url=urls["ingest"], timeout=30) as client,
            tqdm(total=round(minutes * 60), desc=f"soak at {rate:g} events/s", unit="s") as bar,
        ):
            tick = began
            while (now := time.monotonic()) < ends:
                if now >= next_sample:
                    samples.append(_sample(processes, urls, now - began, sent, errors))
                    next_sample += SAMPLE_EVERY_S
                    bar.update(round(now - began) - bar.n)
                batch = [next(source) for _ in range(BATCH)]
                body = b"[" + b",".join(value for _, value in batch) + b"]"
                response = client.post(
                    "/v1/events", content=body, headers={"content-type": "application/json"}
                )
                sent += BATCH
                errors += response.status_code != 202
                if response.status_code == 202:  # what ingest accepted, person by person
                    rejected = {row["index"] for row in response.json()["rejected"]}
                    accepted.update(key.decode() for n, (key, _) in enumerate(batch) if n not in rejected)
                tick += interval
                time.sleep(max(0.0, tick - time.monotonic()))
        samples.append(_sample(processes, urls, time.monotonic() - began, sent, errors))
        counted = _count_when_settled(urls, accepted)
    finally:
        for process in processes.values():
            stop(process, timeout_s=60)
    return _report(minutes, rate, constituents, samples, sent, errors, counted)


def _count_when_settled(
    urls: dict[str, str], accepted: Counter[str], settle_s: float = 5.0
) -> dict[str, int]:
    """Accepted / scored / lost / doubled, from each person's count at the API once the scorer's lag is 0 and
    no count changed for ``settle_s`` (not the scorer's own counters, which also count what it dropped)."""
    people = sorted(accepted)
    previous: dict[str, int] | None = None
    stable_since, deadline = time.monotonic(), time.monotonic() + 600
    with httpx.Client(base_url=urls["api"], timeout=10) as api:
        while time.monotonic() < deadline:
            counts = {}
            for person in people:
                answer = api.get(f"/v1/constituents/{person}")
                counts[person] = answer.json()["events"] if answer.status_code == 200 else 0
            lag = metric_total(
                httpx.get(urls["scorer"] + "/metrics", timeout=5).text, "mp_consumer_lag_messages"
            )
            if counts != previous or lag:
                previous, stable_since = counts, time.monotonic()
            elif time.monotonic() - stable_since >= settle_s:
                break
            time.sleep(1)
    counts = previous or {}
    return {
        "accepted": sum(accepted.values()),
        "scored": sum(counts.values()),
        "lost": sum(max(0, accepted[p] - counts.get(p, 0)) for p in people),
        "doubled": sum(max(0, counts.get(p, 0) - accepted[p]) for p in people),
    }


def _sample(
    processes: dict[str, subprocess.Popen[bytes]], urls: dict[str, str], at: float, sent: int, errors: int
) -> dict[str, Any]:
    scorer = httpx.get(urls["scorer"] + "/metrics", timeout=5).text
    api = httpx.get(urls["api"] + "/metrics", timeout=5).text
    return {
        "seconds": round(at),
        "sent": sent,
        "errors": errors,
        "scored": int(metric_total(scorer, "mp_scorer_events_total")),
        "scorer_lag": int(metric_total(scorer, "mp_consumer_lag_messages")),
        "api_lag": int(metric_total(api, "mp_consumer_lag_messages")),
        **{f"{name}_rss_mb": round(rss_bytes(process.pid) / 2**20, 1) for name, process in processes.items()},
    }


def _report(
    minutes: float,
    rate: float,
    constituents: int,
    samples: list[dict[str, Any]],
    sent: int,
    errors: int,
    counted: dict[str, int],
) -> Path:
    settled = samples[len(samples) // 3]  # after warm-up
    last = samples[-1]
    growth = {
        name: round(last[f"{name}_rss_mb"] / settled[f"{name}_rss_mb"] - 1, 3)
        for name in ("ingest", "scorer", "api")
    }
    verdict = {
        "sent": sent,
        **counted,
        "errors": errors,
        "memory_growth_after_warmup": growth,
        "scorer_lag_max": max(s["scorer_lag"] for s in samples),
        "scorer_lag_last": last["scorer_lag"],
    }
    results = {
        "minutes": minutes,
        "rate": rate,
        "constituents": constituents,
        "sent": sent,
        "verdict": verdict,
        "samples": samples,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"soak-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    lines = [
        f"# Soak: {minutes:g} min at {rate:g} events/s over {constituents:,} constituents",
        "",
        f"sent / accepted / scored {sent:,} / {counted['accepted']:,} / {counted['scored']:,}, lost "
        f"{counted['lost']}, doubled {counted['doubled']} (each person's count at the API, once settled); "
        f"errors {errors}; verdict `{orjson.dumps(verdict).decode()}`",
        "",
        "| s | sent | folded by the scorer | scorer lag | api lag | ingest MB | scorer MB | api MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {s['seconds']} | {s['sent']:,} | {s['scored']:,} | {s['scorer_lag']} | {s['api_lag']} | "
        f"{s['ingest_rss_mb']} | {s['scorer_rss_mb']} | {s['api_rss_mb']} |"
        for s in samples
    ]
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:3]), flush=True)
    return path
