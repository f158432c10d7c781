"""services/bench/scorer_cases.py: what one more person costs in a worker's resident memory."""

from __future__ import annotations

from services.bench.scorer_cases import bytes_per_person


def test_bytes_per_person_is_the_slope_after_the_warm_up_not_the_growth_over_the_empty_worker() -> None:
    warm_up = [(0.0, 100_000_000), (1_000.0, 160_000_000)]  # batches, buffers and arenas at first
    steady = [(float(people), 160_000_000 + 800 * (people - 1_000)) for people in range(2_000, 10_001, 1_000)]
    assert bytes_per_person(warm_up + steady) == 800


def test_too_few_readings_say_nothing() -> None:
    assert bytes_per_person([(10.0, 1), (20.0, 2)]) is None
    assert bytes_per_person([(10.0, 5)] * 10) is None  # nobody new: no slope
