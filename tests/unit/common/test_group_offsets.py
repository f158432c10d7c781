"""Where consumer groups are: how far one has come, and whether it has come as far as another had."""

from __future__ import annotations

from services.common.group_offsets import GroupPositions

STARTS = {"tp:0": 10, "tp:1": 0, "deltas:0": 0}


def positions(ends: dict[str, int], **committed: dict[str, int]) -> GroupPositions:
    return GroupPositions(STARTS, ends, committed)


def test_progress_counts_from_the_first_retained_record_and_an_uncommitted_partition_as_none_read() -> None:
    now = positions({"tp:0": 110, "tp:1": 50, "deltas:0": 5}, new={"tp:0": 60})
    assert now.progress("new") == (50, 155)


def test_a_group_covers_another_only_when_it_is_as_far_on_every_partition() -> None:
    then = positions({"tp:0": 100, "tp:1": 40, "deltas:0": 5}, live={"tp:0": 90, "tp:1": 40})
    behind_on_one = positions({"tp:0": 120, "tp:1": 60, "deltas:0": 9}, new={"tp:0": 95, "tp:1": 39})
    assert not behind_on_one.covers("new", then, "live", "tp:")
    level = positions({"tp:0": 120, "tp:1": 60, "deltas:0": 9}, new={"tp:0": 90, "tp:1": 40, "deltas:0": 5})
    assert level.covers("new", then, "live", "tp:")
    assert level.covers("new", then, None, "deltas:")  # read all it had written by then
    assert not level.covers("new", then, None, "tp:")  # but not the touchpoints' ends of then
