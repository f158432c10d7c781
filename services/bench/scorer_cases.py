"""The scorer benchmarks: its processing alone (no Kafka), and one worker over a pre-filled topic."""

from __future__ import annotations

import gc
import os
import subprocess
import tempfile
import time
import uuid

import httpx
import orjson
from tqdm import tqdm

from services.bench.baselines import REQUEST_EVENTS
from services.bench.measure import Figures, metric_total
from services.common.config_files import load_alert_rules, load_scoring_model
from services.common.gc_tuning import tune_garbage_collection
from services.common.kafka import Record
from services.common.processes import free_port, rss_bytes, start_service, stop, wait_until_ready
from services.common.settings import CommonSettings
from services.domain.readings import score_record
from services.domain.scoring import ConstituentState
from services.scorer.compiled import CompiledProcessor, choose, state_from_stored
from services.scorer.processing import BatchProcessor
from services.scorer.records import Incoming


def pure_processing(requests: list[list[Record]], count: int, partitions: int, core: str = "auto") -> Figures:
    """The scorer's processing alone, without Kafka or Faust: the ``count`` events the scorer reads,
    grouped as ingest writes them (``baselines.layout``), folded request by request into a dict standing in
    for the table, states and score records serialised as the scorer does, garbage collection tuned as in
    the scorer. Only that is timed, not making the events: the ceiling of the scoring itself. ``core``:
    which core folds (MP_SCORER_CORE's values: the compiled one where installed, or the Python model)."""
    settings = CommonSettings()
    model = load_scoring_model(settings.scoring_config)
    rules = load_alert_rules(settings.alerts_config)
    compiled_core = choose(core)  # type: ignore[arg-type]
    processor = (
        BatchProcessor(model, rules)
        if compiled_core is None
        else CompiledProcessor(compiled_core, model, rules)
    )
    table: dict[str, bytes] = {}

    def load_state(constituent_id: str, partition: int) -> ConstituentState | None:
        stored = table.get(constituent_id)
        return None if stored is None else state_from_stored(stored)

    load = (
        load_state if compiled_core is None else (lambda constituent_id, partition: table.get(constituent_id))
    )
    spent = 0.0
    before = gc.get_threshold()
    tune_garbage_collection(settings.gc_young_threshold)
    try:
        with tqdm(total=count, desc=f"pure processing ({core})", unit="ev", leave=False) as bar:
            for request in requests:
                records = [
                    Incoming(record.partition or 0, None, record.value) for record in request if record.value
                ]
                started = time.perf_counter()
                now = time.time()
                result = processor.process(records, load, now, (), partitions)  # type: ignore[arg-type]
                for constituent_id, state in result.changed.items():
                    table[constituent_id] = orjson.dumps(state.to_dict())
                    orjson.dumps(score_record(state, model, now))
                for made in result.encoded:  # the core's bytes and score record, made in the call
                    table[made.constituent_id] = made.state
                spent += time.perf_counter() - started
                bar.update(min(REQUEST_EVENTS, count - bar.n))
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
    stored = sum(len(value) for value in table.values())
    return {
        "events": count,
        "seconds": round(spent, 2),
        "events_per_s": round(count / spent),
        "core": "python" if compiled_core is None else "compiled",
        "constituents": len(table),
        "stored_bytes_per_constituent": round(stored / len(table)) if table else None,
    }


def bytes_per_person(samples: list[tuple[float, int]]) -> int | None:
    """What one more person costs in resident memory: the least-squares slope of RSS over the people in
    the table, through the run's samples after its first fifth (the working memory of a running worker —
    batches, buffers, the allocator's arenas — is there from the first batches and not per person)."""
    kept = samples[len(samples) // 5 :]
    if len(kept) < 3:
        return None
    mean_x = sum(x for x, _ in kept) / len(kept)
    mean_y = sum(y for _, y in kept) / len(kept)
    spread = sum((x - mean_x) ** 2 for x, _ in kept)
    if not spread:
        return None
    return round(sum((x - mean_x) * (y - mean_y) for x, y in kept) / spread)


def empty_worker_rss(env: dict[str, str], port: int) -> int:
    """The resident memory of the same worker over an empty topic once ready: what a scorer holds before
    anyone's state (the run's own first reading came after its first batches, and the worker hands memory
    back during a run: the difference went negative)."""
    suffix = uuid.uuid4().hex[:6]
    empty = {
        **env,
        "MP_TOPIC_TOUCHPOINTS": f"bench-empty-{suffix}",
        "MP_SCORER_APP_ID": f"bench-empty-{suffix}",
        "MP_SCORER_DATA_DIR": tempfile.mkdtemp(prefix="bench-scorer-empty-"),
    }
    process = start_service("scorer", empty, subprocess.DEVNULL)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/readyz", process, timeout_s=300)
        time.sleep(2)  # its first timers have run
        return rss_bytes(process.pid)
    finally:
        stop(process, timeout_s=60)


def scorer_consume(
    settings: CommonSettings, topic: str, count: int, store: str, restart: bool = True, core: str = "auto"
) -> Figures:
    """One scorer worker (full model, alert rules, changelog-backed table) over the pre-filled topic;
    with ``restart``, then the time the same worker takes to be ready again. ``core``: MP_SCORER_CORE."""
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
        "MP_SCORER_CORE": core,
    }
    baseline = empty_worker_rss(env, port)  # the interpreter, Faust and empty tables
    process = start_service("scorer", env, subprocess.DEVNULL)
    seen = 0.0
    started = finished = None
    samples: list[tuple[float, int]] = []  # (people in the table, RSS) through the run
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
                if now_seen:
                    samples.append((metric_total(text, "mp_scorer_table_keys"), rss_bytes(process.pid)))
                bar.update(now_seen - seen)
                seen = now_seen
                time.sleep(0.5)
            finished = time.perf_counter()
            keys = metric_total(
                httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text, "mp_scorer_table_keys"
            )
            rss = rss_bytes(process.pid)
    finally:
        stop(process, timeout_s=60)
    seconds = (finished or 0) - (started or 0)
    figures: Figures = {
        "events": int(seen),
        "seconds": round(seconds, 2),
        "events_per_s": round(seen / seconds),
        "constituents": int(keys),
        "rss_bytes": rss,
        "rss_bytes_empty_worker": baseline,
        # what the target is judged on: the growth over the empty worker, working memory included
        "rss_bytes_per_constituent": round((rss - baseline) / keys) if keys else None,
        "rss_bytes_slope_per_constituent": bytes_per_person(samples),  # negative when memory is handed back
    }
    if not restart:
        return figures
    # recovery: the same worker restarted, ready once its state is rebuilt (memory) or caught up (RocksDB)
    restarted = time.perf_counter()
    process = start_service("scorer", env, subprocess.DEVNULL)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/readyz", process, timeout_s=900)
        figures["restart_ready_s"] = round(time.perf_counter() - restarted, 1)
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        figures["restart_constituents"] = int(metric_total(text, "mp_scorer_table_keys"))
    finally:
        stop(process, timeout_s=60)
    return figures
