"""The Mission Experience report: the experience per window (by role or source), and the hand-off matrix,
as JSON or CSV (docs/reports.md)."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from services.api.context import ApiContext
from services.api.presentation import json_response
from services.domain.report.reading import (
    drivers,
    experience_rows,
    gifts,
    handoff_matrix,
    total,
    value_at_risk,
)

RANGE_REFUSED: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "The range is backwards, or longer than one request may cover (the detail says which)"
    }
}
DEFAULT_SPAN = {"hour": timedelta(hours=48), "day": timedelta(days=30)}
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
MAX_SPAN = {"hour": timedelta(days=31), "day": timedelta(days=400)}


def _range(
    granularity: Literal["hour", "day"], start: datetime | None, end: datetime | None
) -> tuple[float, float] | JSONResponse:
    end = end or datetime.now(UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    try:
        start = start or end - DEFAULT_SPAN[granularity]
    except OverflowError:  # to=0001-01-01: no default span before it (a 500 before, issue 34)
        start = None
    start = start if start is None or start.tzinfo else start.replace(tzinfo=UTC)
    if start is None or not (start >= EARLIEST and end <= LATEST):
        return JSONResponse({"detail": "from and to must be between 1970 and 9999"}, 400)
    if start >= end:
        return JSONResponse(
            {"detail": f"from ({start.isoformat()}) must be before to ({end.isoformat()})"}, 400
        )
    if end - start > MAX_SPAN[granularity]:
        return JSONResponse(
            {"detail": f"at most {MAX_SPAN[granularity].days} days of {granularity} windows per request"}, 400
        )
    return start.timestamp(), end.timestamp()


def _wants_csv(request: Request, format: str | None) -> bool:
    return format == "csv" or (format is None and "text/csv" in request.headers.get("accept", ""))


def _csv(rows: list[dict[str, Any]], filename: str) -> Response:
    out = io.StringIO()
    flat = [_flatten(row) for row in rows]
    writer = csv.DictWriter(out, fieldnames=list(flat[0]) if flat else ["window"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _flatten(row: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, dict):
            flat.update({f"{name}_{inner}": v for inner, v in value.items()})
        elif isinstance(value, list):
            flat.update({f"{name}_{n}": v for n, v in enumerate(value)})
        else:
            flat[name] = "" if value is None else value
    return flat


def router(context: ApiContext) -> APIRouter:
    routes = APIRouter(tags=["reports"], dependencies=[Depends(context.require_read)])

    @routes.get(
        "/v1/reports/experience",
        summary="How people experienced the organisation per hour or day: content, operations, principles",
        description="`rows`: per window (and role or source with `by`), the people with a touchpoint in it, "
        "the mean of their window scores (overall and per dimension, 0–100: the score that window's "
        "touchpoints alone give) and the histogram of the overall one (ten bands). `summary` over the "
        "whole range: the top drivers, failed gifts by processor and error code, recovered gifts, value at "
        "risk. `format=csv` (or `Accept: text/csv`) gives the rows as CSV. Times are event time, UTC.",
        responses=RANGE_REFUSED,
    )
    async def get_experience(
        request: Request,
        start: Annotated[
            datetime | None, Query(alias="from", description="default: 30 days (48 h) before `to`")
        ] = None,
        end: Annotated[datetime | None, Query(alias="to", description="default: now")] = None,
        granularity: Annotated[Literal["hour", "day"], Query()] = "day",
        by: Annotated[Literal["role", "source"] | None, Query()] = None,
        format: Annotated[Literal["json", "csv"] | None, Query()] = None,
    ) -> Response:
        bounds = _range(granularity, start, end)
        if isinstance(bounds, JSONResponse):
            return bounds
        windows = context.reports.windows(granularity, *bounds)
        rows = experience_rows(windows, by)
        if _wants_csv(request, format):
            return _csv(rows, f"experience-{granularity}{f'-by-{by}' if by else ''}.csv")
        counted = total(windows.values())
        summary = {"drivers": drivers(counted), **gifts(counted), "value_at_risk": value_at_risk(counted)}
        return json_response(
            {
                "from": bounds[0],
                "to": bounds[1],
                "granularity": granularity,
                "by": by,
                "rows": rows,
                "summary": summary,
            }
        )

    @routes.get(
        "/v1/reports/handoffs",
        summary="The hand-off matrix: per rule and department pair, how the hand-offs of the range ended",
        description="Per rule and `from` → `to` department: `triggered`, `in_time`, `late`, `broken`, "
        "`cancelled`, `pending`, `broken_share` (of those settled) and `p50_s`/`p90_s`, the time to the "
        "follow-up (upper bound of its bucket; null beyond 7 days). Summed over the daily windows of the "
        "triggers. `format=csv` (or `Accept: text/csv`) for CSV.",
        responses=RANGE_REFUSED,
    )
    async def get_handoffs(
        request: Request,
        start: Annotated[datetime | None, Query(alias="from")] = None,
        end: Annotated[datetime | None, Query(alias="to")] = None,
        format: Annotated[Literal["json", "csv"] | None, Query()] = None,
    ) -> Response:
        bounds = _range("day", start, end)
        if isinstance(bounds, JSONResponse):
            return bounds
        matrix = handoff_matrix(total(context.reports.windows("day", *bounds).values()))
        if _wants_csv(request, format):
            return _csv(matrix, "handoffs.csv")
        return json_response({"from": bounds[0], "to": bounds[1], "matrix": matrix, "as_of": time.time()})

    return routes
