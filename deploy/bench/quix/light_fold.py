"""A peer for `make bench` (services/bench/peers.py): Quix Streams with its RocksDB state, running the light
fold — per constituent, drop an event id seen among its last 256, keep decayed impact sums per dimension and
counts by source — the same fold as the Kafka Streams peer (deploy/bench/kstreams/LightFold.java). Reads one
event per record or JSON arrays of them (as ingest writes); prints {"events", "seconds", "events_per_s",
"constituents"} once it has folded the given count. Runs in its own virtualenv (.bench-peers/quix), never in
the product's.

    .bench-peers/quix/bin/python deploy/bench/quix/light_fold.py \
        BOOTSTRAP TOPIC GROUP EVENTS FOLD_SPEC STATE_DIR
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from quixstreams import Application, State

SOURCES = ("web", "email", "donation", "events")
KEPT_IDS = 256


def main() -> None:
    bootstrap, topic_name, group, wanted, spec_path, state_dir = sys.argv[1:7]
    spec = Path(spec_path).read_text().splitlines()
    half_life_s = float(spec[0]) * 3600
    impacts = {
        fields[0]: tuple(float(v) for v in fields[1:])
        for fields in (line.split() for line in spec[1:])
        if len(fields) == 4
    }
    wanted_events = int(wanted)
    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        state_dir=state_dir,
        processing_guarantee="at-least-once",
        commit_interval=0.1,
        loglevel="WARNING",
        consumer_extra_config={"max.partition.fetch.bytes": 4 * 1024 * 1024},
    )
    topic = app.topic(topic_name, key_deserializer="bytes", value_deserializer="bytes")
    counters = {"folded": 0, "constituents": 0, "first": 0.0, "last": 0.0}

    def fold_one(event: dict[str, Any], state: State) -> None:
        key = event["constituent_id"]
        stored = state.get(key)
        at = datetime.fromisoformat(event["occurred_at"]).timestamp()
        if stored is None:
            counters["constituents"] += 1
            stored = {"sums": [0.0, 0.0, 0.0], "last": at, "counts": [0] * (len(SOURCES) + 1), "ids": []}
        if event["event_id"] in stored["ids"]:
            return
        newest = max(stored["last"], at)
        keep = 0.5 ** ((newest - stored["last"]) / half_life_s)
        weight = 0.5 ** ((newest - at) / half_life_s)
        impact = impacts.get(event["type"], (0.0, 0.0, 0.0))
        stored["sums"] = [s * keep + i * weight for s, i in zip(stored["sums"], impact, strict=True)]
        stored["last"] = newest
        source = event["source"]
        stored["counts"][SOURCES.index(source) if source in SOURCES else len(SOURCES)] += 1
        stored["ids"] = [*stored["ids"][-(KEPT_IDS - 1) :], event["event_id"]]
        state.set(key, stored)

    def fold(value: bytes, state: State) -> None:
        if not counters["first"]:
            counters["first"] = time.perf_counter()
        decoded = json.loads(value)
        for event in decoded if isinstance(decoded, list) else [decoded]:
            fold_one(event, state)
            counters["folded"] += 1
        counters["last"] = time.perf_counter()
        if counters["folded"] >= wanted_events:
            app.stop()

    sdf = app.dataframe(topic)
    sdf.update(fold, stateful=True)
    app.run()
    seconds = counters["last"] - counters["first"]
    print(
        json.dumps(
            {
                "events": counters["folded"],
                "seconds": round(seconds, 2),
                "events_per_s": round(counters["folded"] / seconds),
                "constituents": counters["constituents"],
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
