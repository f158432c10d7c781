"""What every HTTP service shares: request latency metrics, /metrics and /healthz."""

from __future__ import annotations

import time

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_DURATION = Histogram(
    "mp_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template, method and status.",
    ["service", "route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class RequestTimer:
    """Latency per route template, as plain ASGI middleware: Starlette's ``@app.middleware("http")`` costs
    a task and a memory stream per request, a good part of a hot GET (docs/performance.md). Streams are left
    out: they last as long as the client stays."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts

        async def note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, note_status)
        finally:
            route = str(getattr(scope.get("route"), "path", "unmatched"))  # set by the router on a match
            if not route.endswith("/stream"):
                REQUEST_DURATION.labels(self.service, route, scope["method"], str(status)).observe(
                    time.perf_counter() - started
                )


def add_common_routes(app: FastAPI, service: str) -> None:
    """Latency middleware, /metrics, /healthz."""
    app.add_middleware(RequestTimer, service=service)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}
