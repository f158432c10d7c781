"""What every HTTP service shares: security headers, request latency metrics, /metrics and /healthz."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_DURATION = Histogram(
    "mp_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template, method and status.",
    ["service", "route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


MAX_TIMED_LABEL_SETS = 1000  # routes × methods × statuses: a handful each; a cap all the same


class RequestTimer:
    """Latency per route template, as plain ASGI middleware: Starlette's ``@app.middleware("http")`` costs
    a task and a memory stream per request, a good part of a hot GET (docs/performance.md). Streams are left
    out: they last as long as the client stays."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self._timers: dict[tuple[str, str, int], Any] = {}  # a histogram child per label set, found once

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
                labels = (route, scope["method"], status)
                timer = self._timers.get(labels)
                if timer is None:
                    timer = REQUEST_DURATION.labels(self.service, route, scope["method"], str(status))
                    if len(self._timers) < MAX_TIMED_LABEL_SETS:
                        self._timers[labels] = timer
                timer.observe(time.perf_counter() - started)


# Every answer: no framing (clickjacking of the console's buttons), no MIME sniffing, no referrer, and
# nothing loaded from elsewhere. The interactive OpenAPI pages (/docs, /redoc) load FastAPI's scripts from
# its CDN and start them inline, so they get that much more.
CONTENT_SECURITY_POLICY = b"default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
DOCS_CONTENT_SECURITY_POLICY = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"img-src 'self' data: https://fastapi.tiangolo.com; "
    b"frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
DOCS_PATHS = ("/docs", "/redoc")


class SecurityHeaders:
    """Adds the security headers to every HTTP answer (plain ASGI, as RequestTimer, for the same reason)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"] in DOCS_PATHS or scope["path"] == "/docs/oauth2-redirect"
        policy = DOCS_CONTENT_SECURITY_POLICY if docs else CONTENT_SECURITY_POLICY

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    *SECURITY_HEADERS,
                    (b"content-security-policy", policy),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


def add_common_routes(app: FastAPI, service: str) -> None:
    """Security headers and latency middleware, /metrics, /healthz."""
    app.add_middleware(RequestTimer, service=service)
    app.add_middleware(SecurityHeaders)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}
