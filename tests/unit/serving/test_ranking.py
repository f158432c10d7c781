"""The ranked list across partitions read in at most two rounds (services/serving/ranking.py) is exactly
the first ``limit`` of everyone merged, however people, scores and ties fall over the partitions."""

from __future__ import annotations

import heapq

from hypothesis import given
from hypothesis import strategies as st

from services.serving.ranking import first_round, merge

people = st.lists(
    st.tuples(st.sampled_from([0.0, 12.5, 40.0, 40.0, 77.25, 100.0]) | st.floats(0, 100), st.integers(0, 7)),
    max_size=120,
)


def redis_order(rows: list[tuple[bytes, float]], ascending: bool) -> list[tuple[bytes, float]]:
    """A sorted set's order: by score then member, reversed whole for the descending commands."""
    return sorted(rows, key=lambda row: (row[1], row[0]), reverse=not ascending)


def two_rounds(
    sets: list[list[tuple[bytes, float]]], limit: int, ascending: bool
) -> tuple[list[tuple[float, bytes, int]], int]:
    """What ``RedisScores.ranked`` reads: the first round, then further where ``merge`` says; with the
    number of rows read."""
    read = first_round(limit, len(sets))
    heads = [listed[:read] for listed in sets]
    found, further = merge(heads, limit, ascending, read)
    for partition in further:
        heads[partition] = sets[partition][:limit]
    if further:
        found, _ = merge(heads, limit, ascending, limit)
    return found, sum(map(len, heads))


@given(people, st.integers(1, 60), st.integers(1, 8), st.booleans())
def test_two_rounds_give_exactly_the_first_of_everyone(
    scored: list[tuple[float, int]], limit: int, partitions: int, ascending: bool
) -> None:
    sets: list[list[tuple[bytes, float]]] = [[] for _ in range(partitions)]
    for n, (score, partition) in enumerate(scored):
        sets[partition % partitions].append((f"person-{n:03d}".encode(), score))
    sets = [redis_order(listed, ascending) for listed in sets]
    everyone = [(score, member, p) for p, listed in enumerate(sets) for member, score in listed]

    found, _ = two_rounds(sets, limit, ascending)

    assert found == (heapq.nsmallest(limit, everyone) if ascending else heapq.nlargest(limit, everyone))


def test_evenly_spread_people_are_read_in_one_round_of_a_fraction_of_each_partition() -> None:
    sets = [redis_order([(f"p{p}-{n:03d}".encode(), float(n)) for n in range(100)], True) for p in range(8)]

    found, read = two_rounds(sets, 50, True)

    assert [score for score, _, _ in found] == sorted(float(n) for n in range(7) for _ in range(8))[:50]
    assert read == 8 * first_round(50, 8) == 128  # not 8 × 50


def test_one_partition_holding_the_whole_head_is_read_on() -> None:
    lowest = [(f"low-{n:02d}".encode(), float(n)) for n in range(50)]
    sets = [lowest] + [[(f"p{p}-{n}".encode(), 100.0 + n) for n in range(50)] for p in range(1, 8)]

    found, _ = two_rounds(sets, 50, True)

    assert [member for _, member, _ in found] == [member for member, _ in lowest]
