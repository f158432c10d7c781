"""API keys, read tokens and rate limits."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from services.common.auth import AuthConfig, Gate, RateLimiter, digest
from tests.fixtures.config import CONFIG

EXAMPLE = CONFIG / "auth.example.toml"


def test_the_example_configuration_is_valid_and_holds_no_key() -> None:
    config = AuthConfig.load(EXAMPLE)
    assert {key.name for key in config.ingest_keys} == {"website", "crm-sync"}
    assert config.ingest_keys[0].may_submit("web") and not config.ingest_keys[0].may_submit("donation")


def test_a_bucket_allows_bursts_of_two_seconds_then_says_how_long_to_wait() -> None:
    limiter = RateLimiter()
    allowed = [limiter.retry_after("k", rate=5, now=100.0) for _ in range(11)]
    assert allowed[:10] == [None] * 10
    assert allowed[10] == pytest.approx(0.2)
    assert limiter.retry_after("k", rate=5, now=100.2) is None  # refilled one token


def gated(rules: Gate) -> TestClient:
    app = FastAPI()

    @app.get("/private")
    def private(request: Request) -> dict[str, str | None]:
        rule = rules.check(request)
        return {"name": rule.name if rule else None}

    return TestClient(app)


def test_requests_need_a_known_key_and_are_rate_limited() -> None:
    config = AuthConfig.model_validate(
        {"version": 1, "read_tokens": [{"name": "ops", "sha256": digest("s3cret"), "rate_per_second": 1}]}
    )
    client = gated(Gate(config.read_tokens, "read token"))
    missing = client.get("/private")
    assert (missing.status_code, missing.json()["detail"]) == (
        401,
        "read token required: send Authorization: Bearer <key>",
    )
    assert client.get("/private", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/private", headers={"Authorization": "Bearer s3cret"}).json() == {"name": "ops"}
    assert client.get("/private", headers={"X-API-Key": "s3cret"}).status_code == 200
    limited = client.get("/private", params={"token": "s3cret"})
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"


def test_without_a_configuration_the_gate_is_open() -> None:
    assert gated(Gate(None, "read token")).get("/private").json() == {"name": None}
