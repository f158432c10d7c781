"""Tried as an attacker on the network would, against a running production-mode system: every way in that
was found open is refused with its documented status, and nothing the attacker sent reaches the
touchpoints topic (dead letters may: that is where refused input is kept)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from services.common.auth import digest
from services.common.processes import start_service, stop
from services.domain.identity import IdentityKeys
from services.ingest.adapters.beacon import user_hash
from tests.fixtures.ledger import touchpoint_records
from tests.fixtures.providers import (
    SES_TOPIC_ARN,
    sendgrid_event,
    sendgrid_key,
    sendgrid_signature,
    ses_event,
    sns_message,
    sns_signer,
)
from tests.fixtures.system import IDENTITY_SECRET, System, isolated_topics, launch
from tests.fixtures.touchpoints import touchpoint
from tests.fixtures.waiting import wait_for_counts

pytestmark = pytest.mark.integration
ORIGIN = "https://www.org.example"
BEACON_SECRET = "beacon-secret-for-tests"
KEYS = {name: uuid.uuid4().hex for name in ("site", "crm", "small", "reader", "operator")}


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name]}"}


@pytest.fixture(scope="module")
def hardened(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Production mode: scoped keys, every verifier set, SNS certificates pinned (no network here)."""
    tmp = tmp_path_factory.mktemp("attacks")
    auth = tmp / "auth.toml"
    auth.write_text(f"""version = 2
[[keys]]
name = "site"
scopes = ["ingest"]
sources = ["web"]
sha256 = "{digest(KEYS["site"])}"
[[keys]]
name = "crm"
scopes = ["ingest", "identify"]
sources = ["*"]
sha256 = "{digest(KEYS["crm"])}"
[[keys]]
name = "small"
scopes = ["ingest"]
sources = ["*"]
events_per_second = 100
sha256 = "{digest(KEYS["small"])}"
[[keys]]
name = "reader"
scopes = ["read"]
sha256 = "{digest(KEYS["reader"])}"
[[keys]]
name = "operator"
scopes = ["read", "operate", "dead_letters"]
sha256 = "{digest(KEYS["operator"])}"
""")
    certificates = tmp / "sns"
    certificates.mkdir()
    sns_key, certificate = sns_signer()
    (certificates / "SimpleNotificationService-test.pem").write_bytes(certificate)
    sendgrid_private, sendgrid_public = sendgrid_key()
    env = {
        "MP_AUTH_CONFIG": str(auth),
        "MP_STRIPE_WEBHOOK_SECRETS": "whsec_attacks",
        "MP_SENDGRID_VERIFICATION_KEY": sendgrid_public,
        "MP_SES_TOPIC_ARNS": SES_TOPIC_ARN,
        "MP_SNS_CERTIFICATE_DIR": str(certificates),
        "MP_BEACON_ORIGINS": ORIGIN,
        "MP_BEACON_SECRET": BEACON_SECRET,
        "MP_BEACON_RATE_PER_SECOND": "2",
        **isolated_topics("attacks"),
    }
    with launch(bootstrap, tmp / "system", **env) as system:
        yield {"system": system, "sns_key": sns_key, "sendgrid": sendgrid_private}


class NothingReachesKafka:
    """Asserts, on leaving, that the touchpoints topic has no record more than on entering."""

    def __init__(self, system: System) -> None:
        self.system = system

    def __enter__(self) -> None:
        self.before = touchpoint_records(self.system)

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            assert touchpoint_records(self.system) == self.before, "an attack reached the touchpoints topic"


def test_services_refuse_to_start_in_production_without_keys(bootstrap: str, tmp_path: Path) -> None:
    inherited = {k: v for k, v in os.environ.items() if k not in ("MP_AUTH_CONFIG", "MP_ENVIRONMENT")}
    for service in ("ingest", "api"):
        log = tmp_path / f"{service}.log"
        env = {**inherited, "MP_KAFKA_BOOTSTRAP": bootstrap, "MP_IDENTITY_SECRET": "x"}
        process = start_service(service, env, log)
        try:
            assert process.wait(timeout=60) != 0
        finally:
            stop(process)
        assert "MP_AUTH_CONFIG is not set" in log.read_text()


def test_ses_messages_of_another_aws_account_and_replays_count_nothing(hardened: dict[str, Any]) -> None:
    system: System = hardened["system"]
    url = f"{system.ingest_url}/v1/webhooks/ses"
    victim = f"victim.{uuid.uuid4().hex[:6]}@example.org"
    with NothingReachesKafka(system):
        for kind in ("Notification", "SubscriptionConfirmation"):
            foreign = sns_message(
                hardened["sns_key"],
                ses_event("Complaint", [victim]) if kind == "Notification" else "subscribe?",
                kind=kind,
                TopicArn="arn:aws:sns:us-east-1:666666666666:attacker",
                SubscribeURL="https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=x",
                MessageId=uuid.uuid4().hex,
            )
            answer = httpx.post(url, json=foreign)
            assert answer.status_code == 401 and "not one this endpoint accepts" in answer.json()["detail"]
        for bad_url in (
            "https://sns.eu-west-1.amazonaws.com\t.evil.example/x.pem",
            "https://sns.eu-west-1.amazonaws.com:8443/x.pem",
            "https://sns.s3.amazonaws.com/x.pem",
            "https://sns.eu-west-1.amazonaws.com/missing.pem",  # nothing to fetch: unverified, not 500
        ):
            message = sns_message(
                hardened["sns_key"], ses_event("Complaint", [victim]), SigningCertURL=bad_url
            )
            assert httpx.post(url, json=message).status_code == 401, bad_url

    genuine = sns_message(hardened["sns_key"], ses_event("Delivery", [victim]), MessageId=uuid.uuid4().hex)
    assert httpx.post(url, json=genuine).json() == {"accepted": 1, "dead_lettered": 0}
    with NothingReachesKafka(system):
        assert httpx.post(url, json=genuine).json() == {"accepted": 0, "dead_lettered": 0, "replayed": True}


def test_sendgrid_posts_need_a_valid_signature(hardened: dict[str, Any]) -> None:
    system: System = hardened["system"]
    url = f"{system.ingest_url}/v1/webhooks/sendgrid"
    spam = orjson.dumps([sendgrid_event("spamreport"), sendgrid_event("unsubscribe", sg_event_id="sg-2")])
    with NothingReachesKafka(system):
        assert httpx.post(url, content=spam).status_code == 401
        for stamp in ("²", "1e9", str(int(time.time()) - 3600)):
            headers = {
                "X-Twilio-Email-Event-Webhook-Signature": "MEUCIQ==",
                "X-Twilio-Email-Event-Webhook-Timestamp": stamp.encode("latin-1"),  # as a server reads it
            }
            assert httpx.post(url, content=spam, headers=headers).status_code == 401, stamp


def test_anonymous_beacons_cannot_frame_a_known_user(hardened: dict[str, Any]) -> None:
    system: System = hardened["system"]
    collect = f"{system.ingest_url}/v1/collect"
    headers = {"origin": ORIGIN, "content-type": "text/plain"}
    reader = bearer("reader")
    user, visitor = f"u-{uuid.uuid4().hex[:8]}", f"anon-{uuid.uuid4().hex[:8]}"
    person = httpx.post(
        f"{system.ingest_url}/v1/identify", json={"web_user": user}, headers=bearer("crm")
    ).json()["constituent_id"]
    proven = {"type": "page_view", "user_id": user, "user_hash": user_hash(BEACON_SECRET.encode(), user)}
    assert httpx.post(collect, content=orjson.dumps(proven), headers=headers).status_code == 200
    before = wait_for_counts(system, {person: 1}, headers=reader)[person]

    framing = {"type": "error", "user_id": user, "anonymous_id": visitor, "error_code": "boom"}
    for _ in range(3):  # accepted, but for the anonymous id only
        assert httpx.post(collect, content=orjson.dumps(framing), headers=headers).status_code == 200
    # the positive control: the three errors were scored — on the visitor, whose id is derived from theirs
    anonymous = IdentityKeys(IDENTITY_SECRET.encode()).derived_constituent(f"visitor:{visitor}")
    wait_for_counts(system, {anonymous: 3}, headers=reader)
    after = wait_for_counts(system, {person: 1}, headers=reader)[person]
    assert after["scores"]["operations"] == pytest.approx(before["scores"]["operations"], abs=0.5)

    time.sleep(2)  # this address's bucket (2/s, bursts of 4) full again
    with NothingReachesKafka(system):
        for origin in ("https://evil.example", None):
            wrong = {"content-type": "text/plain", **({"origin": origin} if origin else {})}
            assert httpx.post(collect, content=orjson.dumps(framing), headers=wrong).status_code == 403
        old = {**framing, "user_id": None, "occurred_at": "2001-01-01T00:00:00Z"}
        answer = httpx.post(collect, content=orjson.dumps(old), headers=headers)
        assert answer.status_code == 400 and "within the last 24 h" in answer.json()["detail"]
        statuses = [httpx.post(collect, content=b"{}", headers=headers).status_code for _ in range(8)]
        assert 429 in statuses  # 2 per second from one address, bursts of 4


def test_keys_do_only_what_their_scopes_say(hardened: dict[str, Any]) -> None:
    system: System = hardened["system"]
    with NothingReachesKafka(system):
        moved = httpx.post(
            f"{system.ingest_url}/v1/identify",
            json={"email": "ada@example.org", "constituent_id": "c-evil"},
            headers=bearer("site"),
        )
        assert moved.status_code == 403 and "lacks the 'identify' scope" in moved.json()["detail"]
        dlq = httpx.get(f"{system.api_url}/v1/dlq", headers=bearer("reader"))
        assert dlq.status_code == 403 and "dead_letters" in dlq.json()["detail"]
        assert httpx.get(f"{system.api_url}/v1/dlq", headers=bearer("operator")).status_code == 200
        for name in ("reader", "operator", "crm"):  # nobody without the erase scope erases anyone
            erase = f"{system.api_url}/v1/constituents/c-1/erase"
            refused = httpx.post(erase, json={"reason": "asked"}, headers=bearer(name))
            assert refused.status_code == 403 and "'erase' scope" in refused.json()["detail"], name
        events = f"{system.ingest_url}/v1/events"
        assert (
            httpx.post(events, json=touchpoint("c-1", "web.page_view"), headers=bearer("reader")).status_code
            == 403
        )
        many = [touchpoint(f"c-{n}", "web.page_view") for n in range(201)]  # over 2 × 100 events/s
        limited = httpx.post(events, json=many, headers=bearer("small"))
        assert limited.status_code == 429 and "events/s" in limited.json()["detail"]


def test_keys_in_urls_are_refused_except_a_read_key_on_the_alert_stream(hardened: dict[str, Any]) -> None:
    system: System = hardened["system"]
    with NothingReachesKafka(system):
        posted = httpx.post(
            f"{system.ingest_url}/v1/events",
            params={"token": KEYS["crm"]},
            json=touchpoint("c-1", "web.page_view"),
        )
        assert posted.status_code == 401
        assert httpx.get(f"{system.api_url}/v1/alerts", params={"token": KEYS["reader"]}).status_code == 401
        assert (
            httpx.post(f"{system.api_url}/v1/alerts/a-1/ack", params={"token": KEYS["operator"]}).status_code
            == 401
        )
        with httpx.stream(
            "GET", f"{system.api_url}/v1/alerts/stream", params={"token": KEYS["reader"]}, timeout=10
        ) as stream:
            assert stream.status_code == 200


def test_who_acted_is_always_the_keys_name(hardened: dict[str, Any]) -> None:
    system: System = hardened["system"]
    person = f"p-{uuid.uuid4().hex[:8]}"
    failed = touchpoint(person, "donation.failed", amount=5, currency="USD")
    assert httpx.post(f"{system.ingest_url}/v1/events", json=failed, headers=bearer("crm")).status_code == 202
    deadline = time.monotonic() + 30
    alerts: list[dict[str, Any]] = []
    while not alerts and time.monotonic() < deadline:
        alerts = httpx.get(
            f"{system.api_url}/v1/alerts", params={"constituent_id": person}, headers=bearer("reader")
        ).json()["alerts"]
        time.sleep(0.3)
    [alert] = alerts
    acted = httpx.post(
        f"{system.api_url}/v1/alerts/{alert['alert_id']}/ack",
        json={"operator": "Someone Else", "note": "on it"},
        headers=bearer("operator"),
    )
    assert acted.status_code in (200, 202)
    body = acted.json()
    assert body["acknowledged_by"] == "operator"
    assert body["actions"][-1]["by"] == "operator" and body["actions"][-1]["on_behalf_of"] == "Someone Else"
    assert (
        httpx.post(
            f"{system.api_url}/v1/alerts/{alert['alert_id']}/resolve", headers=bearer("reader")
        ).status_code
        == 403
    )


def test_the_scorer_serves_no_table_and_every_answer_carries_the_security_headers(
    hardened: dict[str, Any],
) -> None:
    system: System = hardened["system"]
    for path in ("/table/", "/table/constituent-state/", "/router/", "/stats/", "/graph/"):
        assert httpx.get(f"{system.scorer_url}{path}").status_code == 404, path
    for url in (f"{system.api_url}/console/", f"{system.api_url}/healthz", f"{system.ingest_url}/healthz"):
        headers = httpx.get(url).headers
        assert headers["content-security-policy"].startswith("default-src 'self'")
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert (
            headers["x-frame-options"],
            headers["x-content-type-options"],
            headers["referrer-policy"],
        ) == (
            "DENY",
            "nosniff",
            "no-referrer",
        )


def test_a_webhook_post_of_more_than_1000_events_is_refused_whole(hardened: dict[str, Any]) -> None:
    system: System = hardened["system"]
    key = hardened["sendgrid"]
    events = [sendgrid_event("open", sg_event_id=f"sg-{n}") for n in range(1001)]
    payload = orjson.dumps(events)
    stamp = str(int(time.time()))
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": sendgrid_signature(key, payload, stamp),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
    }
    with NothingReachesKafka(system):
        answer = httpx.post(f"{system.ingest_url}/v1/webhooks/sendgrid", content=payload, headers=headers)
        assert answer.status_code == 413 and "at most 1000" in answer.json()["detail"]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def test_a_body_is_read_only_after_a_known_key_and_never_beyond_the_limit(hardened: dict[str, Any]) -> None:
    """Issue 34: a 600 MB body with no key drove the API past 1 GB and was answered 422, not 401."""
    system: System = hardened["system"]
    api = system.services["api"].process.pid
    before = rss_bytes(api)

    def two_hundred_megabytes() -> Iterator[bytes]:
        for _ in range(200):
            yield b"x" * 1_000_000

    ack = f"{system.api_url}/v1/alerts/a-1/ack"
    for url in (ack, f"{system.ingest_url}/v1/identify"):
        try:
            answer = httpx.post(url, content=two_hundred_megabytes(), timeout=60)
            assert answer.status_code == 401, answer.text
        except httpx.TransportError:
            pass  # the service answered and closed while the rest was still on its way
        assert httpx.post(url, content=b"x" * 10).status_code == 401
    assert rss_bytes(api) - before < 50 * 1024 * 1024  # it never held the body
    too_large = httpx.post(ack, content=b"x" * 100_000, headers=bearer("operator"))
    assert too_large.status_code == 413 and "at most 65536" in too_large.json()["detail"]
    identify = f"{system.ingest_url}/v1/identify"
    assert httpx.post(identify, content=b"x" * 100_000, headers=bearer("crm")).status_code == 413


def test_a_key_holds_a_bounded_number_of_alert_streams(hardened: dict[str, Any]) -> None:
    """Issue 34: no cap on SSE streams per key (each holds a queue and a task for as long as it stays)."""
    system: System = hardened["system"]
    url = f"{system.api_url}/v1/alerts/stream"
    with httpx.Client(timeout=10) as client:
        opened = []
        try:
            for _ in range(10):  # MP_API_MAX_STREAMS_PER_KEY
                stream = client.stream("GET", url, headers=bearer("reader"))
                response = stream.__enter__()
                opened.append(stream)
                assert response.status_code == 200
            refused = client.get(url, headers=bearer("reader"))
            assert refused.status_code == 429 and "at most 10 alert streams" in refused.json()["detail"]
            assert client.get(url.replace("/stream", ""), headers=bearer("reader")).status_code == 200
        finally:
            for stream in opened:
                stream.__exit__(None, None, None)
