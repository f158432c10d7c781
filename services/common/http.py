"""What every HTTP service shares: request latency metrics, /metrics and /healthz."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Histogram, generate_latest
from starlette.routing import Match

REQUEST_DURATION = Histogram(
    "mp_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template, method and status.",
    ["service", "route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def _route_template(app: FastAPI, request: Request) -> str:
    for route in app.router.routes:
        match, _ = route.matches(request.scope)
        if match is Match.FULL:
            return str(getattr(route, "path", "unmatched"))
    return "unmatched"


def add_common_routes(app: FastAPI, service: str) -> None:
    """Latency middleware (streams excluded: they last as long as the client stays), /metrics, /healthz."""

    @app.middleware("http")
    async def time_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = _route_template(app, request)
        if not route.endswith("/stream"):
            REQUEST_DURATION.labels(service, route, request.method, str(response.status_code)).observe(
                time.perf_counter() - started
            )
        return response

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}
