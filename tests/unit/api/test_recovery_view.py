"""The API's index of open recovery cases: counted by step, listed newest first, gone once closed."""

from __future__ import annotations

from typing import Any

import orjson

from services.api.recovery_view import RecoveryView


def record(*cases: dict[str, Any]) -> bytes:
    return orjson.dumps({"constituent_id": "x", "recovery": list(cases), "scores": {"overall": 50}})


def case(opened_at: float, **facts: float) -> dict[str, Any]:
    return {
        "case_id": f"k{opened_at}",
        "opened_at": opened_at,
        "amount": 25.0,
        "facts": facts,
        "alerted": True,
    }


def test_open_cases_are_counted_by_step_and_listed_newest_first_until_closed() -> None:
    view = RecoveryView()
    view.apply(b"c-1", record(case(100.0)))
    view.apply(b"c-2", record(case(200.0, email_sent_at=210.0), {**case(50.0), "outcome": "recovered"}))
    view.apply(b"c-3", record())
    assert (view.open_by_step()["failed"], view.open_by_step()["email_sent"], len(view)) == (1, 1, 2)
    assert [c["constituent_id"] for c in view.open_cases(None, 10)] == ["c-2", "c-1"]
    assert [c["step"] for c in view.open_cases("email_sent", 10)] == ["email_sent"]
    assert "alerted" not in view.open_cases(None, 10)[0]
    view.apply(b"c-1", record({**case(100.0), "outcome": "lost"}))
    view.apply(b"c-2", None)  # erased
    assert (sum(view.open_by_step().values()), len(view)) == (0, 0)
