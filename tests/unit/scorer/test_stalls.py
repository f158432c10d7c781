"""A worker that fetched records its agent never received is noticed, and only such a worker."""

from __future__ import annotations

from services.scorer.stalls import Activity, HeldCommits, Holes, Progress, StallWatch

TP = "touchpoints:0"


def look(fetched: int, committed: int | None, activity: Activity) -> Progress:
    return Progress(
        {TP: fetched},
        {} if committed is None else {TP: committed},
        dict(activity.processed),
        activity.batches_done,
        activity.in_batch,
    )


def test_records_fetched_past_what_was_processed_with_nothing_happening_is_a_stall_after_the_wait() -> None:
    watch, activity = StallWatch(after_s=30), Activity()
    activity.started()
    activity.finished({TP: 9})  # offsets 0..9 processed; then 110 more fetched, never delivered
    assert watch.stalled(look(120, 10, activity), now=0) == {}
    assert watch.stalled(look(120, 10, activity), now=29) == {}
    assert watch.stalled(look(120, 10, activity), now=30) == {TP: 110}
    # once said, another full wait before it is said again (the remedy gets its chance)
    assert watch.stalled(look(120, 10, activity), now=45) == {}
    assert watch.stalled(look(120, 10, activity), now=60) == {TP: 110}


def test_a_partition_this_worker_never_processed_counts_from_the_committed_offset() -> None:
    watch, activity = StallWatch(after_s=30), Activity()
    assert watch.stalled(look(50, 8, activity), now=0) == {}
    assert watch.stalled(look(50, 8, activity), now=31) == {TP: 42}
    watch = StallWatch(after_s=30)
    assert watch.stalled(look(50, None, activity), now=0) == {}
    assert watch.stalled(look(50, None, activity), now=31) == {TP: 50}


def test_an_idle_worker_that_processed_all_it_fetched_is_not_stalled_even_with_offsets_uncommitted() -> None:
    watch, activity = StallWatch(after_s=30), Activity()
    activity.started()
    activity.finished({TP: 119})
    for now in (0, 30, 60, 90):  # committing only every 60 s, say: committed stays at 0 meanwhile
        assert watch.stalled(look(120, 0, activity), now=now) == {}


def test_a_worker_completing_batches_or_inside_one_is_not_stalled() -> None:
    watch, activity = StallWatch(after_s=30), Activity()
    for now in range(0, 300, 10):  # always behind (busy), but a batch completes between every look
        activity.started()
        activity.finished({TP: now})
        assert watch.stalled(look(10_000, 0, activity), now=now) == {}
    activity.started()  # one batch waiting minutes for Kafka
    for now in range(300, 600, 10):
        assert watch.stalled(look(10_000, 0, activity), now=now) == {}


def test_the_wait_starts_again_when_a_batch_completes() -> None:
    watch, activity = StallWatch(after_s=30), Activity()
    assert watch.stalled(look(100, 0, activity), now=0) == {}
    activity.started()
    activity.finished({TP: 4})
    assert watch.stalled(look(100, 0, activity), now=25) == {}  # progress: the clock restarts
    assert watch.stalled(look(100, 0, activity), now=50) == {}
    assert watch.stalled(look(100, 0, activity), now=55) == {TP: 95}


def test_a_jump_forward_in_a_partitions_offsets_is_a_hole_and_a_step_back_is_a_new_start() -> None:
    holes = Holes()
    assert [holes.observe(1, TP, offset) for offset in (7, 8, 9)] == [None, None, None]
    assert holes.observe(1, TP, 12) == (10, 12)  # 10 and 11 never arrived
    assert holes.observe(1, TP, 10) is None  # fetched again from 10 (a seek back): no hole
    assert [holes.observe(1, TP, offset) for offset in (11, 12, 13)] == [None, None, None]
    assert holes.observe(1, "ticks:3", 500) is None  # the first offset seen of a partition says nothing


def test_a_new_consumer_generation_starts_over() -> None:
    holes = Holes()
    holes.observe(1, TP, 5)
    assert holes.observe(2, TP, 40) is None  # another worker scored 6..39 while this one did not own it
    assert holes.observe(2, TP, 42) == (41, 42)


def test_a_generation_whose_first_record_is_past_the_committed_offset_starts_with_a_hole() -> None:
    holes = Holes()
    assert holes.is_first(3, TP)
    assert holes.observe(3, TP, 50, committed=45) == (45, 50)  # 45..49 never came
    assert not holes.is_first(3, TP) and holes.is_first(3, "ticks:3") and holes.is_first(4, TP)
    assert holes.observe(4, TP, 45, committed=45) is None  # starting where the commit left it
    assert holes.observe(5, TP, 44, committed=45) is None  # from before it (a repeat): no hole
    assert holes.observe(6, TP, 70, committed=None) is None  # nothing committed yet: nothing to check


def test_a_hole_that_comes_back_after_it_was_fetched_again_is_a_gap_in_the_topic_and_is_accepted() -> None:
    holes = Holes()
    holes.observe(1, TP, 9)
    assert holes.observe(1, TP, 12) == (10, 12)
    holes.observe(1, TP, 9)  # fetched again from 10 … (9 is what came before, here)
    assert holes.observe(1, TP, 12) is None  # … and 10, 11 are still not there: no endless refetching


def waiting_on_the_broker(position: int, end: int, committed: int, activity: Activity) -> Progress:
    return Progress(
        {TP: position}, {TP: committed}, dict(activity.processed), activity.batches_done, False, {TP: end}
    )


def test_a_consumer_that_stopped_fetching_with_records_waiting_on_the_broker_is_a_stall_too() -> None:
    watch, activity = StallWatch(after_s=30), Activity()
    activity.started()
    activity.finished({TP: 99})  # processed up to 100; 319 more on the broker, never fetched
    assert watch.stalled(waiting_on_the_broker(100, 419, 100, activity), now=0) == {}
    assert watch.stalled(waiting_on_the_broker(100, 419, 100, activity), now=30) == {TP: 319}
    assert watch.not_fetching_in_a_row == 1
    # the seek did not help: said again with no batch between — the caller restarts the worker
    assert watch.stalled(waiting_on_the_broker(100, 419, 100, activity), now=60) == {TP: 319}
    assert watch.not_fetching_in_a_row == 2 and watch.remedy_failed()


def test_an_idle_worker_at_the_end_and_a_busy_one_fetching_are_not_stalled() -> None:
    watch, activity = StallWatch(after_s=30), Activity()
    activity.started()
    activity.finished({TP: 99})
    for now in (0, 30, 60):
        assert watch.stalled(waiting_on_the_broker(100, 100, 100, activity), now=now) == {}
    for now in (90, 120, 150):  # fetching and completing batches: records waiting is just being busy
        activity.started()
        activity.finished({TP: now})
        assert watch.stalled(waiting_on_the_broker(now + 1, 10_000, 0, activity), now=now) == {}
    assert watch.not_fetching_in_a_row == 0


def test_a_batch_after_a_remedy_starts_the_count_of_stalls_in_a_row_again() -> None:
    watch, activity = StallWatch(after_s=30), Activity()
    activity.started()
    activity.finished({TP: 99})
    assert watch.stalled(waiting_on_the_broker(100, 419, 100, activity), now=0) == {}
    assert watch.stalled(waiting_on_the_broker(100, 419, 100, activity), now=30) == {TP: 319}
    assert watch.not_fetching_in_a_row == 1
    activity.started()
    activity.finished({TP: 418})  # the seek worked
    assert watch.stalled(waiting_on_the_broker(419, 419, 419, activity), now=40) == {}
    assert watch.not_fetching_in_a_row == 0


def test_records_fetched_and_not_processed_are_fetched_again_and_after_four_tries_a_restart() -> None:
    watch, activity = StallWatch(after_s=30), Activity()
    activity.started()
    activity.finished({TP: 9})
    for now in (0, 30, 60, 90):  # said every 30 s while it lasts; the seek comes again each time
        seen = watch.stalled(look(120, 10, activity), now=now)
        assert seen == ({} if now == 0 else {TP: 110})
        assert not watch.remedy_failed()
    assert watch.not_fetching_in_a_row == 0  # a seek usually brings them: not the other kind's quick exit
    assert watch.stalled(look(120, 10, activity), now=120) == {TP: 110}
    assert watch.remedy_failed()  # four seeks in a row brought nothing: a fresh worker takes over


def test_a_batch_between_seeks_starts_their_count_again() -> None:
    watch, activity = StallWatch(after_s=30), Activity()
    activity.started()
    activity.finished({TP: 9})
    for now in (0, 30, 60, 90):
        watch.stalled(look(120, 10, activity), now=now)
    activity.started()
    activity.finished({TP: 19})  # the last seek brought some
    for now in (100, 130, 160, 190):
        watch.stalled(look(120, 10, activity), now=now)
        assert not watch.remedy_failed()


def test_a_commit_goes_ahead_only_from_the_committed_offset() -> None:
    held = HeldCommits()
    assert held.allows(TP, lowest_acknowledged=40, committed=40)
    assert held.allows(TP, lowest_acknowledged=None, committed=40)  # nothing to commit
    assert held.allows(TP, lowest_acknowledged=7, committed=None)  # never committed: Faust decides
    # faust-streaming#606: the record at the committed offset missing, the ones after it acknowledged
    assert not held.allows(TP, lowest_acknowledged=2586, committed=2585)
    assert not held.allows(TP, lowest_acknowledged=2590, committed=2585)


def test_a_commit_withheld_at_one_offset_for_a_while_asks_for_a_refetch_from_there_once_per_wait() -> None:
    held = HeldCommits(refetch_after_s=10)
    assert held.due({TP: 2585}, now=0) == {}
    assert held.due({TP: 2585}, now=9) == {}
    assert held.due({TP: 2585}, now=10) == {TP: 2585}
    assert held.due({TP: 2585}, now=15) == {}  # the refetch gets its chance
    assert held.due({TP: 2585}, now=20) == {TP: 2585}


def test_a_commit_that_went_ahead_starts_the_wait_again() -> None:
    held = HeldCommits(refetch_after_s=10)
    held.due({TP: 100}, now=0)
    assert held.due({}, now=5) == {}  # the head arrived, the commit went ahead
    assert held.due({TP: 180}, now=8) == {}  # held again, at another offset: a new wait
    assert held.due({TP: 180}, now=17) == {}
    assert held.due({TP: 180}, now=18) == {TP: 180}


def test_a_head_that_never_comes_however_often_fetched_is_a_gap_in_the_topic_and_is_let_through() -> None:
    held = HeldCommits(refetch_after_s=10, give_up_after=3)
    asked = [held.due({TP: 50}, now=t) for t in range(0, 50, 10)]
    assert asked == [{}, {TP: 50}, {TP: 50}, {TP: 50}, {}]
    assert held.allows(TP, lowest_acknowledged=51, committed=50)  # released: Faust commits past it
    assert not held.allows(TP, lowest_acknowledged=61, committed=60)  # only that one
