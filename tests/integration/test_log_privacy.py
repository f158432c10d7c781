"""No service log holds personal data or a secret (docs/privacy.md), even at DEBUG: an address, a phone
number and a name go in through identify, a touchpoint's attributes, a refused event and a provider's
webhook; keys go in through good and bad requests; none of them, nor the webhook secret or the identity
secret, is in any line ingest, the scorer or the API wrote. (The whole run's logs are scanned too, for
addresses, phone numbers and secrets: tests/integration/conftest.py.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from services.common.auth import digest
from tests.fixtures.ledger import wait_quiescent
from tests.fixtures.log_privacy import leaks_in_logs
from tests.fixtures.providers import payment_intent, stripe_event, stripe_signature
from tests.fixtures.system import IDENTITY_SECRET, Keys, System, isolated_topics, launch
from tests.fixtures.touchpoints import touchpoint

pytestmark = pytest.mark.integration
STRIPE_SECRET = f"whsec_{uuid.uuid4().hex}"
EMAIL = f"ada.{uuid.uuid4().hex[:6]}@lovelace.example"
PHONE = "+44 20 7946 0958"
NAME = f"Ada Canary{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def verbose(bootstrap: str, keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp("log-privacy")
    (tmp / "auth.toml").write_text(f"""version = 2
[[keys]]
name = "crm"
scopes = ["ingest", "identify"]
sources = ["*"]
sha256 = "{digest(keys.ingest)}"
[[keys]]
name = "dashboard"
scopes = ["read"]
sha256 = "{digest(keys.read)}"
""")
    with launch(
        bootstrap,
        tmp,
        MP_AUTH_CONFIG=str(tmp / "auth.toml"),
        MP_LOG_LEVEL="DEBUG",
        MP_STRIPE_WEBHOOK_SECRETS=STRIPE_SECRET,
        **isolated_topics("log-privacy"),
    ) as system:
        yield system


def test_personal_data_and_secrets_sent_every_way_reach_no_log_line(verbose: System, keys: Keys) -> None:
    ingest, api, key = verbose.ingest_url, verbose.api_url, keys.header("ingest")
    linked = httpx.post(f"{ingest}/v1/identify", json={"email": EMAIL}, headers=key)
    assert linked.status_code == 200, linked.text
    person = linked.json()["constituent_id"]
    event = touchpoint(person, "email.opened", note=f"{NAME} {EMAIL} {PHONE}", phone=PHONE)
    assert httpx.post(f"{ingest}/v1/events", json=event, headers=key).status_code == 202
    refused = touchpoint(person, "web.page_view")
    refused["occurred_at"] = EMAIL  # refused, and kept as a dead letter
    assert httpx.post(f"{ingest}/v1/events", json=[refused], headers=key).status_code == 422
    misplaced = {"Authorization": f"Bearer {keys.read}"}  # a real key where it has no scope
    assert httpx.post(f"{ingest}/v1/events", json=event, headers=misplaced).status_code == 403
    unknown = {"Authorization": f"Bearer {keys.write}"}  # a key this system does not know
    assert httpx.post(f"{ingest}/v1/events", json=event, headers=unknown).status_code == 401
    gift = stripe_event(
        "payment_intent.succeeded", payment_intent(receipt_email=EMAIL), f"evt_{uuid.uuid4().hex}"
    )
    payload = orjson.dumps(gift)
    signed = {
        "Stripe-Signature": stripe_signature(payload, STRIPE_SECRET),
        "content-type": "application/json",
    }
    assert httpx.post(f"{ingest}/v1/webhooks/stripe", content=payload, headers=signed).status_code == 200
    assert wait_quiescent(verbose, [person], keys.header("read")) == {person: 2}  # the email and the gift
    read = httpx.get(f"{api}/v1/constituents/{person}", headers=keys.header("read"))
    assert read.status_code == 200
    for service in verbose.services.values():
        service.stop()  # every line written and flushed

    canaries = [EMAIL, EMAIL.split("@")[0], PHONE, NAME, STRIPE_SECRET, IDENTITY_SECRET, *vars(keys).values()]
    assert leaks_in_logs(verbose.log_dir, canaries) == {}
    lines = sum(len(path.read_text().splitlines()) for path in Path(verbose.log_dir).glob("*.log"))
    assert lines > 20, "the services wrote (almost) nothing: there was nothing to scan"
