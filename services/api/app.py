"""API: scores and alerts over HTTP, alerts live over server-sent events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from functools import partial
from pathlib import Path as PathLib
from typing import Annotated, Any, Literal

import orjson
from fastapi import Body, Depends, FastAPI, Header, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import Gauge
from pydantic import BaseModel, Field

from services.api.alertmanager import AlertmanagerForwarder
from services.api.settings import ApiSettings
from services.api.system import SystemProbe
from services.api.views import AlertFilter, AlertView, DeadLetterView, ScoreView, preset_dictionary
from services.common.auth import Gate, load_auth
from services.common.config_files import load_scoring_model
from services.common.follower import TopicFollower
from services.common.http import add_common_routes
from services.common.kafka import KafkaUnavailable, Record, ReliableProducer
from services.common.reachability import KafkaReachability
from services.domain.alert_actions import Action, ActionRefused, act
from services.domain.alert_rules import ALERT_KINDS
from services.domain.scoring import (
    ConstituentState,
    explain,
    lifetime_counts,
    rolling_counts,
    score_history,
    scores_at,
)

CONSOLE_DIR = PathLib(__file__).parent / "console"
VIEW_SIZE = Gauge("mp_api_view_entries", "Entries held in an in-memory view.", ["view"])
SSE_CLIENTS = Gauge("mp_api_sse_clients", "Clients connected to the live alert stream.")
OPEN_ALERTS = Gauge("mp_api_alerts_open", "Open alerts in the API's view, by kind.", ["kind"])


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _json(content: Any) -> Response:
    """JSON straight from orjson: the hot routes skip FastAPI's generic encoder, the bulk of their time."""
    return Response(orjson.dumps(content), media_type="application/json")


def _sse(offset: int, alert: dict[str, Any]) -> bytes:
    return b"id: %d\nevent: alert\ndata: %s\n\n" % (offset, orjson.dumps(alert))


class OperatorAction(BaseModel):
    """Who acts (recorded with the alert) and why; both optional."""

    operator: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[^\x00-\x1f]+$",
        description="defaults to the key's name",
    )
    note: str | None = Field(None, max_length=500)


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    model = load_scoring_model(settings.scoring_config)
    scores = ScoreView(preset_dictionary(model))
    alerts = AlertView(settings.api_alerts_kept)
    dead_letters = DeadLetterView(settings.api_alerts_kept)
    feeder = TopicFollower(
        settings,
        "api",
        {
            settings.topic_scores: lambda record: scores.apply(record.key, record.value),
            settings.topic_alerts: lambda record: alerts.apply(record.offset, orjson.loads(record.value)),
            settings.topic_dead_letters: lambda record: dead_letters.apply(orjson.loads(record.value)),
        },
    )
    VIEW_SIZE.labels("constituents").set_function(lambda: len(scores))
    VIEW_SIZE.labels("alerts").set_function(lambda: len(alerts))
    SSE_CLIENTS.set_function(lambda: alerts.subscribers)
    for kind in ALERT_KINDS:
        OPEN_ALERTS.labels(kind).set_function(partial(alerts.open_count, kind))

    probe = SystemProbe(settings)
    kafka = KafkaReachability(settings)
    publisher = ReliableProducer(settings, timeout_s=settings.api_write_timeout_s, linger_ms=0)
    background = [feeder.run(), probe.run(), kafka.run()]
    if settings.api_alertmanager_url:
        public_url = settings.api_public_url or f"http://{settings.api_host}:{settings.api_port}"
        forwarder = AlertmanagerForwarder(
            settings.api_alertmanager_url,
            public_url,
            alerts,
            lambda: feeder.caught_up,
            settings.api_alertmanager_resend_s,
        )
        background.append(forwarder.run())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(job) for job in background]
        yield
        for task in tasks:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        await publisher.stop()

    auth = load_auth(settings.auth_config, "api")
    tokens = Gate((*auth.read_tokens, *auth.write_tokens) if auth else None, "read token")
    writers = Gate(
        auth.write_tokens if auth else None, "write token", too_weak=auth.read_tokens if auth else ()
    )

    # Dependencies are coroutines: FastAPI runs a plain function in a worker thread, which cost more
    # than answering the request itself (docs/performance.md).
    async def read_token(request: Request) -> None:
        tokens.check(request)

    protected = [Depends(read_token)]
    app = FastAPI(
        title="Mission Pulse API",
        version="1",
        description="Constituent experience scores and alerts, served from views of Kafka topics.",
        lifespan=lifespan,
    )
    add_common_routes(app, "api")

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Ready once the views caught up with their topics, and while Kafka answers",
        description="503 while catching up, and while Kafka is unreachable (the views are then going "
        "stale; the GET routes still answer from them).",
    )
    async def readyz() -> JSONResponse:
        if not feeder.caught_up:
            return JSONResponse({"status": "catching up with Kafka"}, status_code=503)
        if not kafka.reachable:
            return JSONResponse({"status": "Kafka unreachable: views are not updating"}, status_code=503)
        return JSONResponse({"status": "ready"})

    def current_view(published: dict[str, Any], now: float, detail: bool) -> dict[str, Any]:
        state = ConstituentState.from_dict(published)
        scores = scores_at(state, model, now).to_dict()
        summary = {
            "constituent_id": state.constituent_id,
            "score": scores["overall"],
            "roles": state.roles,
            "last_event_at": _iso(state.last_event_at),
        }
        if not detail:
            return {**summary, "score_at_last_event": published["scores"]["overall"]}
        return {
            **summary,
            "as_of": _iso(now),
            "scores": scores,
            "scores_at_last_event": published["scores"],
            "updated_at": _iso(published["updated_at"]),
            "events": state.events,
            "last_touch": {source: _iso(at) for source, at in state.last_touch.items()},
            "counts": {"lifetime": lifetime_counts(state), **rolling_counts(state, model, now)},
            "explain": explain(state, model, now),
            "timeline": [
                {
                    "occurred_at": _iso(at),
                    "source": source,
                    "type": kind,
                    "event_id": event_id,
                    "failure": kind in model.failure_types,
                }
                for at, source, kind, event_id in reversed(state.timeline)
            ],
            "history": [{"at": _iso(at), **past.to_dict()} for at, past in score_history(state, model)]
            + [{"at": _iso(now), **scores}],
            "score_alert_open_since": state.score_alert_opened_at,
        }

    @app.get(
        "/v1/constituents/{constituent_id}",
        dependencies=protected,
        tags=["scores"],
        summary="A constituent's experience score now: dimensions, rolling counts, roles, explanation",
        responses={404: {"description": "Never scored"}},
    )
    async def get_constituent(constituent_id: str) -> Any:
        published = scores.get(constituent_id)
        if published is None:
            return JSONResponse(
                {"detail": f"constituent {constituent_id!r} has no score: no event of theirs was scored yet"},
                status_code=404,
            )
        return _json(current_view(published, time.time(), detail=True))

    @app.get(
        "/v1/constituents",
        dependencies=protected,
        tags=["scores"],
        summary="Constituents ranked by score (lowest first: the most at risk), from an index",
        description="Ordered by the overall score as of each constituent's latest event; `score` in each "
        "row is the score now (drifted toward the baseline since).",
    )
    async def list_constituents(
        sort: Annotated[Literal["score"], Query()] = "score",
        order: Annotated[Literal["asc", "desc"], Query()] = "asc",
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        role: Annotated[str | None, Query(max_length=64)] = None,
        max_score: Annotated[float | None, Query(ge=0, le=100)] = None,
    ) -> Response:
        now = time.time()
        ranked = scores.ranked(ascending=order == "asc", role=role, max_score=max_score, limit=limit)
        return _json(
            {"constituents": [current_view(p, now, detail=False) for p in ranked], "population": len(scores)}
        )

    @app.get(
        "/v1/scores/summary",
        dependencies=protected,
        tags=["scores"],
        summary="How scores are distributed, and how many people",
    )
    async def score_summary() -> dict[str, Any]:
        edges = [float(edge) for edge in range(0, 101, 10)]
        counts = scores.histogram(edges)
        return {
            "population": len(scores),
            "histogram": [
                {"from": low, "to": high, "count": count}
                for low, high, count in zip(edges, edges[1:], counts, strict=False)
            ],
            "below_floor": scores.histogram([0.0, model.score_alert.floor, 100.0])[0],
            "floor": model.score_alert.floor,
        }

    @app.get(
        "/v1/alerts",
        dependencies=protected,
        tags=["alerts"],
        summary="Alerts, most recently updated first, filtered",
        description="`last_event_id` is the stream position this list reflects: open "
        "`/v1/alerts/stream` with it as `Last-Event-ID` to follow on without a gap.",
    )
    async def list_alerts(
        wanted: Annotated[AlertFilter, Depends(alert_filter)],
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> dict[str, Any]:
        return {"alerts": alerts.newest(limit, wanted), "last_event_id": alerts.applied_offset}

    @app.get(
        "/v1/alerts/stream",
        dependencies=protected,
        tags=["alerts"],
        summary="Live alert updates (server-sent events) with the same filters; resume with Last-Event-ID",
        description="Each update is one `event: alert` with `id:` (its position in the alerts topic) and one "
        "`data:` line of JSON; a `: keep-alive` comment comes every 15 s. A client reconnecting with "
        "`Last-Event-ID` first gets every retained update it missed.",
        response_class=StreamingResponse,
    )
    async def stream_alerts(
        wanted: Annotated[AlertFilter, Depends(alert_filter)],
        last_event_id: Annotated[int | None, Header(alias="Last-Event-ID")] = None,
    ) -> StreamingResponse:
        queue = alerts.subscribe()
        missed = alerts.updates_after(last_event_id, wanted) if last_event_id is not None else []

        async def events() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 2000\n\n"
                sent = -1
                for offset, alert in missed:
                    sent = offset
                    yield _sse(offset, alert)
                while alerts.is_subscribed(queue):
                    try:
                        offset, alert = await asyncio.wait_for(queue.get(), settings.api_sse_heartbeat_s)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    if offset > sent and wanted.matches(alert):
                        yield _sse(offset, alert)
            finally:
                alerts.unsubscribe(queue)

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    @app.get(
        "/v1/dlq",
        dependencies=protected,
        tags=["operations"],
        summary="Dead letters: what was refused, why, and how many by reason",
        description="Newest first, optionally of one `source` or `reason_code`; `counts` covers every dead "
        "letter since the API started reading the topic, by source and reason code.",
    )
    async def list_dead_letters(
        source: Annotated[str | None, Query(max_length=64)] = None,
        reason_code: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> dict[str, Any]:
        return {
            "counts": dead_letters.counts(),
            "dead_letters": dead_letters.newest(limit, source, reason_code),
        }

    async def take_action(
        alert_id: str, action: Action, request: Request, body: OperatorAction | None
    ) -> Any:
        body = body or OperatorAction()
        key = writers.check(request)
        alert = alerts.get(alert_id)
        if alert is None:
            return JSONResponse({"detail": f"no alert {alert_id!r} (unknown, or older than those kept)"}, 404)
        by = body.operator or (key.name if key else "anonymous")
        try:
            changed = act(alert, action, by, _iso(time.time()), body.note)
        except ActionRefused as refused:
            return JSONResponse({"detail": str(refused)}, status_code=409)
        try:
            [written] = await publisher.send_all(
                [Record(settings.topic_alerts, alert_id.encode(), orjson.dumps(changed))]
            )
        except KafkaUnavailable as error:
            return JSONResponse(
                {"detail": f"not recorded: {error}"}, status_code=503, headers={"Retry-After": "5"}
            )
        if await alerts.wait_applied(written.offset, settings.api_write_timeout_s):
            return alerts.get(alert_id)
        return JSONResponse(changed, status_code=202)  # recorded; this replica has not read it back yet

    action_responses: dict[int | str, dict[str, Any]] = {
        202: {"description": "Recorded in Kafka; not yet visible in this replica's view"},
        403: {"description": "A read token, not a write token"},
        404: {"description": "No such alert (or no longer retained)"},
        409: {"description": "Already acknowledged, or already resolved"},
        503: {"description": "Kafka unavailable: nothing recorded; retry"},
    }

    @app.post(
        "/v1/alerts/{alert_id}/ack",
        tags=["alerts"],
        summary="Acknowledge an alert (write token): who and when are recorded and published to every client",
        responses=action_responses,
    )
    async def acknowledge_alert(
        alert_id: Annotated[str, Path(max_length=128)],
        request: Request,
        body: Annotated[OperatorAction | None, Body()] = None,
    ) -> Any:
        return await take_action(alert_id, Action.ACKNOWLEDGE, request, body)

    @app.post(
        "/v1/alerts/{alert_id}/resolve",
        tags=["alerts"],
        summary="Resolve an alert by hand (write token); it stays resolved whatever the scorer sends later",
        responses=action_responses,
    )
    async def resolve_alert(
        alert_id: Annotated[str, Path(max_length=128)],
        request: Request,
        body: Annotated[OperatorAction | None, Body()] = None,
    ) -> Any:
        return await take_action(alert_id, Action.RESOLVE, request, body)

    @app.get(
        "/v1/system",
        dependencies=protected,
        tags=["operations"],
        summary="The console's system strip: records/s into Kafka, scorer lag in records, open alerts",
    )
    async def system() -> dict[str, Any]:
        return {
            **probe.snapshot(),
            "population": len(scores),
            "open_alerts": alerts.open_counts(),
            "dead_letters": dead_letters.total(),
            "api_caught_up": feeder.caught_up,
        }

    @app.get("/console", include_in_schema=False)
    async def console_page() -> RedirectResponse:
        return RedirectResponse("/console/")

    app.mount("/console/", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")

    @app.get(
        "/v1/alerts/{alert_id}",
        dependencies=protected,
        tags=["alerts"],
        summary="One alert's current state",
        responses={404: {"description": "No such alert (or no longer retained)"}},
    )
    async def get_alert(alert_id: str) -> Any:
        alert = alerts.get(alert_id)
        if alert is None:
            return JSONResponse(
                {"detail": f"no alert {alert_id!r} (unknown, or older than those kept)"}, status_code=404
            )
        return alert

    return app


async def alert_filter(
    status: Annotated[Literal["open", "resolved"] | None, Query()] = None,
    kind: Annotated[str | None, Query(max_length=64, description="e.g. transaction.failed")] = None,
    severity: Annotated[Literal["info", "warning", "critical"] | None, Query()] = None,
    constituent_id: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[
        datetime | None, Query(description="only alerts opened or resolved since (RFC 3339)")
    ] = None,
) -> AlertFilter:
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return AlertFilter(
        status=status, kind=kind, severity=severity, constituent_id=constituent_id, since=since
    )
