"""Noticing records a worker fetched and never scored: a stalled worker, or a hole. Pure: the caller measures.

Seen under CPU pressure right after a worker (re)joins its group (docs/reliability.md, "A worker that
fetched records and never scored them"): faust-streaming's consumer moves past records — aiokafka's
position reaches the partition's end — that never reach the agent's stream. The agent waits on an empty
channel with nothing in flight, the group's committed offsets stay behind, and nothing but a seek back to
the committed offsets (what Faust itself does after a rebalance) brings those records back.

The signs, all of them at once and for ``after_s``: records fetched beyond what the agent processed (or,
for a partition it has processed nothing of, beyond the committed offset), no batch completed, no batch in
progress. A busy worker completes batches; an idle one has processed everything it fetched; a worker
waiting for Kafka inside a batch is "in progress".

A second fault has the same signs but for the fetching (docs/reliability.md, "A scorer silent after a
broker was cut off"; faust-streaming#523): after a broker was away long enough for the group coordinator to
be marked dead, the worker rejoins and fetches nothing more — records wait on the broker (its end offsets,
read by a client of their own) beyond what was processed, and the consumer's position does not move past
them. The first remedy is the same seek; such a stall said again with no batch in between means it did not
work, and the caller restarts the worker (``remedy_failed``) — as it does after a few seeks of either kind
with no batch between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Activity:
    """What the agent did, as the agent itself records it (no Faust internals)."""

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


@dataclass(frozen=True)
class Progress:
    """One look at the worker: what it fetched, what its group committed, what its agent did."""

    fetched: dict[str, int]  # "topic:partition" -> the consumer's position (next offset it will fetch)
    committed: dict[str, int]  # "topic:partition" -> the group's committed offset (absent: none yet)
    processed: dict[str, int]  # "topic:partition" -> next offset after the last one the agent processed
    batches_done: int  # batches the agent completed since start
    in_batch: bool  # the agent is inside a batch (scoring or publishing) right now
    ends: dict[str, int] = field(default_factory=dict)  # "topic:partition" -> the broker's end offset

    def done(self, tp: str) -> int:
        return max(self.processed.get(tp, 0), self.committed.get(tp, 0))

    def behind(self) -> dict[str, int]:
        """Per partition, how many fetched records the agent has not processed (nor the group committed,
        for a partition this worker has not processed anything of yet)."""
        gaps = {tp: position - self.done(tp) for tp, position in self.fetched.items()}
        return {tp: gap for tp, gap in gaps.items() if gap > 0}

    def not_fetched(self) -> dict[str, int]:
        """Per assigned partition, how many records wait on the broker that the consumer has not fetched
        although it has nothing else left to process there."""
        waiting = {
            tp: self.ends.get(tp, 0) - self.done(tp)
            for tp, position in self.fetched.items()
            if position <= self.done(tp)
        }
        return {tp: count for tp, count in waiting.items() if count > 0}


@dataclass
class StallWatch:
    """Whether the worker has been stalled for ``after_s``; once it said so, another ``after_s`` before
    it says so again (the remedy gets its chance)."""

    after_s: float
    # stalls of the second kind (nothing fetched) said with no batch between them: 2 means the seek did not
    # help. The first kind usually needs one seek, at times a second; a seek that cannot bring the records
    # (a partition aiokafka did not seek: CI, 2026-11-28, docs/reliability.md) would be tried forever, so
    # ``in_a_row`` stalls of either kind with no batch between them also ask for a fresh worker.
    not_fetching_in_a_row: int = 0
    in_a_row: int = 0
    restart_after: int = 4
    _since: float | None = None  # when the worker was first seen behind with no progress since
    _batches_done: int | None = None

    def stalled(self, progress: Progress, now: float) -> dict[str, int]:
        """The partitions behind (and by how much) when the worker is stalled, else {}."""
        fetched_not_processed = progress.behind()
        behind = fetched_not_processed or progress.not_fetched()
        moving = progress.in_batch or self._batches_done not in (None, progress.batches_done)
        if self._batches_done is not None and progress.batches_done != self._batches_done:
            self.not_fetching_in_a_row = self.in_a_row = 0
        self._batches_done = progress.batches_done
        if not behind:
            self._since = None
            return {}
        if moving or self._since is None:
            self._since = now
            return {}
        if now - self._since < self.after_s:
            return {}
        self._since = now
        self.not_fetching_in_a_row = 0 if fetched_not_processed else self.not_fetching_in_a_row + 1
        self.in_a_row += 1
        return behind

    def remedy_failed(self) -> bool:
        """Whether the seeks did not help: the worker should exit for a fresh one to take over."""
        return self.not_fetching_in_a_row >= 2 or self.in_a_row >= self.restart_after


@dataclass
class Holes:
    """The same fault, one record at a time: the agent receives offset 41 then 43 of a partition whose
    offsets have no gaps (touchpoints, ticks: no compaction, no transactions). Faust takes such a jump for
    a gap it may skip, and would commit past it (``HeldCommits`` withholds that commit); the record at 42
    would never be scored unless fetched again, which is what the caller does. Tracking restarts with
    each consumer generation — from the committed offset, where the generation's first record must be —
    and whenever a partition's records come again from an earlier offset (a seek back, ours or Faust's)."""

    generation: int | None = None
    expected: dict[str, int] = field(default_factory=dict)  # "topic:partition" -> the next offset due
    refetched: set[tuple[str, int, int]] = field(default_factory=set)  # holes already fetched again

    def is_first(self, generation: int, tp: str) -> bool:
        """Whether a record of ``tp`` would be its first in consumer generation ``generation``."""
        return generation != self.generation or tp not in self.expected

    def observe(
        self, generation: int, tp: str, offset: int, committed: int | None = None
    ) -> tuple[int, int] | None:
        """Record that ``offset`` of ``tp`` arrived; the missing range [start, end) when it skipped some.
        ``committed``: where this generation's reading of ``tp`` started (its committed offset), for the
        first record of a generation to be checked too — a worker handed a partition must start where the
        group's commit left it. A hole that comes back after it was fetched again is a gap in the topic
        itself (a transaction marker written by some other producer, say): said once, then accepted."""
        if generation != self.generation:
            self.generation, self.expected, self.refetched = generation, {}, set()
        due = self.expected.get(tp, committed)
        self.expected[tp] = offset + 1
        if due is None or offset <= due or (tp, due, offset) in self.refetched:
            return None
        self.refetched.add((tp, due, offset))
        return (due, offset)


@dataclass
class HeldCommits:
    """The same fault at the head of what the agent acknowledged: Faust commits a partition past the
    record at its committed offset when only that one record is missing and the ones after it are done
    (its head-gap check is off by one: faust-streaming#606, PR #707, both open) — after a rebalance or a
    seek that record may never reach the agent, and once committed past, a restart loses it.

    Touchpoints and ticks have a record at every offset, so the scorer withholds any commit whose
    acknowledged offsets do not start at the committed one, and asks for the partition to be fetched again
    from the committed offset once a commit has been withheld at the same offset for ``refetch_after_s``
    (what was processed after it comes again as repeats). A partition fetched again ``give_up_after``
    times without its head ever arriving has a true gap there (a transaction marker of some other
    producer): its commit is let through, once, as Faust would."""

    refetch_after_s: float = 10.0
    give_up_after: int = 3
    since: dict[str, tuple[int, float]] = field(default_factory=dict)  # tp -> (committed, held since)
    refetches: dict[tuple[str, int], int] = field(default_factory=dict)  # (tp, committed) -> times
    released: set[tuple[str, int]] = field(default_factory=set)

    def allows(self, tp: str, lowest_acknowledged: int | None, committed: int | None) -> bool:
        """Whether a commit of ``tp`` may go ahead, its acknowledged offsets starting at
        ``lowest_acknowledged`` (None: none) and its last commit at ``committed`` (None: never)."""
        if lowest_acknowledged is None or committed is None or lowest_acknowledged <= committed:
            return True
        return (tp, committed) in self.released

    def due(self, withheld: dict[str, int], now: float) -> dict[str, int]:
        """``withheld``: tp -> committed offset, for each partition whose commit ``allows`` withholds now.
        The partitions to fetch again, from that offset (held for ``refetch_after_s``, the clock then
        restarts); one held through ``give_up_after`` refetches is released instead."""
        self.since = {tp: held for tp, held in self.since.items() if withheld.get(tp) == held[0]}
        current = set(withheld.items())  # what is no longer withheld is forgotten
        self.refetches = {key: n for key, n in self.refetches.items() if key in current}
        self.released &= current
        due = {}
        for tp, committed in withheld.items():
            _, since = self.since.setdefault(tp, (committed, now))
            if now - since < self.refetch_after_s:
                continue
            self.since[tp] = (committed, now)
            times = self.refetches.get((tp, committed), 0)
            if times >= self.give_up_after:
                self.released.add((tp, committed))
            else:
                self.refetches[(tp, committed)] = times + 1
                due[tp] = committed
        return due
