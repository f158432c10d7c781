"""The API's in-memory views of alerts and dead letters."""

from datetime import UTC, datetime

from services.api.views import AlertFilter, AlertView
from services.domain.alerts.actions import Action, act


def alert(alert_id: str, status: str = "open", **fields: object) -> dict[str, object]:
    return {
        "alert_id": alert_id,
        "status": status,
        "kind": "transaction.failed",
        "severity": "warning",
        "constituent_id": "c-1",
        "opened_at": "2026-11-25T10:00:00+00:00",
        "resolved_at": None,
        **fields,
    }


def test_alerts_are_listed_most_recently_updated_first_once_each() -> None:
    view = AlertView(kept=100)
    view.apply(0, alert("a"))
    view.apply(1, alert("b"))
    view.apply(2, alert("a", "resolved"))
    assert view.newest(10) == [alert("a", "resolved"), alert("b")]
    assert view.newest(1) == [alert("a", "resolved")]


def test_only_the_most_recent_alerts_are_kept() -> None:
    view = AlertView(kept=10)
    for n in range(25):
        view.apply(n, alert(f"a{n}"))
    assert len(view) == 10
    assert view.newest(1) == [alert("a24")]


def test_a_reconnecting_client_gets_the_updates_after_its_last_event_id() -> None:
    view = AlertView(kept=100)
    for n in range(5):
        view.apply(n, alert(f"a{n}"))
    assert [offset for offset, _ in view.updates_after(2)] == [3, 4]


def test_subscribers_receive_updates_and_a_slow_one_is_let_go() -> None:
    view = AlertView(kept=100)
    queue = view.subscribe()
    view.apply(0, alert("a"))
    assert queue.get_nowait() == (0, alert("a"))
    for n in range(1, 1002):
        view.apply(n, alert(f"a{n}"))
    assert not view.is_subscribed(queue)


def test_alerts_can_be_filtered_and_open_ones_are_counted_by_kind() -> None:
    view = AlertView(kept=100)
    view.apply(0, alert("a", kind="failure.spike", severity="critical", constituent_id=None))
    view.apply(1, alert("b", constituent_id="c-2"))
    view.apply(2, alert("c", opened_at="2026-11-20T10:00:00+00:00"))
    view.apply(
        3,
        alert(
            "c", "resolved", opened_at="2026-11-20T10:00:00+00:00", resolved_at="2026-11-20T11:00:00+00:00"
        ),
    )

    def ids(**wanted: object) -> list[str]:
        return [str(a["alert_id"]) for a in view.newest(10, AlertFilter(**wanted))]  # type: ignore[arg-type]

    assert ids(kind="failure.spike") == ["a"]
    assert ids(severity="warning", status="open") == ["b"]
    assert ids(constituent_id="c-2") == ["b"]
    assert ids(since=datetime(2026, 11, 24, tzinfo=UTC)) == ["b", "a"]
    assert [o for o, _ in view.updates_after(0, AlertFilter(status="resolved"))] == [3]
    assert view.open_count("transaction.failed") == 1
    assert view.open_count("failure.spike") == 1
    assert view.get("c")["status"] == "resolved"  # type: ignore[index]


async def test_an_operators_record_is_folded_in_and_its_writer_can_wait_for_it() -> None:
    view = AlertView(kept=100)
    view.apply(0, alert("a"))
    view.apply(1, alert("a", severity="critical"))  # the scorer escalated meanwhile
    resolved_from_older = act(alert("a"), Action.RESOLVE, "bob", "2026-11-25T10:10:00+00:00", None)
    assert not await view.wait_applied(2, timeout_s=0.05)
    view.apply(2, resolved_from_older)
    assert await view.wait_applied(2, timeout_s=0.05)
    current = view.get("a")
    assert current is not None
    assert (current["status"], current["severity"], current["resolved_by"]) == ("resolved", "critical", "bob")
    assert view.open_counts() == {}
    assert view.updates_after(1) == [(2, current)]  # what live clients are sent is the merged alert


def test_the_dead_letter_view_is_bounded_by_bytes_and_its_counts_stay_exact() -> None:
    from services.api.views import DeadLetterView

    view = DeadLetterView(kept=1000, max_bytes=1000)
    for n in range(50):
        view.apply({"source": "api", "reason_code": "schema", "payload": str(n)}, size=100)
    assert view.kept_bytes <= 1000
    assert [letter["payload"] for letter in view.newest(100, None, None)] == [
        str(n) for n in range(49, 39, -1)
    ]
    assert view.counts() == [{"source": "api", "reason_code": "schema", "count": 50}]
