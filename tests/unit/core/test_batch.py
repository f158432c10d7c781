"""The compiled batch processor (services/fold_core/src/batch.rs, `mission_pulse_core.Worker`) against its
specification, `BatchProcessor.process` of services/scorer/processing.py: the same batches of raw records —
keyed and unkeyed, arrays, records that are not JSON (or not UTF-8 in a field nobody reads), events
without fields or with a field repeated, in the wrong partition, dated unusually or in the future,
duplicates, erasures and events written before them, deadline ticks, idle partitions whose watermark
follows the clock, a storm budget of one — give the same changed people (the same state, to the float,
each stored as the core's bytes and read back by the next batch), the same alerts routed to the
character, dead letters, outcomes, spike and source counts, recoveries and report increments; with the
shipped rules and with rules that reach the corners."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.config_files import load_alert_rules
from services.common.murmur2 import partition_for
from services.common.settings import CommonSettings
from services.domain.alerts.rules import AlertRules
from services.domain.events import occurred_at_epoch
from services.domain.readings import score_record
from services.domain.scoring import ConstituentState
from services.scorer.outgoing import deadline_entry
from services.scorer.processing import BatchProcessor
from services.scorer.records import Incoming
from tests.unit.core.test_differential import MODEL, SCORING_FIELDS, START, compiled

SHIPPED = load_alert_rules(CommonSettings().alerts_config)
TIGHT = SHIPPED.model_copy(
    update={"storm": SHIPPED.storm.model_copy(update={"max_constituent_alerts_per_partition_minute": 1})}
)
PARTITIONS = 3
PEOPLE = ["p-1", "p-2", "p-3", "p-4"]
KINDS = [
    ("donation.succeeded", "donation", {"amount": 30, "processor": "stripe"}),
    ("donation.succeeded", "donation", {"amount": 600, "recurring": True, "subscription": "s1"}),
    ("donation.failed", "donation", {"amount": 25, "processor": "stripe", "error_code": "card_declined"}),
    ("donation.failed", "donation", {"amount": 900, "recurring": True, "subscription": "s1"}),
    ("donation.failed", "donation", {"processor": "paypal"}),
    ("email.sent", "email", {"template": "receipt"}),
    ("email.sent", "email", {"template": "payment_recovery", "provider": "sendgrid"}),
    ("email.delivered", "email", {"template": "payment_recovery"}),
    ("email.bounced", "email", {"template": "receipt"}),
    ("web.form_submitted", "web", {"form": "volunteer_signup"}),
    ("web.form_submitted", "web", {"form": "payment_method_updated"}),
    ("event.registered", "events", {}),
    ("web.page_view", "web", {}),
    ("web.error", "web", {}),
]
# seconds after the batch's clock an event is dated: recent, minutes and days back, late, in the future
AGES = st.sampled_from([0.0, 1.0, 30.0, 61.0, 600.0, 3600.0, 2 * 86400.0, 9 * 86400.0, -400.0, -5.0])


def iso(epoch: float, zulu: bool) -> str:
    text = datetime.fromtimestamp(epoch, UTC).isoformat()
    return text.replace("+00:00", "Z") if zulu else text


@st.composite
def events(draw: Any, now: float) -> dict[str, Any]:
    kind, source, attributes = draw(st.sampled_from(KINDS))
    at = now - draw(AGES) - draw(st.sampled_from([0.0, 0.25, 0.000001]))
    occurred = draw(
        st.sampled_from([iso(at, False), iso(at, True)])
        | st.sampled_from(["2026-01-01 00:00:00+00:00", "2026-01-01T00:00:00+05:30", "not a time"])
    )
    event = {
        "event_id": f"e-{draw(st.integers(0, 30))}",
        "source": source,
        "type": kind,
        "occurred_at": occurred,
        "constituent_id": draw(st.sampled_from(PEOPLE)),
        "attributes": attributes,
    }
    if draw(st.integers(0, 15)) == 0:  # what other producers may send
        event = draw(
            st.sampled_from(
                [
                    {k: v for k, v in event.items() if k != "source"},
                    {**event, "attributes": ["not", "an", "object"]},
                    {**event, "event_id": 7},
                    {**event, "occurred_at": None},
                    {**event, "constituent_id": None},
                ]
            )
        )
    return event


def partition_of(constituent_id: str) -> int:
    return partition_for(constituent_id.encode(), PARTITIONS)


@st.composite
def batches(draw: Any) -> list[dict[str, Any]]:
    out = []
    now = START
    for _ in range(draw(st.integers(1, 5))):
        now += draw(st.sampled_from([1.0, 60.0, 700.0, 3 * 3600.0, 3 * 86400.0]))
        records: list[Incoming] = []
        for _ in range(draw(st.integers(0, 12))):
            shape = draw(st.integers(0, 9))
            written = now - draw(st.sampled_from([0.0, 5.0, 100.0]))
            if shape == 0:
                records.append(Incoming(draw(st.integers(0, 2)), None, b'{"not json', written))
            elif shape <= 3:  # an unkeyed array, maybe holding someone of another partition
                group = [draw(events(now)) for _ in range(draw(st.integers(1, 4)))]
                records.append(Incoming(draw(st.integers(0, 2)), None, orjson.dumps(group), written))
            else:
                event = draw(events(now))
                who = event.get("constituent_id", "p-1")
                key = who if draw(st.integers(0, 12)) else "someone-else"
                odd = draw(st.integers(0, 20))
                value = (
                    b"[1, 2]"
                    if odd == 0
                    else orjson.dumps(event)[:-1] + b',"constituent_id":"p-2"}'  # repeated: the last counts
                    if odd == 1
                    else orjson.dumps(event)[:-1] + b',"note":"\xff"}'  # not UTF-8 where nothing reads
                    if odd == 2
                    else orjson.dumps(event)
                )
                records.append(Incoming(partition_of(str(who)), str(key).encode(), value, written))
        erase = [
            (partition_of(who), who)
            for who in draw(st.lists(st.sampled_from(PEOPLE), max_size=1, unique=True))
        ]
        due = [(partition_of(who), who) for who in draw(st.lists(st.sampled_from(PEOPLE), max_size=2))]
        out.append({"now": now, "records": records, "erase": erase, "due": due})
    return out


def python_time(text: str) -> float:
    return occurred_at_epoch({"occurred_at": text})


def plain(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


def raw_of(raw: bytes, code: str) -> Any:
    """A dead letter's record as sent (not JSON) or its event (JSON: the same, however it is spaced)."""
    return raw if code == "unparseable" else orjson.loads(raw)


def nonzero(report: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {w: {k: v for k, v in c.items() if v} for w, c in report.items() if any(c.values())}


def worker_for(core: Any, rules: AlertRules) -> Any:
    return core.Worker(
        MODEL.model_dump_json(), MODEL.fingerprint, MODEL.max_future_seconds, rules.model_dump_json()
    )


def run_both(stream: list[dict[str, Any]], rules: AlertRules) -> None:
    core = compiled()
    python = BatchProcessor(MODEL, rules)
    worker = worker_for(core, rules)
    stored_python: dict[str, bytes] = {}
    stored_core: dict[str, bytes] = {}
    for batch in stream:
        now = batch["now"]
        for _, who in batch["erase"]:
            python.erasures.apply({"constituent_id": who, "at": now - 50.0})
            worker.note_erasure(who, now - 50.0)

        def load(constituent_id: str, partition: int) -> ConstituentState | None:
            stored = stored_python.get(constituent_id)
            return None if stored is None else ConstituentState.from_dict(orjson.loads(stored))

        expected = python.process(batch["records"], load, now, batch["due"], PARTITIONS, batch["erase"])
        got = worker.process(
            [(r.partition, r.key, r.value, r.timestamp) for r in batch["records"]],
            lambda constituent_id, partition: stored_core.get(constituent_id),
            python_time,
            now,
            batch["due"],
            PARTITIONS,
            batch["erase"],
        )
        assert [(who, expected.partitions[who]) for who in expected.changed] == [
            (who, partition) for who, partition, *_ in got["changed"]
        ]
        for (who, state), (_, partition, data, record, deadline, _near) in zip(
            expected.changed.items(), got["changed"], strict=True
        ):
            want = plain(state.to_dict())
            person = core.Constituent.from_bytes(data)
            assert person.json_length_bound() >= len(person.to_json().encode()), who  # src/json_size.rs
            have = orjson.loads(person.to_json())
            assert {f: have[f] for f in SCORING_FIELDS} == {f: want[f] for f in SCORING_FIELDS}, who
            assert orjson.loads(record) == plain(score_record(state, MODEL, now))
            wanted = deadline_entry(state, partition)
            assert (deadline and orjson.loads(deadline)) == (wanted and orjson.loads(wanted))
            stored_python[who] = orjson.dumps(state.to_dict())
            stored_core[who] = data
        for who in expected.erased - expected.changed.keys():
            stored_python.pop(who, None)
            stored_core.pop(who, None)
        assert sorted(expected.erased) == sorted(who for who, _ in got["erased"])
        assert [(plain(a), t) for a, t in expected.alerts] == [(orjson.loads(a), t) for a, t in got["alerts"]]
        assert [
            (raw_of(d.raw, d.code), None if d.code == "unparseable" else d.reason, d.code)
            for d in expected.dead_letters
        ] == [(raw_of(raw, code), reason, code) for raw, reason, code in got["dead_letters"]]
        assert {(s, t, o.value): n for (s, t, o), n in expected.outcomes.items()} == dict(got["outcomes"])
        assert expected.event_times == got["event_times"]
        assert {key: (c.attempts, c.failures, c.evidence) for key, c in expected.spike_counts.items()} == {
            (i, k, b): (a, f, e) for i, k, b, a, f, e in got["spike_counts"]
        }
        assert expected.source_counts == {k: dict(buckets) for k, buckets in got["source_counts"]}
        assert expected.suppressed_alerts == got["suppressed_alerts"]
        assert expected.recoveries_opened == got["recoveries_opened"]
        assert [(c.outcome, c.amount, c.seconds, c.at) for c in expected.recoveries_closed] == got[
            "recoveries_closed"
        ]
        assert nonzero(expected.report) == nonzero({w: dict(c) for w, c in got["report"]})
        idle = rules.time.idle_seconds  # a partition quiet for exactly that long follows the clock
        for partition in range(PARTITIONS):
            for at in (now, now + idle - 0.5, now + idle):
                assert python.watermarks.watermark(partition, at) == worker.watermark(partition, at)


@settings(max_examples=150, deadline=None)
@given(batches())
def test_the_shipped_rules(stream: list[dict[str, Any]]) -> None:
    run_both(stream, SHIPPED)


@settings(max_examples=100, deadline=None)
@given(batches())
def test_a_storm_budget_of_one(stream: list[dict[str, Any]]) -> None:
    run_both(stream, TIGHT)


def test_a_state_the_python_model_wrote_is_read_and_written_back_as_the_core_s_bytes() -> None:
    """A restart onto a changelog of JSON states: each is read, folded on, and stored as the core's bytes."""
    core = compiled()
    worker = worker_for(core, SHIPPED)
    python = BatchProcessor(MODEL, SHIPPED)
    first = {
        "event_id": "e-1",
        "source": "web",
        "type": "web.page_view",
        "occurred_at": iso(START, False),
        "constituent_id": "p-1",
    }
    record = Incoming(partition_of("p-1"), b"p-1", orjson.dumps(first), START)
    state = python.process([record], lambda *_: None, START + 1).changed["p-1"]
    later = {**first, "event_id": "e-2", "occurred_at": iso(START + 60, False)}
    again = Incoming(record.partition, b"p-1", orjson.dumps(later), START + 60)
    stored = orjson.dumps(state.to_dict())
    got = worker.process(
        [(again.partition, again.key, again.value, again.timestamp)],
        lambda *_: stored,
        python_time,
        START + 61,
    )
    expected = python.process(
        [again], lambda *_: ConstituentState.from_dict(orjson.loads(stored)), START + 61
    ).changed["p-1"]
    ((_, _, data, _, _, _),) = got["changed"]
    assert not data.startswith(b"{")
    have = orjson.loads(core.Constituent.from_bytes(data).to_json())
    assert {f: have[f] for f in SCORING_FIELDS} == {f: plain(expected.to_dict())[f] for f in SCORING_FIELDS}
    assert have["events"] == 2


def test_an_unusual_time_is_read_by_python_and_a_bad_one_dead_lettered_in_its_words() -> None:
    core = compiled()
    worker = worker_for(core, SHIPPED)
    base = {"source": "web", "type": "web.page_view", "constituent_id": "p-1"}
    spaced = {**base, "event_id": "e-1", "occurred_at": "2026-01-01 00:00:00+00:00"}
    bad = {**base, "event_id": "e-2", "occurred_at": "soon"}
    value = orjson.dumps([spaced, bad])
    got = worker.process(
        [(partition_of("p-1"), b"p-1", value, START)], lambda *_: None, python_time, START + 1
    )
    assert got["event_times"] == [START]
    ((_, reason, code),) = got["dead_letters"]
    assert reason == f"occurred_at: Invalid isoformat string: {'SOON'!r}" and code == "not_touchpoint"


def test_a_burst_of_failures_counts_five_as_evidence() -> None:
    """Eight failed Stripe payments in one bucket: all counted, five kept as evidence."""
    now = START + 100
    records = []
    for n in range(8):
        who = PEOPLE[n % len(PEOPLE)]
        failed = {
            "event_id": f"f-{n}",
            "source": "donation",
            "type": "donation.failed",
            "occurred_at": iso(now - 3, False),
            "constituent_id": who,
            "attributes": {"amount": 10, "processor": "stripe"},
        }
        records.append(Incoming(partition_of(who), who.encode(), orjson.dumps(failed), now))
    run_both([{"now": now, "records": records, "erase": [], "due": []}], SHIPPED)
