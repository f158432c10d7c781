"""The API's in-memory views."""

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from services.api.views import AlertFilter, AlertView, ScoreView, preset_dictionary
from services.common.config_files import load_scoring_model
from services.common.settings import CommonSettings
from services.domain.alerts.actions import Action, act
from services.domain.readings import score_record
from services.domain.scoring import ConstituentState, apply_event


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


def published(constituent_id: str, overall: float, roles: tuple[str, ...] = ()) -> bytes:
    state: dict[str, Any] = {
        "constituent_id": constituent_id,
        "scores": {"overall": overall},
        "roles": list(roles),
        **{key: {} for key in ("contributions", "counts", "hourly", "last_touch")},
        **dict.fromkeys(("reference_time", "events", "updated_at"), 0),
    }
    return orjson.dumps(state)


def test_a_record_the_view_cannot_read_is_refused_and_changes_nothing() -> None:
    view = ScoreView()
    view.apply(b"c-1", published("c-1", 40))
    for unreadable in (b"{oops", orjson.dumps({"constituent_id": "c-1", "sums": {}}), orjson.dumps([1])):
        with pytest.raises(ValueError):
            view.apply(b"c-1", unreadable)
    assert view.get("c-1")["scores"]["overall"] == 40  # type: ignore[index]


def test_records_are_kept_smaller_with_the_preset_dictionary_and_read_back_unchanged() -> None:
    model = load_scoring_model(CommonSettings().scoring_config)
    state = ConstituentState("c-00042")
    for n, event_type in enumerate(("web.page_view", "donation.succeeded", "email.sent", "email.opened")):
        event = {"event_id": f"e{n}", "type": event_type, "source": event_type.split(".")[0]}
        apply_event(state, event, 1_795_000_000.0 + n * 60, model)
    record = orjson.dumps(score_record(state, model, 1_795_000_300.0))
    plain, preset = ScoreView(), ScoreView(preset_dictionary(model))
    for view in (plain, preset):
        view.apply(b"c-00042", record)
        assert view.get("c-00042") == orjson.loads(record)
    assert len(preset._records["c-00042"]) < 0.8 * len(plain._records["c-00042"])


def test_the_score_view_keeps_the_latest_value_and_honours_tombstones() -> None:
    view = ScoreView()
    view.apply(b"c-1", published("c-1", 40))
    view.apply(b"c-1", published("c-1", 45))
    assert view.get("c-1")["scores"]["overall"] == 45  # type: ignore[index]
    view.apply(b"c-1", None)
    assert view.get("c-1") is None
    assert view.ranked(ascending=True, role=None, max_score=None, limit=10) == []


def test_constituents_are_ranked_by_score_with_role_and_ceiling_filters() -> None:
    view = ScoreView()
    for n, (score, roles) in enumerate([(70, ()), (20, ("donor",)), (45, ("donor", "volunteer")), (35, ())]):
        view.apply(f"c-{n}".encode(), published(f"c-{n}", score, roles))
    view.apply(b"c-0", published("c-0", 10))  # re-scored: must move in the index, not appear twice

    def ids(**query: Any) -> list[str]:
        options = {"ascending": True, "role": None, "max_score": None, "limit": 10, **query}
        return [state["constituent_id"] for state in view.ranked(**options)]

    assert ids() == ["c-0", "c-1", "c-3", "c-2"]
    assert ids(ascending=False, limit=2) == ["c-2", "c-3"]
    assert ids(role="donor") == ["c-1", "c-2"]
    assert ids(max_score=35) == ["c-0", "c-1", "c-3"]
    assert ids(role="nobody") == []


def test_the_histogram_counts_each_score_once() -> None:
    view = ScoreView()
    for n, score in enumerate([0, 9.99, 10, 55, 100]):
        view.apply(f"c-{n}".encode(), published(f"c-{n}", score))
    edges = [float(e) for e in range(0, 101, 10)]
    assert view.histogram(edges) == [2, 1, 0, 0, 0, 1, 0, 0, 0, 1]


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
