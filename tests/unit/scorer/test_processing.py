"""A scorer batch: states read once per constituent, duplicates dropped, alerts raised, garbage kept."""

import gc
from typing import Any

import orjson

from services.common.kafka import partition_for
from services.domain import dedup
from services.domain.readings import score_record
from services.domain.scoring import ConstituentState, Outcome, dedup_key
from services.scorer.processing import BatchProcessor, BatchResult
from services.scorer.records import Incoming, parts_of
from services.simulator.traffic import JourneyMaker
from tests.fixtures.config import MODEL, RULES

NOW = 1_795_000_000.0  # 2026-11-18
OCCURRED = "2026-11-18T10:00:00Z"


def touchpoint(
    event_id: str, event_type: str, constituent: str = "c-1", occurred_at: str = OCCURRED, **attributes: Any
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "source": event_type.split(".")[0],
        "type": event_type,
        "occurred_at": occurred_at,
        "constituent_id": constituent,
        "attributes": attributes,
    }


def record(*args: Any, **kwargs: Any) -> Incoming:
    event = touchpoint(*args, **kwargs)
    return Incoming(0, event["constituent_id"].encode(), orjson.dumps(event))


def process_batch(records: list[Incoming], load: Any, now: float = NOW) -> BatchResult:
    return BatchProcessor(MODEL, RULES).process(records, load, now)


def alerts_of(result: BatchResult, kind: str | None = None) -> list[dict[str, Any]]:
    return [alert for alert, _ in result.alerts if kind is None or alert["kind"] == kind]


def nobody(constituent_id: str, partition: int) -> ConstituentState | None:
    return None


def test_each_constituent_is_loaded_once_and_changed_once_per_batch() -> None:
    loads: list[tuple[str, int]] = []

    def load(constituent_id: str, partition: int) -> ConstituentState | None:
        loads.append((constituent_id, partition))
        return None

    batch = [
        record("e1", "web.page_view"),
        record("e2", "email.opened"),
        Incoming(5, b"c-2", orjson.dumps(touchpoint("e3", "web.page_view", "c-2"))),
    ]
    result = process_batch(batch, load)
    assert loads == [("c-1", 0), ("c-2", 5)]  # with the partition that holds each state
    assert sorted(result.changed) == ["c-1", "c-2"]
    assert result.changed["c-1"].events == 2


def test_one_record_may_carry_several_events() -> None:
    several = orjson.dumps([touchpoint("e1", "web.page_view"), touchpoint("e2", "email.opened")])
    result = process_batch([Incoming(0, b"c-1", several)], nobody)
    assert result.changed["c-1"].events == 2


def test_a_record_without_a_key_carries_the_events_of_its_partition_and_only_those() -> None:
    people = [f"c-{n}" for n in range(40)]
    home = {person: partition_for(person.encode(), 8) for person in people}
    value = orjson.dumps([touchpoint(f"e-{person}", "web.page_view", person) for person in people])
    result = BatchProcessor(MODEL, RULES).process([Incoming(3, None, value)], nobody, NOW, partitions=8)
    assert sorted(result.changed) == sorted(person for person in people if home[person] == 3)
    strays = [person for person in people if home[person] != 3]
    assert len(result.dead_letters) == len(strays) > 0
    assert f"constituent {strays[0]!r} belongs in partition {home[strays[0]]}, not 3" in {
        letter.reason for letter in result.dead_letters
    }


def test_an_event_filed_under_another_constituents_key_is_dead_lettered() -> None:
    result = process_batch([Incoming(0, b"c-2", orjson.dumps(touchpoint("e1", "web.page_view")))], nobody)
    assert not result.changed
    assert result.dead_letters[0].reason == "constituent_id 'c-1' differs from the record key b'c-2'"


def test_a_duplicate_in_the_batch_or_in_the_table_is_dropped() -> None:
    stored = ConstituentState(constituent_id="c-1", events=1)
    dedup.first_time(stored.seen_event_ids, dedup_key("web", "e0"), 0.0)
    batch = [record("e0", "web.page_view"), record("e1", "web.page_view"), record("e1", "web.page_view")]
    result = process_batch(batch, lambda *_: stored)
    assert result.changed["c-1"].events == 2
    assert result.outcomes[("web", "web.page_view", Outcome.DUPLICATE)] == 2


def test_a_failed_donation_raises_one_alert_with_its_evidence() -> None:
    result = process_batch([record("e1", "donation.failed", amount=50, recurring=True)], nobody)
    [alert] = alerts_of(result, "transaction.failed")
    assert alert["severity"] == "critical"  # a recurring gift
    assert alert["constituent_id"] == "c-1"
    assert alert["evidence"] == ["e1"]
    assert alert["status"] == "open"


def test_the_same_failure_replayed_gives_the_same_alert_id() -> None:
    first = alerts_of(process_batch([record("e1", "donation.failed")], nobody))[0]
    again = alerts_of(process_batch([record("e1", "donation.failed")], nobody))[0]
    assert first["alert_id"] == again["alert_id"]


def test_records_that_are_not_touchpoints_become_dead_letters_with_a_reason() -> None:
    garbage = [b"{oops", b"[7]", orjson.dumps({"event_id": "e1"})]
    result = process_batch([Incoming(0, None, raw) for raw in garbage], nobody)
    assert [d.reason.split(":")[0] for d in result.dead_letters] == [
        "not JSON",
        "not a JSON object",
        "missing or not text",
    ]
    assert not result.changed


def test_an_event_whose_attributes_are_not_an_object_is_dead_lettered_not_scored() -> None:
    """Ingest's schema requires an object; another producer's list would otherwise stop the batch."""
    event = orjson.loads(record("e1", "donation.failed").value)
    event["attributes"] = ["recurring"]
    result = process_batch([Incoming(0, b"c-1", orjson.dumps(event))], nobody)
    assert [(d.reason, d.code) for d in result.dead_letters] == [
        ("attributes: not a JSON object", "not_touchpoint")
    ]
    assert not result.changed


def test_events_from_more_than_5_minutes_in_the_future_are_dead_lettered() -> None:
    soon = "2026-11-18T10:04:00Z"
    too_far = "2026-11-18T10:06:00Z"
    now = 1_795_000_000.0 + 10 * 3600 - 1_795_000_000.0 % 86400  # 2026-11-18T10:00:00Z
    result = process_batch(
        [record("e1", "web.page_view", occurred_at=soon), record("e2", "web.page_view", occurred_at=too_far)],
        nobody,
        now,
    )
    assert result.changed["c-1"].events == 1
    [letter] = result.dead_letters
    assert letter.reason == "occurred_at is 360 s ahead of the scorer's clock (at most 300 s allowed)"
    assert orjson.loads(letter.raw)["event_id"] == "e2"


def test_days_old_events_still_count() -> None:
    result = process_batch([record("e1", "donation.failed", occurred_at="2026-11-10T10:00:00Z")], nobody)
    assert result.changed["c-1"].contributions["donation.failed"][1] < 0


def test_a_score_drop_opens_one_alert_per_crossing_and_resolves_on_recovery() -> None:
    state = ConstituentState(constituent_id="c-1")
    kinds = []
    for n, (event_type, minute) in enumerate(
        [
            ("web.page_view", 0),
            ("donation.failed", 1),
            ("donation.failed", 2),
            ("donation.failed", 3),
            ("donation.failed", 4),
        ]
    ):
        occurred = f"2026-11-18T10:{minute:02d}:00Z"
        result = process_batch([record(f"e{n}", event_type, occurred_at=occurred)], lambda *_: state)
        kinds += [(a["kind"], a["status"]) for a in alerts_of(result, "score.dropped")]
    assert kinds == [("score.dropped", "open")]  # opened by the third failure; the fourth opens no second
    recovery = [
        record(f"r{n}", "donation.succeeded", occurred_at=f"2026-11-18T11:{n:02d}:00Z") for n in range(6)
    ]
    result = process_batch(recovery, lambda *_: state)
    [resolved] = alerts_of(result, "score.dropped")
    assert resolved["status"] == "resolved"
    assert resolved["opened_at"] == "2026-11-18T10:03:00Z"


def test_the_published_record_carries_scores_but_not_internal_memory() -> None:
    result = process_batch([record("e1", "donation.failed")], nobody)
    published = score_record(result.changed["c-1"], MODEL, NOW)
    assert not {"seen_event_ids", "handoffs", "failed_transaction"} & published.keys()
    assert published["scores"]["operations"] < MODEL.baseline
    assert published["updated_at"] == NOW


def test_a_constituents_state_stops_growing_once_its_bounded_memories_are_full() -> None:
    """What keeps a long-running scorer's memory bounded: hand-offs and the timeline are capped; counts are
    keyed by source and type, hourly buckets by hour (all within one here). Event ids are remembered for
    the dedup horizon, 11 bytes each, so they are bounded by time and by the byte limit (test_state_bounds)
    and measured apart."""
    maker = JourneyMaker(5, 1, run_id="bounded")  # one person, every journey of the simulator
    processor = BatchProcessor(MODEL, RULES)
    stored: dict[str, bytes] = {}

    def load(constituent_id: str, partition: int) -> ConstituentState | None:
        raw = stored.get(constituent_id)
        return None if raw is None else ConstituentState.from_dict(orjson.loads(raw))

    sizes = []
    for round_number in range(60):
        events = [event for _ in range(20) for _, event in maker.next_journey(NOW - 1800 + round_number)]
        person = events[0]["constituent_id"]
        for gift in range(3):  # gifts whose receipts never come: hand-offs pile up to their cap
            unreceipted = touchpoint(f"gift-{round_number}-{gift}", "donation.succeeded", person, amount=5)
            events.append({**unreceipted, "correlation_id": f"pay-{round_number}-{gift}"})
        batch = [Incoming(0, person.encode(), orjson.dumps(event)) for event in events]
        for constituent_id, state in processor.process(batch, load, NOW).changed.items():
            stored[constituent_id] = orjson.dumps(state.to_dict())
        states = [orjson.loads(value) for value in stored.values()]
        sizes.append(sum(len(orjson.dumps({**state, "seen_event_ids": {}})) for state in states))
        remembered = sum(dedup.count(state["seen_event_ids"]) for state in states)
        assert remembered == sum(state["events"] for state in states)  # every id, 11 bytes each
    assert sizes[-1] > sizes[0], "the journeys should have filled the state first"
    assert max(sizes[30:]) <= sizes[29] * 1.05, f"still growing: {sizes[29]} → {sizes[-1]} bytes"


def test_a_batch_leaves_no_reference_cycle_behind() -> None:
    """Everything a batch made is freed by reference counting as soon as its result is dropped: nothing
    waits for the garbage collector (a cycle kept whole batches alive, at a fifth of the scorer's time)."""
    maker = JourneyMaker(7, 50, run_id="cycles")
    events = [event for _ in range(40) for _, event in maker.next_journey(NOW - 600)]
    stored = ConstituentState(constituent_id=events[0]["constituent_id"])  # one person read back
    batch = [Incoming(0, e["constituent_id"].encode(), orjson.dumps(e)) for e in events]
    processor = BatchProcessor(MODEL, RULES)
    processor.process(batch, lambda cid, p: None, NOW)  # caches and first-time work out of the way
    gc.collect()
    gc.disable()
    try:
        result = processor.process(
            batch, lambda cid, p: stored if cid == stored.constituent_id else None, NOW
        )
        assert result.changed
        del result
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_a_batch_is_cut_into_parts_of_at_most_the_bytes_asked_in_order() -> None:
    records = [Incoming(0, None, b"x" * size) for size in (400, 400, 300, 900, 2000, 10)]
    parts = parts_of(records, 1000)
    assert [[len(r.value) for r in part] for part in parts] == [[400, 400], [300], [900], [2000], [10]]
    assert parts_of([], 1000) == [[]]  # a batch of ticks alone is still processed once


def test_folding_a_batch_in_parts_leaves_the_states_folding_it_at_once_leaves() -> None:
    maker = JourneyMaker(11, 40, run_id="parts")
    events = [event for _ in range(200) for _, event in maker.next_journey(NOW - 3600)]
    batch = [Incoming(0, e["constituent_id"].encode(), orjson.dumps(e)) for e in events]
    finals = []
    for part_bytes in (10**9, 2000):
        stored: dict[str, bytes] = {}

        def load(
            constituent_id: str, partition: int, stored: dict[str, bytes] = stored
        ) -> ConstituentState | None:
            raw = stored.get(constituent_id)
            return None if raw is None else ConstituentState.from_dict(orjson.loads(raw))

        processor = BatchProcessor(MODEL, RULES)
        parts = parts_of(batch, part_bytes)
        for part in parts:
            for constituent_id, state in processor.process(part, load, NOW).changed.items():
                stored[constituent_id] = orjson.dumps(state.to_dict())
        # score peaks are the score as each batch (or part) ends: where batches end is the load's choice
        kept = {
            cid: {k: v for k, v in orjson.loads(raw).items() if k != "score_peaks"}
            for cid, raw in stored.items()
        }
        finals.append((len(parts), kept))
    (whole, at_once), (cut, in_parts) = finals
    assert whole == 1 and cut > 10
    assert in_parts == at_once
