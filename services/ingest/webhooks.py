"""Providers' native webhooks and the web beacon: verify, map, resolve identities, accept."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import httpx
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.ingest.adapters import Mapped, Unusable, Unverified, beacon, sendgrid, ses, stripe
from services.ingest.pipeline import IngestPipeline, Outcome, Refused

log = logging.getLogger(__name__)
Reader = Callable[[bytes, Request], Awaitable["list[Mapped] | JSONResponse"]]


async def _https_get(url: str) -> bytes:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(url)
        response.raise_for_status()
        return response.content


def _from_folder(folder: Path) -> ses.Fetch:
    """Pinned certificates: the file in ``folder`` named like the URL's last path segment."""

    async def read(url: str) -> bytes:
        path = folder / PurePosixPath(urlparse(url).path).name
        try:
            return path.read_bytes()
        except OSError as error:
            raise Unverified(f"no pinned certificate {path.name} in {folder}") from error

    return read


def webhook_routes(pipeline: IngestPipeline, fetch: ses.Fetch | None = None) -> APIRouter:
    """``fetch`` replaces every HTTPS GET (certificates, subscription confirmations) in tests."""
    router = APIRouter(tags=["webhooks"])
    settings = pipeline.settings
    confirm = fetch or _https_get
    if fetch is None:
        fetch = _from_folder(settings.sns_certificate_dir) if settings.sns_certificate_dir else _https_get
    certificates = ses.CertificateCache(fetch)
    sendgrid_key = (
        sendgrid.load_public_key(settings.sendgrid_verification_key)
        if settings.sendgrid_verification_key
        else None
    )

    async def handle(request: Request, source: str, read: Reader) -> Any:
        """Read the body, verify and map it with ``read``, accept what it yields; refuse with a dead
        letter (401 unverifiable, 400 unusable) otherwise. ``read`` may answer by itself (SNS handshakes)."""
        body = await pipeline.read_body(request, source)
        try:
            mapped = await read(body, request)
        except Unverified as error:
            raise Refused(source, "signature", 401, str(error), body) from error
        except (Unusable, orjson.JSONDecodeError) as error:
            raise Refused(source, "unparseable", 400, str(error), body) from error
        if isinstance(mapped, JSONResponse):
            return mapped
        outcome = Outcome()
        pipeline.resolve(mapped, source, outcome)
        await pipeline.commit(outcome)
        return JSONResponse({"accepted": len(outcome.accepted), "dead_lettered": len(outcome.dead)})

    async def read_stripe(body: bytes, request: Request) -> list[Mapped]:
        stripe.verify(body, request.headers.get("stripe-signature"), settings.stripe_secrets)
        return stripe.map_event(orjson.loads(body))

    async def read_sendgrid(body: bytes, request: Request) -> list[Mapped]:
        if sendgrid_key is not None:
            signature = request.headers.get(sendgrid.SIGNATURE_HEADER)
            timestamp = request.headers.get(sendgrid.TIMESTAMP_HEADER)
            sendgrid.verify(body, signature, timestamp, sendgrid_key, time.time())
        return sendgrid.map_events(orjson.loads(body))

    async def read_ses(body: bytes, request: Request) -> list[Mapped] | JSONResponse:
        message = orjson.loads(body)
        await ses.verify(message, certificates, time.time())
        if message["Type"] == "SubscriptionConfirmation":
            try:
                await confirm(ses.check_sns_url(message["SubscribeURL"]))
            except httpx.HTTPError as error:
                return JSONResponse(
                    {"detail": f"could not confirm the subscription: {error}"}, status_code=502
                )
            log.info("confirmed the SNS subscription", extra={"topic": message.get("TopicArn")})
            return JSONResponse({"subscribed": True})
        if message["Type"] == "UnsubscribeConfirmation":
            return JSONResponse({"unsubscribed": True})
        return ses.map_notification(message)

    async def read_beacon(body: bytes, request: Request) -> list[Mapped]:
        return [beacon.map_beacon(orjson.loads(body), time.time())]

    summaries = {
        "/v1/webhooks/stripe": (
            "stripe",
            read_stripe,
            "Stripe events (payment intents, refunds, subscriptions)",
        ),
        "/v1/webhooks/sendgrid": (
            "sendgrid",
            read_sendgrid,
            "SendGrid Event Webhook deliveries (a JSON array)",
        ),
        "/v1/webhooks/ses": ("ses", read_ses, "Amazon SES notifications delivered by SNS"),
        "/v1/collect": ("web", read_beacon, "The web beacon: page views, forms, errors, failed logins"),
    }

    def route_for(source: str, read: Reader) -> Callable[[Request], Awaitable[Any]]:
        async def route(request: Request) -> Any:
            return await handle(request, source, read)

        return route

    for path, (source, read, summary) in summaries.items():
        router.add_api_route(path, route_for(source, read), methods=["POST"], summary=summary, name=source)

    return router
