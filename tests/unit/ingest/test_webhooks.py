"""The webhook routes in the ingest app, without Kafka (no lifespan): what answers before anything would
reach Kafka — unconfigured verifiers, SNS handshakes, rate limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from services.common.config_files import ConfigError
from services.ingest import webhooks
from services.ingest.app import create_app
from services.ingest.settings import IngestSettings
from services.ingest.webhooks import not_configured
from tests.fixtures.clock import stop_the_clock
from tests.fixtures.providers import (
    CERT_URL,
    ISSUER_URL,
    SES_TOPIC_ARN,
    payment_intent,
    sns_chain,
    sns_message,
    stripe_event,
    stripe_signature,
)

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


def ingest_from(address: str, app: Any) -> TestClient:
    return TestClient(app, client=(address, 50000))


def test_unsigned_junk_spends_its_senders_budget_never_the_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 34: the per-provider bucket was spent before the signature was checked, so a flood of unsigned
    posts answered real Stripe deliveries 429."""
    stop_the_clock(monkeypatch, webhooks)  # no bucket refills while this machine answers the 40 posts
    settings = {"stripe_webhook_secrets": "whsec_test", "webhook_rate_per_second": 10}
    app = ingest(**settings).app
    attacker, stripe_ip = ingest_from("203.0.113.9", app), ingest_from("3.18.12.63", app)
    payload = orjson.dumps(stripe_event("payment_intent.succeeded", payment_intent()))
    statuses = [attacker.post("/v1/webhooks/stripe", content=payload).status_code for _ in range(40)]
    assert statuses[:10] == [401] * 10 and statuses[-1] == 429  # its own budget: 5/s, bursts of 10
    botnet = [ingest_from(f"198.18.0.{n}", app) for n in range(40)]  # or from many addresses at once
    assert {bot.post("/v1/webhooks/stripe", content=payload).status_code for bot in botnet} == {401}
    signed = {"stripe-signature": stripe_signature(payload, "whsec_test"), "content-type": "application/json"}
    delivered = [stripe_ip.post("/v1/webhooks/stripe", content=payload, headers=signed) for _ in range(3)]
    assert [answer.status_code for answer in delivered] == [503] * 3  # verified, and on to Kafka (none here)


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_beacon_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stop_the_clock(monkeypatch, webhooks)
    settings = {
        "beacon_origins": "https://www.org.example",
        "beacon_secret": "s",
        "beacon_rate_per_second": 1,
        "trusted_proxies": "10.0.0.0/8",
    }
    app = ingest(**settings).app
    proxy = ingest_from("10.1.2.3", app)

    def beacons(client: TestClient, forwarded: str) -> list[int]:
        headers = {"origin": "https://www.org.example", "x-forwarded-for": forwarded}
        return [client.post("/v1/collect", content=b"{}", headers=headers).status_code for _ in range(3)]

    assert beacons(proxy, "198.51.100.1")[-1] == 429  # 1/s, bursts of 2
    assert 429 not in beacons(proxy, "198.51.100.2")[:2]  # another visitor behind the same proxy
    untrusted = ingest_from("198.51.100.7", app)
    first = beacons(untrusted, "198.51.100.3")  # a header from an untrusted peer is not believed:
    assert first[-1] == 429 and beacons(untrusted, "198.51.100.4")[0] == 429  # it is one sender
