"""Ingest's view of who is who: the identity links (``POST /v1/identify``) and the erasures, followed from
their topics. An erased person's links are forgotten — and tombstoned, so every replica and every restart
forgets them — unless the person is suppressed: then the links stay, so that every later event that
resolves to them is recognised and dropped (docs/privacy.md)."""

from __future__ import annotations

from typing import Any

import orjson

from services.common.follower import TopicFollower
from services.common.settings import CommonSettings
from services.domain.erasure import ErasureRegistry
from services.domain.identity import IdentityMap


class IdentityLinks:
    def __init__(self, settings: CommonSettings, identities: IdentityMap) -> None:
        self.identities = identities
        self.erasures = ErasureRegistry()
        self._written_at: dict[str, float] = {}  # link key → when its link was written
        self._tombstones: set[str] = set()  # link keys to tombstone on the topic (an erasure's)
        self.follower = TopicFollower(
            settings,
            "ingest",
            {settings.topic_identities: self._apply_link, settings.topic_erasures: self._apply_erasure},
        )

    @property
    def caught_up(self) -> bool:
        return self.follower.caught_up

    def suppressed(self, constituent_id: str) -> bool:
        return constituent_id in self.erasures.suppressed

    def take_tombstones(self) -> list[str]:
        """Link keys an erasure removed, to write as tombstones (once each)."""
        taken, self._tombstones = sorted(self._tombstones), set()
        return taken

    def requeue(self, keys: list[str]) -> None:
        self._tombstones.update(keys)

    def _apply_link(self, record: Any) -> None:
        key = record.key.decode()
        if record.value is None:
            self.identities.links.pop(key, None)
            self._written_at.pop(key, None)
            return
        target = orjson.loads(record.value)["constituent_id"]
        written = record.timestamp / 1000
        if self._erased_before(target, written):  # replayed after its person's erasure: forget it again
            self._tombstones.add(key)
            return
        self.identities.links[key] = target
        self._written_at[key] = written

    def _apply_erasure(self, record: Any) -> None:
        erasure = self.erasures.apply(orjson.loads(record.value))
        if erasure["suppress"]:
            return
        erased = erasure["constituent_id"]
        for key, target in list(self.identities.links.items()):
            if target == erased and self._written_at.get(key, 0.0) <= erasure["at"]:
                del self.identities.links[key]
                self._tombstones.add(key)

    def _erased_before(self, constituent_id: str, written: float) -> bool:
        return not self.suppressed(constituent_id) and self.erasures.written_before(constituent_id, written)
