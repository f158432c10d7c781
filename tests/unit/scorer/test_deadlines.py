"""The deadline timer's bookkeeping: a due constituent is ticked once, not again while its tick may be in
flight, again once that is too long ago; nobody is ticked before their partition's watermark passes; what
the agent writes and what a rebuild from the table reads give the same answers."""

from __future__ import annotations

import random

import orjson

from services.scorer.deadlines import RESEND_AFTER_S, DeadlineIndex

NOW = 1_795_000_000.0


def entry(deadline: float, partition: int, **rules: int) -> bytes:
    return orjson.dumps({"deadline": deadline, "partition": partition, "rules": rules})


def wall_clock(partition: int, now: float) -> float:  # the watermark of a quiet partition
    return now


def built(*entries: tuple[bytes, bytes], partitions: frozenset[int] = frozenset(range(8))) -> DeadlineIndex:
    index = DeadlineIndex()
    index.follow("generation 1", partitions, lambda: entries)
    return index


def test_only_constituents_whose_deadline_the_watermark_passed_are_ticked_in_their_partition() -> None:
    index = built(
        (b"due", entry(NOW - 10, 3, **{"donation-receipt": 1})),
        (b"later", entry(NOW + 10, 3, **{"donation-receipt": 1, "event-confirmation": 1})),
        (b"other-partition", entry(NOW - 10, 5, **{"event-confirmation": 1})),
    )
    watermarks = {3: NOW, 5: NOW - 60}  # partition 5's watermark is behind its deadline
    assert index.due(NOW, lambda partition, now: watermarks[partition]) == [(b"due", 3)]
    assert index.pending == {"donation-receipt": 2, "event-confirmation": 2}
    watermarks[5] = NOW
    assert index.due(NOW + 1, lambda partition, now: watermarks[partition]) == [(b"other-partition", 5)]
    assert index.due(NOW + 11, wall_clock) == [(b"later", 3)]


def test_a_tick_is_not_sent_again_while_it_may_be_in_flight_and_is_after_a_while() -> None:
    index = built((b"due", entry(NOW - 10, 0, rule=1)))
    assert index.due(NOW, wall_clock) == [(b"due", 0)]
    assert index.due(NOW + 1, wall_clock) == []
    assert index.due(NOW + RESEND_AFTER_S - 0.1, wall_clock) == []
    assert index.due(NOW + RESEND_AFTER_S, wall_clock) == [(b"due", 0)]
    index.processed(b"due")  # the scorer processed the tick, and the deadline is still there: at once
    assert index.due(NOW + RESEND_AFTER_S + 1, wall_clock) == [(b"due", 0)]


def test_what_the_agent_writes_moves_or_ends_a_deadline() -> None:
    index = built((b"moved", entry(NOW - 10, 1, rule=1)), (b"resolved", entry(NOW - 5, 1, rule=2)))
    index.put(b"moved", entry(NOW + 20, 1, rule=1))  # a new follow-up pushed the deadline out
    index.put(b"resolved", None)  # owed nothing any more
    index.put(b"new", entry(NOW - 1, 2, other=1))
    assert index.due(NOW, wall_clock) == [(b"new", 2)]
    assert index.pending == {"rule": 1, "other": 1}
    assert len(index) == 2
    assert index.due(NOW + 20, wall_clock) == [(b"moved", 1)]  # "new" is still in flight


def test_a_deadline_changed_while_its_tick_is_in_flight_waits_for_the_resend_interval() -> None:
    index = built((b"c", entry(NOW - 10, 0, rule=1)))
    assert index.due(NOW, wall_clock) == [(b"c", 0)]
    index.put(b"c", entry(NOW - 5, 0, rule=1))  # an event for c changed its entry; the tick is not back
    assert index.due(NOW + 1, wall_clock) == []
    assert index.due(NOW + RESEND_AFTER_S, wall_clock) == [(b"c", 0)]


def test_a_new_assignment_rebuilds_from_the_table_keeping_only_the_partitions_scored_here() -> None:
    table = {b"a": entry(NOW - 1, 0, rule=1), b"b": entry(NOW - 1, 1, rule=1)}
    index = built(*table.items(), partitions=frozenset({0, 1}))
    table[b"c"] = entry(NOW - 1, 2, rule=1)  # recovered into the table behind the agent's back
    index.follow("generation 1", frozenset({0, 1}), lambda: table.items())  # same assignment: no read
    assert sorted(index.due(NOW, wall_clock)) == [(b"a", 0), (b"b", 1)]
    index.follow("generation 2", frozenset({1, 2}), lambda: table.items())
    assert index.pending == {"rule": 2}
    assert index.due(NOW + 1, wall_clock) == [(b"c", 2)]  # b's tick is still in flight


def test_many_writes_give_the_answers_a_scan_of_the_table_gives() -> None:
    """Random writes, deletions and ticks processed, against the table scan the index replaced."""
    rng = random.Random(7)
    index = built()
    table: dict[bytes, bytes] = {}
    sent: dict[bytes, float] = {}
    for step in range(5_000):
        now = NOW + step
        key = f"c{rng.randrange(300)}".encode()
        if rng.random() < 0.2:
            table.pop(key, None)
            sent.pop(key, None)  # owed nothing: its tick in flight is forgotten too
            index.put(key, None)
        else:
            table[key] = entry(now + rng.uniform(-30, 30), rng.randrange(4), rule=1)
            index.put(key, table[key])
        if rng.random() < 0.1 and sent:
            processed = rng.choice(sorted(sent))
            sent.pop(processed)
            index.processed(processed)
        expected = []
        for k, raw in table.items():
            e = orjson.loads(raw)
            if e["deadline"] <= now - 10 and now - sent.get(k, float("-inf")) >= RESEND_AFTER_S:
                sent[k] = now
                expected.append((k, e["partition"]))
        assert sorted(index.due(now, lambda partition, at: at - 10)) == sorted(expected)
        assert sum(index.pending.values()) == len(table)
