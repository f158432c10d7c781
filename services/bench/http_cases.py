"""The HTTP benchmarks: ingest under load, and an API replica over a population of scores (wrk)."""

from __future__ import annotations

import asyncio
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson

from services.bench.baselines import create_topic, produce
from services.bench.measure import Figures
from services.common.config_files import load_scoring_model
from services.common.kafka import Record
from services.common.processes import free_port, rss_bytes, start_service, stop, wait_until_ready
from services.common.settings import REPO_ROOT, CommonSettings
from services.domain.readings import score_record
from services.domain.scoring import ConstituentState, apply_event
from services.domain.scoring_model import ScoringModel


def ingest_load(settings: CommonSettings, batch: int, seconds: float, connections: int) -> Figures:
    """Ingest under a load generator in another process: events/s and request latency percentiles.
    Single events come from wrk (a Python client would saturate before the service does), batches of
    generated traffic from services/bench/load.py."""
    port = free_port()
    env = {name: value for name, value in os.environ.items() if name != "MP_AUTH_CONFIG"}
    env["MP_ENVIRONMENT"] = "development"  # measured without keys
    env |= {
        "MP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "MP_INGEST_PORT": str(port),
        "MP_IDENTITY_SECRET": "bench",
        "MP_LOG_LEVEL": "WARNING",
    }
    process = start_service("ingest", env, subprocess.DEVNULL)
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
        stop(process, timeout_s=60)


API_POPULATION_PREFIX = "b-"
OHA = REPO_ROOT / ".tools" / "bin" / "oha"  # deploy/tools/cargo-ensure.sh oha (make bench)
ID_SAMPLE = 100_000  # random people of the population each GET case picks from (a file of URLs for oha)
WRK_SCRIPT = Path(__file__).parent / "wrk" / "requests.lua"
# requests/s asked besides the closed loop: below saturation, so latency is mostly service time
PACED_RATES = {"by id": (1000, 2000), "at-risk list (50)": (200,)}
API_CONNECTIONS = 32  # enough that an open model at 2,000/s never waits for a free connection
ONE_TOUCH_EACH = (
    "web.page_view",
    "email.opened",
    "donation.succeeded",
    "event.registered",
    "donation.failed",
)


def published_states(population: int, topic: str) -> Iterator[Record]:
    """What the scorer would publish for ``population`` people with one to five touchpoints each
    (person ``n`` the first ``1 + n % 5`` of ``ONE_TOUCH_EACH``, a minute apart, ending an hour ago).
    People with the same touchpoints differ only in their id and their events' ids, so each record is
    one of five folded once, with those ids written in: a million in seconds, not minutes."""
    model = load_scoring_model(CommonSettings().scoring_config)
    now = time.time()
    templates = [_published_state(TEMPLATE_ID, touches, now, model) for touches in range(len(ONE_TOUCH_EACH))]
    for n in range(population):
        constituent_id = f"{API_POPULATION_PREFIX}{n:07d}"
        value = (
            templates[n % len(ONE_TOUCH_EACH)]
            .replace(b'"' + TEMPLATE_ID.encode() + b'"', f'"{constituent_id}"'.encode())
            .replace(b'"' + TEMPLATE_ID.encode() + b"-", f'"{n}-'.encode())
        )
        yield Record(topic, constituent_id.encode(), value)


TEMPLATE_ID = "person-to-be-named"


def _published_state(person: str, touches: int, now: float, model: ScoringModel) -> bytes:
    """The score record of ``person`` after the first ``touches + 1`` of ``ONE_TOUCH_EACH`` (event ids
    ``<person>-<step>``)."""
    state = ConstituentState(person)
    for step, event_type in enumerate(ONE_TOUCH_EACH[: 1 + touches]):
        event = {"event_id": f"{person}-{step}", "type": event_type, "source": event_type.split(".")[0]}
        apply_event(state, event, now - 3600 + step * 60, model)
    return orjson.dumps(score_record(state, model, now))


def start_api(
    settings: CommonSettings, scores_topic: str, **extra: str
) -> tuple[subprocess.Popen[bytes], str, float]:
    """An API over ``scores_topic`` (``extra``: more settings); with the seconds it took to be ready."""
    port = free_port()
    suffix = uuid.uuid4().hex[:6]
    env = {name: value for name, value in os.environ.items() if name != "MP_AUTH_CONFIG"}
    env["MP_ENVIRONMENT"] = "development"  # measured without keys
    env |= {
        "MP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "MP_API_PORT": str(port),
        "MP_TOPIC_SCORES": scores_topic,
        "MP_TOPIC_ALERTS": f"bench-alerts-{suffix}",
        "MP_TOPIC_DEAD_LETTERS": f"bench-dlq-{suffix}",
        "MP_LOG_LEVEL": "WARNING",
        **extra,
    }
    started = time.perf_counter()
    process = start_service("api", env, subprocess.DEVNULL)
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
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}

    def latency_ms(percent: str) -> float | None:  # None: wrk printed no such line (no answer at all)
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)$", result.stdout, re.M)
        if found is None:
            print(f"wrk gave no {percent}th percentile for {url}:\n{result.stdout[-800:]}", flush=True)
            return None
        return round(float(found.group(1)) * unit[found.group(2)], 2)

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


def oha(url_or_file: str, seconds: float, connections: int, rate: int | None = None) -> Figures:
    """Load from oha (Rust, another process): requests/s and latency percentiles. Without ``rate`` a
    closed loop (as fast as answers come: the saturation point). With it an **open model**: requests are
    due at ``rate`` per second whether or not earlier ones were answered, and each latency is measured from
    when its request was due (``--latency-correction``), so a service that falls behind shows it in its
    p99 instead of being asked less (coordinated omission: a closed loop paced by waits, as wrk's was,
    under-reported exactly then). ``url_or_file``: a URL, or a file of URLs picked at random."""
    command = [
        str(OHA),
        "-z",
        f"{seconds:g}s",
        "-c",
        str(connections),
        "-w",
        "--no-tui",
        "--output-format",
        "json",
    ]
    # one thread is enough for these rates, and leaves the second core to the service (with two, oha's own
    # threads took turns with the API: p99 8.2 ms where one thread measured 3.2 ms, same machine and run)
    command += ["--worker-threads", "1"]
    if rate is not None:
        command += ["-q", str(rate), "--latency-correction"]
    if not url_or_file.startswith("http"):
        command.append("--urls-from-file")
    result = subprocess.run([*command, url_or_file], capture_output=True, check=True, timeout=seconds + 60)
    report = orjson.loads(result.stdout)
    codes = report.get("statusCodeDistribution", {})
    percentiles = report.get("latencyPercentiles", {})

    def latency_ms(name: str) -> float | None:
        value = percentiles.get(name)
        return None if value is None else round(value * 1000, 2)

    return {
        "connections": connections,
        "asked_requests_per_s": rate,
        "open_model": rate is not None,
        "requests_per_s": round(report["summary"]["requestsPerSec"]),
        "p50_ms": latency_ms("p50"),
        "p99_ms": latency_ms("p99"),
        "p99_9_ms": latency_ms("p99.9"),
        "errors": sum(n for code, n in codes.items() if not code.startswith("2"))
        + sum(report.get("errorDistribution", {}).values()),
    }


def _urls_file(url: str, population: int, directory: Path) -> str:
    """A file of GET URLs of ``ID_SAMPLE`` people drawn at random from the benchmark's population."""
    rng = random.Random(7)  # noqa: S311 (which people to ask for, not a secret)
    path = directory / "urls.txt"
    people = (rng.randrange(population) for _ in range(min(ID_SAMPLE, population)))
    path.write_text("".join(f"{url}/v1/constituents/{API_POPULATION_PREFIX}{n:07d}\n" for n in people))
    return str(path)


def api_serving(settings: CommonSettings, population: int, seconds: float) -> Figures:
    """A new API replica over ``population`` published scores: ready time, memory, and GET latency."""
    scores_topic = f"bench-api-scores-{uuid.uuid4().hex[:6]}"
    empty_topic = f"bench-api-empty-{uuid.uuid4().hex[:6]}"
    states = published_states(population, scores_topic)
    asyncio.run(produce(settings, scores_topic, states, population, "scores"))
    asyncio.run(create_topic(settings, empty_topic))
    figures: Figures = {"population": population}
    for name, topic in (("empty", empty_topic), ("loaded", scores_topic)):
        process, url, ready_s = start_api(settings, topic)
        try:
            figures[f"{name}_ready_s"] = round(ready_s, 2)
            figures[f"{name}_rss_bytes"] = rss_bytes(process.pid)
            if name == "loaded":
                figures["requests"] = api_requests(url, population, seconds)
                figures["rss_bytes_after_requests"] = rss_bytes(process.pid)
        finally:
            stop(process, timeout_s=60)
    grown = figures["loaded_rss_bytes"] - figures["empty_rss_bytes"]
    figures["rss_bytes_per_constituent"] = round(grown / population)
    return figures


def api_requests(url: str, population: int, seconds: float) -> Figures:
    """The API's read cases against ``url`` serving the bench population: closed loop, then open model."""
    path = f"{url}/v1/constituents/{API_POPULATION_PREFIX}{0:07d}"
    assert httpx.get(path).status_code == 200, "the benchmark population is not served"
    requests: Figures = {}
    with tempfile.TemporaryDirectory() as directory:
        for case, target in (
            ("by id", _urls_file(url, population, Path(directory))),
            ("at-risk list (50)", f"{url}/v1/constituents?limit=50"),
        ):
            requests[case] = oha(target, seconds, API_CONNECTIONS)
            for rate in PACED_RATES[case]:
                requests[f"{case}, open model at {rate}/s"] = oha(target, seconds, API_CONNECTIONS, rate)
    return requests
