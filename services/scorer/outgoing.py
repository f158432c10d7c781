"""What a processed batch sends: table writes and the records for the scores, alerts, spike counts and
dead-letter topics. Pure: the Faust agent writes the stores and publishes what this returns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from services.common.kafka import Record
from services.domain.alerts import recovery
from services.domain.alerts.handoffs import next_deadline
from services.domain.alerts.model import Alert
from services.domain.dead_letters import dead_letter
from services.domain.readings import score_record
from services.domain.scoring import ConstituentState
from services.domain.scoring_model import ScoringModel
from services.domain.state_bounds import trim
from services.scorer.processing import BatchResult

SOURCE_PREFIX = b"source:"  # spike-count records of a source key's volume (domain/alerts/sources.py)


@dataclass(frozen=True, slots=True)
class Topics:
    """Where the scorer publishes."""

    scores: str
    alerts: str
    spike_counts: str
    dead_letters: str
    report_deltas: str = ""  # none sent when empty


@dataclass(slots=True)
class Publishing:
    """The topics a worker publishes to now: the shared alerts and dead-letters topics while its version is
    the live one, its own (``shadow``) otherwise — a rebuilding or superseded version's alerts reach no one
    (services/domain/versions.py)."""

    shared: Topics
    shadow: Topics
    live: bool

    @property
    def topics(self) -> Topics:
        return self.shared if self.live else self.shadow


@dataclass(frozen=True, slots=True)
class StoreWrite:
    """A key to write in a table's store (None: delete it), in the partition its state lives in."""

    key: bytes
    value: bytes | None
    partition: int


@dataclass(slots=True)
class Outgoing:
    states: list[StoreWrite] = field(default_factory=list)  # constituent-state table
    deadlines: list[StoreWrite] = field(default_factory=list)  # handoff-deadlines table: changes only
    records: list[Record] = field(default_factory=list)  # scores, alerts, spike counts, dead letters
    trimmed: Counter[str] = field(default_factory=Counter)  # what state_bounds.trim removed, by kind
    refused: int = 0  # records too large for the broker, dead-lettered instead


MAX_RECORD_BYTES = 900 * 1024  # under the broker's default message limit (1 MiB) with room for headers


def alert_record(alert: Alert, topic: str) -> Record:
    return Record(topic, alert["alert_id"].encode(), orjson.dumps(alert))


def deadline_entry(state: ConstituentState, partition: int) -> bytes | None:
    """What the deadline timer reads for a constituent owed a hand-off or with a recovery case open: the
    earliest deadline, the partition to send its tick to, and the pending hand-offs by rule (a gauge).
    None: owed nothing."""
    deadlines = [d for d in (next_deadline(state.handoffs), recovery.next_deadline(state.recovery)) if d]
    if not deadlines:
        return None
    deadline = min(deadlines)
    owed = Counter(h["rule"] for h in state.handoffs if h["status"] == "pending")
    return orjson.dumps({"deadline": deadline, "partition": partition, "rules": owed})


def outgoing(
    result: BatchResult,
    topics: Topics,
    model: ScoringModel,
    now: float,
    stored_deadline: Callable[[bytes, int], bytes | None],
    max_state_bytes: int = 64 * 1024,
) -> Outgoing:
    """Everything ``result`` changes: each changed state (trimmed to ``max_state_bytes`` by
    state_bounds' rule) and its score record; its deadline entry when it differs from
    ``stored_deadline(key, partition)``; every alert, partial spike count and dead letter. A record the
    broker would refuse for its size is dead-lettered with its reason, not sent (and retried) forever."""
    out = Outgoing()
    changed = result.changed.keys() | {encoded.constituent_id for encoded in result.encoded}
    for constituent_id in result.erased - changed:  # erased, nothing new since: all goes
        key, partition = constituent_id.encode(), result.partitions[constituent_id]
        out.states.append(StoreWrite(key, None, partition))
        out.records.append(Record(topics.scores, key, None))  # a tombstone: compaction removes the person
        if stored_deadline(key, partition) is not None:
            out.deadlines.append(StoreWrite(key, None, partition))
    for constituent_id, state in result.changed.items():
        key = constituent_id.encode()
        partition = result.partitions[constituent_id]
        encoded = orjson.dumps(state.to_dict())
        if len(encoded) > max_state_bytes:
            out.trimmed += trim(state, max_state_bytes)
            encoded = orjson.dumps(state.to_dict())
        out.states.append(StoreWrite(key, encoded, partition))
        out.records.append(Record(topics.scores, key, orjson.dumps(score_record(state, model, now))))
        wanted = deadline_entry(state, partition)
        if stored_deadline(key, partition) != wanted:
            out.deadlines.append(StoreWrite(key, wanted, partition))
    for made in result.encoded:  # from the compiled core: state, score record and deadline made there
        key = made.constituent_id.encode()
        out.states.append(StoreWrite(key, made.state, made.partition))
        out.records.append(Record(topics.scores, key, made.score_record))
        if stored_deadline(key, made.partition) != made.deadline:
            out.deadlines.append(StoreWrite(key, made.deadline, made.partition))
    out.records += [alert_record(alert, topics.alerts) for alert, _ in result.alerts]
    for (rule_index, spike_key, bucket), counted in result.spike_counts.items():
        counts = {
            "rule": rule_index,
            "bucket": bucket,
            "attempts": counted.attempts,
            "failures": counted.failures,
            "evidence": counted.evidence,
        }
        out.records.append(Record(topics.spike_counts, spike_key.encode(), orjson.dumps(counts)))
    for source_key, buckets in result.source_counts.items():
        accepted = {"accepted": {str(bucket): count for bucket, count in buckets.items()}}
        out.records.append(
            Record(topics.spike_counts, SOURCE_PREFIX + source_key.encode(), orjson.dumps(accepted))
        )
    if topics.report_deltas:
        for window, increments in result.report.items():
            out.records.append(Record(topics.report_deltas, window.encode(), orjson.dumps(increments)))
    for dead in result.dead_letters:
        letter = dead_letter(
            source="touchpoints",
            reason_code=dead.code,
            reason=dead.reason,
            raw=dead.raw,
            service="scorer",
            at=now,
        )
        out.records.append(Record(topics.dead_letters, None, orjson.dumps(letter)))
    _refuse_oversized(out, topics, now)
    return out


def _refuse_oversized(out: Outgoing, topics: Topics, now: float) -> None:
    """Replace every record over MAX_RECORD_BYTES with a dead letter saying which and how large."""
    kept = []
    for record in out.records:
        if record.value is None or len(record.value) <= MAX_RECORD_BYTES:
            kept.append(record)
            continue
        out.refused += 1
        reason = f"a {record.topic} record of {len(record.value)} bytes, over {MAX_RECORD_BYTES}: not sent"
        letter = dead_letter(
            source="touchpoints", reason_code="too_large", reason=reason, raw=b"", service="scorer", at=now
        )
        kept.append(Record(topics.dead_letters, None, orjson.dumps(letter)))
    out.records = kept
