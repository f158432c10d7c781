"""Ingest: HTTP in, validated touchpoints to Kafka. Answers 2xx only after Kafka acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.common.auth import Keyring, load_auth
from services.common.config_files import ConfigError
from services.common.http import add_common_routes
from services.common.kafka import ensure_topics_when_reachable
from services.common.request_gate import RequestGate
from services.domain.dead_letters import ReasonCode
from services.domain.events import SCHEMA_PATH
from services.domain.identity import PRIORITY, IdentifierKind, IdentityKeys, IdentityMap
from services.ingest.adapters.sns import Fetch
from services.ingest.payload import PayloadError, split_events
from services.ingest.pipeline import IngestPipeline, Refused, install_error_answers
from services.ingest.settings import IngestSettings
from services.ingest.webhooks import webhook_routes


class Rejection(BaseModel):
    index: int
    error: str


class Accepted(BaseModel):
    accepted: int
    rejected: list[Rejection]


class Problem(BaseModel):
    detail: str
    rejected: list[Rejection] | None = None


class Identify(BaseModel):
    """Identifiers of one person, and optionally the constituent they are."""

    constituent_id: str | None = Field(None, min_length=1, max_length=128)
    email: str | None = Field(None, min_length=3, max_length=320)
    stripe_customer: str | None = Field(None, min_length=1, max_length=128)
    web_user: str | None = Field(None, min_length=1, max_length=128)


class Identified(BaseModel):
    constituent_id: str
    linked: int
    moved: list[dict[str, str]]


def _touchpoint_schema() -> dict[str, Any]:
    schema: dict[str, Any] = orjson.loads(SCHEMA_PATH.read_bytes())
    schema.pop("$schema", None)
    schema.pop("$id", None)
    return schema


def create_app(settings: IngestSettings | None = None, fetch_certificate: Fetch | None = None) -> FastAPI:
    """``fetch_certificate`` replaces the HTTPS fetch of SNS signing certificates (tests)."""
    settings = settings or IngestSettings()
    secret = settings.identity_secret.get_secret_value()
    if not secret:
        raise ConfigError(
            "MP_IDENTITY_SECRET is not set: ingest needs it to hash email addresses and "
            "derive constituent ids (make run creates a development one in .dev/)"
        )
    pipeline = IngestPipeline(settings, IdentityMap(IdentityKeys(secret.encode())))
    keys = Keyring(load_auth(settings.auth_config, "ingest", settings.development))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(ensure_topics_when_reachable(settings)),
            asyncio.create_task(pipeline.links.follower.run()),
            asyncio.create_task(pipeline.forget_erased_links()),
        ]
        yield
        for task in tasks:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        await pipeline.producer.stop()

    app = FastAPI(
        title="Mission Pulse ingest",
        version="1",
        description="Touchpoint events in (schemas/touchpoint.v1.json) and providers' webhooks, to Kafka.",
        lifespan=lifespan,
    )
    # /v1/identify: a known key before its body is read, the body bounded (events and webhooks check their
    # callers and bodies themselves, and keep what they refuse)
    app.add_middleware(
        RequestGate,
        keys=keys,
        max_body_bytes=settings.ingest_max_identify_bytes,
        exempt=lambda path: path != "/v1/identify",
    )
    add_common_routes(app, "ingest")
    if settings.beacon_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.beacon_origin_list,
            allow_methods=["POST"],
            allow_headers=["content-type"],
        )
    install_error_answers(app, pipeline)
    app.include_router(webhook_routes(pipeline, fetch_certificate))

    @app.post(
        "/v1/events",
        status_code=202,
        response_model=Accepted,
        tags=["events"],
        summary="Submit touchpoint events: one JSON object, a JSON array, or NDJSON",
        responses={
            400: {"model": Problem, "description": "The body is not JSON / NDJSON"},
            401: {"model": Problem, "description": "No API key, or an unknown one"},
            403: {
                "model": Problem,
                "description": "The key lacks the ingest scope, or may not submit events of this source",
            },
            429: {
                "model": Problem,
                "description": "The key's rate limit (requests/s or events/s) was exceeded; retry after "
                "Retry-After",
            },
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
        key = keys.check(request, "ingest")
        caller = key.name if key else "-"
        try:
            body = await pipeline.read_body(request)
            content_type = request.headers.get("content-type", "application/json")
            candidates = split_events(body, content_type, settings.ingest_max_events)
        except PayloadError as error:
            code: ReasonCode = "too_large" if error.status == 413 else "unparseable"
            refused = Refused("api", code, error.status, error.message, body)
            refused.caller = caller
            raise refused from error
        except Refused as refused:
            refused.caller = caller  # a body too large spends the key's budget
            raise
        if key is not None:
            sources = {str(c.get("source")) for c in candidates if isinstance(c, dict)}
            forbidden = sorted(source for source in sources if not key.may_submit(source))
            if forbidden:
                detail = f"key {key.name!r} may not submit events of source {', '.join(map(repr, forbidden))}"
                return JSONResponse({"detail": detail}, status_code=403)
        keys.charge_events(key, len(candidates))
        outcome = pipeline.new_outcome(caller)
        pipeline.check_events(candidates, "api", outcome)
        await pipeline.commit(outcome)
        rejected = [Rejection(index=index, error=reason) for index, reason in outcome.rejected]
        if not outcome.accepted and rejected:  # (events of suppressed people are dropped, not refused)
            refusal = Problem(detail="no valid event in the body", rejected=rejected)
            return JSONResponse(refusal.model_dump(), status_code=422)
        return Accepted(accepted=len(outcome.accepted), rejected=rejected)

    @app.post(
        "/v1/identify",
        response_model=Identified,
        tags=["identity"],
        summary="Link a person's identifiers (email, Stripe customer, web user) to one constituent "
        "(identify scope)",
        description="Later events naming any of them land on that constituent. Without `constituent_id`, "
        "the identifiers join whichever constituent the first of them already resolves to. "
        "See docs/identity.md for the merge rules.",
        responses={
            409: {
                "description": "The identifiers would move to or from an erased and suppressed constituent"
            },
            422: {"description": "No identifier given"},
            503: {"description": "Kafka unavailable"},
        },
    )
    async def identify(request: Identify, http: Request) -> Any:
        keys.check(http, "identify")
        given = request.model_dump(exclude={"constituent_id"}, exclude_none=True)
        identifiers: dict[IdentifierKind, str] = {kind: given[kind] for kind in PRIORITY if kind in given}
        if not identifiers:
            return JSONResponse(
                {"detail": "name at least one of email, stripe_customer, web_user"}, status_code=422
            )
        # linking identifiers to a person erased and suppressed would silence whoever they belong to, and
        # moving theirs away would let their events count again: neither, whatever the key (issue 34)
        touched = pipeline.identities.touched(identifiers, request.constituent_id)
        if any(pipeline.links.suppressed(person) for person in touched):
            detail = "an erased and suppressed constituent's identifiers cannot be linked or moved"
            return JSONResponse({"detail": detail}, status_code=409)
        target, writes, moved = pipeline.identities.link(identifiers, request.constituent_id)
        await pipeline.write_links(writes)
        moves = [{"identifier": key.split(":")[0], "from": old} for key, old in moved.items()]
        return Identified(constituent_id=target, linked=len(identifiers), moved=moves)

    @app.get("/readyz", tags=["operations"], summary="Readiness: Kafka answers and identity links are loaded")
    async def readyz() -> JSONResponse:
        if not pipeline.links.caught_up:
            return JSONResponse({"status": "loading identity links"}, status_code=503)
        if await pipeline.producer.is_connected():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "kafka unreachable"}, status_code=503)

    def openapi_with_touchpoint() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("components", {}).setdefault("schemas", {})["Touchpoint"] = _touchpoint_schema()
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi_with_touchpoint  # type: ignore[method-assign]
    return app
