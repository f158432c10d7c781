"""`make bench` / `mission-pulse bench`: run the scenarios, write bench/results/<timestamp>.{json,md}."""

from __future__ import annotations

import asyncio
import os
import platform
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from services.bench import (
    baselines,
    dedup_cost,
    end_to_end,
    http_cases,
    peers,
    publishing,
    scorer_cases,
    serving,
    targets,
)
from services.common.config_files import load_scoring_model
from services.common.settings import REPO_ROOT, CommonSettings

SCENARIOS = ("scorer", "ingest", "e2e", "api", "sink", "dedup")
E2E_RATES = (1000, 5000)
ONE_PER_RECORD_EVENTS = 150_000  # the one-event-per-record layout: the first 150,000 events
RESULTS = REPO_ROOT / "bench" / "results"


def run(
    selected: tuple[str, ...], events: int, constituents: int, ingest_seconds: float, api_constituents: int
) -> Path:
    settings = CommonSettings()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "events": events,
        "constituents": constituents,
    }
    durations: dict[str, float] = {}  # wall seconds per scenario: where the bench's time budget goes
    results["seconds"] = durations
    for scenario in SCENARIOS:
        if scenario in selected:
            started = time.perf_counter()
            _scenario(scenario, results, settings, events, constituents, ingest_seconds, api_constituents)
            durations[scenario] = round(time.perf_counter() - started, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = RESULTS / f"{stamp}.json"
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    summary = markdown(results)
    path.with_suffix(".md").write_text(summary)
    print(summary, flush=True)
    return path


def _scenario(
    scenario: str,
    results: dict[str, Any],
    settings: CommonSettings,
    events: int,
    constituents: int,
    ingest_seconds: float,
    api_constituents: int,
) -> None:
    """Run one scenario, its figures into ``results``."""
    if scenario == "scorer":
        print(f"scorer throughput over {events:,} events, {constituents:,} constituents", flush=True)
        results["scorer"] = scorer_throughput(settings, events, constituents)
        print("publishing a batch's records: one send per record against whole batches", flush=True)
        results["publish"] = asyncio.run(publishing.publish_cost(settings))
    elif scenario == "ingest":
        print(f"ingest under load, {ingest_seconds:g} s per case", flush=True)
        results["ingest"] = {
            "batched POSTs (1000 events), 8 connections": http_cases.ingest_load(
                settings, 1000, ingest_seconds, 8
            ),
            "single-event POSTs (wrk), 64 connections": http_cases.ingest_load(
                settings, 1, ingest_seconds, 64
            ),
        }
    elif scenario == "e2e":
        rates = " and ".join(f"{rate:,}" for rate in E2E_RATES)
        print(f"end to end at {rates} events/s, {ingest_seconds:g} s each", flush=True)
        results["e2e"] = end_to_end.end_to_end(settings, E2E_RATES, ingest_seconds)
    elif scenario == "api":
        print(
            f"a new API replica over {api_constituents:,} scores; GETs for {ingest_seconds:g} s each",
            flush=True,
        )
        results["api"] = http_cases.api_serving(settings, api_constituents, ingest_seconds)
    elif scenario == "sink":
        print(
            f"the serving tier: a sink writing {api_constituents:,} score records into Redis, then the API "
            f"reading them (MP_SERVING=redis); GETs for {ingest_seconds:g} s each",
            flush=True,
        )
        results["sink"] = serving.redis_serving(settings, api_constituents, ingest_seconds)
    elif scenario == "dedup":
        print("what remembering event ids costs one constituent", flush=True)
        results["dedup"] = dedup_cost.dedup_cost()


def _api_table(title: str, api: dict[str, Any]) -> list[str]:
    """One API's read cases, ready time and memory (either mode)."""
    rows = []
    for name, figures in api["requests"].items():
        asked = figures["asked_requests_per_s"]
        load = "closed loop" if asked is None else f"open model at {asked:,}/s"
        rows.append(
            f"| {name.split(', ')[0]} | {load} | {figures['requests_per_s']:,} | "
            f"{figures['p50_ms']} | {figures['p99_ms']} | {figures.get('p99_9_ms')} | "
            f"{figures['errors']} |"
        )
    lines = _table(
        f"{title} (oha in another process; open model: latency from each request's due time)",
        "| case | load | requests/s | p50 ms | p99 ms | p99.9 ms | errors |",
        rows,
        text_columns=2,
    )
    return [
        *lines,
        f"Ready in {api['loaded_ready_s']} s, beside {api['empty_ready_s']} s with nobody to serve; "
        f"resident memory {api['loaded_rss_bytes'] / 2**20:.0f} MiB against "
        f"{api['empty_rss_bytes'] / 2**20:.0f} MiB with nobody "
        f"({api['rss_bytes_after_requests'] / 2**20:.0f} MiB after the requests).",
        "",
    ]


def scorer_throughput(settings: CommonSettings, events: int, constituents: int) -> dict[str, Any]:
    """The same events twice: one per record, and grouped as ingest writes them; ceilings on each."""
    scorer: dict[str, Any] = {}
    ready, missing = peers.prepare()
    state = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    spec = peers.fold_spec(load_scoring_model(settings.scoring_config), state)
    for grouped in (False, True):
        # One event per record, the layout ingest no longer writes, over the stream's first events only:
        # every consumer over the same ones, its rate shown in a fraction of the time.
        count = events if grouped else min(events, ONE_PER_RECORD_EVENTS)
        label = "grouped as ingest writes" if grouped else f"one event per record, first {count:,}"
        topic = f"bench-touchpoints-{uuid.uuid4().hex[:6]}"
        requests = baselines.layout(topic, count, constituents, grouped, settings.topic_partitions)
        written = asyncio.run(baselines.prefill(settings, topic, requests, count))
        scorer[f"prefill, {label} (aiokafka producer)"] = written
        scorer[f"broker ceiling, {label} (kafka-consumer-perf-test)"] = baselines.broker_consume(
            settings, topic, written["records"], count
        )
        scorer[f"python ceiling, {label} (plain aiokafka loop)"] = asyncio.run(
            baselines.plain_consume(settings, topic, count)
        )
        for peer in ready:
            print(f"  {peer.name}, light fold, {label}", flush=True)
            scorer[f"{peer.name}, light fold, {label}"] = peers.fold(
                peer, settings, topic, count, spec, state
            )
        for name, reason in missing.items():
            scorer[f"{name}, light fold, {label}"] = {
                "events": 0,
                "seconds": 0,
                "events_per_s": 0,
                "error": reason,
            }
        if grouped:
            for core, core_label in (("auto", "compiled core"), ("python", "Python model")):
                scorer[f"pure processing (no Kafka), {core_label}, {label}"] = scorer_cases.pure_processing(
                    requests, events, settings.topic_partitions, core
                )
            del requests  # what the services read is on the topic now
            for store in ("memory://", "rocksdb://"):
                scorer[f"scorer ({store}), {label}"] = scorer_cases.scorer_consume(
                    settings, topic, events, store
                )
            # the Python model in the same worker: what the compiled core changes (restart included)
            scorer[f"scorer (memory://), Python model, {label}"] = scorer_cases.scorer_consume(
                settings, topic, events, "memory://", core="python"
            )
        else:
            scorer[f"scorer (memory://), {label}"] = scorer_cases.scorer_consume(
                settings, topic, count, "memory://", restart=False
            )
    plain = scorer["python ceiling, grouped as ingest writes (plain aiokafka loop)"]["events_per_s"]
    broker = scorer["broker ceiling, grouped as ingest writes (kafka-consumer-perf-test)"]["events_per_s"]
    for name, figures in scorer.items():
        figures["vs_plain_loop"] = round(figures["events_per_s"] / plain, 3)
        figures["vs_broker"] = round(figures["events_per_s"] / broker, 3)
        layout = "grouped as ingest writes" if "grouped" in name else "one event per record"
        best = max(
            (f["events_per_s"] for n, f in scorer.items() if "light fold" in n and layout in n), default=0
        )
        if best and name.startswith("scorer"):
            figures["vs_best_peer"] = round(figures["events_per_s"] / best, 3)
    return scorer


def _table(title: str, header: str, rows: list[str], text_columns: int = 1) -> list[str]:
    """A Markdown section: a title, a table whose first ``text_columns`` are text, the rest figures
    (right-aligned)."""
    columns = header.count("|") - 1
    alignment = "|" + "---|" * text_columns + "---:|" * (columns - text_columns)
    return [f"## {title}", "", header, alignment, *rows, ""]


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"# Benchmark {results['started_at']}",
        "",
        f"{results['machine']['cpus']} CPUs, Python {results['machine']['python']}"
        + (
            f"; {results['events']:,} events over {results['constituents']:,} constituents."
            if set(results) & {"scorer", "api", "ingest"}
            else "."
        ),
        "",
    ]
    if results.get("seconds"):
        took = ", ".join(f"{name} {seconds:,.0f} s" for name, seconds in results["seconds"].items())
        lines += [f"Wall time per scenario: {took} ({sum(results['seconds'].values()) / 60:.1f} min).", ""]
    if "scorer" in results:
        rows = []
        for name, figures in results["scorer"].items():
            per = figures.get("rss_bytes_per_constituent")
            restart = figures.get("restart_ready_s")
            restarted = f"{restart} s ({figures['restart_constituents']:,} constituents)" if restart else ""
            peak = figures.get("peak_rss_bytes") or figures.get("rss_bytes")
            rate = f"{figures['events_per_s']:,}" if not figures.get("error") else f"— ({figures['error']})"
            rows.append(
                f"| {name} | {rate} | {figures.get('vs_best_peer', '')} | {figures['vs_plain_loop']} | "
                f"{figures['vs_broker']} | {f'{peak / 2**20:,.0f} MiB' if peak else ''} | "
                f"{f'{per:,} B' if per else ''} | {restarted} |"
            )
        lines += _table(
            "Scorer throughput (one worker, same topic, same run)",
            "| consumer | events/s | × best peer | × plain loop | × broker | peak RSS "
            "| resident per constituent | restart → ready |",
            rows,
        )
    if "publish" in results:
        rows = [
            f"| {name} | {f['records']:,} | {f['records_per_s']:,} |"
            for name, f in results["publish"].items()
        ]
        lines += _table(
            "Publishing the scorer's records (a state and a score record per person, acks=all, idempotent)",
            "| how | records | records/s |",
            rows,
        )
    if "ingest" in results:
        rows = [
            f"| {name} | {figures['events_per_s']:,} | {figures['requests_per_s']:,} | "
            f"{figures['p50_ms']} | {figures['p99_ms']} | {figures['errors']} |"
            for name, figures in results["ingest"].items()
        ]
        lines += _table(
            "Ingest (load generator in another process, acks=all)",
            "| case | events/s | requests/s | p50 ms | p99 ms | errors |",
            rows,
        )
    if "e2e" in results:
        rows = []
        for load, measured in results["e2e"].items():
            achieved = measured["background load"]["events_per_s"]
            for path in ("accepted → score at the API", "donation.failed → alert on SSE"):
                row = measured[path]
                missing = f" ({row['missing']} missing)" if row.get("missing") else ""
                rows.append(
                    f"| {load} (achieved {achieved:,}) | {path} | {row['samples']}{missing} | "
                    f"{row['p50_ms']} | {row['p95_ms']} | {row['p99_ms']} |"
                )
        lines += _table(
            "End to end (ingest, scorer and API under steady background load)",
            "| load | path | samples | p50 ms | p95 ms | p99 ms |",
            rows,
            text_columns=2,
        )
    if "api" in results:
        api = results["api"]
        lines += _api_table(f"API over {api['population']:,} constituents, in memory", api)
        lines += [f"**{api['rss_bytes_per_constituent']:,} B per constituent** in the API's memory.", ""]
    if "sink" in results and "skipped" not in results["sink"]:
        sink = results["sink"]
        lines += [
            "## The serving tier: sink and Redis (docs/serving.md)",
            "",
            f"{sink['population']:,} score records into an empty Redis by one sink: {sink['seconds']} s, "
            f"**{sink['records_per_s']:,} records/s**; Redis holds "
            f"**{sink['redis_bytes_per_constituent']:,} B per constituent** (used_memory grown, the records "
            "as published).",
            "",
        ]
        if "api" in sink:
            lines += _api_table(f"API over {sink['population']:,} constituents in Redis", sink["api"])
    if "dedup" in results:
        rows = [
            f"| {name} | {f['bytes']:,} B ({f['bytes_per_id']} per id) | {f['remembered']:,} | "
            f"{f['old_bytes']:,} B | {f['old_remembered']:,} | {f['us_per_event']} | "
            f"{f['old_us_per_event']} |"
            for name, f in results["dedup"].items()
        ]
        lines += _table(
            "Dedup memory of one constituent: every id in 7 days (8-byte hashes) against the last 256 ids",
            "| person | bytes | ids kept | last-256 bytes | last-256 ids | µs per event | last-256 µs |",
            rows,
        )
    met = targets.verdicts(results)
    if met:
        rows = [f"| {v.target} | {v.measured} | {v.verdict} |" for v in met]
        lines += _table(
            "Targets (docs/performance.md)", "| target | this run | verdict |", rows, text_columns=3
        )
    return "\n".join(lines)
