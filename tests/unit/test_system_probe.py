"""The console's system strip: the accepted rate is the growth of the topic between two samples."""

from services.api.system import Sample, SystemProbe
from services.common.settings import CommonSettings


def test_the_rate_needs_two_samples_and_is_their_growth_per_second() -> None:
    probe = SystemProbe(CommonSettings())
    assert probe.snapshot()["accepted_per_second"] is None
    probe.record(Sample(at=100.0, accepted=1_000, scorer_lag=None))
    assert probe.snapshot() | {"sampled_ago_s": None} == {
        "sampled_ago_s": None,
        "accepted_total": 1_000,
        "accepted_per_second": None,
        "scorer_lag": None,
    }
    probe.record(Sample(at=105.0, accepted=1_250, scorer_lag=7))
    assert probe.snapshot()["accepted_per_second"] == 50.0
    assert probe.snapshot()["scorer_lag"] == 7
