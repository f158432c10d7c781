"""Forwarding Mission Pulse alerts to a Prometheus Alertmanager (v2 API), so they reach the pager.

Each alert becomes one Alertmanager alert labelled for routing (owner, kind, severity, rule, source,
department, priority) and identified by ``alert_id``. Open alerts are re-sent every ``resend_s``
(Alertmanager resolves an alert it stops hearing about); a resolved one is sent once with ``endsAt``. When
an alert's labels change (it escalated: a new severity), the old label set is ended at once, so the pager
shows one alert, at its new severity. Every API replica forwards; Alertmanager de-duplicates identical
label sets. deploy/alertmanager/alertmanager.yml routes per owner.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from prometheus_client import Counter

from services.api.views import AlertFilter, AlertView
from services.domain.alerts.model import Alert

log = logging.getLogger(__name__)
_OPEN = AlertFilter(status="open")
MAX_REMEMBERED = 50_000  # label sets remembered to end superseded ones (each resend refills them)
POSTS = Counter("mp_alertmanager_posts_total", "Batches forwarded to Alertmanager, by outcome.", ["outcome"])


def to_alertmanager(alert: Alert, api_url: str) -> dict[str, Any]:
    """One alert in Alertmanager's v2 shape. Pure."""
    kind = alert["kind"]
    labels = {
        "alertname": "MissionPulse" + "".join(part.title() for part in kind.replace("_", ".").split(".")),
        "kind": kind,
        "severity": alert["severity"],
        "source": alert.get("source") or "",
        "department": (alert.get("departments") or [""])[0],
        "rule": alert.get("rule") or "",
        "owner": alert.get("owner") or "",
        "priority": "true" if alert.get("priority") else "",
        "escalated": "unacknowledged" if alert.get("escalated_unacknowledged") else "",
        "alert_id": alert["alert_id"],
    }
    forwarded: dict[str, Any] = {
        "labels": {name: value for name, value in labels.items() if value},
        "annotations": {
            "summary": alert["title"],
            "description": alert["detail"],
            "constituent_id": alert.get("constituent_id") or "",
        },
        "generatorURL": f"{api_url}/v1/alerts/{alert['alert_id']}",
    }
    if alert.get("opened_at"):
        forwarded["startsAt"] = alert["opened_at"]
    if alert["status"] == "resolved":
        forwarded["endsAt"] = alert.get("resolved_at") or datetime.now(UTC).isoformat()
    return forwarded


class AlertmanagerForwarder:
    def __init__(
        self,
        url: str,
        api_url: str,
        alerts: AlertView,
        ready: Callable[[], bool],
        resend_s: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``transport`` replaces the network (tests)."""
        self._url = url.rstrip("/") + "/api/v2/alerts"
        self._api_url = api_url
        self._alerts = alerts
        self._ready = ready
        self._resend_s = resend_s
        self._transport = transport
        self._labels_sent: dict[str, dict[str, str]] = {}  # alert id → the labels it was last sent with

    def _forwarded(self, alerts: list[Alert]) -> list[dict[str, Any]]:
        """The alerts in Alertmanager's shape, each preceded by the end of its superseded label set."""
        forwarded = []
        for alert in alerts:
            shaped = to_alertmanager(alert, self._api_url)
            before = self._labels_sent.get(alert["alert_id"])
            if before is not None and before != shaped["labels"]:
                forwarded.append({**shaped, "labels": before, "endsAt": datetime.now(UTC).isoformat()})
            if alert["status"] == "open":
                if len(self._labels_sent) >= MAX_REMEMBERED:  # open alerts the view no longer holds
                    self._labels_sent.clear()
                self._labels_sent[alert["alert_id"]] = shaped["labels"]
            else:
                self._labels_sent.pop(alert["alert_id"], None)
            forwarded.append(shaped)
        return forwarded

    async def _post(self, client: httpx.AsyncClient, alerts: list[Alert]) -> None:
        if not alerts:
            return
        try:
            response = await client.post(self._url, json=self._forwarded(alerts))
            response.raise_for_status()
            POSTS.labels("ok").inc()
        except httpx.HTTPError as error:
            POSTS.labels("failed").inc()
            log.warning("could not forward alerts to Alertmanager", extra={"error": repr(error)})

    async def run(self) -> None:
        """Once the view caught up: every open alert, then each update as it comes; resend periodically."""
        while not self._ready():
            await asyncio.sleep(0.5)
        queue = self._alerts.subscribe()
        async with httpx.AsyncClient(timeout=10, transport=self._transport) as client:
            try:
                while True:
                    await self._post(client, self._alerts.newest(10_000, _OPEN))
                    deadline = asyncio.get_running_loop().time() + self._resend_s
                    while (left := deadline - asyncio.get_running_loop().time()) > 0:
                        try:
                            _, alert = await asyncio.wait_for(queue.get(), left)
                        except TimeoutError:
                            break
                        await self._post(client, [alert])
                    if not self._alerts.is_subscribed(queue):  # fell too far behind: start afresh
                        queue = self._alerts.subscribe()
            finally:
                self._alerts.unsubscribe(queue)
