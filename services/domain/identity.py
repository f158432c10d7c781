"""One person across silos: from the identifiers providers know to a constituent id. Pure: no I/O.

Providers know an email address, a Stripe customer id or a website user id — never our constituent id.
Each identifier becomes a key: ``email:<keyed hash>`` (an address is normalised and kept only as an
HMAC under a secret key, never in clear), ``stripe:<customer id>``, ``web:<user id>``,
``visitor:<anonymous id>``. A key linked by ``POST /v1/identify`` resolves to its linked constituent; an
unlinked key resolves to an id derived from the key itself, so every replica gives the same new id without
asking anyone. See docs/identity.md.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

IdentifierKind = Literal["constituent", "email", "stripe_customer", "web_user", "web_visitor"]
# The order in which identifiers decide a constituent when an event names several.
PRIORITY: tuple[IdentifierKind, ...] = ("constituent", "email", "stripe_customer", "web_user", "web_visitor")
# web_user: a site's logged-in user, proven by the beacon's user_hash; web_visitor: a browser's anonymous id
# (anyone can claim any, so it never shares a key with a user id)
_PREFIX = {"email": "email", "stripe_customer": "stripe", "web_user": "web", "web_visitor": "visitor"}


def normalise_email(address: str) -> str:
    return address.strip().lower()


@dataclass(frozen=True, slots=True)
class IdentityKeys:
    """Turns identifiers into keys; ``secret`` is the HMAC key for email addresses (MP_IDENTITY_SECRET)."""

    secret: bytes

    def key(self, kind: IdentifierKind, value: str) -> str:
        if kind == "email":
            digest = hmac.new(self.secret, normalise_email(value).encode(), hashlib.sha256).hexdigest()[:32]
            return f"email:{digest}"
        return f"{_PREFIX[kind]}:{value.strip()}"

    def derived_constituent(self, key: str) -> str:
        """The stable id of a person first seen through ``key``."""
        return "k-" + hmac.new(self.secret, key.encode(), hashlib.sha256).hexdigest()[:20]


@dataclass(slots=True)
class IdentityMap:
    """The links made by ``POST /v1/identify`` (a compacted topic, replayed), and resolution."""

    keys: IdentityKeys
    links: dict[str, str] = field(default_factory=dict)  # identifier key → constituent id

    def resolve(self, identifiers: Mapping[IdentifierKind, str]) -> str | None:
        """The constituent an event's identifiers name, or None when it names none."""
        ordered = [(kind, identifiers[kind]) for kind in PRIORITY if identifiers.get(kind)]
        if not ordered:
            return None
        if ordered[0][0] == "constituent":
            return ordered[0][1]
        keys = [self.keys.key(kind, value) for kind, value in ordered]
        for key in keys:
            if key in self.links:
                return self.links[key]
        return self.keys.derived_constituent(keys[0])

    def touched(
        self, identifiers: Mapping[IdentifierKind, str], constituent_id: str | None = None
    ) -> set[str]:
        """The constituents ``link`` would touch: its target, and every one an identifier is linked to now."""
        target = constituent_id or self.resolve(identifiers)
        owners = {
            self.links[key]
            for kind in PRIORITY[1:]
            if identifiers.get(kind) and (key := self.keys.key(kind, identifiers[kind])) in self.links
        }
        return owners | ({target} if target else set())

    def link(
        self, identifiers: Mapping[IdentifierKind, str], constituent_id: str | None = None
    ) -> tuple[str, dict[str, str], dict[str, str]]:
        """Link every identifier to one constituent: the given one, else the one they resolve to now.

        Returns (constituent id, links to write as {key: constituent id}, keys that moved {key: from}).
        """
        target = constituent_id or self.resolve(identifiers)
        if target is None:
            raise ValueError("name at least one identifier (email, stripe_customer, web_user)")
        writes, moved = {}, {}
        for kind in PRIORITY[1:]:
            value = identifiers.get(kind)
            if not value:
                continue
            key = self.keys.key(kind, value)
            previous = self.links.get(key)
            if previous != target:
                writes[key] = target
                if previous is not None:
                    moved[key] = previous
        self.links.update(writes)
        return target, writes, moved
