"""The console's system strip: the record rate is the growth of the topic between two samples."""

from services.api.system import Sample, SystemProbe
from services.common.settings import CommonSettings


def test_the_rate_needs_two_samples_and_is_their_growth_per_second() -> None:
    probe = SystemProbe(CommonSettings())
    assert probe.snapshot()["touchpoint_records_per_second"] is None
    probe.record(Sample(at=100.0, records=1_000, scorer_lag=None))
    assert probe.snapshot() | {"sampled_ago_s": None} == {
        "sampled_ago_s": None,
        "touchpoint_records_total": 1_000,
        "touchpoint_records_per_second": None,
        "scorer_lag_records": None,
    }
    probe.record(Sample(at=105.0, records=1_250, scorer_lag=7))
    assert probe.snapshot()["touchpoint_records_per_second"] == 50.0
    assert probe.snapshot()["scorer_lag_records"] == 7
