"""Handing freed memory back: each call trims once and says how long it took; nothing to call, nothing."""

from services.common.heap_trim import HeapTrim, malloc_trim


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_each_call_trims_once_and_says_how_long_the_trim_took() -> None:
    clock, calls = Clock(), []

    def trim() -> None:
        calls.append(clock.now)
        clock.now += 0.25  # what a trim takes

    heap = HeapTrim(trim, clock)
    assert heap() == 0.25
    clock.now += 1.0
    assert heap() == 0.25
    assert calls == [100.0, 101.25]
    assert heap.trims == 2


def test_a_c_library_without_malloc_trim_leaves_nothing_to_call() -> None:
    heap = HeapTrim(None, Clock())
    assert heap() == 0.0
    assert heap.trims == 0


def test_glibc_here_has_malloc_trim_and_it_can_be_called() -> None:
    trim = malloc_trim()
    assert trim is not None  # this project's machines run glibc (Debian)
    trim()
