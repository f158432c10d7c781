"""In-memory views the API serves, folded from the `constituent-scores` and `alerts` topics. Pure."""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from typing import Any

import orjson


class ScoreView:
    """The latest published state of every constituent (the compacted topic, replayed)."""

    def __init__(self) -> None:
        self._states: dict[str, dict[str, Any]] = {}

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        if value is None:
            self._states.pop(key.decode(), None)
        else:
            self._states[key.decode()] = orjson.loads(value)

    def get(self, constituent_id: str) -> dict[str, Any] | None:
        return self._states.get(constituent_id)

    def __len__(self) -> int:
        return len(self._states)


class AlertView:
    """Current state of the most recent alerts, and the update log that SSE clients resume from.

    Alerts live on a single-partition topic, so its offsets are one global order: an SSE event id is the
    offset, and ``Last-Event-ID`` means "everything after this offset".
    """

    def __init__(self, kept: int) -> None:
        self._current: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._updates: deque[tuple[int, dict[str, Any]]] = deque(maxlen=kept)
        self._kept = kept
        self._subscribers: set[asyncio.Queue[tuple[int, dict[str, Any]]]] = set()

    def apply(self, offset: int, alert: dict[str, Any]) -> None:
        alert_id = alert["alert_id"]
        self._current.pop(alert_id, None)
        self._current[alert_id] = alert
        if len(self._current) > self._kept:
            self._current.popitem(last=False)
        self._updates.append((offset, alert))
        for queue in list(self._subscribers):
            if queue.full():
                self._subscribers.discard(queue)  # a client this slow reconnects with Last-Event-ID
            else:
                queue.put_nowait((offset, alert))

    def newest(self, limit: int) -> list[dict[str, Any]]:
        """Most recently updated first."""
        return [alert for _, alert in zip(range(limit), reversed(self._current.values()), strict=False)]

    def updates_after(self, offset: int) -> list[tuple[int, dict[str, Any]]]:
        return [(o, alert) for o, alert in self._updates if o > offset]

    def subscribe(self) -> asyncio.Queue[tuple[int, dict[str, Any]]]:
        queue: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue(maxsize=1000)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[tuple[int, dict[str, Any]]]) -> None:
        self._subscribers.discard(queue)

    def is_subscribed(self, queue: asyncio.Queue[tuple[int, dict[str, Any]]]) -> bool:
        return queue in self._subscribers

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def __len__(self) -> int:
        return len(self._current)
