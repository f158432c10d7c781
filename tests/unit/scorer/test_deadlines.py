"""The deadline timer's bookkeeping: a due constituent is ticked once, not again while its tick may be in
flight, again once that is too long ago; nobody is ticked before their partition's watermark passes."""

from __future__ import annotations

import orjson

from services.scorer.deadlines import RESEND_AFTER_S, due_ticks

NOW = 1_795_000_000.0


def entry(deadline: float, partition: int, **rules: int) -> bytes:
    return orjson.dumps({"deadline": deadline, "partition": partition, "rules": rules})


def test_only_constituents_whose_deadline_the_watermark_passed_are_ticked_in_their_partition() -> None:
    entries = [
        (b"due", entry(NOW - 10, 3, **{"donation-receipt": 1})),
        (b"later", entry(NOW + 10, 3, **{"donation-receipt": 1, "event-confirmation": 1})),
        (b"other-partition", entry(NOW - 10, 5, **{"event-confirmation": 1})),
    ]
    sent: dict[bytes, float] = {}
    due = due_ticks(entries, sent, NOW, lambda partition, now: {3: NOW, 5: NOW - 60}[partition])
    assert due.send == [(b"due", 3)]  # partition 5's watermark is behind its deadline
    assert due.pending == {"donation-receipt": 2, "event-confirmation": 2}
    assert sent == {b"due": NOW}


def test_a_tick_is_not_sent_again_while_it_may_be_in_flight_and_is_after_a_while() -> None:
    entries = [(b"due", entry(NOW - 10, 0, rule=1))]
    sent: dict[bytes, float] = {}
    watermark = lambda partition, now: now  # noqa: E731 - the wall clock, as for a quiet partition
    assert due_ticks(entries, sent, NOW, watermark).send == [(b"due", 0)]
    assert due_ticks(entries, sent, NOW + 1, watermark).send == []
    assert due_ticks(entries, sent, NOW + RESEND_AFTER_S - 0.1, watermark).send == []
    assert due_ticks(entries, sent, NOW + RESEND_AFTER_S, watermark).send == [(b"due", 0)]
    sent.pop(b"due")  # the scorer processed the tick: forgotten, so a later deadline ticks at once
    assert due_ticks(entries, sent, NOW + RESEND_AFTER_S + 1, watermark).send == [(b"due", 0)]
