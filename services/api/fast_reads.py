"""One person's score, answered in plain ASGI: the API's hottest read without FastAPI's per-request work.

A profile of the API serving 1,000,000 people (docs/performance.md, "Serving a million people") put two
thirds of a GET by id in the framework — routing through every route, solving the route's dependencies,
wrapping the answer — and a third in answering it. ``ConstituentReads`` sits inside the common middleware
(security headers, latency metric) and answers ``GET /v1/constituents/<id>`` itself: the same key check
(``ApiContext.require_read``: 401, 403, 429 with their headers), the same answer (``constituent_answer``,
which the FastAPI route — still what the OpenAPI document describes — calls too). Anything else goes on
to FastAPI. A unit test asks both for the same requests and requires the same answers.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import HTTPException
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api.context import ApiContext
from services.api.presentation import constituent_now
from services.api.serving_errors import serving_unavailable

PREFIX = "/v1/constituents/"
ROUTE = PREFIX + "{constituent_id:path}"  # the FastAPI route it stands in for (metrics label it so)


async def constituent_answer(context: ApiContext, constituent_id: str) -> tuple[int, bytes]:
    """The status and JSON body of ``GET /v1/constituents/<constituent_id>``; RedisError when the serving
    tier is away (MP_SERVING=redis)."""
    views = context.versions.active  # one version per answer, whichever is live now
    published = await views.reads.get(constituent_id)
    if published is None:
        detail = f"constituent {constituent_id!r} has no score: no event of theirs was scored yet"
        return 404, orjson.dumps({"detail": detail})
    return 200, orjson.dumps(constituent_now(published, views.model, time.time()))


class ConstituentReads:
    def __init__(self, app: ASGIApp, context: ApiContext, route: Any) -> None:
        self.app = app
        self.context = context
        self.route = route  # set on the scope as the router would: RequestTimer's label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "GET" or not path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        headers: list[tuple[bytes, bytes]] = []
        try:
            await self.context.require_read(Request(scope))
        except HTTPException as refused:
            status, body = refused.status_code, orjson.dumps({"detail": refused.detail})
            headers = [
                (name.lower().encode(), value.encode()) for name, value in (refused.headers or {}).items()
            ]
        else:
            try:
                status, body = await constituent_answer(self.context, path[len(PREFIX) :])
            except RedisError as error:
                status, body, headers = serving_unavailable(self.context.settings, error)
        headers += [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
