"""A scorer batch: states read once per constituent, duplicates dropped, alerts raised, garbage kept."""

from pathlib import Path

import orjson

from services.domain.scoring import ConstituentState, Outcome, ScoringModel
from services.scorer.processing import process_batch, score_record

MODEL = ScoringModel.from_toml(
    (Path(__file__).resolve().parents[2] / "deploy" / "config" / "scoring.toml").read_text()
)


def record(event_id: str, event_type: str, constituent: str = "c-1", **attributes: object) -> bytes:
    event = {
        "event_id": event_id,
        "source": event_type.split(".")[0],
        "type": event_type,
        "occurred_at": "2026-11-25T14:03:00Z",
        "constituent_id": constituent,
        "attributes": attributes,
    }
    return orjson.dumps(event)


def test_each_constituent_is_loaded_once_and_changed_once_per_batch() -> None:
    loads: list[str] = []

    def load(constituent_id: str) -> ConstituentState | None:
        loads.append(constituent_id)
        return None

    batch = [
        record("e1", "web.page_view"),
        record("e2", "email.opened"),
        record("e3", "web.page_view", "c-2"),
    ]
    result = process_batch(batch, load, MODEL)
    assert loads == ["c-1", "c-2"]
    assert sorted(result.changed) == ["c-1", "c-2"]
    assert result.changed["c-1"].events == 2


def test_a_duplicate_in_the_batch_or_in_the_table_is_dropped() -> None:
    stored = ConstituentState(constituent_id="c-1", recent_event_ids=["e0"], events=1)
    result = process_batch(
        [record("e0", "web.page_view"), record("e1", "web.page_view"), record("e1", "web.page_view")],
        lambda _: stored,
        MODEL,
    )
    assert result.changed["c-1"].events == 2
    assert result.outcomes[("web", "web.page_view", Outcome.DUPLICATE)] == 2


def test_a_failed_donation_raises_one_alert_with_its_evidence() -> None:
    result = process_batch(
        [record("e1", "donation.failed", amount=50, recurring=True)], lambda _: None, MODEL
    )
    [alert] = result.alerts
    assert alert["kind"] == "transaction.failed"
    assert alert["severity"] == "critical"  # a recurring gift
    assert alert["constituent_id"] == "c-1"
    assert alert["evidence"] == ["e1"]
    assert alert["status"] == "open"


def test_the_same_failure_replayed_gives_the_same_alert_id() -> None:
    first = process_batch([record("e1", "donation.failed")], lambda _: None, MODEL).alerts[0]
    again = process_batch([record("e1", "donation.failed")], lambda _: None, MODEL).alerts[0]
    assert first["alert_id"] == again["alert_id"]


def test_records_that_are_not_touchpoints_become_dead_letters_with_a_reason() -> None:
    result = process_batch([b"{oops", b"[]", orjson.dumps({"event_id": "e1"})], lambda _: None, MODEL)
    assert [d.reason.split(":")[0] for d in result.dead_letters] == [
        "not JSON",
        "not a JSON object",
        "missing or not text",
    ]
    assert not result.changed


def test_the_published_record_carries_scores_but_not_the_dedup_memory() -> None:
    result = process_batch([record("e1", "donation.failed")], lambda _: None, MODEL)
    published = score_record(result.changed["c-1"], MODEL)
    assert "recent_event_ids" not in published
    assert published["scores"]["operations"] < MODEL.baseline
