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


def served(view: AlertView) -> str:
    """Everything the view would serve, as text: the list and the resumable updates."""
    import orjson

    return orjson.dumps([view.newest(100), view.updates_after(-1)]).decode()


def full(alert_id: str, person: str) -> dict[str, object]:
    return alert(
        alert_id,
        constituent_id=person,
        title=f"Failed donation of {person}",
        evidence=[f"{person}-e1"],
        actions=[
            {
                "action": "acknowledge",
                "by": "ops",
                "at": "2026-11-25T10:05:00+00:00",
                "note": f"called {person}",
            }
        ],
    )


def test_an_erasure_removes_the_person_from_every_alert_and_update_this_replica_holds() -> None:
    """Issue 34: erasure scrubbed the newest 10,000 alerts that the replica taking it held, by person."""
    view = AlertView(kept=100)
    for n in range(30):
        view.apply(n, full(f"a{n}", "ada-lovelace" if n % 3 == 0 else f"other-{n}"))
    view.forget("ada-lovelace")
    text = served(view)
    assert "ada-lovelace" not in text and "other-1" in text
    assert sum(1 for a in view.newest(100) if a.get("erased")) == 10


def test_an_erasure_read_before_the_alerts_still_scrubs_them_as_they_arrive() -> None:
    """A new replica reads the erasures and the alerts topics at once, in no order between them."""
    view = AlertView(kept=100)
    view.forget("ada-lovelace")
    view.apply(0, full("a0", "ada-lovelace"))
    view.apply(
        1, {"alert_id": "a0", "status": "open", "acknowledged_by": "ops", "kind": "transaction.failed"}
    )
    assert "ada-lovelace" not in served(view)


def test_an_alert_first_seen_as_an_acknowledgement_is_scrubbed_when_its_full_record_names_the_person() -> (
    None
):
    view = AlertView(kept=100)
    view.apply(
        0, {"alert_id": "a0", "status": "open", "kind": "transaction.failed", "acknowledged_by": "ops"}
    )
    view.apply(1, full("a0", "ada-lovelace"))
    view.forget("ada-lovelace")
    view.apply(
        2, {"alert_id": "a0", "status": "resolved", "kind": "transaction.failed", "resolved_by": "ops"}
    )
    assert "ada-lovelace" not in served(view)


def test_an_erasure_drops_the_persons_dead_letters_now_and_later_and_keeps_the_counts() -> None:
    from services.api.views import DeadLetterView

    letters = DeadLetterView(kept=100)
    named = {"source": "api", "reason_code": "schema", "payload": '{"constituent_id":"ada-lovelace"}'}
    other = {"source": "api", "reason_code": "schema", "payload": '{"constituent_id":"ada-lovelace-2"}'}
    letters.apply(named, 40)
    letters.apply(other, 40)
    letters.forget("ada-lovelace")
    letters.apply(named, 40)
    assert letters.newest(10, None, None) == [other] and letters.kept_bytes == 40
    assert letters.total() == 3
