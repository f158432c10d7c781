"""What a processed batch sends: each changed state and its score, deadline entries only when they change,
every alert, partial spike count and dead letter, each on its topic."""

from __future__ import annotations

from typing import Any

import orjson

from services.domain.alerts.rules import AlertRules
from services.domain.readings import score_record
from services.domain.scoring import ConstituentState
from services.domain.scoring_model import ScoringModel
from services.scorer.outgoing import Topics, deadline_entry, outgoing
from services.scorer.processing import BatchProcessor, BatchResult
from services.scorer.records import Incoming

NOW = 1_795_000_000.0
OCCURRED = "2026-11-18T10:00:00Z"
TOPICS = Topics(scores="scores", alerts="alerts", spike_counts="spikes", dead_letters="dlq")


def touchpoint(event_id: str, event_type: str, constituent: str = "c-1", **attributes: Any) -> Incoming:
    event = {
        "event_id": event_id,
        "source": event_type.split(".")[0],
        "type": event_type,
        "occurred_at": OCCURRED,
        "constituent_id": constituent,
        "attributes": attributes,
    }
    return Incoming(3, constituent.encode(), orjson.dumps(event))


def processed(model: ScoringModel, rules: AlertRules, records: list[Incoming]) -> BatchResult:
    return BatchProcessor(model, rules).process(records, lambda *_: None, NOW)


def nothing_stored(key: bytes, partition: int) -> bytes | None:
    return None


def test_each_changed_state_is_written_where_it_lives_with_its_score_record(
    model: ScoringModel, rules: AlertRules
) -> None:
    result = processed(model, rules, [touchpoint("e1", "web.page_view"), touchpoint("e2", "email.opened")])
    out = outgoing(result, TOPICS, model, NOW, nothing_stored)

    [state] = out.states
    assert (state.key, state.partition) == (b"c-1", 3)
    assert state.value is not None
    assert ConstituentState.from_dict(orjson.loads(state.value)).events == 2
    [score] = [record for record in out.records if record.topic == "scores"]
    assert score.key == b"c-1"
    assert score.value == orjson.dumps(score_record(result.changed["c-1"], model, NOW))


def test_a_deadline_entry_is_written_when_a_hand_off_is_owed_and_only_when_it_changes(
    model: ScoringModel, rules: AlertRules
) -> None:
    gift = touchpoint("g1", "donation.succeeded", amount=10, currency="USD")
    result = processed(model, rules, [gift])
    wanted = deadline_entry(result.changed["c-1"], 3)
    assert wanted is not None
    entry = orjson.loads(wanted)
    assert entry["partition"] == 3 and sum(entry["rules"].values()) >= 1

    [written] = outgoing(result, TOPICS, model, NOW, nothing_stored).deadlines
    assert (written.key, written.value, written.partition) == (b"c-1", wanted, 3)
    assert outgoing(result, TOPICS, model, NOW, lambda key, partition: wanted).deadlines == []


def test_a_constituent_owed_nothing_any_more_has_its_deadline_entry_deleted(
    model: ScoringModel, rules: AlertRules
) -> None:
    result = processed(model, rules, [touchpoint("e1", "web.page_view")])
    [deleted] = outgoing(result, TOPICS, model, NOW, lambda key, partition: b"{}").deadlines
    assert (deleted.key, deleted.value, deleted.partition) == (b"c-1", None, 3)


def test_alerts_spike_counts_and_dead_letters_each_go_to_their_topic(
    model: ScoringModel, rules: AlertRules
) -> None:
    failed = touchpoint("f1", "donation.failed", amount=25, currency="USD", processor="stripe")
    garbage = Incoming(3, b"c-9", b"{not json")
    result = processed(model, rules, [failed, garbage])
    out = outgoing(result, TOPICS, model, NOW, nothing_stored)

    by_topic: dict[str, list[Any]] = {}
    for record in out.records:
        by_topic.setdefault(record.topic, []).append(record)
    alerts = [orjson.loads(record.value) for record in by_topic["alerts"]]
    assert [alert["kind"] for alert in alerts] == [alert["kind"] for alert, _ in result.alerts]
    assert [record.key for record in by_topic["alerts"]] == [alert["alert_id"].encode() for alert in alerts]
    spikes = [record for record in by_topic["spikes"] if not record.key.startswith(b"source:")]
    counts = [orjson.loads(record.value) for record in spikes]
    assert sum(count["failures"] for count in counts) == 1 and counts[0]["evidence"] == ["f1"]
    assert {record.key for record in spikes} == {b"donation/stripe"}  # per processor
    volumes = {r.key: orjson.loads(r.value) for r in by_topic["spikes"] if r.key.startswith(b"source:")}
    assert list(volumes) == [b"source:donation/stripe"]  # a watched source key (alerts.toml [[silence]])
    assert sum(volumes[b"source:donation/stripe"]["accepted"].values()) == 1
    [letter] = [orjson.loads(record.value) for record in by_topic["dlq"]]
    assert (letter["service"], letter["reason_code"]) == ("scorer", "unparseable")
    assert (letter["payload"], letter["payload_bytes"]) == ("", 9)  # not JSON: only its hash and size kept


def dated(event_id: str, occurred_at: str) -> Incoming:
    record = touchpoint(event_id, "web.page_view")
    return Incoming(
        record.partition, record.key, orjson.dumps({**orjson.loads(record.value), "occurred_at": occurred_at})
    )


def test_a_state_over_its_byte_limit_is_trimmed_before_it_is_written_or_scored(
    model: ScoringModel, rules: AlertRules
) -> None:
    hours = [f"2026-11-{1 + n // 24:02d}T{n % 24:02d}:00:00Z" for n in range(24 * 17)]  # 408 hours
    result = processed(model, rules, [dated(f"e{n}", hour) for n, hour in enumerate(hours)])
    out = outgoing(result, TOPICS, model, NOW, nothing_stored, max_state_bytes=8 * 1024)
    [state] = out.states
    assert state.value is not None and len(state.value) <= 8 * 1024
    assert out.trimmed["hourly_buckets"] > 0


def test_a_record_too_large_for_the_broker_is_dead_lettered_not_sent(
    model: ScoringModel, rules: AlertRules, monkeypatch: Any
) -> None:
    from services.scorer import outgoing as module

    monkeypatch.setattr(module, "MAX_RECORD_BYTES", 100)  # any score record is larger
    result = processed(model, rules, [touchpoint("e1", "web.page_view")])
    out = outgoing(result, TOPICS, model, NOW, nothing_stored)
    assert [record.topic for record in out.records] == ["dlq", "spikes"] and out.refused == 1
    assert out.records[1].key == b"source:web"  # its volume, for source.silent: small enough to send
    letter = orjson.loads(out.records[0].value or b"")
    assert letter["reason_code"] == "too_large" and "a scores record of" in letter["reason"]
