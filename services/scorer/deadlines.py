"""Which constituents the deadline timer nudges: those whose earliest hand-off deadline their partition's
watermark passed, each at most once per ``RESEND_AFTER_S`` until its tick is processed. Pure.

The ``handoff-deadlines`` table (what ``outgoing.deadline_entry`` writes) is mirrored in memory by a
``DeadlineIndex``: one heap per partition, earliest deadline first, so that each timer run costs what is
due rather than a read of every pending entry (the table scan it replaces took ~6 µs an entry every
second: a second per second at ~170,000 people owed a hand-off). The scoring agent tells the index each
entry it writes; the index is rebuilt from the table whenever the worker's assignment changes (recovery
writes into the table behind the agent's back).

A tick goes through the scoring stream, so the constituent's state keeps one writer. A tick in flight is
not sent again while the stream may still be on its way to it; after ``RESEND_AFTER_S`` it is (a tick can
be lost when its partition moves to another worker).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Container, Iterable
from typing import NamedTuple

import orjson

RESEND_AFTER_S = 30.0
Heap = list[tuple[float, bytes]]  # (deadline, constituent key), earliest first


class Entry(NamedTuple):
    deadline: float
    partition: int
    rules: dict[str, int]  # rule → pending hand-offs


def parse_entry(raw: bytes) -> Entry:
    entry = orjson.loads(raw)
    return Entry(entry["deadline"], entry["partition"], entry["rules"])


class DeadlineIndex:
    """The pending deadlines of the partitions this worker scores, earliest first per partition."""

    def __init__(self) -> None:
        self._entries: dict[bytes, Entry] = {}
        self._heaps: dict[int, Heap] = {}  # may hold outdated items: skipped when they come up
        self._in_heaps = 0
        self._due: set[bytes] = set()  # passed their watermark; a tick owed until processed or changed
        self._sent: dict[bytes, float] = {}  # when a key's tick was sent; forgotten once it is processed
        self.pending: Counter[str] = Counter()  # rule → constituents owed a follow-up, for a gauge
        self._built_for: tuple[object, frozenset[int]] | None = None  # (a generation, its partitions)

    def __len__(self) -> int:
        return len(self._entries)

    def follow(
        self,
        generation: object,
        partitions: frozenset[int],
        entries: Callable[[], Iterable[tuple[bytes, bytes]]],
    ) -> None:
        """Rebuilt from the table's ``entries`` when the worker's assignment (a rebalance's
        ``generation``, the ``partitions`` it scores) is not the one the index was built for."""
        if self._built_for != (generation, partitions):
            self.rebuild(entries(), partitions)
            self._built_for = (generation, partitions)

    def rebuild(self, entries: Iterable[tuple[bytes, bytes]], partitions: Container[int]) -> None:
        """Start again from the table's ``entries``, keeping those of ``partitions`` (the worker's)."""
        self._entries.clear()
        self.pending.clear()
        for key, raw in entries:
            entry = parse_entry(raw)
            if entry.partition in partitions:
                self._entries[key] = entry
                self._count(entry.rules, +1)
        self._due.clear()
        self._sent = {key: at for key, at in self._sent.items() if key in self._entries}
        self._reheap()

    def put(self, key: bytes, raw: bytes | None) -> None:
        """The agent wrote ``key``'s entry (None: deleted, owed nothing)."""
        old = self._entries.pop(key, None)
        if old is not None:
            self._count(old.rules, -1)
        self._due.discard(key)
        if raw is None:
            self._sent.pop(key, None)
            return
        entry = self._entries[key] = parse_entry(raw)
        self._count(entry.rules, +1)
        self._push(key, entry)
        if self._in_heaps > 2 * len(self._entries) + 1024:
            self._reheap()  # outdated items stay a bounded share of the heaps

    def processed(self, key: bytes) -> None:
        """The scoring agent has ``key``'s tick: a deadline still due may be ticked again at once."""
        self._sent.pop(key, None)
        if key in self._due:
            self._due.discard(key)
            self._push(key, self._entries[key])

    def due(self, now: float, watermark: Callable[[int, float], float]) -> list[tuple[bytes, int]]:
        """The ticks to send now, as (constituent key, partition); each noted as sent at ``now``."""
        for partition, heap in self._heaps.items():
            mark = watermark(partition, now)
            while heap and heap[0][0] <= mark:
                deadline, key = heapq.heappop(heap)
                self._in_heaps -= 1
                entry = self._entries.get(key)
                if entry is not None and entry.deadline == deadline and entry.partition == partition:
                    self._due.add(key)
        send = []
        for key in self._due:
            if now - self._sent.get(key, float("-inf")) >= RESEND_AFTER_S:
                self._sent[key] = now
                send.append((key, self._entries[key].partition))
        return send

    def _count(self, rules: dict[str, int], sign: int) -> None:
        for rule, owed in rules.items():  # a loop: Counter.update costs ~1 µs a call, on every write
            self.pending[rule] += sign * owed

    def _push(self, key: bytes, entry: Entry) -> None:
        heapq.heappush(self._heaps.setdefault(entry.partition, []), (entry.deadline, key))
        self._in_heaps += 1

    def _reheap(self) -> None:
        self._heaps = {}
        for key, entry in self._entries.items():
            if key not in self._due:
                self._heaps.setdefault(entry.partition, []).append((entry.deadline, key))
        for heap in self._heaps.values():
            heapq.heapify(heap)
        self._in_heaps = sum(len(heap) for heap in self._heaps.values())
