"""Dead letters: what was refused, why, and how many by reason."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from services.api.context import ApiContext


def router(context: ApiContext) -> APIRouter:
    routes = APIRouter(tags=["operations"], dependencies=[Depends(context.require_dead_letters)])
    dead_letters = context.dead_letters

    @routes.get(
        "/v1/dlq",
        summary="Dead letters: what was refused, why, and how many by reason (the dead_letters scope)",
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

    return routes
