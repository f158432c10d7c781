"""services/common/histograms.py: a batch of observations adds what observing them one by one adds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram

from services.common.histograms import observe_all

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400)


def samples(histogram: Histogram) -> dict[tuple[str, str], float]:
    (metric,) = histogram.collect()
    return {
        (sample.name, sample.labels.get("le", "")): sample.value
        for sample in metric.samples
        if not sample.name.endswith("_created")
    }


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(BUCKETS), st.floats(0, 200_000, allow_nan=False)), max_size=40))
def test_observing_a_batch_adds_what_observing_each_adds(amounts: list[float]) -> None:
    one_by_one = Histogram("each", "", buckets=BUCKETS, registry=CollectorRegistry())
    at_once = Histogram("each", "", buckets=BUCKETS, registry=CollectorRegistry())
    for amount in amounts:
        one_by_one.observe(amount)
    observe_all(at_once, amounts)
    expected, got = samples(one_by_one), samples(at_once)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if key[0] != "each_sum":  # every bucket and the count exactly; the sum to rounding
            assert got[key] == value, key
    assert abs(got[("each_sum", "")] - expected[("each_sum", "")]) <= 1e-9 * max(1.0, sum(amounts))
