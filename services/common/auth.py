"""API keys with scopes, and rate limits per key (requests and events). Rules pure; FastAPI wiring last.

Keys are configured only as SHA-256 digests (``deploy/config/auth.example.toml``, path MP_AUTH_CONFIG), so
the file holds no secret. Each key carries scopes — what it may do:

- ``ingest``: POST /v1/events, for the ``sources`` it lists ("*": any);
- ``identify``: POST /v1/identify (moves identifiers between constituents);
- ``read``: scores, alerts and the alert stream;
- ``dead_letters``: GET /v1/dlq (refused input, which may hold personal data);
- ``operate``: acknowledge and resolve alerts (recorded under the key's name);
- ``erase``: erase a constituent on request (docs/privacy.md), recorded with the key's name and why.

A service refuses to start without MP_AUTH_CONFIG unless MP_ENVIRONMENT=development says so in words;
``make run`` creates development keys in ``.dev/`` and prints them. Keys are read from headers only
(``Authorization: Bearer`` or ``X-API-Key``); a route may also take a ``read`` key as ``?token=`` (the
alert stream, for browsers' EventSource). See docs/security.md.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network, ip_address
from pathlib import Path
from typing import Literal

from fastapi import HTTPException, Request
from pydantic import Field, model_validator

from services.common.config_files import ConfigError, read_config_file
from services.domain.config import StrictModel, parse_toml

log = logging.getLogger(__name__)

Scope = Literal["ingest", "identify", "read", "dead_letters", "operate", "erase"]
SCOPES: tuple[Scope, ...] = ("ingest", "identify", "read", "dead_letters", "operate", "erase")


class Key(StrictModel):
    """One key: who (``name``, recorded with what it does), its digest, what it may do, how fast."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    scopes: frozenset[Scope] = Field(min_length=1)
    sources: frozenset[str] = Field(
        default=frozenset(), description='with the ingest scope: the event sources it may submit; "*" any'
    )
    rate_per_second: float = Field(100.0, gt=0, description="requests per second, bursts of twice that")
    events_per_second: float = Field(
        2000.0, gt=0, description="events per second over all its requests, bursts of twice that"
    )

    @model_validator(mode="after")
    def _ingest_names_sources(self) -> Key:
        if ("ingest" in self.scopes) != bool(self.sources):
            raise ValueError("a key lists sources exactly when it has the ingest scope")
        return self

    def may_submit(self, source: str) -> bool:
        return "ingest" in self.scopes and ("*" in self.sources or source in self.sources)


class LegacyKey(StrictModel):
    """Version 1 sections: ``[[ingest_keys]]`` (with sources), ``[[read_tokens]]``, ``[[write_tokens]]``."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    rate_per_second: float = Field(100.0, gt=0)
    sources: frozenset[str] = frozenset()

    def as_key(self, scopes: frozenset[Scope]) -> Key:
        sources = self.sources if "ingest" in scopes else frozenset()
        return Key(
            name=self.name,
            sha256=self.sha256,
            scopes=scopes,
            sources=sources,
            rate_per_second=self.rate_per_second,
        )


class AuthConfig(StrictModel):
    """Version 2: ``[[keys]]`` with scopes. Version 1's sections still load, with the scopes they always
    meant and no more: ingest keys may ingest (not identify), read tokens read, write tokens read, operate
    and read dead letters."""

    version: int = Field(ge=1, le=2)
    keys: tuple[Key, ...] = ()
    ingest_keys: tuple[LegacyKey, ...] = ()
    read_tokens: tuple[LegacyKey, ...] = ()
    write_tokens: tuple[LegacyKey, ...] = ()

    @model_validator(mode="after")
    def _unique_names_and_keys(self) -> AuthConfig:
        keys = self.all_keys()
        for what, values in (("name", [k.name for k in keys]), ("sha256", [k.sha256 for k in keys])):
            repeated = sorted({value for value in values if values.count(value) > 1})
            if repeated:
                raise ValueError(f"each key needs its own {what}; repeated: {repeated}")
        return self

    def all_keys(self) -> tuple[Key, ...]:
        legacy = [
            *(key.as_key(frozenset({"ingest"})) for key in self.ingest_keys),
            *(key.as_key(frozenset({"read"})) for key in self.read_tokens),
            *(key.as_key(frozenset({"read", "operate", "dead_letters"})) for key in self.write_tokens),
        ]
        return (*self.keys, *legacy)

    @classmethod
    def load(cls, path: Path) -> AuthConfig:
        text = read_config_file(path, "auth config", "MP_AUTH_CONFIG")
        try:
            return parse_toml(cls, text, str(path))
        except ValueError as error:
            raise ConfigError(f"invalid auth config: {error}") from error


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class RateLimiter:
    """A token bucket per name: ``rate`` per second, bursts of up to two seconds' worth. At most
    ``max_names`` buckets are kept (the least recently used go first), so many callers cost bounded memory."""

    def __init__(self, max_names: int = 100_000) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # name → (tokens, last refill)
        self._max_names = max_names

    def waiting(self, name: str, rate: float, now: float) -> float | None:
        """None when one more would be allowed now; else how many seconds until it would be (not charged)."""
        tokens, last = self._buckets.get(name, (2 * rate, now))
        tokens = min(2 * rate, tokens + (now - last) * rate)
        return None if tokens >= 1 else (1 - tokens) / rate

    def retry_after(self, name: str, rate: float, now: float, cost: float = 1.0) -> float | None:
        """None when allowed (and charged); else how many seconds until it would be."""
        capacity = 2 * rate
        tokens, last = self._buckets.pop(name, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * rate)
        allowed = tokens >= cost
        self._buckets[name] = (tokens - cost if allowed else tokens, now)
        while len(self._buckets) > self._max_names:
            self._buckets.popitem(last=False)
        if allowed:
            return None
        return (cost - tokens) / rate if cost <= capacity else float("inf")


def too_many(what: str, wait: float) -> HTTPException:
    seconds = "60" if wait == float("inf") else str(max(1, round(wait)))
    return HTTPException(429, f"rate limit exceeded: {what}", headers={"Retry-After": seconds})


def client_address(request: Request, trusted: list[IPv4Network | IPv6Network]) -> str:
    """Who is calling, for per-client limits: the peer's address — or, when the peer is a trusted proxy,
    the nearest address in ``X-Forwarded-For`` that is not one (a client cannot pose as another by sending
    the header itself: only what trusted proxies appended is believed)."""
    peer = request.client.host if request.client else "unknown"
    if not trusted or not _within(peer, trusted):
        return peer
    forwarded = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",") if hop.strip()]
    for hop in reversed(forwarded):
        if not _within(hop, trusted):
            return hop
    return peer


def _within(address: str, networks: list[IPv4Network | IPv6Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def presented_key(request: Request, allow_query: bool = False) -> str | None:
    """``Authorization: Bearer <key>`` or ``X-API-Key``; ``?token=`` only where ``allow_query``."""
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    key = request.headers.get("x-api-key")
    if key is None and allow_query:
        key = request.query_params.get("token")
    return key or None


class Keyring:
    """Checks a request's key for a scope and charges its rate limits; raises 401, 403 or 429.

    Without a configuration (development only) every request passes as nobody's."""

    def __init__(self, config: AuthConfig | None) -> None:
        self.enabled = config is not None
        self._by_digest = {key.sha256: key for key in (config.all_keys() if config else ())}
        self._requests = RateLimiter()
        self._events = RateLimiter()

    def knows(self, presented: str | None) -> bool:
        """Whether ``presented`` is one of the configured keys (whatever it may do)."""
        return presented is not None and digest(presented) in self._by_digest

    def check(self, request: Request, scope: Scope, allow_query: bool = False) -> Key | None:
        if not self.enabled:
            return None
        presented = presented_key(request, allow_query)
        if presented is None:
            raise HTTPException(
                401,
                f"a key with the {scope!r} scope is required: send Authorization: Bearer <key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        key = self._by_digest.get(digest(presented))
        if key is None:
            raise HTTPException(401, "unknown key", headers={"WWW-Authenticate": "Bearer"})
        if scope not in key.scopes:
            raise HTTPException(403, f"key {key.name!r} lacks the {scope!r} scope")
        wait = self._requests.retry_after(key.name, key.rate_per_second, time.monotonic())
        if wait is not None:
            raise too_many(f"{key.rate_per_second:g} requests/s for {key.name!r}", wait)
        return key

    def who(self, request: Request) -> Key | None:
        """The key a request presents, whatever it may do (None: no keys configured); 401 unless known."""
        if not self.enabled:
            return None
        key = self._by_digest.get(digest(presented_key(request) or ""))
        if key is None:
            raise HTTPException(401, "a known key is required", headers={"WWW-Authenticate": "Bearer"})
        wait = self._requests.retry_after(key.name, key.rate_per_second, time.monotonic())
        if wait is not None:
            raise too_many(f"{key.rate_per_second:g} requests/s for {key.name!r}", wait)
        return key

    def charge_events(self, key: Key | None, events: int) -> None:
        """Count a request's events against its key's events/s; 429 when over (nothing is accepted)."""
        if key is None or events == 0:
            return
        wait = self._events.retry_after(key.name, key.events_per_second, time.monotonic(), events)
        if wait is not None:
            raise too_many(f"{key.events_per_second:g} events/s for {key.name!r}", wait)


def scopes_of(keys: Iterable[Key]) -> dict[str, list[str]]:
    """Key name → its scopes, for logging what a configuration allows (never the digests)."""
    return {key.name: sorted(key.scopes) for key in keys}


def load_auth(path: Path | None, service: str, development: bool) -> AuthConfig | None:
    """The keys; without MP_AUTH_CONFIG, ConfigError — unless on a development machine, where the service
    runs without authentication and says so."""
    if path is not None:
        config = AuthConfig.load(path)
        log.info("keys loaded", extra={"service": service, "keys": scopes_of(config.all_keys())})
        return config
    if not development:
        raise ConfigError(
            f"MP_AUTH_CONFIG is not set: {service} will not run without keys. Give it an auth config "
            "(deploy/config/auth.example.toml), or set MP_ENVIRONMENT=development on a development machine"
        )
    log.warning(f"authentication is OFF for {service} (MP_ENVIRONMENT=development, no MP_AUTH_CONFIG)")
    return None
