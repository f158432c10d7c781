"""The report's aggregates equal brute force over the same events, whatever order and batches they
arrive in: each person's window experience (in all, per role held by the window's end, per source), the
drivers and the failed gifts."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from services.domain.matching import matches
from services.domain.report.contributions import BINS, ERROR_CODES, PROCESSORS, window_scores
from services.domain.report.counters import WindowCounters, add, cents, merge, window_bounds, windows_of
from services.domain.scoring import OTHER
from services.domain.scoring_model import DIMENSIONS
from services.scorer.processing import BatchProcessor
from services.scorer.records import Incoming
from tests.fixtures.alerting import T0, at
from tests.fixtures.config import MODEL, RULES

HOUR = 3600.0
TYPES = sorted(MODEL.impacts)
ATTRIBUTES = {
    "web.form_submitted": st.fixed_dictionaries(
        {"form": st.sampled_from(["volunteer_signup", "petition", "x"])}
    ),
    "donation.succeeded": st.fixed_dictionaries({"amount": st.integers(1, 500), "recurring": st.booleans()}),
    "donation.failed": st.fixed_dictionaries(
        {
            "amount": st.integers(1, 500),
            "processor": st.sampled_from(["stripe", "paypal", "acme"]),
            "error_code": st.sampled_from(["card_declined", "weird", ""]),
        }
    ),
}


@st.composite
def an_event(draw: Any, number: int) -> dict[str, Any]:
    event_type = draw(st.sampled_from(TYPES))
    source = {"web": "web", "email": "email", "donation": "donation", "event": "events"}[
        event_type.split(".")[0]
    ]
    attributes = draw(ATTRIBUTES.get(event_type, st.just({})))
    return {
        "event_id": f"e{number}",
        "source": source,
        "type": event_type,
        "occurred_at": at(draw(st.floats(0, 40 * HOUR))),  # within the hourly horizon of each other
        "constituent_id": draw(st.sampled_from(["p1", "p2", "p3"])),
        "attributes": attributes,
    }


events_strategy = st.integers(1, 40).flatmap(lambda n: st.tuples(*(an_event(i) for i in range(n))))


def brute_force(events: list[dict[str, Any]]) -> WindowCounters:
    """The report's definitions, computed directly from the set of events."""
    from datetime import datetime

    counters: WindowCounters = {}
    times = {e["event_id"]: datetime.fromisoformat(e["occurred_at"]).timestamp() for e in events}
    role_since: dict[tuple[str, str], float] = {}
    for e in events:
        for rule in MODEL.roles:
            if matches(rule, e):
                key = (e["constituent_id"], rule.role)
                role_since[key] = min(role_since.get(key, float("inf")), times[e["event_id"]])
    points: dict[tuple[str, str, str], list[int]] = {}  # (window, person, part) → milli points
    for e in events:
        impact = MODEL.impacts[e["type"]]
        milli = [round(p * 1000) for p in impact.as_tuple()]
        for window in windows_of(times[e["event_id"]]):
            for part in ("all", f"source:{e['source'] if e['source'] in MODEL.sources else OTHER}"):
                total = points.setdefault((window, e["constituent_id"], part), [0, 0, 0])
                total[:] = [a + b for a, b in zip(total, milli, strict=True)]
            weights = (MODEL.weights.content, MODEL.weights.operations, MODEL.weights.principles)
            add(
                counters,
                window,
                f"driver|{e['type']}|points",
                round(sum(w * p for w, p in zip(weights, milli, strict=True))),
            )
            add(counters, window, f"driver|{e['type']}|events", 1)
            if e["type"] == "donation.failed":
                a = e["attributes"]
                processor = a["processor"] if a["processor"] in PROCESSORS else OTHER
                code = (
                    a["error_code"]
                    if a["error_code"] in ERROR_CODES
                    else ("none" if not a["error_code"] else OTHER)
                )
                add(counters, window, f"failed|{processor}|{code}|count", 1)
                add(counters, window, f"failed|{processor}|{code}|cents", cents(a["amount"]))
    for (window, person, part), milli in points.items():
        groups = [part]
        if part == "all":
            end = window_bounds(window)[1]
            groups += [
                f"role:{r}" for (p, r), since in sorted(role_since.items()) if p == person and since < end
            ]
        scores = window_scores(MODEL, milli)
        for group in groups:
            add(counters, window, f"people|{group}", 1)
            for name, value in zip(("overall", *DIMENSIONS), scores, strict=True):
                add(counters, window, f"sum|{group}|{name}", value)
            add(counters, window, f"hist|{group}|{min(BINS - 1, scores[0] // (10_000 // BINS))}", 1)
    return {w: Counter({k: v for k, v in c.items() if v}) for w, c in counters.items()}


def streamed(events: list[dict[str, Any]], rng: random.Random) -> WindowCounters:
    """Through the scorer's own batch processing, in ``rng``'s order and batch sizes."""
    shuffled = list(events)
    rng.shuffle(shuffled)
    processor = BatchProcessor(MODEL, RULES)
    table: dict[str, bytes] = {}
    total: WindowCounters = {}
    while shuffled:
        size = rng.randint(1, 5)
        batch, shuffled = shuffled[:size], shuffled[size:]
        records = [Incoming(0, e["constituent_id"].encode(), orjson.dumps(e)) for e in batch]

        def load(constituent_id: str, partition: int) -> Any:
            from services.domain.scoring import ConstituentState

            stored = table.get(constituent_id)
            return None if stored is None else ConstituentState.from_dict(orjson.loads(stored))

        result = processor.process(records, load, T0 + 60 * HOUR)
        for constituent_id, state in result.changed.items():
            table[constituent_id] = orjson.dumps(state.to_dict())
        merge(total, result.report)
    return {
        w: Counter(
            {k: v for k, v in c.items() if k.split("|")[0] in ("people", "sum", "hist", "driver", "failed")}
        )
        for w, c in total.items()
    }


@settings(max_examples=60)
@given(events_strategy, st.randoms())
def test_the_report_counters_equal_brute_force_in_any_order_and_batching(events: tuple, rng: Any) -> None:
    expected = brute_force(list(events))
    got = {w: c for w, c in streamed(list(events), rng).items() if c}
    assert got == expected
