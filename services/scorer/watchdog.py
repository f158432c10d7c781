"""The scorer's watchdog and its offset check. Pure: the caller measures and acts.

- ``Watchdog``: records wait on the broker beyond what the worker processed (or, of a partition it processed
  nothing of, its group committed), no batch completed and none in progress, for ``after_s``: the worker has
  stopped consuming. Seen once after a broker was cut off for
  longer than the group's session (faust-streaming#523, #175; docs/reliability.md, "E"); the caller exits
  with ``RESTART_EXIT_CODE`` for its supervisor to start a fresh worker, which reads on from the committed
  offsets. A busy worker completes batches; an idle one has committed everything; one waiting for Kafka
  inside a batch is in progress. No seek, no repair in place: a fresh process.
- ``OffsetCheck``: touchpoints and ticks have a record at every offset, so the offsets a worker processes of
  a partition within one consumer generation run without a jump, from where its reading started. A jump (a
  record that never reached the agent) or a step back (a record handed over twice) is counted and logged,
  never repaired: Faust's fixed commit rule (services/faust_fixes/head_commits.py) will not commit past a
  record never acknowledged, so a jump holds the partition's commit where it is and its lag grows, and the
  alert says so (deploy/prometheus/rules, ``ScorerOffsetGaps``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Activity:
    """What the agent did, as it records it (no Faust internals)."""

    batches_done: int = 0
    in_batch: bool = False
    processed: dict[str, int] = field(default_factory=dict)  # "topic:partition" -> next offset to process

    def started(self) -> None:
        self.in_batch = True

    def finished(self, offsets: dict[str, int]) -> None:
        """A batch is done; ``offsets`` the highest offset it held per "topic:partition"."""
        for tp, offset in offsets.items():
            self.processed[tp] = max(self.processed.get(tp, 0), offset + 1)
        self.batches_done += 1
        self.in_batch = False


@dataclass
class Watchdog:
    after_s: float
    _since: float | None = None  # when the worker was first seen behind with nothing moving
    _batches_done: int | None = None

    def stalled(
        self, ends: dict[str, int], committed: dict[str, int], activity: Activity, now: float
    ) -> dict[str, int]:
        """The partitions behind (``ends`` minus what was processed or committed, by "topic:partition") once
        the worker has been behind with no batch completed nor in progress for ``after_s``; else {}."""
        done = {tp: max(committed.get(tp, 0), activity.processed.get(tp, 0)) for tp in ends}
        behind = {tp: end - done[tp] for tp, end in ends.items() if end > done[tp]}
        moving = activity.in_batch or self._batches_done not in (None, activity.batches_done)
        self._batches_done = activity.batches_done
        if not behind or moving or self._since is None:
            self._since = now if behind else None
            return {}
        return behind if now - self._since >= self.after_s else {}


@dataclass
class OffsetCheck:
    """Per "topic:partition", the next offset due within the current consumer generation."""

    generation: int | None = None
    due: dict[str, int] = field(default_factory=dict)

    def in_step(self, generation: int, tp: str, offset: int) -> bool:
        """``offset`` is the one due of ``tp`` in this generation: noted as ``observe`` would (no jump),
        True. False: ``observe`` it (the first of a partition, a jump, a step back, a new generation)."""
        if generation == self.generation and self.due.get(tp) == offset:
            self.due[tp] = offset + 1
            return True
        return False

    def observe(self, generation: int, tp: str, offset: int, start: int | None) -> int:
        """Record that ``offset`` of ``tp`` reached the agent; ``start``: where this generation's reading of
        ``tp`` began (None: not known). How far it jumped: > 0 records skipped, < 0 records repeated."""
        if generation != self.generation:
            self.generation, self.due = generation, {}
        due = self.due.get(tp, start)
        self.due[tp] = max(offset + 1, self.due.get(tp, offset + 1))
        return 0 if due is None else offset - due
