"""Handing freed memory back: at most once per interval, never when asked never, and what it cost."""

from services.common.heap_trim import HeapTrim, malloc_trim


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_heap_is_trimmed_at_most_once_per_interval_and_the_time_spent_is_summed() -> None:
    clock, calls = Clock(), []

    def trim() -> None:
        calls.append(clock.now)
        clock.now += 0.25  # what a trim takes

    heap = HeapTrim(1.0, trim, clock)
    assert not heap.maybe()  # not due yet: the interval starts when the trimmer is made
    clock.now = 101.0
    assert heap.maybe()
    clock.now = 101.9  # 0.65 s after the trim ended
    assert not heap.maybe()
    clock.now = 102.3
    assert heap.maybe()
    assert calls == [101.0, 102.3]
    assert heap.trims == 2
    assert heap.spent_s == 0.5


def test_an_interval_of_zero_or_a_c_library_without_malloc_trim_never_trims() -> None:
    clock, calls = Clock(), []
    never = HeapTrim(0.0, lambda: calls.append(1), clock)
    clock.now += 1_000
    assert not never.maybe()
    assert calls == []
    assert not HeapTrim(1.0, None, clock).maybe()


def test_glibc_here_has_malloc_trim_and_it_can_be_called() -> None:
    trim = malloc_trim()
    assert trim is not None  # this project's machines run glibc (Debian)
    trim()
