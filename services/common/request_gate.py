"""What a caller must show before a service reads a body: a key it knows, then a body within the limit.

FastAPI reads and parses a route's body before the route's own dependencies run — so a key check inside the
route came after a caller with no key had made the service hold (and parse) whatever it sent: a 600 MB
body with no key drove the API past 1 GB of memory and was answered 422, not 401 (issue 34). ``RequestGate``
sits in front, as plain ASGI: for a request that carries a body, on a route that needs a key, it answers 401
unless the request presents a key the service knows (what that key may do, and its rate limits, the route
still checks: 403, 429); then 413 if the declared length is over the limit, or once what arrives is — while
reading, never more than the limit held — and only then hands the body on. Routes that verify their callers
otherwise and keep what they refuse (ingest's events and webhooks: signatures, dead letters) are left to
themselves (``exempt``).
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.auth import Keyring, presented_key

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class RequestGate:
    def __init__(
        self,
        app: ASGIApp,
        keys: Keyring,
        max_body_bytes: int,
        exempt: Callable[[str], bool] = lambda _: False,
    ) -> None:
        self.app = app
        self.keys = keys
        self.limit = max_body_bytes
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS or self.exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.keys.enabled and not self.keys.knows(presented_key(Request(scope))):
            await _answer(send, 401, "a known key is required: send Authorization: Bearer <key>", bearer=True)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await _answer(send, 413, f"body of {int(declared)} bytes, at most {self.limit}")
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.limit:
                await _answer(send, 413, f"body larger than {self.limit} bytes")
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body in one message, then whatever the connection says next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _answer(send: Send, status: int, detail: str, bearer: bool = False) -> None:
    headers = [(b"content-type", b"application/json")]
    if bearer:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": orjson.dumps({"detail": detail})})
