"""What every ingest route shares: Kafka (touchpoints, dead letters, identity links) and identities."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse
from prometheus_client import Counter, Histogram

from services.common.follower import TopicFollower
from services.common.kafka import KafkaUnavailable, Record, ReliableProducer, records_by_partition
from services.domain.dead_letters import ReasonCode, dead_letter
from services.domain.events import metric_labels, validation_error
from services.domain.identity import IdentityMap
from services.ingest.adapters import Mapped
from services.ingest.settings import IngestSettings

log = logging.getLogger(__name__)

EVENTS_ACCEPTED = Counter(
    "mp_ingest_events_accepted_total", "Events written to Kafka, by source and type.", ["source", "type"]
)
EVENTS_REJECTED = Counter(
    "mp_ingest_events_rejected_total", "Events refused as invalid, by source and type.", ["source", "type"]
)
DEAD_LETTERS = Counter(
    "mp_ingest_dead_letters_total",
    "Refused input written to the dead-letter topic, by reason.",
    ["reason_code"],
)
PRODUCE_DURATION = Histogram(
    "mp_ingest_produce_duration_seconds",
    "Time from handing a request's records to Kafka until all were acknowledged.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
KAFKA_UNAVAILABLE = Counter("mp_ingest_kafka_unavailable_total", "Requests answered 503: Kafka did not ack.")


@dataclass
class Outcome:
    """What became of one request's input."""

    accepted: list[dict[str, Any]] = field(default_factory=list)
    dead: list[dict[str, Any]] = field(default_factory=list)  # dead-letter envelopes
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (index, reason) for the caller

    def refuse(self, index: int, source: str, code: ReasonCode, reason: str, raw: bytes) -> None:
        self.rejected.append((index, reason))
        self.dead.append(
            dead_letter(
                source=source, reason_code=code, reason=reason, raw=raw, service="ingest", at=time.time()
            )
        )


class IngestContext:
    def __init__(self, settings: IngestSettings, identities: IdentityMap) -> None:
        self.settings = settings
        self.identities = identities
        self.producer = ReliableProducer(settings, timeout_s=settings.ingest_produce_timeout_s)
        self.identity_links = TopicFollower(settings, "ingest", {settings.topic_identities: self._apply_link})

    def _apply_link(self, record: Any) -> None:
        key = record.key.decode()
        if record.value is None:
            self.identities.links.pop(key, None)
        else:
            self.identities.links[key] = orjson.loads(record.value)["constituent_id"]

    async def read_body(self, request: Request, source: str = "api") -> bytes | JSONResponse:
        """The body, or a 413 (kept as a dead letter with the body's beginning) when it is too large."""
        limit = self.settings.ingest_max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await self.refuse_whole(
                source, "too_large", 413, f"body of {declared} bytes, at most {limit}", b""
            )
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return await self.refuse_whole(
                    source, "too_large", 413, f"body larger than {limit} bytes", bytes(body)
                )
        return bytes(body)

    def check_events(self, candidates: Iterable[object], source: str, outcome: Outcome) -> None:
        """Validate candidate touchpoints; valid ones are accepted, the rest refused with their reason."""
        for index, candidate in enumerate(candidates):
            problem = validation_error(candidate)
            if problem is None:
                assert isinstance(candidate, dict)
                outcome.accepted.append(candidate)
            else:
                outcome.refuse(index, source, "schema", problem, orjson.dumps(candidate))
            counter = EVENTS_ACCEPTED if problem is None else EVENTS_REJECTED
            counter.labels(*metric_labels(candidate)).inc()

    def resolve(self, mapped: list[Mapped], source: str, outcome: Outcome) -> None:
        """Give each provider event its constituent, then validate it like any touchpoint."""
        resolved = []
        for index, one in enumerate(mapped):
            constituent_id = self.identities.resolve(one.identifiers)
            if constituent_id is None:
                outcome.refuse(
                    index, source, "unmapped", "no identifier names the constituent", orjson.dumps(one.event)
                )
            else:
                resolved.append({**one.event, "constituent_id": constituent_id})
        self.check_events(resolved, source, outcome)

    async def commit(self, outcome: Outcome) -> JSONResponse | None:
        """Write accepted events and dead letters; a 503 response when Kafka did not acknowledge them."""
        if not outcome.accepted and not outcome.dead:
            return None
        started = time.perf_counter()
        try:
            records = await self.touchpoint_records(outcome.accepted)
            records += [
                Record(self.settings.topic_dead_letters, None, orjson.dumps(letter))
                for letter in outcome.dead
            ]
            await self.producer.send_all(records)
        except KafkaUnavailable as error:
            if outcome.accepted:
                return self.unavailable(error)
            log.warning("dead letters not written", extra={"count": len(outcome.dead), "error": str(error)})
            return None
        PRODUCE_DURATION.observe(time.perf_counter() - started)
        for letter in outcome.dead:
            DEAD_LETTERS.labels(letter["reason_code"]).inc()
        return None

    async def touchpoint_records(self, events: list[dict[str, Any]]) -> list[Record]:
        """A request's events as few records as possible: those of one partition together, as a JSON array.

        Each constituent's events land in the partition their key would have chosen, so the scorer keeps one
        writer per constituent; per record, Faust's per-message cost is paid once instead of per event.
        """
        topic = self.settings.topic_touchpoints
        if len(events) <= 1:
            return [Record(topic, event["constituent_id"].encode(), orjson.dumps(event)) for event in events]
        keyed = [(event["constituent_id"].encode(), orjson.dumps(event)) for event in events]
        return records_by_partition(topic, keyed, await self.producer.partitions(topic))

    async def refuse_whole(
        self, source: str, code: ReasonCode, status: int, reason: str, raw: bytes
    ) -> JSONResponse:
        """Refuse a request as a whole (unparseable, unverifiable, too large), keeping it as a dead letter."""
        outcome = Outcome()
        outcome.refuse(0, source, code, reason, raw)
        await self.commit(outcome)
        return JSONResponse({"detail": reason}, status_code=status)

    def unavailable(self, error: KafkaUnavailable) -> JSONResponse:
        KAFKA_UNAVAILABLE.inc()
        log.warning("kafka unavailable", extra={"error": str(error)})
        return JSONResponse(
            {"detail": f"Kafka is unavailable, nothing was accepted; retry later ({error})"},
            status_code=503,
            headers={"Retry-After": str(self.settings.ingest_retry_after_s)},
        )

    async def write_links(self, links: dict[str, str]) -> None:
        records = [
            Record(self.settings.topic_identities, key.encode(), orjson.dumps({"constituent_id": target}))
            for key, target in links.items()
        ]
        await self.producer.send_all(records)
