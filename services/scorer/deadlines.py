"""Which constituents the deadline timer nudges: those whose earliest hand-off deadline their partition's
watermark passed, each at most once per ``RESEND_AFTER_S`` until its tick is processed. Pure.

The timer reads the ``handoff-deadlines`` table (what ``outgoing.deadline_entry`` writes) every few seconds;
a tick goes through the scoring stream, so the constituent's state keeps one writer. A tick in flight is
not sent again while the stream may still be on its way to it; after ``RESEND_AFTER_S`` it is (a tick can
be lost when its partition moves to another worker).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson

RESEND_AFTER_S = 30.0


@dataclass
class DueTicks:
    send: list[tuple[bytes, int]] = field(default_factory=list)  # (constituent key, partition)
    pending: Counter[str] = field(default_factory=Counter)  # rule → constituents owed a follow-up


def due_ticks(
    entries: Iterable[tuple[bytes, bytes]],
    sent_at: dict[bytes, float],
    now: float,
    watermark: Callable[[int, float], float],
) -> DueTicks:
    """The ticks to send now (noted in ``sent_at``), and the pending hand-offs by rule, for a gauge."""
    due = DueTicks()
    for key, raw in entries:
        entry = orjson.loads(raw)
        due.pending.update(entry["rules"])
        if now - sent_at.get(key, float("-inf")) < RESEND_AFTER_S:
            continue
        if entry["deadline"] <= watermark(entry["partition"], now):
            sent_at[key] = now
            due.send.append((key, entry["partition"]))
    return due
