"""What every API route shares: settings, the scoring model, the views, the Kafka clients and the keys."""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
from fastapi import Request
from prometheus_client import Gauge

from services.api.alertmanager import AlertmanagerForwarder
from services.api.escalation import Escalator
from services.api.report_view import ReportView
from services.api.score_reads import ScoreReads
from services.api.scoring_views import VersionSwitch
from services.api.settings import ApiSettings
from services.api.system import SystemProbe
from services.api.views import AlertView, DeadLetterView
from services.common.auth import Keyring, load_auth
from services.common.config_files import load_scoring_model
from services.common.follower import TopicFollower
from services.common.kafka import ReliableProducer
from services.common.reachability import KafkaReachability
from services.domain.alerts.model import ALERT_KINDS
from services.domain.alerts.recovery import OPEN_STEPS
from services.domain.scoring_model import ScoringModel
from services.serving.client import connect

VIEW_SIZE = Gauge("mp_api_view_entries", "Entries held in an in-memory view.", ["view"])
SSE_CLIENTS = Gauge("mp_api_sse_clients", "Clients connected to the live alert stream.")
OPEN_ALERTS = Gauge("mp_api_alerts_open", "Open alerts in the API's view, by kind.", ["kind"])
RECOVERY_OPEN = Gauge(
    "mp_api_recovery_cases_open", "Recurring-gift recovery cases open, by step of the dunning path.", ["step"]
)


def _open_cases(versions: VersionSwitch, step: str) -> int:
    return versions.active.reads.known_open(step)


@dataclass
class ApiContext:
    settings: ApiSettings
    versions: VersionSwitch  # the live model version's views: read them per request (below)
    alerts: AlertView
    dead_letters: DeadLetterView
    feeder: TopicFollower  # folds the topics into the views
    probe: SystemProbe
    kafka: KafkaReachability
    publisher: ReliableProducer  # operators' actions
    keys: Keyring  # who may do what (scopes)

    @classmethod
    def build(cls, settings: ApiSettings) -> ApiContext:
        """Load the model and the keys (ConfigError when either is wrong); nothing connects yet."""
        client = connect(settings) if settings.serving == "redis" else None
        versions = VersionSwitch(settings, load_scoring_model(settings.scoring_config), client)
        alerts = AlertView(settings.api_alerts_kept)
        dead_letters = DeadLetterView(settings.api_alerts_kept, settings.api_dead_letters_max_bytes)
        feeder = TopicFollower(
            settings,
            "api",
            {
                settings.topic_alerts: lambda record: alerts.apply(record.offset, orjson.loads(record.value)),
                settings.topic_dead_letters: lambda record: dead_letters.apply(
                    orjson.loads(record.value), len(record.value)
                ),
                # an erasure reaches every replica's views, whoever took it (docs/privacy.md)
                settings.topic_erasures: lambda record: _forget(
                    orjson.loads(record.value), alerts, dead_letters
                ),
            },
        )
        keys = Keyring(load_auth(settings.auth_config, "api", settings.development))
        VIEW_SIZE.labels("constituents").set_function(lambda: versions.active.reads.known_population())
        VIEW_SIZE.labels("alerts").set_function(lambda: len(alerts))
        VIEW_SIZE.labels("report_windows").set_function(lambda: len(versions.active.reports))
        SSE_CLIENTS.set_function(lambda: alerts.subscribers)
        for kind in ALERT_KINDS:
            OPEN_ALERTS.labels(kind).set_function(partial(alerts.open_count, kind))
        for step in OPEN_STEPS:
            RECOVERY_OPEN.labels(step).set_function(partial(_open_cases, versions, step))
        return cls(
            settings=settings,
            versions=versions,
            alerts=alerts,
            dead_letters=dead_letters,
            feeder=feeder,
            probe=SystemProbe(settings),
            kafka=KafkaReachability(settings),
            publisher=ReliableProducer(settings, timeout_s=settings.api_write_timeout_s, linger_ms=0),
            keys=keys,
        )

    @property
    def model(self) -> ScoringModel:
        return self.versions.active.model

    @property
    def reads(self) -> ScoreReads:
        """Scores and recovery cases of the live version: this replica's memory, or Redis (MP_SERVING)."""
        return self.versions.active.reads

    @property
    def reports(self) -> ReportView:
        return self.versions.active.reports

    @property
    def caught_up(self) -> bool:
        """Every view caught up with its topics, and those of the live model version."""
        return self.feeder.caught_up and self.versions.caught_up

    def background(self) -> list[Coroutine[Any, Any, None]]:
        """What runs for the API's lifetime: the views' consumers, the system probe, Kafka's reachability,
        the escalation of unacknowledged alerts, and the Alertmanager forwarder when configured."""
        jobs = [self.feeder.run(), self.versions.run(), self.probe.run(), self.kafka.run()]
        settings = self.settings
        if settings.api_escalation_interval_s:
            escalator = Escalator(
                self.alerts,
                self.publisher,
                settings.topic_alerts,
                lambda: self.feeder.caught_up,
                settings.api_alerts_kept,
                settings.api_escalation_interval_s,
            )
            jobs.append(escalator.run())
        if settings.api_alertmanager_url:
            public_url = settings.api_public_url or f"http://{settings.api_host}:{settings.api_port}"
            forwarder = AlertmanagerForwarder(
                settings.api_alertmanager_url,
                public_url,
                self.alerts,
                lambda: self.feeder.caught_up,
                settings.api_alertmanager_resend_s,
            )
            jobs.append(forwarder.run())
        return jobs

    async def require_read(self, request: Request) -> None:
        """A route dependency: a key with the ``read`` scope. A coroutine: FastAPI runs a plain function in
        a worker thread, which cost more than answering the request itself (docs/performance.md)."""
        self.keys.check(request, "read")

    async def require_read_or_query_token(self, request: Request) -> None:
        """The alert stream's: a ``read`` key, also as ``?token=`` (browsers' EventSource sends no header)."""
        self.keys.check(request, "read", allow_query=True)

    async def require_dead_letters(self, request: Request) -> None:
        self.keys.check(request, "dead_letters")


def _forget(erasure: Any, alerts: AlertView, dead_letters: DeadLetterView) -> None:
    """One record of the erasures topic: the person leaves this replica's alert and dead-letter views."""
    person = erasure.get("constituent_id") if isinstance(erasure, dict) else None
    if not isinstance(person, str):
        raise ValueError("not an erasure record")  # the follower counts and skips it
    alerts.forget(person)
    dead_letters.forget(person)
