"""The report's time range: what a request may ask for; otherwise a 400 with the reason, never a 500."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.responses import JSONResponse

from services.api.routes.reports import _range


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (None, datetime(1, 1, 1)),  # issue 34: a 500 (no default span before year 1)
        (datetime(1, 1, 1), datetime(1, 1, 2)),
        (datetime(1969, 12, 1), datetime(1969, 12, 2)),
        (datetime(9999, 12, 30), datetime(9999, 12, 31)),
    ],
)
def test_a_range_outside_1970_to_9999_is_refused_400(start: datetime | None, end: datetime) -> None:
    answer = _range("day", start, end)
    assert isinstance(answer, JSONResponse) and answer.status_code == 400
    assert b"between 1970 and 9999" in answer.body


def test_a_range_within_is_given_as_timestamps() -> None:
    assert _range("day", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)) == (
        datetime(2026, 1, 1, tzinfo=UTC).timestamp(),
        datetime(2026, 1, 2, tzinfo=UTC).timestamp(),
    )
