"""API: scores and alerts over HTTP, alerts live over server-sent events, and the operations console.

``create_app`` wires the shared context (services/api/context.py) to one router per resource
(services/api/routes/); how answers look is in services/api/presentation.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from fastapi.middleware import Middleware
from fastapi.staticfiles import StaticFiles
from redis.exceptions import RedisError

from services.api import serving_errors
from services.api.context import ApiContext
from services.api.fast_reads import ROUTE as FAST_ROUTE
from services.api.fast_reads import ConstituentReads
from services.api.routes import alert_groups, alerts, constituents, dead_letters, erasure, reports, system
from services.api.routes.system import CONSOLE_DIR
from services.api.settings import ApiSettings
from services.common.http import add_common_routes
from services.common.request_gate import RequestGate


def create_app(settings: ApiSettings | None = None, fast_reads: bool = True) -> FastAPI:
    """The API. ``fast_reads``: one person's score answered in plain ASGI (services/api/fast_reads.py);
    off only for the test that holds it to the FastAPI route's answers."""
    context = ApiContext.build(settings or ApiSettings())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(job) for job in context.background()]
        yield
        for task in tasks:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        await context.publisher.stop()

    app = FastAPI(
        title="Mission Pulse API",
        version="1",
        description="Constituent experience scores and alerts, served from views of Kafka topics.",
        lifespan=lifespan,
        # the console's origin serves nothing under a looser policy unless asked (issue 34)
        docs_url="/docs" if context.settings.api_interactive_docs else None,
        redoc_url="/redoc" if context.settings.api_interactive_docs else None,
    )
    app.state.context = context
    app.add_exception_handler(RedisError, serving_errors.handler(context.settings))  # MP_SERVING=redis
    # a known key before any body is read, and bodies bounded while reading (inside the common middleware)
    app.add_middleware(RequestGate, keys=context.keys, max_body_bytes=context.settings.api_max_body_bytes)
    add_common_routes(app, "api")
    routers = {
        resource: resource.router(context)
        for resource in (system, constituents, erasure, alert_groups, alerts, dead_letters, reports)
    }
    for router in routers.values():
        app.include_router(router)
    app.mount("/console/", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")
    if fast_reads:  # innermost of the middleware: after the security headers and the latency metric
        route = next(r for r in routers[constituents].routes if getattr(r, "path", None) == FAST_ROUTE)
        app.user_middleware.append(Middleware(ConstituentReads, context, route))
    return app
