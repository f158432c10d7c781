"""The first ``limit`` people by score across the partitions' sorted sets, reading few of each. Pure.

Each Kafka partition has its own sorted set in Redis (services/serving/redis_scores.py), so a ranked list
merges the heads of all of them. People spread evenly over partitions, so the first ``limit`` overall are
about ``limit / partitions`` of each: ``first_round`` asks each set for twice that and a little more, and
``merge`` tells which partitions may hold more of the answer — those whose rows read all precede its last —
to be read on to ``limit`` in a second round. The answer is exact either way: a partition either showed a
row at or past the answer's last (what follows it is past it) or has been read as far as the answer could
reach.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from itertools import islice

Row = tuple[float, bytes, int]  # score, member (the constituent id), partition: ordered as Redis orders them


def first_round(limit: int, partitions: int) -> int:
    """How many rows to read of each partition first: ~2× its fair share, never more than ``limit``."""
    return min(limit, 2 * -(-limit // partitions) + 2)


def merge(
    per_partition: Sequence[Sequence[tuple[bytes, float]]], limit: int, ascending: bool, read: int
) -> tuple[list[Row], list[int]]:
    """The first ``limit`` rows of every partition's (member, score) rows, each partition's in its set's
    order and ``read`` at most; and the partitions to read further: those that gave ``read`` rows, the
    last of them before the answer's last (or the answer is short), so what follows may belong too."""
    rows = [
        [(score, member, partition) for member, score in listed]
        for partition, listed in enumerate(per_partition)
    ]
    chosen = list(islice(heapq.merge(*rows, reverse=not ascending), limit))
    if read >= limit:
        return chosen, []
    full = len(chosen) == limit

    def before_the_last(row: Row) -> bool:
        return not full or (row < chosen[-1] if ascending else row > chosen[-1])

    further = [p for p, listed in enumerate(rows) if len(listed) >= read and before_the_last(listed[-1])]
    return chosen, further
