"""The scorer's watchdog and offset check (services/scorer/watchdog.py): when a worker counts as stalled, and
what a jump or a step back in a partition's offsets is reported as."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.scorer.watchdog import Activity, OffsetCheck, Watchdog

ENDS = {"touchpoints:0": 120, "touchpoints:1": 40}


def test_records_waiting_with_nothing_moving_for_the_whole_interval_is_a_stall() -> None:
    watchdog, activity = Watchdog(after_s=30), Activity()
    committed = {"touchpoints:0": 100, "touchpoints:1": 40}
    assert watchdog.stalled(ENDS, committed, activity, now=0) == {}
    assert watchdog.stalled(ENDS, committed, activity, now=29) == {}
    assert watchdog.stalled(ENDS, committed, activity, now=30) == {"touchpoints:0": 20}


def test_a_partition_never_committed_counts_from_its_start() -> None:
    watchdog, activity = Watchdog(after_s=1), Activity()
    watchdog.stalled({"touchpoints:2": 5}, {}, activity, now=0)
    assert watchdog.stalled({"touchpoints:2": 5}, {}, activity, now=1) == {"touchpoints:2": 5}


def test_an_idle_worker_that_committed_everything_is_not_stalled() -> None:
    watchdog, activity = Watchdog(after_s=1), Activity()
    for now in range(5):
        assert watchdog.stalled(ENDS, dict(ENDS), activity, now=now) == {}


def test_an_idle_worker_that_processed_everything_and_commits_later_is_not_stalled() -> None:
    watchdog, activity = Watchdog(after_s=1), Activity()
    activity.started()
    activity.finished({"touchpoints:0": 119, "touchpoints:1": 39})  # the last records of both partitions
    for now in range(5):
        assert watchdog.stalled(ENDS, {"touchpoints:0": 7}, activity, now=now) == {}


def test_a_worker_completing_batches_or_inside_one_is_not_stalled() -> None:
    watchdog, activity = Watchdog(after_s=10), Activity()
    committed = {"touchpoints:0": 0, "touchpoints:1": 0}
    for now in range(0, 60, 5):
        activity.started()
        activity.finished({})  # a batch completed since the last look
        assert watchdog.stalled(ENDS, committed, activity, now=now) == {}
    activity.started()  # a long batch: waiting for Kafka to take what it published
    for now in range(60, 120, 5):
        assert watchdog.stalled(ENDS, committed, activity, now=now) == {}
    activity.finished({})
    watchdog.stalled(ENDS, committed, activity, now=120)  # the last batch completed: the clock starts
    assert watchdog.stalled(ENDS, committed, activity, now=129) == {}
    assert watchdog.stalled(ENDS, committed, activity, now=130) != {}


def test_catching_up_restarts_the_clock() -> None:
    watchdog, activity = Watchdog(after_s=10), Activity()
    behind = {"touchpoints:0": 100, "touchpoints:1": 40}
    watchdog.stalled(ENDS, behind, activity, now=0)
    watchdog.stalled(ENDS, dict(ENDS), activity, now=8)  # committed everything meanwhile
    assert watchdog.stalled(ENDS, behind, activity, now=12) == {}  # behind again: a new clock
    assert watchdog.stalled(ENDS, behind, activity, now=22) == {"touchpoints:0": 20}


def test_offsets_in_a_row_from_where_reading_started_are_in_order() -> None:
    check = OffsetCheck()
    assert [check.observe(1, "tp:0", offset, start=45) for offset in range(45, 50)] == [0] * 5


def test_a_jump_says_how_many_records_never_reached_the_agent() -> None:
    check = OffsetCheck()
    assert check.observe(1, "tp:0", 50, start=45) == 5  # a generation's first record past its start
    assert check.observe(1, "tp:0", 51, start=45) == 0
    assert check.observe(1, "tp:0", 60, start=45) == 8


def test_a_step_back_is_a_record_handed_over_again() -> None:
    check = OffsetCheck()
    for offset in range(45, 50):
        check.observe(1, "tp:0", offset, start=45)
    assert check.observe(1, "tp:0", 47, start=45) < 0
    assert check.observe(1, "tp:0", 50, start=45) == 0  # the repeat did not move what is due next


def test_each_consumer_generation_starts_again_from_where_its_reading_started() -> None:
    check = OffsetCheck()
    check.observe(1, "tp:0", 80, start=45)
    assert check.observe(2, "tp:0", 70, start=70) == 0  # re-read from the new committed offset
    assert check.observe(2, "tp:1", 3, start=None) == 0  # no start known: its first record sets it
    assert check.observe(2, "tp:1", 4, start=None) == 0


@given(
    st.lists(st.tuples(st.integers(1, 2), st.sampled_from(["tp:0", "tp:1"]), st.integers(0, 12)), max_size=40)
)
def test_the_in_step_shortcut_notes_what_observe_would_and_only_when_it_finds_nothing(
    seen: list[tuple[int, str, int]],
) -> None:
    """The agent's shortcut for the common case (the offset due, in the same generation): the same
    state afterwards as ``observe`` alone, and never taken where ``observe`` would count something."""
    shortcut, plain = OffsetCheck(), OffsetCheck()
    for generation, tp, offset in seen:
        expected = plain.observe(generation, tp, offset, start=3)
        if shortcut.in_step(generation, tp, offset):
            assert expected == 0
        else:
            assert shortcut.observe(generation, tp, offset, start=3) == expected
        assert (shortcut.generation, shortcut.due) == (plain.generation, plain.due)
