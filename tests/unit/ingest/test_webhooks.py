"""The webhook routes in the ingest app (without Kafka: no lifespan)."""

from __future__ import annotations

import pytest

from tests.fixtures.providers import (
    CERT_URL,
    sns_message,
    sns_signer,
)


def test_an_sns_subscription_is_confirmed_by_visiting_its_url_once_verified(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fastapi.testclient import TestClient

    from services.ingest.app import create_app
    from services.ingest.settings import IngestSettings

    key, certificate = sns_signer()
    visited: list[str] = []

    async def fetch(url: str) -> bytes:
        visited.append(url)
        return certificate if url.endswith(".pem") else b"<ConfirmSubscriptionResponse/>"

    subscribe_url = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f37"
    confirmation = sns_message(
        key,
        "You have chosen to subscribe…",
        kind="SubscriptionConfirmation",
        SubscribeURL=subscribe_url,
        Token="2336412f37",
    )
    app = create_app(IngestSettings(identity_secret="test"), fetch_certificate=fetch)  # no lifespan: no Kafka
    answer = TestClient(app).post("/v1/webhooks/ses", json=confirmation)
    assert answer.json() == {"subscribed": True}
    assert visited == [CERT_URL, subscribe_url]
    forged = {**confirmation, "SubscribeURL": "https://evil.example/?Action=ConfirmSubscription"}
    assert TestClient(app).post("/v1/webhooks/ses", json=forged).status_code == 401
