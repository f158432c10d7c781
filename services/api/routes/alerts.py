"""Alerts: the list, the live stream (server-sent events), one alert, and operators' actions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from services.api.context import ApiContext
from services.api.presentation import iso, sse_frame
from services.api.streams import StreamSlots
from services.api.views import AlertFilter
from services.common.kafka import KafkaUnavailable, Record
from services.domain.alerts.actions import Action, ActionRefused, act
from services.domain.alerts.model import Severity, Status


class OperatorAction(BaseModel):
    """Why, and on whose behalf; both optional. Who acted is always the key's name."""

    operator: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[^\x00-\x1f]+$",
        description="the person acting with the key, recorded as on_behalf_of (acknowledged_by and "
        "resolved_by are always the key's name)",
    )
    note: str | None = Field(None, max_length=500)


async def alert_filter(
    status: Annotated[Status | None, Query()] = None,
    kind: Annotated[str | None, Query(max_length=64, description="e.g. transaction.failed")] = None,
    severity: Annotated[Severity | None, Query()] = None,
    constituent_id: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[
        datetime | None, Query(description="only alerts opened or resolved since (RFC 3339)")
    ] = None,
    owner: Annotated[
        str | None, Query(max_length=64, description="the team that owns the rule, e.g. finance")
    ] = None,
    rule: Annotated[str | None, Query(max_length=128, description="e.g. handoff:event-confirmation")] = None,
    priority: Annotated[
        bool | None, Query(description="only alerts of priority constituents (or not)")
    ] = None,
) -> AlertFilter:
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return AlertFilter(
        status=status,
        kind=kind,
        severity=severity,
        constituent_id=constituent_id,
        since=since,
        owner=owner,
        rule=rule,
        priority=priority,
    )


def _missing(alert_id: str) -> JSONResponse:
    return JSONResponse({"detail": f"no alert {alert_id!r} (unknown, or older than those kept)"}, 404)


ACTION_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "Recorded in Kafka; not yet visible in this replica's view"},
    403: {"description": "The key lacks the operate scope"},
    404: {"description": "No such alert (or no longer retained)"},
    409: {"description": "Already acknowledged, or already resolved"},
    503: {"description": "Kafka unavailable: nothing recorded; retry"},
}


ACTIONS = (
    (
        "ack",
        Action.ACKNOWLEDGE,
        "acknowledge_alert",
        "Acknowledge an alert (operate scope): the key and when are recorded and published to every client",
    ),
    (
        "resolve",
        Action.RESOLVE,
        "resolve_alert",
        "Resolve an alert by hand (operate scope); it stays resolved whatever the scorer sends later",
    ),
)


def router(context: ApiContext) -> APIRouter:
    routes = APIRouter(tags=["alerts"])
    protected = [Depends(context.require_read)]
    alerts, settings = context.alerts, context.settings

    @routes.get(
        "/v1/alerts",
        dependencies=protected,
        summary="Alerts, most recently updated first, filtered",
        description="`last_event_id` is the stream position this list reflects: open "
        "`/v1/alerts/stream` with it as `Last-Event-ID` to follow on without a gap.",
    )
    async def list_alerts(
        wanted: Annotated[AlertFilter, Depends(alert_filter)],
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> dict[str, Any]:
        return {"alerts": alerts.newest(limit, wanted), "last_event_id": alerts.applied_offset}

    slots = StreamSlots(settings.api_max_streams_per_key)

    @routes.get(
        "/v1/alerts/stream",
        summary="Live alert updates (server-sent events) with the same filters; resume with Last-Event-ID",
        description="Each update is one `event: alert` with `id:` (its position in the alerts topic) and one "
        "`data:` line of JSON; a `: keep-alive` comment comes every 15 s. A client reconnecting with "
        "`Last-Event-ID` first gets every retained update it missed.",
        response_class=StreamingResponse,
    )
    async def stream_alerts(
        request: Request,
        wanted: Annotated[AlertFilter, Depends(alert_filter)],
        last_event_id: Annotated[int | None, Header(alias="Last-Event-ID")] = None,
    ) -> Any:
        key = context.keys.check(request, "read", allow_query=True)
        holder = key.name if key else "development"
        if not slots.take(holder):
            detail = f"at most {slots.per_key} alert streams open at once for {holder!r}"
            return JSONResponse({"detail": detail}, 429, headers={"Retry-After": "5"})
        queue = alerts.subscribe()
        missed = alerts.updates_after(last_event_id, wanted) if last_event_id is not None else []

        async def events() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 2000\n\n"
                sent = -1
                for offset, alert in missed:
                    sent = offset
                    yield sse_frame(offset, alert)
                while alerts.is_subscribed(queue):
                    try:
                        offset, alert = await asyncio.wait_for(queue.get(), settings.api_sse_heartbeat_s)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    if offset > sent and wanted.matches(alert):
                        yield sse_frame(offset, alert)
            finally:
                alerts.unsubscribe(queue)
                slots.give_back(holder)

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    async def take_action(
        alert_id: str, action: Action, request: Request, body: OperatorAction | None
    ) -> Any:
        body = body or OperatorAction()
        key = context.keys.check(request, "operate")
        alert = alerts.get(alert_id)
        if alert is None:
            return _missing(alert_id)
        by = key.name if key else "development (no keys)"
        try:
            changed = act(alert, action, by, iso(time.time()), body.note, body.operator)
        except ActionRefused as refused:
            return JSONResponse({"detail": str(refused)}, status_code=409)
        try:
            [written] = await context.publisher.send_all(
                [Record(settings.topic_alerts, alert_id.encode(), orjson.dumps(changed))]
            )
        except KafkaUnavailable as error:
            return JSONResponse(
                {"detail": f"not recorded: {error}"}, status_code=503, headers={"Retry-After": "5"}
            )
        if await alerts.wait_applied(written.offset, settings.api_read_back_timeout_s):
            return alerts.get(alert_id)
        return JSONResponse(changed, status_code=202)  # recorded; this replica has not read it back yet

    def action_route(action: Action) -> Callable[..., Awaitable[Any]]:
        async def route(
            alert_id: Annotated[str, Path(max_length=128)],
            request: Request,
            body: Annotated[OperatorAction | None, Body()] = None,
        ) -> Any:
            return await take_action(alert_id, action, request, body)

        return route

    for path, action, name, summary in ACTIONS:
        routes.add_api_route(
            f"/v1/alerts/{{alert_id}}/{path}",
            action_route(action),
            methods=["POST"],
            name=name,
            summary=summary,
            responses=ACTION_RESPONSES,
        )

    @routes.get(
        "/v1/alerts/{alert_id}",
        dependencies=protected,
        summary="One alert's current state",
        responses={404: {"description": "No such alert (or no longer retained)"}},
    )
    async def get_alert(alert_id: str) -> Any:
        alert = alerts.get(alert_id)
        return _missing(alert_id) if alert is None else alert

    return routes
