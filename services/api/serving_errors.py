"""Redis away (``MP_SERVING=redis``): 503 with Retry-After, never a stale or partial answer.

A read that Redis does not answer — down, failing over, timed out — is a ``RedisError``; every route answers
it the same way, through FastAPI's exception handler or the plain-ASGI fast lane (services/api/fast_reads.py),
and counts it (the error's kind only: no address or password reaches the answer, the log or the metric).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from fastapi import Request
from fastapi.responses import Response
from prometheus_client import Counter

from services.api.settings import ApiSettings

SERVING_UNAVAILABLE = Counter(
    "mp_api_serving_unavailable_total",
    "Reads answered 503 because the serving tier (Redis) did not answer, by the error's kind.",
    ["error"],
)


def serving_unavailable(
    settings: ApiSettings, error: Exception
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """The status, JSON body and headers of the answer while Redis is away."""
    kind = type(error).__name__
    SERVING_UNAVAILABLE.labels(kind).inc()
    detail = f"the serving tier (Redis) is unavailable ({kind}); retry after {settings.redis_retry_after_s} s"
    return (
        503,
        orjson.dumps({"detail": detail}),
        [(b"retry-after", str(settings.redis_retry_after_s).encode())],
    )


def handler(settings: ApiSettings) -> Callable[[Request, Exception], Awaitable[Response]]:
    """FastAPI's exception handler for RedisError, as the fast lane answers it."""

    async def answer(_: Request, error: Exception) -> Response:
        status, body, headers = serving_unavailable(settings, error)
        return Response(
            body,
            status_code=status,
            media_type="application/json",
            headers={name.decode(): value.decode() for name, value in headers},
        )

    return answer
