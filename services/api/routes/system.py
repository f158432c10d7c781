"""Operations: readiness, the console's system strip, and the console itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse

from services.api.context import ApiContext

CONSOLE_DIR = Path(__file__).resolve().parents[1] / "console"


def router(context: ApiContext) -> APIRouter:
    routes = APIRouter(tags=["operations"])

    @routes.get(
        "/readyz",
        summary="Ready once the views caught up with their topics, and while Kafka answers",
        description="503 while catching up, and while Kafka is unreachable (the views are then going "
        "stale; the GET routes still answer from them).",
    )
    async def readyz() -> JSONResponse:
        if not context.caught_up:
            return JSONResponse({"status": "catching up with Kafka"}, status_code=503)
        if not context.kafka.reachable:
            return JSONResponse({"status": "Kafka unreachable: views are not updating"}, status_code=503)
        return JSONResponse({"status": "ready"})

    @routes.get(
        "/v1/system",
        dependencies=[Depends(context.require_read)],
        summary="The console's system strip: records/s into Kafka, scorer lag in records, open alerts",
    )
    async def system() -> dict[str, Any]:
        return {
            **context.probe.snapshot(),
            "population": await context.reads.population(),
            "open_alerts": context.alerts.open_counts(),
            "dead_letters": context.dead_letters.total(),
            "api_caught_up": context.caught_up,
            "serving": context.settings.serving,  # where scores are read: memory, or redis
            "model_version": context.versions.active.version,  # the version whose scores are served
            "model_version_building": building.version if (building := context.versions.building) else None,
        }

    @routes.get(
        "/v1/whoami",
        summary="The key this request presents: its name and scopes (any known key)",
        description="What the console shows before it uses a key given in a link, so that nobody can "
        "plant a key of theirs on an operator unseen.",
        responses={401: {"description": "No key, or an unknown one"}},
    )
    async def whoami(request: Request) -> dict[str, Any]:
        key = context.keys.who(request)
        if key is None:
            return {"name": "development (no keys)", "scopes": ["read", "operate", "dead_letters", "erase"]}
        return {"name": key.name, "scopes": sorted(key.scopes)}

    @routes.get("/console", include_in_schema=False)
    async def console_page() -> RedirectResponse:
        return RedirectResponse("/console/")

    return routes
