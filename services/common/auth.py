"""API keys, read tokens and per-key rate limits. The rules are pure; FastAPI wiring is at the bottom.

Keys are configured only as SHA-256 digests (``deploy/config/auth.example.toml``, path MP_AUTH_CONFIG), so
the file holds no secret. Without MP_AUTH_CONFIG authentication is off and the services say so loudly at
start-up; ``make run`` creates development keys in ``.dev/`` and prints them.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import HTTPException, Request
from pydantic import Field

from services.common.config_files import ConfigError, read_config_file
from services.domain.config import StrictModel, parse_toml

log = logging.getLogger(__name__)


class KeyRule(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    rate_per_second: float = Field(100.0, gt=0)


class IngestKey(KeyRule):
    sources: frozenset[str] = Field(
        min_length=1, description='event sources this key may submit; "*" for any'
    )

    def may_submit(self, source: str) -> bool:
        return "*" in self.sources or source in self.sources


class AuthConfig(StrictModel):
    version: int = Field(ge=1, le=1)
    ingest_keys: tuple[IngestKey, ...] = ()
    read_tokens: tuple[KeyRule, ...] = ()
    write_tokens: tuple[KeyRule, ...] = ()  # read, and act on alerts (acknowledge, resolve)

    @classmethod
    def load(cls, path: Path) -> AuthConfig:
        text = read_config_file(path, "auth config", "MP_AUTH_CONFIG")
        try:
            return parse_toml(cls, text, str(path))
        except ValueError as error:
            raise ConfigError(f"invalid auth config: {error}") from error


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass
class RateLimiter:
    """A token bucket per key name: ``rate`` per second, bursts of up to two seconds' worth."""

    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # name → (tokens, last refill)

    def retry_after(self, name: str, rate: float, now: float, cost: float = 1.0) -> float | None:
        """None when allowed (and charged); else how many seconds until it would be."""
        capacity = 2 * rate
        tokens, last = self._buckets.get(name, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * rate)
        if tokens < cost:
            self._buckets[name] = (tokens, now)
            return (cost - tokens) / rate
        self._buckets[name] = (tokens - cost, now)
        return None


def presented_key(request: Request) -> str | None:
    """``Authorization: Bearer <key>``, or ``X-API-Key``; ``?token=`` too, for browsers' EventSource."""
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return request.headers.get("x-api-key") or request.query_params.get("token") or None


class Gate:
    """Checks a request's key against one kind of rule and its rate limit; raises 401 or 429."""

    def __init__(
        self, rules: tuple[KeyRule, ...] | None, what: str, too_weak: tuple[KeyRule, ...] = ()
    ) -> None:
        """``too_weak``: valid keys of another kind, refused with 403 rather than 401."""
        self.enabled = rules is not None
        self._by_digest = {rule.sha256: rule for rule in rules or ()}
        self._too_weak = {rule.sha256 for rule in too_weak}
        self._what = what
        self._limiter = RateLimiter()

    def check(self, request: Request, cost: float = 1.0) -> KeyRule | None:
        if not self.enabled:
            return None
        key = presented_key(request)
        if key is None:
            raise HTTPException(
                401,
                f"{self._what} required: send Authorization: Bearer <key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        rule = self._by_digest.get(digest(key))
        if rule is None and digest(key) in self._too_weak:
            raise HTTPException(403, f"this key may read but not do this: it needs a {self._what}")
        if rule is None:
            raise HTTPException(401, f"unknown {self._what}", headers={"WWW-Authenticate": "Bearer"})
        wait = self._limiter.retry_after(rule.name, rule.rate_per_second, time.monotonic(), cost)
        if wait is not None:
            raise HTTPException(
                429,
                f"rate limit of {rule.rate_per_second:g}/s for {rule.name!r} exceeded",
                headers={"Retry-After": str(max(1, round(wait)))},
            )
        return rule


def load_auth(path: Path | None, service: str) -> AuthConfig | None:
    if path is None:
        log.warning(f"authentication is OFF for {service}: set MP_AUTH_CONFIG to require keys")
        return None
    return AuthConfig.load(path)
