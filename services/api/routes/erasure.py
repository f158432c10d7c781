"""Erasing a constituent on request: ``POST /v1/constituents/{id}/erase`` (the ``erase`` scope)."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.api.context import ApiContext
from services.api.presentation import iso
from services.api.views import AlertFilter
from services.common.kafka import KafkaUnavailable, Record
from services.domain.erasure import Erasure, erased_alert


class ErasureRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="why (recorded with the erasure)")
    suppress: bool = Field(
        False, description="also drop (and count) every later event that resolves to this person"
    )


def router(context: ApiContext) -> APIRouter:
    routes = APIRouter(tags=["privacy"])
    settings = context.settings

    @routes.post(
        "/v1/constituents/{constituent_id:path}/erase",
        summary="Erase a constituent on request (erase scope): state, scores, alert details, identity links",
        description="Recorded on the erasures topic with the key's name and the reason; every service "
        "removes the person (docs/privacy.md). Answers with a receipt of what was removed where. "
        "Idempotent: erasing again records again and removes nothing more.",
        responses={
            403: {"description": "The key lacks the erase scope"},
            503: {"description": "Kafka unavailable: nothing recorded; retry"},
        },
    )
    async def erase(
        constituent_id: Annotated[str, Path(min_length=1, max_length=128)],
        request: Request,
        body: Annotated[ErasureRequest, Body()],
    ) -> Any:
        key = context.keys.check(request, "erase")
        now = time.time()
        erasure: Erasure = {
            "constituent_id": constituent_id,
            "at": now,
            "by": key.name if key else "development (no keys)",
            "reason": body.reason,
            "suppress": body.suppress,
        }
        held = context.alerts.newest(settings.api_alerts_kept, AlertFilter(constituent_id=constituent_id))
        scored = await context.reads.get(constituent_id) is not None
        records = [Record(settings.topic_erasures, constituent_id.encode(), orjson.dumps(erasure))]
        records += [
            Record(settings.topic_alerts, alert["alert_id"].encode(), orjson.dumps(erased_alert(alert)))
            for alert in held
        ]
        try:
            await context.publisher.send_all(records)
        except KafkaUnavailable as error:
            return JSONResponse({"detail": f"not recorded: {error}"}, 503, headers={"Retry-After": "5"})
        gone = await _gone(context, constituent_id, settings.api_read_back_timeout_s)
        return {
            "constituent_id": constituent_id,
            "erased_at": iso(now),
            "by": erasure["by"],
            "reason": body.reason,
            "suppressed": body.suppress,
            "removed": {
                "scores": ("removed" if gone else "pending") if scored else "none held",
                "alerts": f"{len(held)} alerts' person and evidence removed",
                "scorer_state": "removed"
                if gone
                else "pending (the scorer removes it as it reads the erasure)",
                "identity_links": "kept, to drop their events" if body.suppress else "removed by ingest",
                "raw_events": f"expire from touchpoints after {settings.touchpoints_retention_days:g} days; "
                "never scored again",
            },
        }

    return routes


async def _gone(context: ApiContext, constituent_id: str, timeout_s: float) -> bool:
    """Whether this replica's view lost the person (the scorer's tombstone arrived) within ``timeout_s``."""
    try:
        async with asyncio.timeout(timeout_s):
            while await context.reads.get(constituent_id) is not None:
                await asyncio.sleep(0.05)
    except TimeoutError:
        return False
    return True
