"""Providers' native webhooks and the web beacon: verify, map, resolve identities, accept."""

from __future__ import annotations

import logging
import time
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import httpx
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.ingest.adapters import Mapped, Unusable, Unverified, beacon, sendgrid, ses, stripe
from services.ingest.context import IngestContext, Outcome

log = logging.getLogger(__name__)


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


def webhook_routes(context: IngestContext, fetch: ses.Fetch | None = None) -> APIRouter:
    """``fetch`` replaces every HTTPS GET (certificates, subscription confirmations) in tests."""
    router = APIRouter(tags=["webhooks"])
    settings = context.settings
    confirm = fetch or _https_get
    if fetch is None:
        fetch = _from_folder(settings.sns_certificate_dir) if settings.sns_certificate_dir else _https_get
    certificates = ses.CertificateCache(fetch)
    sendgrid_key = (
        sendgrid.load_public_key(settings.sendgrid_verification_key)
        if settings.sendgrid_verification_key
        else None
    )

    async def accept(source: str, body: bytes, mapped: list[Mapped]) -> JSONResponse:
        outcome = Outcome()
        context.resolve(mapped, source, outcome)
        failed = await context.commit(outcome)
        if failed is not None:
            return failed
        return JSONResponse({"accepted": len(outcome.accepted), "dead_lettered": len(outcome.dead)})

    async def refuse(source: str, error: Exception, body: bytes) -> JSONResponse:
        if isinstance(error, Unverified):
            return await context.refuse_whole(source, "signature", 401, str(error), body)
        return await context.refuse_whole(source, "unparseable", 400, str(error), body)

    @router.post(
        "/v1/webhooks/stripe", summary="Stripe events (payment intents, refunds, subscriptions, invoices)"
    )
    async def stripe_webhook(request: Request) -> Any:
        body = await context.read_body(request, "stripe")
        if isinstance(body, JSONResponse):
            return body
        try:
            stripe.verify(body, request.headers.get("stripe-signature"), settings.stripe_secrets)
            mapped = stripe.map_event(orjson.loads(body))
        except (Unverified, Unusable, orjson.JSONDecodeError) as error:
            return await refuse("stripe", error, body)
        return await accept("stripe", body, mapped)

    @router.post("/v1/webhooks/sendgrid", summary="SendGrid Event Webhook deliveries (a JSON array)")
    async def sendgrid_webhook(request: Request) -> Any:
        body = await context.read_body(request, "sendgrid")
        if isinstance(body, JSONResponse):
            return body
        try:
            if sendgrid_key is not None:
                sendgrid.verify(
                    body,
                    request.headers.get(sendgrid.SIGNATURE_HEADER),
                    request.headers.get(sendgrid.TIMESTAMP_HEADER),
                    sendgrid_key,
                    time.time(),
                )
            mapped = sendgrid.map_events(orjson.loads(body))
        except (Unverified, Unusable, orjson.JSONDecodeError) as error:
            return await refuse("sendgrid", error, body)
        return await accept("sendgrid", body, mapped)

    @router.post("/v1/webhooks/ses", summary="Amazon SES notifications delivered by SNS")
    async def ses_webhook(request: Request) -> Any:
        body = await context.read_body(request, "ses")
        if isinstance(body, JSONResponse):
            return body
        try:
            message = orjson.loads(body)
            await ses.verify(message, certificates, time.time())
            if message["Type"] == "SubscriptionConfirmation":
                await confirm(ses.check_sns_url(message["SubscribeURL"]))
                log.info("confirmed the SNS subscription", extra={"topic": message.get("TopicArn")})
                return JSONResponse({"subscribed": True})
            if message["Type"] == "UnsubscribeConfirmation":
                return JSONResponse({"unsubscribed": True})
            mapped = ses.map_notification(message)
        except (Unverified, Unusable, orjson.JSONDecodeError) as error:
            return await refuse("ses", error, body)
        except httpx.HTTPError as error:
            return JSONResponse({"detail": f"could not confirm the subscription: {error}"}, status_code=502)
        return await accept("ses", body, mapped)

    @router.post(
        "/v1/collect",
        summary="The web beacon: page views, forms, client errors, failed logins (JSON or text/plain)",
    )
    async def collect(request: Request) -> Any:
        body = await context.read_body(request, "web")
        if isinstance(body, JSONResponse):
            return body
        try:
            mapped = beacon.map_beacon(orjson.loads(body), time.time())
        except (Unusable, orjson.JSONDecodeError) as error:
            return await refuse("web", error, body)
        return await accept("web", body, [mapped])

    return router
