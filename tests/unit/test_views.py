"""The API's in-memory views."""

import orjson

from services.api.views import AlertView, ScoreView


def alert(alert_id: str, status: str = "open") -> dict[str, object]:
    return {"alert_id": alert_id, "status": status}


def test_the_score_view_keeps_the_latest_value_and_honours_tombstones() -> None:
    view = ScoreView()
    view.apply(b"c-1", orjson.dumps({"events": 1}))
    view.apply(b"c-1", orjson.dumps({"events": 2}))
    assert view.get("c-1") == {"events": 2}
    view.apply(b"c-1", None)
    assert view.get("c-1") is None


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
