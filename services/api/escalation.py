"""Escalating open alerts nobody acknowledged within their rule's ``ack_within_minutes``.

Only the API sees acknowledgements, so it decides: every ``interval_s`` it looks at the open alerts of its
view and publishes an escalation record (services/domain/alerts/routing.py) for each one due. Every replica
may do so; ``merge`` folds the first and ignores the rest, so an alert escalates once however many there
are. The updated alert reaches SSE clients and Alertmanager (with its new severity) like any other.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import orjson
from prometheus_client import Counter

from services.api.presentation import iso
from services.api.views import AlertFilter, AlertView
from services.common.kafka import KafkaUnavailable, Record, ReliableProducer
from services.domain.alerts.model import Alert
from services.domain.alerts.routing import due_for_escalation, escalated_unacknowledged

log = logging.getLogger(__name__)
ESCALATIONS = Counter(
    "mp_api_alerts_escalated_total",
    "Open alerts escalated for want of an acknowledgement, by owner.",
    ["owner"],
)
_OPEN = AlertFilter(status="open")


class Escalator:
    def __init__(
        self,
        alerts: AlertView,
        publisher: ReliableProducer,
        topic: str,
        ready: Callable[[], bool],
        kept: int,
        interval_s: float,
    ) -> None:
        self._alerts, self._publisher, self._topic = alerts, publisher, topic
        self._ready, self._kept, self._interval_s = ready, kept, interval_s

    def due(self, now: float) -> list[Record]:
        """The escalation records due at ``now``."""
        return [Record(self._topic, a["alert_id"].encode(), orjson.dumps(a)) for a in self.escalations(now)]

    def escalations(self, now: float) -> list[Alert]:
        at = iso(now)
        return [
            escalated_unacknowledged(alert, at)
            for alert in self._alerts.newest(self._kept, _OPEN)
            if due_for_escalation(alert, now)
        ]

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            if not self._ready():
                continue
            escalations = self.escalations(time.time())
            if not escalations:
                continue
            records = [Record(self._topic, a["alert_id"].encode(), orjson.dumps(a)) for a in escalations]
            try:
                written = await self._publisher.send_all(records)
            except KafkaUnavailable as error:
                log.warning("could not escalate unacknowledged alerts; retrying", extra={"error": str(error)})
                continue
            for alert in escalations:
                ESCALATIONS.labels(alert.get("owner", "")).inc()
            # wait until they are folded in, so that the next round does not send them again
            await self._alerts.wait_applied(max(w.offset for w in written), self._interval_s * 5)
