"""The webhook routes in the ingest app, without Kafka (no lifespan): what answers before anything would
reach Kafka — unconfigured verifiers, SNS handshakes, rate limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.common.config_files import ConfigError
from services.ingest.app import create_app
from services.ingest.settings import IngestSettings
from services.ingest.webhooks import not_configured
from tests.fixtures.providers import CERT_URL, ISSUER_URL, SES_TOPIC_ARN, sns_chain, sns_message

SUBSCRIBE_URL = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f37"


def ingest(fetch: Any = None, **settings: Any) -> TestClient:
    base = {"identity_secret": "test", "environment": "development", "ingest_produce_timeout_s": 1.0}
    return TestClient(create_app(IngestSettings(**{**base, **settings}), fetch_certificate=fetch))


@pytest.mark.parametrize(
    ("path", "missing"),
    [
        ("/v1/webhooks/stripe", "MP_STRIPE_WEBHOOK_SECRETS"),
        ("/v1/webhooks/sendgrid", "MP_SENDGRID_VERIFICATION_KEY"),
        ("/v1/webhooks/ses", "MP_SES_TOPIC_ARNS"),
        ("/v1/collect", "MP_BEACON_ORIGINS is not set, MP_BEACON_SECRET"),
    ],
)
def test_a_webhook_whose_verifier_is_not_configured_answers_503_and_lets_nothing_through(
    path: str, missing: str
) -> None:
    answer = ingest().post(path, json=[{"event": "open", "email": "ada@example.org"}])
    assert answer.status_code == 503
    assert "not configured" in answer.json()["detail"] and missing in answer.json()["detail"]


def test_unsigned_sendgrid_posts_are_allowed_only_by_development_in_words() -> None:
    with pytest.raises(ConfigError, match="development only"):
        not_configured(IngestSettings(environment="production", sendgrid_allow_unsigned=True))
    allowed = IngestSettings(environment="development", sendgrid_allow_unsigned=True)
    assert "sendgrid" not in not_configured(allowed)


def test_an_sns_subscription_of_an_allowed_topic_is_confirmed_once_verified_and_once_only(
    tmp_path: Path,
) -> None:
    chain = sns_chain()
    visited: list[str] = []

    async def fetch(url: str) -> bytes:
        visited.append(url)
        served = {CERT_URL: chain["certificate_pem"], ISSUER_URL: chain["intermediate_der"]}
        return bytes(served.get(url, b"<ConfirmSubscriptionResponse/>"))

    roots = tmp_path / "roots.pem"
    roots.write_bytes(chain["root_pem"])
    client = ingest(fetch, ses_topic_arns=SES_TOPIC_ARN, sns_trust_file=roots)
    confirmation = sns_message(
        chain["key"],
        "You have chosen to subscribe…",
        kind="SubscriptionConfirmation",
        SubscribeURL=SUBSCRIBE_URL,
    )
    assert client.post("/v1/webhooks/ses", json=confirmation).json() == {"subscribed": True}
    assert visited == [CERT_URL, ISSUER_URL, SUBSCRIBE_URL]
    again = client.post("/v1/webhooks/ses", json=confirmation).json()
    assert again == {"accepted": 0, "dead_lettered": 0, "replayed": True}
    assert visited == [CERT_URL, ISSUER_URL, SUBSCRIBE_URL]  # not confirmed twice

    forged = {**confirmation, "SubscribeURL": "https://evil.example/?Action=ConfirmSubscription"}
    assert client.post("/v1/webhooks/ses", json=forged).status_code == 401  # the signature covers it
    other_topic = sns_message(
        chain["key"],
        "subscribe me",
        kind="SubscriptionConfirmation",
        SubscribeURL=SUBSCRIBE_URL,
        TopicArn="arn:aws:sns:eu-west-1:666666666666:not-ours",
        MessageId="another",
    )
    refused = client.post("/v1/webhooks/ses", json=other_topic)
    assert refused.status_code == 401 and "not one this endpoint accepts" in refused.json()["detail"]
    assert visited == [CERT_URL, ISSUER_URL, SUBSCRIBE_URL]
