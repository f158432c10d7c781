"""A candidate scorer goes live only once it is as far as the live scorer was a commit interval earlier."""

from __future__ import annotations

from services.common.group_offsets import GroupPositions
from services.scorer.promotion import Promotion

STARTS = {"tp:0": 0, "tp:1": 0, "deltas:0": 0}


def at(live: tuple[int, int], new: tuple[int, int], deltas: tuple[int, int]) -> GroupPositions:
    """Where the groups are: the live group and the candidate on tp:0/tp:1, and (read, written) deltas."""
    ends = {"tp:0": 1000, "tp:1": 1000, "deltas:0": deltas[1]}
    return GroupPositions(
        STARTS,
        ends,
        {
            "live": {"tp:0": live[0], "tp:1": live[1]},
            "new": {"tp:0": new[0], "tp:1": new[1], "deltas:0": deltas[0]},
        },
    )


def promotion() -> Promotion:
    return Promotion("new", "tp", "deltas", lag_s=5)


def test_never_at_the_first_checks_there_is_nothing_old_enough_to_compare_with() -> None:
    p = promotion()
    assert not p.ready(0, at((900, 900), (1000, 1000), (10, 10)), "live")
    assert not p.ready(4, at((900, 900), (1000, 1000), (10, 10)), "live")


def test_while_rebuilding_behind_on_any_partition_it_waits() -> None:
    p = promotion()
    p.ready(0, at((900, 900), (100, 950), (1, 1)), "live")
    assert not p.ready(6, at((950, 950), (950, 899), (2, 2)), "live")  # tp:1 short of where live was


def test_once_as_far_as_the_live_group_was_and_every_delta_then_written_is_read_it_goes_live() -> None:
    p = promotion()
    p.ready(0, at((900, 900), (100, 100), (1, 10)), "live")
    assert not p.ready(6, at((990, 990), (900, 900), (9, 20)), "live")  # the deltas of then not all read
    assert p.ready(8, at((995, 995), (995, 990), (15, 30)), "live")
