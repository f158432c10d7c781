"""Scores: one constituent now, the at-risk list, and the distribution."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from services.api.context import ApiContext
from services.api.fast_reads import constituent_answer
from services.api.list_rows import list_row
from services.api.presentation import HISTOGRAM_EDGES, json_response, score_summary


def router(context: ApiContext) -> APIRouter:
    routes = APIRouter(tags=["scores"], dependencies=[Depends(context.require_read)])

    @routes.get(
        "/v1/constituents/{constituent_id:path}",
        summary="A constituent's experience score now: dimensions, rolling counts, roles, explanation",
        responses={404: {"description": "Never scored"}},
    )
    async def get_constituent(constituent_id: str) -> Response:
        # answered by services/api/fast_reads.py before it gets here; this route describes it (OpenAPI)
        status, body = await constituent_answer(context, constituent_id)
        return Response(body, status_code=status, media_type="application/json")

    @routes.get(
        "/v1/constituents",
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
        views = context.versions.active
        ranked = await views.reads.ranked(
            ascending=order == "asc", role=role, max_score=max_score, limit=limit
        )
        population = await views.reads.population()
        now = time.time()
        rows = [list_row(summary, views.model, now) for summary in ranked]
        return json_response({"constituents": rows, "population": population})

    @routes.get(
        "/v1/scores/summary", name="score_summary", summary="How scores are distributed, and how many people"
    )
    async def get_score_summary() -> dict[str, Any]:
        views = context.versions.active
        reads, model = views.reads, views.model
        counts = await reads.histogram(HISTOGRAM_EDGES)
        below_floor = (await reads.histogram([0.0, model.score_alert.floor, 100.0]))[0]
        return score_summary(await reads.population(), counts, below_floor, model)

    @routes.get(
        "/v1/recovery",
        summary="Recurring gifts being recovered: open cases, the most recently opened first",
        description="Each case: `constituent_id`, `step` (failed, email_sent, email_delivered, "
        "email_bounced, method_updated), `opened_at` (event time, epoch seconds), `amount`, `currency`, "
        "`attempts`, the `facts` seen (when each step happened) and, once stalled, `stall`. "
        "`open_by_step` counts them all.",
    )
    async def list_recovery(
        step: Annotated[str | None, Query(max_length=32)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> Response:
        reads = context.reads
        return json_response(
            {"open_by_step": await reads.open_by_step(), "cases": await reads.open_cases(step, limit)}
        )

    return routes
