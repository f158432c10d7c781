"""The scorer run by the compiled core (services/scorer/compiled.py) sends what it sends run by the Python
model: for the same batches, the same score records, deadline entries, alerts, spike and source counts,
report increments and dead letters (orjson's words for a record that is not JSON), and states that read
back as the same person; an oversized state trimmed by the documented rule; the choice of core."""

from __future__ import annotations

from collections import Counter
from functools import partial
from typing import Any

import orjson
import pytest
from hypothesis import given, settings

from services.domain.scoring import ConstituentState
from services.scorer import compiled as compiled_module
from services.scorer.compiled import CompiledProcessor, CoreUnavailable, choose, state_from_stored
from services.scorer.outgoing import Outgoing, Topics, outgoing
from services.scorer.processing import BatchProcessor
from services.scorer.records import Incoming
from tests.unit.core.test_batch import PARTITIONS, SHIPPED, TIGHT, batches, iso, partition_of
from tests.unit.core.test_differential import MODEL, START, compiled

TOPICS = Topics("scores", "alerts", "spike-counts", "dead-letters", "report-deltas")


def sent(out: Outgoing) -> dict[str, Any]:
    """What an Outgoing sends, each value read (the core's bytes and JSON as the same person)."""

    def value(topic: str, raw: bytes | None) -> Any:
        if raw is None:
            return None
        letter = orjson.loads(raw)
        if topic == "dead-letters":
            letter.pop("payload", None)  # the event as text: the same event, maybe spaced otherwise
        return letter

    return {
        "states": [
            (w.key, w.partition, w.value and state_from_stored(w.value).to_dict()) for w in out.states
        ],
        "deadlines": [(w.key, w.partition, w.value and orjson.loads(w.value)) for w in out.deadlines],
        "records": [(r.topic, r.key, value(r.topic, r.value)) for r in out.records],
        "trimmed": out.trimmed,
    }


def run_both(stream: list[dict[str, Any]], rules: Any, max_state_bytes: int = 64 * 1024) -> Counter[str]:
    """Both processors over ``stream``; what the trimming rule removed."""
    core = compiled()
    python = BatchProcessor(MODEL, rules)
    fast = CompiledProcessor(core, MODEL, rules, max_state_bytes)
    stored: tuple[dict[bytes, bytes], dict[bytes, bytes]] = ({}, {})
    deadlines: tuple[dict[bytes, bytes], dict[bytes, bytes]] = ({}, {})
    trimmed: Counter[str] = Counter()
    for batch in stream:
        now = batch["now"]
        for _, who in batch["erase"]:
            for processor in (python, fast):
                processor.erasures.apply({"constituent_id": who, "at": now - 50.0})

        def load_state(who: str, partition: int) -> ConstituentState | None:
            data = stored[0].get(who.encode())
            return None if data is None else state_from_stored(data)

        results = (
            python.process(
                batch["records"],
                load_state,
                now,
                batch["due"],
                PARTITIONS,
                batch["erase"],
            ),
            fast.process(
                batch["records"],
                lambda who, _: stored[1].get(who.encode()),
                now,
                batch["due"],
                PARTITIONS,
                batch["erase"],
            ),
        )
        outs = [
            outgoing(result, TOPICS, MODEL, now, partial(stored_deadline, deadlines[n]), max_state_bytes)
            for n, result in enumerate(results)
        ]
        want, got = sent(outs[0]), sent(outs[1])
        assert sorted(got["states"], key=repr) == sorted(want["states"], key=repr)
        assert sorted(got["deadlines"], key=repr) == sorted(want["deadlines"], key=repr)
        assert sorted(got["records"], key=repr) == sorted(want["records"], key=repr)
        assert got["trimmed"] == want["trimmed"]
        trimmed += got["trimmed"]
        for n, out in enumerate(outs):
            write_all(stored[n], out.states)
            write_all(deadlines[n], out.deadlines)
    return trimmed


def stored_deadline(store: dict[bytes, bytes], key: bytes, partition: int) -> bytes | None:
    return store.get(key)


def write_all(store: dict[bytes, bytes], writes: list[Any]) -> None:
    for write in writes:
        if write.value is None:
            store.pop(write.key, None)
        else:
            store[write.key] = write.value


@settings(max_examples=60, deadline=None)
@given(batches())
def test_the_compiled_core_sends_what_the_python_model_sends(stream: list[dict[str, Any]]) -> None:
    run_both(stream, SHIPPED)


@settings(max_examples=30, deadline=None)
@given(batches())
def test_the_same_with_a_storm_budget_of_one(stream: list[dict[str, Any]]) -> None:
    run_both(stream, TIGHT)


def test_a_state_over_the_limit_is_trimmed_by_the_documented_rule_and_stored_as_json() -> None:
    """A person with events in many hours: over 4 KiB of JSON, trimmed the same way, then read again."""
    records = []
    for hour in range(60):
        event = {
            "event_id": f"e-{hour}",
            "source": "web",
            "type": "web.page_view",
            "occurred_at": iso(START + hour * 3600, False),
            "constituent_id": "p-1",
        }
        records.append(Incoming(partition_of("p-1"), b"p-1", orjson.dumps(event), START + hour * 3600))
    later = [{"now": START + 61 * 3600, "records": records[:30], "erase": [], "due": []}]
    later.append({"now": START + 62 * 3600, "records": records[30:], "erase": [], "due": []})
    assert run_both(later, SHIPPED, max_state_bytes=4096)["hourly_buckets"] > 0


def test_the_core_is_chosen_where_it_is_installed_and_required_when_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert choose("python") is None
    assert choose("auto") is compiled()
    monkeypatch.setattr(compiled_module, "compiled_core", lambda: None)
    assert choose("auto") is None
    with pytest.raises(CoreUnavailable, match="make core"):
        choose("compiled")
    with pytest.raises(CoreUnavailable, match="written by the compiled core"):
        state_from_stored(b"\x01\x00")


def test_what_the_loader_raises_comes_out_as_it_was_and_an_unreadable_state_is_named() -> None:
    fast = CompiledProcessor(compiled(), MODEL, SHIPPED)
    event = {
        "event_id": "e-1",
        "source": "web",
        "type": "web.page_view",
        "occurred_at": iso(START, False),
        "constituent_id": "p-1",
    }
    records = [Incoming(partition_of("p-1"), b"p-1", orjson.dumps(event), START)]

    def broken_store(constituent_id: str, partition: int) -> bytes | None:
        raise KeyError("the store is gone")

    with pytest.raises(KeyError, match="the store is gone"):
        fast.process(records, broken_store, START + 1)
    with pytest.raises(ValueError, match="state layout version"):
        fast.process(records, lambda *_: b"\x09garbage", START + 1)


def test_a_large_state_well_under_the_limit_as_json_stays_the_core_s_bytes() -> None:
    """Only a state near the limit as JSON goes back through the Python model: one of 60 hourly buckets
    (over a thirty-second of a 16 KiB limit in bytes, ~5 KiB as JSON) is folded, stored and published by
    the core alone."""
    processor = CompiledProcessor(compiled(), MODEL, SHIPPED, max_state_bytes=16 * 1024)
    store: dict[str, bytes] = {}
    for hour in range(60):
        event = {
            "event_id": f"e-{hour}",
            "source": "web",
            "type": "web.page_view",
            "occurred_at": iso(START + hour * 3600, False),
            "constituent_id": "p-1",
        }
        record = Incoming(partition_of("p-1"), b"p-1", orjson.dumps(event), START + hour * 3600)
        result = processor.process([record], lambda who, partition: store.get(who), START + hour * 3600 + 1)
        assert not result.changed and [made.constituent_id for made in result.encoded] == ["p-1"]
        store["p-1"] = result.encoded[0].state
    as_json = len(orjson.dumps(state_from_stored(store["p-1"]).to_dict()))
    assert len(store["p-1"]) * 32 > 16 * 1024 and as_json < 16 * 1024 - 1024
