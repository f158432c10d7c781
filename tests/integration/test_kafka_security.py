"""The whole pipeline over SASL_SSL with SCRAM-SHA-512, as managed Kafka services require: ingest, the
scorer (Faust's own clients included), the API and its views reach the broker only through its TLS
listener with a password; without the password nothing connects."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from services.common.kafka import KafkaUnavailable, Record, ReliableProducer
from services.common.processes import free_port
from services.common.settings import CommonSettings
from tests.fixtures.system import isolated_topics, launch, own_broker, sasl_ssl
from tests.fixtures.touchpoints import touchpoint
from tests.fixtures.waiting import wait_for_counts

pytestmark = pytest.mark.integration
USER, PASSWORD = "mission-pulse", f"pw-{uuid.uuid4().hex}"


def test_every_service_works_through_a_sasl_ssl_listener_and_nothing_connects_without_the_password(
    tmp_path: Path,
) -> None:
    sasl_port = free_port()
    broker = tmp_path / "kafka"
    with own_broker(
        broker, KAFKA_SASL_SSL_PORT=str(sasl_port), KAFKA_SASL_USERNAME=USER, KAFKA_SASL_PASSWORD=PASSWORD
    ):
        secured = f"127.0.0.1:{sasl_port}"  # the only address the services are given
        kafka = sasl_ssl(USER, PASSWORD, broker / "tls" / "ca.pem")
        with launch(secured, tmp_path / "system", **kafka, **isolated_topics("sasl")) as system:
            person = f"sasl-{uuid.uuid4().hex[:8]}"
            with httpx.Client() as client:
                for event_type in ("web.page_view", "donation.failed"):
                    event = touchpoint(person, event_type, amount=20, currency="USD")
                    assert client.post(f"{system.ingest_url}/v1/events", json=event).status_code == 202
            wait_for_counts(system, {person: 2})  # ingest → Kafka → scorer (Faust) → Kafka → API view
            alerts = httpx.get(f"{system.api_url}/v1/alerts", params={"constituent_id": person}).json()
            assert [alert["kind"] for alert in alerts["alerts"]] == ["transaction.failed"]

        wrong = CommonSettings(
            kafka_bootstrap=secured,
            kafka_security_protocol="SASL_SSL",
            kafka_username=USER,
            kafka_password="not-the-password",  # type: ignore[arg-type]
            kafka_ca_file=broker / "tls" / "ca.pem",
        )
        with pytest.raises(KafkaUnavailable):
            asyncio.run(_send_one(wrong))


async def _send_one(settings: CommonSettings) -> None:
    producer = ReliableProducer(settings, timeout_s=5)
    try:
        await producer.send_all([Record(settings.topic_touchpoints, b"k", b"{}")])
    finally:
        await producer.stop()
