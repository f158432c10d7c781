"""Ingest: HTTP in, validated touchpoints to Kafka. Answers 202 only after Kafka acknowledged."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import Counter, Histogram
from pydantic import BaseModel

from services.common.http import add_common_routes
from services.common.kafka import KafkaUnavailable, Record, ReliableProducer, ensure_topics_when_reachable
from services.domain.events import SCHEMA_PATH, metric_labels, validation_error
from services.ingest.payload import PayloadError, split_events
from services.ingest.settings import IngestSettings

log = logging.getLogger(__name__)

EVENTS_ACCEPTED = Counter(
    "mp_ingest_events_accepted_total", "Events written to Kafka, by source and type.", ["source", "type"]
)
EVENTS_REJECTED = Counter(
    "mp_ingest_events_rejected_total", "Events refused as invalid, by source and type.", ["source", "type"]
)
DEAD_LETTERS = Counter("mp_ingest_dead_letters_total", "Rejected events written to the dead-letter topic.")
PRODUCE_DURATION = Histogram(
    "mp_ingest_produce_duration_seconds",
    "Time from handing a request's events to Kafka until all were acknowledged.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
KAFKA_UNAVAILABLE = Counter("mp_ingest_kafka_unavailable_total", "Requests answered 503: Kafka did not ack.")


class Rejection(BaseModel):
    index: int
    error: str


class Accepted(BaseModel):
    accepted: int
    rejected: list[Rejection]


class Problem(BaseModel):
    detail: str
    rejected: list[Rejection] | None = None


def _touchpoint_schema() -> dict[str, Any]:
    schema: dict[str, Any] = orjson.loads(SCHEMA_PATH.read_bytes())
    schema.pop("$schema", None)
    schema.pop("$id", None)
    return schema


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()
    producer = ReliableProducer(settings, timeout_s=settings.ingest_produce_timeout_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        topics = asyncio.create_task(ensure_topics_when_reachable(settings))
        yield
        topics.cancel()
        await producer.stop()

    app = FastAPI(
        title="Mission Pulse ingest",
        version="1",
        description="Touchpoint events in (schemas/touchpoint.v1.json), validated, to Kafka.",
        lifespan=lifespan,
    )
    add_common_routes(app, "ingest")

    def unavailable(error: KafkaUnavailable) -> JSONResponse:
        KAFKA_UNAVAILABLE.inc()
        log.warning("kafka unavailable", extra={"error": str(error)})
        return JSONResponse(
            {"detail": f"Kafka is unavailable, nothing was accepted; retry later ({error})"},
            status_code=503,
            headers={"Retry-After": str(settings.ingest_retry_after_s)},
        )

    async def read_body(request: Request) -> bytes:
        limit = settings.ingest_max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadError(413, f"body of {declared} bytes, at most {limit}")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise PayloadError(413, f"body larger than {limit} bytes")
        return bytes(body)

    @app.post(
        "/v1/events",
        status_code=202,
        response_model=Accepted,
        tags=["events"],
        summary="Submit touchpoint events: one JSON object, a JSON array, or NDJSON",
        responses={
            400: {"model": Problem, "description": "The body is not JSON / NDJSON"},
            413: {"model": Problem, "description": "Too many events or too large a body"},
            422: {"model": Problem, "description": "No event in the body is valid"},
            503: {"model": Problem, "description": "Kafka unavailable; retry after Retry-After seconds"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"$ref": "#/components/schemas/Touchpoint"},
                                {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/Touchpoint"},
                                    "maxItems": settings.ingest_max_events,
                                },
                            ]
                        }
                    },
                    "application/x-ndjson": {"schema": {"type": "string"}},
                },
            }
        },
    )
    async def post_events(request: Request) -> Any:
        try:
            body = await read_body(request)
            candidates = split_events(
                body, request.headers.get("content-type", "application/json"), settings.ingest_max_events
            )
        except PayloadError as error:
            return JSONResponse({"detail": error.message}, status_code=error.status)

        accepted: list[Record] = []
        rejected: list[Rejection] = []
        dead_letters: list[Record] = []
        received_at = datetime.now(UTC).isoformat()
        for index, candidate in enumerate(candidates):
            problem = validation_error(candidate)
            if problem is None:
                assert isinstance(candidate, dict)
                key = candidate["constituent_id"].encode()
                accepted.append((settings.topic_touchpoints, key, orjson.dumps(candidate), []))
            else:
                rejected.append(Rejection(index=index, error=problem))
                envelope = {
                    "reason": problem,
                    "received_at": received_at,
                    "service": "ingest",
                    "payload": candidate,
                }
                dead_letters.append((settings.topic_dead_letters, None, orjson.dumps(envelope), []))

        started = time.perf_counter()
        try:
            await producer.send_all(accepted + dead_letters)
        except KafkaUnavailable as unreachable:
            if accepted:
                return unavailable(unreachable)
            log.warning(
                "dead letters not written", extra={"count": len(dead_letters), "error": str(unreachable)}
            )
        else:
            PRODUCE_DURATION.observe(time.perf_counter() - started)
            DEAD_LETTERS.inc(len(dead_letters))
        rejected_indexes = {rejection.index for rejection in rejected}
        for index, candidate in enumerate(candidates):
            counter = EVENTS_REJECTED if index in rejected_indexes else EVENTS_ACCEPTED
            counter.labels(*metric_labels(candidate)).inc()
        if not accepted:
            refusal = Problem(detail="no valid event in the body", rejected=rejected)
            return JSONResponse(refusal.model_dump(), status_code=422)
        return Accepted(accepted=len(accepted), rejected=rejected)

    @app.get("/readyz", tags=["operations"], summary="Readiness: Kafka answers")
    async def readyz() -> JSONResponse:
        if await producer.is_connected():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "kafka unreachable"}, status_code=503)

    def openapi_with_touchpoint() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("components", {}).setdefault("schemas", {})["Touchpoint"] = _touchpoint_schema()
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi_with_touchpoint  # type: ignore[method-assign]
    return app
