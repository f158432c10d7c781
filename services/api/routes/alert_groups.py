"""Open alerts grouped by rule and owner, and acknowledging a whole group at once."""

from __future__ import annotations

import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.api.context import ApiContext
from services.api.presentation import iso
from services.api.routes.alerts import OperatorAction
from services.api.views import AlertFilter
from services.common.kafka import KafkaUnavailable, Record
from services.domain.alerts.actions import Action, act
from services.domain.alerts.groups import group_alerts

MAX_BULK = 1000  # alerts one request acknowledges; the answer says how many remain


class GroupAcknowledgement(OperatorAction):
    """Which group (as ``GET /v1/alerts/groups`` names it), and optionally why and on whose behalf."""

    rule: str = Field(min_length=1, max_length=128)
    owner: str = Field("", max_length=64)


class GroupAcknowledged(BaseModel):
    acknowledged: int
    remaining: int
    alert_ids: list[str]


def router(context: ApiContext) -> APIRouter:
    routes = APIRouter(tags=["alerts"])
    alerts, settings = context.alerts, context.settings

    @routes.get(
        "/v1/alerts/groups",
        dependencies=[Depends(context.require_read)],
        summary="Open alerts grouped by rule and owner, the group with the newest alert first",
        description="Each group: its `rule`, `owner`, `kind`, the newest alert's `title` and departments, "
        "`count`, how many are `unacknowledged` and of `priority` constituents, the highest `severity`, "
        "`newest_at`/`oldest_at` (opened), and up to 200 `alert_ids`, newest first. List a group's alerts "
        "with `GET /v1/alerts?status=open&rule=…&owner=…`.",
    )
    async def list_groups(
        owner: Annotated[str | None, Query(max_length=64, description="only this team's groups")] = None,
    ) -> dict[str, Any]:
        wanted = AlertFilter(status="open", owner=owner)
        groups = group_alerts(alerts.newest(settings.api_alerts_kept, wanted))
        return {"groups": [group.to_dict() for group in groups], "last_event_id": alerts.applied_offset}

    @routes.post(
        "/v1/alerts/groups/ack",
        summary="Acknowledge every open, unacknowledged alert of one group (operate scope)",
        description=f"One action is recorded per alert, as if each were acknowledged by itself; at most "
        f"{MAX_BULK} per request (`remaining` says how many are left for the next one).",
        response_model=GroupAcknowledged,
        responses={
            403: {"description": "The key lacks the operate scope"},
            503: {"description": "Kafka unavailable: nothing recorded; retry"},
        },
    )
    async def acknowledge_group(request: Request, body: GroupAcknowledgement) -> Any:
        key = context.keys.check(request, "operate")
        by = key.name if key else "development (no keys)"
        wanted = AlertFilter(status="open", rule=body.rule, owner=body.owner)
        waiting = [a for a in alerts.newest(settings.api_alerts_kept, wanted) if not a.get("acknowledged_at")]
        at = iso(time.time())
        changed = [
            act(alert, Action.ACKNOWLEDGE, by, at, body.note, body.operator) for alert in waiting[:MAX_BULK]
        ]
        records = [Record(settings.topic_alerts, a["alert_id"].encode(), orjson.dumps(a)) for a in changed]
        try:
            written = await context.publisher.send_all(records) if records else []
        except KafkaUnavailable as error:
            return JSONResponse(
                {"detail": f"not recorded: {error}"}, status_code=503, headers={"Retry-After": "5"}
            )
        if written:
            await alerts.wait_applied(max(w.offset for w in written), settings.api_read_back_timeout_s)
        ids = [alert["alert_id"] for alert in changed]
        return GroupAcknowledged(acknowledged=len(ids), remaining=len(waiting) - len(ids), alert_ids=ids)

    return routes
