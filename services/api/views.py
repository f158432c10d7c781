"""In-memory views the API serves, folded from the `alerts` and dead-letter topics. Pure.
(The scores' view: score_view.py.)"""

from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

import orjson

from services.domain.alerts.actions import merge
from services.domain.alerts.model import Alert
from services.domain.erasure import erased_alert


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """What a client asked to see; every given field must match."""

    status: str | None = None
    kind: str | None = None
    severity: str | None = None
    constituent_id: str | None = None
    since: datetime | None = None
    owner: str | None = None
    rule: str | None = None
    priority: bool | None = None

    def matches(self, alert: Alert) -> bool:
        if self.since is not None:
            latest = alert.get("resolved_at") or alert.get("opened_at")
            if latest is None or datetime.fromisoformat(latest) < self.since:
                return False
        return (
            (self.status is None or alert.get("status") == self.status)
            and (self.kind is None or alert.get("kind") == self.kind)
            and (self.severity is None or alert.get("severity") == self.severity)
            and (self.constituent_id is None or alert.get("constituent_id") == self.constituent_id)
            and (self.owner is None or alert.get("owner") == self.owner)
            and (self.rule is None or alert.get("rule") == self.rule)
            and (self.priority is None or bool(alert.get("priority")) == self.priority)
        )


EVERYTHING = AlertFilter()


class AlertView:
    """Current state of the most recent alerts, and the update log that SSE clients resume from.

    Alerts live on a single-partition topic, so its offsets are one global order: an SSE event id is the
    offset, and ``Last-Event-ID`` means "everything after this offset".
    """

    def __init__(self, kept: int) -> None:
        self._current: OrderedDict[str, Alert] = OrderedDict()
        self._updates: deque[tuple[int, Alert]] = deque(maxlen=kept)
        self._kept = kept
        self._subscribers: set[asyncio.Queue[tuple[int, Alert]]] = set()
        self._open_by_kind: Counter[str] = Counter()
        self.applied_offset = -1  # of the newest record folded in
        self._erased: set[str] = set()  # constituents erased (the erasures topic): never served again
        self._erased_alerts: set[str] = set()  # alert ids of theirs, for records that do not name them

    async def wait_applied(self, offset: int, timeout_s: float) -> bool:
        """Wait until the record at ``offset`` was folded in (this replica's own writes read back)."""
        try:
            async with asyncio.timeout(timeout_s):
                while self.applied_offset < offset:
                    await asyncio.sleep(0.01)
        except TimeoutError:
            return False
        return True

    def apply(self, offset: int, record: Alert) -> None:
        alert_id = record["alert_id"]
        previous = self._current.pop(alert_id, None)
        alert = merge(previous, record)
        if alert.get("constituent_id") in self._erased or alert_id in self._erased_alerts:
            alert = erased_alert(alert)  # the erasure came first (another topic: no order between them)
            self._erased_alerts.add(alert_id)
        self._count(previous, -1)
        self._current[alert_id] = alert
        self._count(alert, +1)
        if len(self._current) > self._kept:
            _, evicted = self._current.popitem(last=False)
            self._count(evicted, -1)
        if alert.get("erased"):  # its person was erased: what this replica still holds of them goes too
            self._updates = deque(
                ((o, alert if a["alert_id"] == alert_id else a) for o, a in self._updates), maxlen=self._kept
            )
        self._updates.append((offset, alert))
        self.applied_offset = offset
        for queue in list(self._subscribers):
            if queue.full():
                self._subscribers.discard(queue)  # a client this slow reconnects with Last-Event-ID
            else:
                queue.put_nowait((offset, alert))

    def forget(self, constituent_id: str) -> None:
        """A constituent's erasure: every alert and update of theirs this replica holds, whatever its age
        and however it first arrived, is served without them from now on — so is any that arrives later."""
        self._erased.add(constituent_id)
        for alert_id, alert in self._current.items():
            if alert.get("constituent_id") == constituent_id:
                self._erased_alerts.add(alert_id)
                self._current[alert_id] = erased_alert(alert)
        self._updates = deque(
            ((o, erased_alert(a) if a["alert_id"] in self._erased_alerts else a) for o, a in self._updates),
            maxlen=self._kept,
        )

    def _count(self, alert: Alert | None, change: int) -> None:
        if alert is not None and alert["status"] == "open":
            self._open_by_kind[alert["kind"]] += change

    def open_count(self, kind: str) -> int:
        return self._open_by_kind[kind]

    def open_counts(self) -> dict[str, int]:
        return {kind: count for kind, count in sorted(self._open_by_kind.items()) if count > 0}

    def get(self, alert_id: str) -> Alert | None:
        return self._current.get(alert_id)

    def newest(self, limit: int, wanted: AlertFilter = EVERYTHING) -> list[Alert]:
        """Most recently updated first."""
        matching = (alert for alert in reversed(self._current.values()) if wanted.matches(alert))
        return list(islice(matching, limit))

    def updates_after(self, offset: int, wanted: AlertFilter = EVERYTHING) -> list[tuple[int, Alert]]:
        return [(o, alert) for o, alert in self._updates if o > offset and wanted.matches(alert)]

    def subscribe(self) -> asyncio.Queue[tuple[int, Alert]]:
        queue: asyncio.Queue[tuple[int, Alert]] = asyncio.Queue(maxsize=1000)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[tuple[int, Alert]]) -> None:
        self._subscribers.discard(queue)

    def is_subscribed(self, queue: asyncio.Queue[tuple[int, Alert]]) -> bool:
        return queue in self._subscribers

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def __len__(self) -> int:
        return len(self._current)


class DeadLetterView:
    """The most recent dead letters — at most ``kept`` of them and ``max_bytes`` of their records, the oldest
    going first — and exact counts of all of them by source and reason code."""

    def __init__(self, kept: int, max_bytes: int = 32 * 2**20) -> None:
        self._recent: deque[tuple[int, dict[str, Any]]] = deque()  # (record bytes, letter)
        self._kept, self._max_bytes, self._bytes = kept, max_bytes, 0
        self._counts: Counter[tuple[str, str]] = Counter()
        self._erased: set[str] = set()

    def apply(self, letter: dict[str, Any], size: int = 0) -> None:
        """Fold in one dead letter; ``size``: its record's bytes (what it costs to keep). One that names an
        erased constituent is counted, not kept."""
        key = (str(letter["source"]), str(letter["reason_code"]))
        if any(_names(letter, person) for person in self._erased):
            self._counts[key] += 1
            return
        self._recent.append((size, letter))
        self._bytes += size
        while len(self._recent) > self._kept or (self._bytes > self._max_bytes and len(self._recent) > 1):
            evicted, _ = self._recent.popleft()
            self._bytes -= evicted
        self._counts[key] += 1

    def forget(self, constituent_id: str) -> None:
        """A constituent's erasure: the letters that name them go (their counts stay), and any that come."""
        self._erased.add(constituent_id)
        kept = deque(entry for entry in self._recent if not _names(entry[1], constituent_id))
        self._bytes = sum(size for size, _ in kept)
        self._recent = kept

    @property
    def kept_bytes(self) -> int:
        return self._bytes

    def newest(self, limit: int, source: str | None, reason_code: str | None) -> list[dict[str, Any]]:
        matching = (
            letter
            for _, letter in reversed(self._recent)
            if source in (None, letter["source"]) and reason_code in (None, letter["reason_code"])
        )
        return list(islice(matching, limit))

    def total(self) -> int:
        return sum(self._counts.values())

    def counts(self) -> list[dict[str, Any]]:
        return [
            {"source": source, "reason_code": reason_code, "count": count}
            for (source, reason_code), count in self._counts.most_common()
        ]


def _names(letter: dict[str, Any], constituent_id: str) -> bool:
    """Whether a dead letter names ``constituent_id`` anywhere (its payload is JSON text; ids are kept in
    it, so the id appears as a JSON string)."""
    quoted = orjson.dumps(constituent_id).decode()
    return quoted in str(letter.get("payload", "")) or letter.get("constituent_id") == constituent_id
