"""Where a request becomes Kafka records: read the body, validate, resolve identities, write, or refuse.

Every route (``/v1/events``, the webhooks, the beacon, ``/v1/identify``) goes through one
``IngestPipeline``. Refusing a whole request raises ``Refused``, and Kafka not acknowledging raises
``KafkaUnavailable``; the app turns them into answers (``install_error_answers``): the refused input is
kept as a dead letter, and a 503 carries ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import Counter, Histogram

from services.common.kafka import KafkaUnavailable, ReliableProducer
from services.domain.dead_letters import MAX_PAYLOAD_BYTES, DeadLetterBudget, ReasonCode, dead_letter
from services.domain.events import metric_labels, validation_error
from services.domain.identity import IdentityMap
from services.domain.redaction import EmailKey
from services.ingest.adapters import Mapped
from services.ingest.identity_links import IdentityLinks
from services.ingest.records import (
    dead_letter_records,
    identity_link_records,
    tombstone_records,
    touchpoint_records,
)
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
EVENTS_SUPPRESSED = Counter(
    "mp_ingest_events_suppressed_total",
    "Events dropped because they resolve to a constituent erased and suppressed on request, by source.",
    ["source"],
)
DEAD_LETTERS_OVER_BUDGET = Counter(
    "mp_ingest_dead_letters_over_budget_total",
    "Dead letters not written: their caller (key or provider) spent its budget for the minute; by source.",
    ["source"],
)
DEAD_LETTERS_UNWRITTEN = Counter(
    "mp_ingest_dead_letters_unwritten_total",
    "Dead letters not written because Kafka did not acknowledge them (the caller was answered its 4xx: "
    "nothing it sent was accepted); by source.",
    ["source"],
)


class Refused(Exception):
    """A whole request refused (unparseable, unverifiable, too large): answered ``status`` with ``reason``
    and kept as a dead letter with its raw body (``size``: the body's, when ``raw`` is its beginning)."""

    def __init__(
        self, source: str, code: ReasonCode, status: int, reason: str, raw: bytes, size: int | None = None
    ) -> None:
        super().__init__(reason)
        self.source, self.code, self.status, self.reason, self.raw = source, code, status, reason, raw
        self.size = size
        self.caller = source  # whose dead-letter budget it spends: the provider, or (set by a route) the key


@dataclass
class Outcome:
    """What became of one request's input; ``email_key`` keys the addresses in its dead letters."""

    email_key: EmailKey | None = None
    caller: str = "-"  # the key's name, or the provider: whose dead-letter budget it spends
    accepted: list[dict[str, Any]] = field(default_factory=list)
    dead: list[dict[str, Any]] = field(default_factory=list)  # dead-letter envelopes
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (index, reason) for the caller

    def refuse(
        self, index: int, source: str, code: ReasonCode, reason: str, raw: bytes, size: int | None = None
    ) -> None:
        self.rejected.append((index, reason))
        letter = dead_letter(
            source=source,
            reason_code=code,
            reason=reason,
            raw=raw,
            service="ingest",
            at=time.time(),
            size=size,
            email_key=self.email_key,
        )
        self.dead.append(letter)


class IngestPipeline:
    def __init__(self, settings: IngestSettings, identities: IdentityMap) -> None:
        self.settings = settings
        self.identities = identities
        self.producer = ReliableProducer(settings, timeout_s=settings.ingest_produce_timeout_s)
        self.budget = DeadLetterBudget(settings.ingest_dead_letters_per_minute)
        self.links = IdentityLinks(settings, identities)

    def new_outcome(self, caller: str) -> Outcome:
        """An empty outcome for ``caller`` (a key's name, or a provider) whose dead letters key email
        addresses as identity resolution does."""
        keys = self.identities.keys
        return Outcome(email_key=lambda address: keys.key("email", address), caller=caller)

    async def read_body(self, request: Request, source: str = "api") -> bytes:
        """The body; Refused (413, kept with the body's beginning, at most what a dead letter keeps) when it
        is too large — whether its Content-Length says so or it turns out to be."""
        limit = self.settings.ingest_max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            beginning = bytearray()
            async for chunk in request.stream():
                beginning += chunk
                if len(beginning) >= MAX_PAYLOAD_BYTES:
                    break
            reason = f"body of {declared} bytes, at most {limit}"
            raise Refused(
                source, "too_large", 413, reason, bytes(beginning[:MAX_PAYLOAD_BYTES]), int(declared)
            )
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise Refused(source, "too_large", 413, f"body larger than {limit} bytes", bytes(body))
        return bytes(body)

    def check_events(self, candidates: Iterable[object], source: str, outcome: Outcome) -> None:
        """Validate candidate touchpoints; valid ones are accepted, the rest refused with their reason."""
        for index, candidate in enumerate(candidates):
            problem = validation_error(candidate)
            if problem is None and isinstance(candidate, dict):  # valid means a JSON object
                if self.links.suppressed(candidate["constituent_id"]):  # erased and suppressed: dropped
                    EVENTS_SUPPRESSED.labels(source).inc()
                    continue
                # RFC 3339 allows a lower-case "t" and "z"; everything downstream reads the upper-case form
                candidate["occurred_at"] = candidate["occurred_at"].upper()
                outcome.accepted.append(candidate)
            else:
                reason = problem or "event: not a JSON object"
                outcome.refuse(index, source, "schema", reason, orjson.dumps(candidate))
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

    async def commit(self, outcome: Outcome) -> None:
        """Write accepted events and dead letters; KafkaUnavailable when Kafka did not acknowledge the
        accepted events (dead letters alone that could not be written are logged, not answered 503)."""
        outcome.dead = self._within_budget(outcome)
        if not outcome.accepted and not outcome.dead:
            return
        settings = self.settings
        started = time.perf_counter()
        try:
            # a single event is one keyed record: no need to know the partitions
            many = len(outcome.accepted) > 1
            partitions = await self.producer.partitions(settings.topic_touchpoints) if many else 1
            records = touchpoint_records(settings.topic_touchpoints, outcome.accepted, partitions)
            records += dead_letter_records(settings.topic_dead_letters, outcome.dead)
            await self.producer.send_all(records)
        except KafkaUnavailable as error:
            if outcome.accepted:
                raise
            log.warning("dead letters not written", extra={"count": len(outcome.dead), "error": str(error)})
            for letter in outcome.dead:
                DEAD_LETTERS_UNWRITTEN.labels(letter["source"]).inc()
            return
        PRODUCE_DURATION.observe(time.perf_counter() - started)
        for letter in outcome.dead:
            DEAD_LETTERS.labels(letter["reason_code"]).inc()

    def _within_budget(self, outcome: Outcome) -> list[dict[str, Any]]:
        """The dead letters the caller's budget allows (the rest counted), the first over it as a sample."""
        kept, now = [], time.time()
        for letter in outcome.dead:
            verdict = self.budget.admit(letter["source"], outcome.caller, now)
            if verdict == "drop":
                DEAD_LETTERS_OVER_BUDGET.labels(letter["source"]).inc()
            else:
                kept.append({**letter, "over_budget": True} if verdict == "sample" else letter)
        return kept

    async def write_links(self, links: dict[str, str]) -> None:
        await self.producer.send_all(identity_link_records(self.settings.topic_identities, links))

    async def forget_erased_links(self, every_s: float = 1.0) -> None:
        """Write the tombstones of the links erasures removed (runs for the service's lifetime)."""
        while True:
            keys = self.links.take_tombstones()
            if keys:
                try:
                    await self.producer.send_all(tombstone_records(self.settings.topic_identities, keys))
                except KafkaUnavailable:
                    log.warning("could not forget erased links yet; will retry", extra={"links": len(keys)})
                    self.links.requeue(keys)
            await asyncio.sleep(every_s)


def install_error_answers(app: FastAPI, pipeline: IngestPipeline) -> None:
    """Refused → its status with the reason (the input kept as a dead letter); KafkaUnavailable → 503."""

    async def refused(_: Request, error: Exception) -> JSONResponse:
        if not isinstance(error, Refused):
            raise error
        outcome = pipeline.new_outcome(error.caller)
        outcome.refuse(0, error.source, error.code, error.reason, error.raw, error.size)
        await pipeline.commit(outcome)
        return JSONResponse({"detail": error.reason}, status_code=error.status)

    async def unavailable(_: Request, error: Exception) -> JSONResponse:
        KAFKA_UNAVAILABLE.inc()
        log.warning("kafka unavailable", extra={"error": str(error)})
        return JSONResponse(
            {"detail": f"Kafka is unavailable, nothing was accepted; retry later ({error})"},
            status_code=503,
            headers={"Retry-After": str(pipeline.settings.ingest_retry_after_s)},
        )

    app.add_exception_handler(Refused, refused)
    app.add_exception_handler(KafkaUnavailable, unavailable)
