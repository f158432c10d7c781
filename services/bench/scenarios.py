"""Benchmark scenarios on the real broker, each reporting its figures beside a baseline from the same run."""

from __future__ import annotations

import asyncio
import gc
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from tqdm import tqdm

from services.bench.data import events
from services.common.config_files import load_alert_rules, load_scoring_model
from services.common.gc_tuning import tune_garbage_collection
from services.common.kafka import Record, records_by_partition
from services.common.readiness import wait_until_ready
from services.common.settings import REPO_ROOT, CommonSettings
from services.domain.scoring import ConstituentState, apply_event, score_record
from services.scorer.processing import BatchProcessor, Incoming

Figures = dict[str, Any]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _create_topic(settings: CommonSettings, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, settings.topic_partitions, 1)])
    finally:
        await admin.close()


REQUEST_EVENTS = 1000  # events per ingest request when the benchmark groups them as ingest does


def as_requests(keyed: Iterator[tuple[bytes, bytes]]) -> Iterator[list[tuple[bytes, bytes]]]:
    """The events as ingest receives them in batched POSTs: lists of ``REQUEST_EVENTS``."""
    return iter(lambda: list(islice(keyed, REQUEST_EVENTS)), [])


async def prefill(
    settings: CommonSettings, topic: str, count: int, constituents: int, grouped: bool
) -> Figures:
    """Write ``count`` events to a new topic, one per record or ``grouped`` as ingest writes a request of
    1000 (a JSON array per partition); the producer's rate is a figure of its own."""
    keyed = events(count, constituents)
    if grouped:
        records = [
            record
            for request in as_requests(keyed)
            for record in records_by_partition(topic, request, settings.topic_partitions)
        ]
    else:
        records = [Record(topic, key, value) for key, value in keyed]
    figures = await produce(settings, topic, records, len(records), "prefill")
    return {**figures, "events": count, "events_per_s": round(count / figures["seconds"])}


def pure_processing(count: int, constituents: int, partitions: int) -> Figures:
    """The scorer's processing alone, without Kafka or Faust: the same events grouped as ingest writes
    them, folded request by request into a dict standing in for the table, states and score records
    serialised as the scorer does, garbage collection tuned as in the scorer. Only that is timed, not
    making the events: the ceiling of the scoring itself."""
    settings = CommonSettings()
    model = load_scoring_model(settings.scoring_config)
    processor = BatchProcessor(model, load_alert_rules(settings.alerts_config))
    table: dict[str, bytes] = {}

    def load_state(constituent_id: str, partition: int) -> ConstituentState | None:
        stored = table.get(constituent_id)
        return None if stored is None else ConstituentState.from_dict(orjson.loads(stored))

    keyed = events(count, constituents)
    spent = 0.0
    before = gc.get_threshold()
    tune_garbage_collection(settings.gc_young_threshold)
    try:
        with tqdm(total=count, desc="pure processing", unit="ev", leave=False) as bar:
            for request in as_requests(keyed):
                grouped = records_by_partition("touchpoints", request, partitions)
                records = [
                    Incoming(record.partition or 0, None, record.value) for record in grouped if record.value
                ]
                started = time.perf_counter()
                now = time.time()
                result = processor.process(records, load_state, now, (), partitions)
                for constituent_id, state in result.changed.items():
                    table[constituent_id] = orjson.dumps(state.to_dict())
                    orjson.dumps(score_record(state, model, now))
                spent += time.perf_counter() - started
                bar.update(len(request))
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
    return {"events": count, "seconds": round(spent, 2), "events_per_s": round(count / spent)}


async def produce(
    settings: CommonSettings, topic: str, records: Iterable[Record], count: int, label: str
) -> Figures:
    """Write ``count`` records to a new topic."""
    await _create_topic(settings, topic)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        linger_ms=5,
        acks="all",
        enable_idempotence=True,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for record in tqdm(records, total=count, desc=label, unit="rec", leave=False):
            pending.append(
                await producer.send(topic, value=record.value, key=record.key, partition=record.partition)
            )
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    seconds = time.perf_counter() - started
    return {"records": count, "seconds": round(seconds, 2), "records_per_s": round(count / seconds)}


async def plain_consume(settings: CommonSettings, topic: str, count: int) -> Figures:
    """The Python ceiling: aiokafka getmany + orjson decode + a dict update per event."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    counts: dict[str, int] = {}
    seen = 0
    try:
        with tqdm(total=count, desc="plain aiokafka loop", unit="ev", leave=False) as bar:
            started = None
            while seen < count:
                for records in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
                    if started is None:
                        started = time.perf_counter()
                    before = seen
                    for record in records:
                        decoded = orjson.loads(record.value)
                        for event in decoded if isinstance(decoded, list) else [decoded]:
                            counts[event["constituent_id"]] = counts.get(event["constituent_id"], 0) + 1
                            seen += 1
                    bar.update(seen - before)
    finally:
        await consumer.stop()
    seconds = time.perf_counter() - (started or time.perf_counter())
    return {
        "events": seen,
        "seconds": round(seconds, 2),
        "events_per_s": round(seen / seconds),
        "constituents": len(counts),
    }


def broker_consume(settings: CommonSettings, topic: str, records: int, events: int) -> Figures:
    """The broker's ceiling: kafka-consumer-perf-test from the broker's own jars (it counts records; the
    events they hold are the same multiple of them)."""
    libs = os.environ.get("KAFKA_LIBS_DIR", str(REPO_ROOT / ".kafka" / "libs"))
    command = [
        "java",
        "-Xmx512m",
        "-cp",
        f"{libs}/*",
        "org.apache.kafka.tools.ConsumerPerformance",
        "--bootstrap-server",
        settings.kafka_bootstrap,
        "--topic",
        topic,
        "--messages",
        str(records),
        "--group",
        f"bench-perf-{uuid.uuid4().hex[:6]}",
        "--timeout",
        "60000",
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=300).stdout
    header, values = [line for line in output.splitlines() if line.strip()][-2:]
    row = dict(
        zip([h.strip() for h in header.split(",")], [v.strip() for v in values.split(",")], strict=False)
    )
    consumed = int(row["data.consumed.in.nMsg"])
    return {
        "records": consumed,
        "events": round(consumed * events / records),
        "seconds": round(float(row["fetch.time.ms"]) / 1000, 2),
        "events_per_s": round(float(row["fetch.nMsg.sec"]) * events / records),
    }


def metric_total(text: str, name: str) -> float:
    return sum(float(value) for value in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024  # type: ignore[union-attr]


def scorer_consume(
    settings: CommonSettings, topic: str, count: int, store: str, restart: bool = True
) -> Figures:
    """One scorer worker (full model, alert rules, changelog-backed table) over the pre-filled topic;
    with ``restart``, then the time the same worker takes to be ready again."""
    port = free_port()
    data = tempfile.mkdtemp(prefix="bench-scorer-")
    suffix = uuid.uuid4().hex[:6]
    env = {
        **os.environ,
        "MP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "MP_TOPIC_TOUCHPOINTS": topic,
        "MP_TOPIC_SCORES": f"bench-scores-{suffix}",
        "MP_TOPIC_ALERTS": f"bench-alerts-{suffix}",
        "MP_TOPIC_DEAD_LETTERS": f"bench-dlq-{suffix}",
        "MP_SCORER_APP_ID": f"bench-scorer-{suffix}",
        "MP_SCORER_WEB_PORT": str(port),
        "MP_SCORER_DATA_DIR": data,
        "MP_SCORER_STORE": store,
        "MP_LOG_LEVEL": "WARNING",
    }
    process = _service("scorer", env)
    seen = 0.0
    started = finished = None
    baseline = 0  # RSS when the first events were scored: the interpreter, Faust and empty tables
    try:
        with tqdm(total=count, desc=f"scorer ({store})", unit="ev", leave=False) as bar:
            deadline = time.monotonic() + 1800
            while seen < count and time.monotonic() < deadline:
                if process.poll() is not None:
                    raise SystemExit(f"the scorer exited with {process.returncode}")
                try:
                    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
                except httpx.HTTPError:
                    time.sleep(0.5)
                    continue
                now_seen = metric_total(text, "mp_scorer_events_total")
                if now_seen and started is None:
                    started = time.perf_counter()
                    baseline = rss_bytes(process.pid)
                bar.update(now_seen - seen)
                seen = now_seen
                time.sleep(0.5)
            finished = time.perf_counter()
            keys = metric_total(
                httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text, "mp_scorer_table_keys"
            )
            rss = rss_bytes(process.pid)
    finally:
        _stop(process)
    seconds = (finished or 0) - (started or 0)
    figures: Figures = {
        "events": int(seen),
        "seconds": round(seconds, 2),
        "events_per_s": round(seen / seconds),
        "constituents": int(keys),
        "rss_bytes": rss,
        "rss_bytes_at_start": baseline,
        "rss_bytes_per_constituent": round((rss - baseline) / keys) if keys else None,
    }
    if not restart:
        return figures
    # recovery: the same worker restarted, ready once its state is rebuilt (memory) or caught up (RocksDB)
    restarted = time.perf_counter()
    process = _service("scorer", env)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/readyz", process, timeout_s=900)
        figures["restart_ready_s"] = round(time.perf_counter() - restarted, 1)
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        figures["restart_constituents"] = int(metric_total(text, "mp_scorer_table_keys"))
    finally:
        _stop(process)
    return figures


def _service(name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", name],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def ingest_load(settings: CommonSettings, batch: int, seconds: float, connections: int) -> Figures:
    """Ingest under a load generator in another process: events/s and request latency percentiles.
    Single events come from wrk (a Python client would saturate before the service does), batches of
    generated traffic from services/bench/load.py."""
    port = free_port()
    env = {name: value for name, value in os.environ.items() if name != "MP_AUTH_CONFIG"}
    env |= {
        "MP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "MP_INGEST_PORT": str(port),
        "MP_IDENTITY_SECRET": "bench",
        "MP_LOG_LEVEL": "WARNING",
    }
    process = _service("ingest", env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(f"{url}/readyz", process, timeout_s=60)
        if batch == 1:
            figures = wrk(url, seconds, connections, None, {"TOUCHPOINTS": "1"})
            return {**figures, "batch": 1, "events_per_s": figures["requests_per_s"]}
        load = subprocess.run(
            [sys.executable, "-m", "services.bench.load", url, str(batch), str(seconds), str(connections)],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 120,
        )
        return orjson.loads(load.stdout)  # type: ignore[no-any-return]
    finally:
        _stop(process)


def percentiles(latencies: list[float]) -> dict[str, float]:
    if len(latencies) < 2:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}
    cuts = statistics.quantiles(latencies, n=100)
    return {f"p{n}_ms": round(cuts[n - 1] * 1000, 2) for n in (50, 95, 99)}


API_POPULATION_PREFIX = "b-"
WRK_SCRIPT = Path(__file__).parent / "wrk" / "requests.lua"
# requests/s asked besides the closed loop: below saturation, so latency is mostly service time
PACED_RATES = {"by id": (1000, 2000), "at-risk list (50)": (200,)}
ONE_TOUCH_EACH = (
    "web.page_view",
    "email.opened",
    "donation.succeeded",
    "event.registered",
    "donation.failed",
)


def published_states(population: int, topic: str) -> Iterator[Record]:
    """What the scorer would publish for ``population`` people with five touchpoints each."""
    model = load_scoring_model(CommonSettings().scoring_config)
    now = time.time()
    for n in range(population):
        state = ConstituentState(f"{API_POPULATION_PREFIX}{n:07d}")
        for step, event_type in enumerate(ONE_TOUCH_EACH[: 1 + n % len(ONE_TOUCH_EACH)]):
            event = {"event_id": f"{n}-{step}", "type": event_type, "source": event_type.split(".")[0]}
            apply_event(state, event, now - 3600 + step * 60, model)
        yield Record(topic, state.constituent_id.encode(), orjson.dumps(score_record(state, model, now)))


def _start_api(settings: CommonSettings, scores_topic: str) -> tuple[subprocess.Popen[bytes], str, float]:
    """An API over ``scores_topic``; with the seconds it took to be ready (caught up)."""
    port = free_port()
    suffix = uuid.uuid4().hex[:6]
    env = {name: value for name, value in os.environ.items() if name != "MP_AUTH_CONFIG"}
    env |= {
        "MP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "MP_API_PORT": str(port),
        "MP_TOPIC_SCORES": scores_topic,
        "MP_TOPIC_ALERTS": f"bench-alerts-{suffix}",
        "MP_TOPIC_DEAD_LETTERS": f"bench-dlq-{suffix}",
        "MP_LOG_LEVEL": "WARNING",
    }
    started = time.perf_counter()
    process = _service("api", env)
    url = f"http://127.0.0.1:{port}"
    wait_until_ready(f"{url}/readyz", process, timeout_s=600)
    return process, url, time.perf_counter() - started


def wrk(
    url: str,
    seconds: float,
    connections: int,
    rate: int | None = None,
    script_env: dict[str, str] | None = None,
) -> Figures:
    """Load from wrk (C, another process; wrk/requests.lua says what ``script_env`` chooses): requests/s
    and latency percentiles. Without ``rate`` a closed loop (as fast as answers come: the saturation
    point, where latency is mostly queueing); with it each connection waits between requests so that
    together they ask for about ``rate`` requests/s."""
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--latency",
        "-s",
        str(WRK_SCRIPT),
    ]
    env = {**os.environ, **(script_env or {})}
    if rate is not None:
        env["DELAY_MS"] = str(round(connections / rate * 1000))
    result = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=seconds + 60, env=env
    )
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def latency_ms(percent: str) -> float:
        value, scale = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)$", result.stdout, re.M).groups()  # type: ignore[union-attr]
        return round(float(value) * unit[scale], 2)

    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    timeouts = re.search(r"Socket errors: .*timeout (\d+)", result.stdout)
    return {
        "connections": connections,
        "asked_requests_per_s": rate,
        "requests_per_s": round(float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))),  # type: ignore[union-attr]
        "p50_ms": latency_ms("50"),
        "p99_ms": latency_ms("99"),
        "errors": sum(int(found.group(1)) for found in (failed, timeouts) if found),
    }


def api_serving(settings: CommonSettings, population: int, seconds: float) -> Figures:
    """A new API replica over ``population`` published scores: ready time, memory, and GET latency."""
    scores_topic = f"bench-api-scores-{uuid.uuid4().hex[:6]}"
    empty_topic = f"bench-api-empty-{uuid.uuid4().hex[:6]}"
    states = published_states(population, scores_topic)
    asyncio.run(produce(settings, scores_topic, states, population, "scores"))
    asyncio.run(_create_topic(settings, empty_topic))
    figures: Figures = {"population": population}
    for name, topic in (("empty", empty_topic), ("loaded", scores_topic)):
        process, url, ready_s = _start_api(settings, topic)
        try:
            figures[f"{name}_ready_s"] = round(ready_s, 2)
            figures[f"{name}_rss_bytes"] = rss_bytes(process.pid)
            if name == "loaded":
                path = f"{url}/v1/constituents/{API_POPULATION_PREFIX}{0:07d}"
                assert httpx.get(path).status_code == 200, "the benchmark population is not served"
                requests = figures["requests"] = {}
                for case, case_url, ids in (
                    ("by id", url, {"POPULATION": str(population)}),
                    ("at-risk list (50)", f"{url}/v1/constituents?limit=50", {}),
                ):
                    requests[case] = wrk(case_url, seconds, 64, None, ids)
                    for rate in PACED_RATES[case]:
                        requests[f"{case}, paced at {rate}/s"] = wrk(case_url, seconds, 64, rate, ids)
        finally:
            _stop(process)
    grown = figures["loaded_rss_bytes"] - figures["empty_rss_bytes"]
    figures["rss_bytes_per_constituent"] = round(grown / population)
    return figures


def end_to_end(settings: CommonSettings, rates: tuple[int, ...], seconds: float) -> Figures:
    """Ingest, scorer and API together under steady background load: accepted → score visible at the
    API, and donation.failed accepted → its alert on the SSE stream, for marker events sent meanwhile."""
    suffix = uuid.uuid4().hex[:6]
    ports = {name: free_port() for name in ("ingest", "scorer", "api")}
    env = {name: value for name, value in os.environ.items() if name != "MP_AUTH_CONFIG"}
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
    processes = [_service(name, env) for name in ports]
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
            _stop(process)
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
