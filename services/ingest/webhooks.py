"""Providers' native webhooks and the web beacon: verify, map, resolve identities, accept.

Each source is verified its own way (Stripe and SendGrid signatures, SNS certificates and topics, the
beacon's origin and user hash); a source whose verifier is not configured answers 503 and lets nothing
through. A post that fails verification is charged to its sender (per client address; behind
MP_TRUSTED_PROXIES, the address they forwarded), and a sender over that budget is refused before anything is
read; a verified post is charged to the provider's own budget (posts and events) — so unsigned junk cannot
spend what real deliveries need. Beacons (anonymous by design) are charged per client address, always. A
post carries at most MP_INGEST_MAX_EVENTS events. See docs/sources.md and docs/security.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpx
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.common.auth import RateLimiter, client_address, too_many
from services.common.config_files import ConfigError
from services.ingest.adapters import Mapped, Unusable, Unverified, beacon, sendgrid, ses, sns, stripe
from services.ingest.pipeline import IngestPipeline, Refused
from services.ingest.settings import IngestSettings

log = logging.getLogger(__name__)
MAX_FETCH_BYTES = 64 * 1024


@dataclass
class Reading:
    """What a source's reader made of a verified post: events, or an answer of its own (SNS handshakes);
    ``on_accepted`` runs once the events are safely in Kafka."""

    mapped: list[Mapped] = field(default_factory=list)
    answer: JSONResponse | None = None
    on_accepted: Callable[[], None] | None = None


Reader = Callable[[bytes, Request], Awaitable[Reading]]


async def _https_get(url: str) -> bytes:
    """GET without redirects, at most MAX_FETCH_BYTES (SNS certificates and subscription confirmations)."""
    async with (
        httpx.AsyncClient(timeout=10, follow_redirects=False) as client,
        client.stream("GET", url) as response,
    ):
        response.raise_for_status()
        data = bytearray()
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > MAX_FETCH_BYTES:
                raise ValueError(f"the answer is larger than {MAX_FETCH_BYTES} bytes")
        return bytes(data)


def _from_folder(folder: Path) -> sns.Fetch:
    """Pinned certificates: the file in ``folder`` named like the URL's last path segment."""

    async def read(url: str) -> bytes:
        path = folder / PurePosixPath(urlsplit(url).path).name
        try:
            return path.read_bytes()
        except OSError as error:
            raise Unverified(f"no pinned certificate {path.name} in {folder}") from error

    return read


def not_configured(settings: IngestSettings) -> dict[str, str]:
    """Source → why it answers 503: its verifier is missing. ConfigError for a setting that may not be."""
    unsigned = settings.sendgrid_allow_unsigned
    if unsigned and not settings.development:
        raise ConfigError("MP_SENDGRID_ALLOW_UNSIGNED is for development only (MP_ENVIRONMENT=development)")
    missing = {
        "stripe": "" if settings.stripe_secrets else "MP_STRIPE_WEBHOOK_SECRETS is not set",
        "sendgrid": ""
        if settings.sendgrid_verification_key or unsigned
        else "MP_SENDGRID_VERIFICATION_KEY is not set",
        "ses": "" if settings.ses_topic_arn_list else "MP_SES_TOPIC_ARNS is not set",
        "web": ""
        if settings.beacon_site_secrets
        else ", ".join(
            f"{name} is not set"
            for name, value in (
                ("MP_BEACON_ORIGINS", settings.beacon_origin_list),
                ("MP_BEACON_SECRET", settings.beacon_secret.get_secret_value()),
            )
            if not value
        ),
    }
    return {source: why for source, why in missing.items() if why}


def webhook_routes(pipeline: IngestPipeline, fetch: sns.Fetch | None = None) -> APIRouter:
    """``fetch`` replaces every HTTPS GET (certificates, subscription confirmations) in tests."""
    router = APIRouter(tags=["webhooks"])
    settings = pipeline.settings
    unconfigured = not_configured(settings)
    for source, why in unconfigured.items():  # a surprise in production; expected on a development machine
        level = logging.INFO if settings.development else logging.WARNING
        log.log(level, "webhook not configured: answers 503", extra={"source": source, "why": why})
    confirm = fetch or _https_get
    if settings.sns_certificate_dir:
        certificates = sns.CertificateCache(fetch or _from_folder(settings.sns_certificate_dir), trust=None)
    elif "ses" in unconfigured:
        certificates = sns.CertificateCache(_https_get, trust=None)  # never used: the route answers 503
    else:
        trust_file = settings.sns_trust_file or Path(certifi.where())
        try:
            trust = sns.trust_store(trust_file.read_bytes())
        except (OSError, ValueError) as error:
            raise ConfigError(
                f"cannot read the SNS trust file {trust_file} (MP_SNS_TRUST_FILE): {error}"
            ) from error
        certificates = sns.CertificateCache(fetch or _https_get, trust)
    replays = sns.ReplayGuard()
    sendgrid_key = (
        sendgrid.load_public_key(settings.sendgrid_verification_key)
        if settings.sendgrid_verification_key
        else None
    )
    beacon_secret = settings.beacon_secret.get_secret_value().encode()
    site_secrets = settings.beacon_site_secrets  # each site its own secret and ids (MP_BEACON_SITES)
    origins = frozenset(settings.beacon_origin_list)
    posts, events, senders = RateLimiter(), RateLimiter(), RateLimiter()
    trusted = settings.trusted_proxy_networks

    async def handle(request: Request, source: str, read: Reader) -> Any:
        """Refuse what is not configured or over its sender's rate; read the body, verify and map it with
        ``read``; charge the provider's rates; accept what it yields; refuse with a dead letter (401
        unverifiable, 400 unusable, 413 too many events) otherwise."""
        if source in unconfigured:
            detail = f"the {source} webhook is not configured: {unconfigured[source]}"
            return JSONResponse({"detail": detail}, status_code=503)
        sender = f"{source} {client_address(request, trusted)}"
        _check_sender(sender, source)
        try:
            if source == "web":
                _check_beacon_origin(request)
            body = await pipeline.read_body(request, source)
            try:
                reading = await read(body, request)
            except Unverified as error:
                raise Refused(source, "signature", 401, str(error), body) from error
            except (Unusable, orjson.JSONDecodeError) as error:
                raise Refused(source, "unparseable", 400, str(error), body) from error
        except Refused:
            if source != "web":  # unverified: its sender pays (a beacon sender already has)
                senders.retry_after(sender, settings.webhook_unverified_rate_per_second, time.monotonic())
            raise
        wait = posts.retry_after(source, settings.webhook_rate_per_second, time.monotonic())
        if wait is not None:  # verified: the provider's own budget
            raise too_many(f"{settings.webhook_rate_per_second:g} posts/s to the {source} webhook", wait)
        if reading.answer is not None:
            return reading.answer
        if len(reading.mapped) > settings.ingest_max_events:
            reason = f"{len(reading.mapped)} events in one post, at most {settings.ingest_max_events}"
            raise Refused(source, "too_large", 413, reason, body)
        rate = settings.webhook_events_per_second
        wait = events.retry_after(source, rate, time.monotonic(), max(1, len(reading.mapped)))
        if wait is not None:
            raise too_many(f"{rate:g} events/s through the {source} webhook", wait)
        outcome = pipeline.new_outcome(source)
        pipeline.resolve(reading.mapped, source, outcome)
        await pipeline.commit(outcome)
        if reading.on_accepted is not None:
            reading.on_accepted()
        return JSONResponse({"accepted": len(outcome.accepted), "dead_lettered": len(outcome.dead)})

    def _check_sender(sender: str, source: str) -> None:
        """Before anything is read: a beacon sender is charged at the beacon's rate; any other sender is
        refused while it is over the budget of posts that failed verification."""
        now = time.monotonic()
        if source == "web":
            rate = settings.beacon_rate_per_second
            wait = senders.retry_after(sender, rate, now)
            what = f"{rate:g} beacons/s from one address"
        else:
            rate = settings.webhook_unverified_rate_per_second
            wait = senders.waiting(sender, rate, now)
            what = f"{rate:g} unverified posts/s to the {source} webhook from one address"
        if wait is not None:
            raise too_many(what, wait)

    def _check_beacon_origin(request: Request) -> None:
        origin = request.headers.get("origin")
        if origin not in origins:
            shown = "no Origin header" if origin is None else f"origin {origin[:100]!r}"
            raise Refused("web", "not_allowed", 403, f"{shown} may not post beacons (MP_BEACON_ORIGINS)", b"")

    async def read_stripe(body: bytes, request: Request) -> Reading:
        stripe.verify(body, request.headers.get("stripe-signature"), settings.stripe_secrets)
        return Reading(stripe.map_event(orjson.loads(body)))

    async def read_sendgrid(body: bytes, request: Request) -> Reading:
        if sendgrid_key is not None:
            signature = request.headers.get(sendgrid.SIGNATURE_HEADER)
            timestamp = request.headers.get(sendgrid.TIMESTAMP_HEADER)
            sendgrid.verify(body, signature, timestamp, sendgrid_key, time.time())
        return Reading(sendgrid.map_events(orjson.loads(body)))

    async def read_ses(body: bytes, request: Request) -> Reading:
        message = orjson.loads(body)
        now = time.time()
        sent = await sns.verify(
            message, certificates, settings.ses_topic_arn_list, now, settings.sns_allow_sha1
        )
        message_id = str(message.get("MessageId"))
        if replays.seen(message_id, now):
            return Reading(answer=JSONResponse({"accepted": 0, "dead_lettered": 0, "replayed": True}))
        if message["Type"] == "SubscriptionConfirmation":
            url = sns.check_sns_url(message.get("SubscribeURL"))
            try:
                await confirm(url)
            except Exception as error:
                detail = f"could not confirm the subscription: {type(error).__name__}: {error}"
                return Reading(answer=JSONResponse({"detail": detail}, status_code=502))
            replays.remember(message_id, sent)
            log.info("confirmed the SNS subscription", extra={"topic": message.get("TopicArn")})
            return Reading(answer=JSONResponse({"subscribed": True}))
        if message["Type"] == "UnsubscribeConfirmation":
            return Reading(answer=JSONResponse({"unsubscribed": True}))
        return Reading(ses.map_notification(message), on_accepted=lambda: replays.remember(message_id, sent))

    async def read_beacon(body: bytes, request: Request) -> Reading:
        origin = request.headers.get("origin", "")
        if site_secrets:  # the origin was checked against them: its own secret, its own ids
            site = urlsplit(origin).hostname or origin
            return Reading([beacon.map_beacon(orjson.loads(body), time.time(), site_secrets[origin], site)])
        return Reading([beacon.map_beacon(orjson.loads(body), time.time(), beacon_secret)])

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
