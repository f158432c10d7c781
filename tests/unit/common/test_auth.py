"""Keys with scopes, and rate limits per key on requests and on events."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from services.common import auth
from services.common.auth import AuthConfig, Keyring, RateLimiter, Scope, digest, load_auth
from services.common.config_files import ConfigError
from tests.fixtures.clock import stop_the_clock
from tests.fixtures.config import CONFIG

EXAMPLE = CONFIG / "auth.example.toml"


def test_the_example_configuration_is_valid_and_holds_no_key() -> None:
    keys = {key.name: key for key in AuthConfig.load(EXAMPLE).all_keys()}
    assert set(keys) == {"website", "crm-sync", "ops-console", "on-call", "data-protection-officer"}
    assert keys["data-protection-officer"].scopes == {"erase"}
    assert keys["website"].may_submit("web") and not keys["website"].may_submit("donation")
    assert "identify" not in keys["website"].scopes and "identify" in keys["crm-sync"].scopes
    assert not keys["ops-console"].may_submit("web")


def test_version_1_sections_keep_what_they_meant_and_no_more() -> None:
    config = AuthConfig.model_validate(
        {
            "version": 1,
            "ingest_keys": [{"name": "site", "sources": ["web"], "sha256": digest("a")}],
            "read_tokens": [{"name": "dash", "sha256": digest("b")}],
            "write_tokens": [{"name": "oncall", "sha256": digest("c")}],
        }
    )
    scopes = {key.name: key.scopes for key in config.all_keys()}
    assert scopes == {
        "site": {"ingest"},  # an ingest key may no longer move identities
        "dash": {"read"},  # nor read dead letters
        "oncall": {"read", "operate", "dead_letters"},
    }


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([{"name": "a", "sha256": digest("a"), "scopes": ["ingest"]}], "sources exactly when"),
        (
            [{"name": "a", "sha256": digest("a"), "scopes": ["read"], "sources": ["web"]}],
            "sources exactly when",
        ),
        ([{"name": "a", "sha256": digest("a"), "scopes": ["delete"]}], "scopes"),
        ([{"name": "a", "sha256": digest("a"), "scopes": []}], "scopes"),
        (
            [
                {"name": "a", "sha256": digest("a"), "scopes": ["read"]},
                {"name": "a", "sha256": digest("b"), "scopes": ["read"]},
            ],
            "own name",
        ),
        (
            [
                {"name": "a", "sha256": digest("a"), "scopes": ["read"]},
                {"name": "b", "sha256": digest("a"), "scopes": ["operate"]},
            ],
            "own sha256",
        ),
    ],
)
def test_a_configuration_that_says_too_little_or_twice_is_refused(keys: list[object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AuthConfig.model_validate({"version": 2, "keys": keys})


def test_without_an_auth_config_a_service_starts_only_in_development() -> None:
    with pytest.raises(ConfigError, match=r"MP_AUTH_CONFIG is not set.*MP_ENVIRONMENT=development"):
        load_auth(None, "api", development=False)
    assert load_auth(None, "api", development=True) is None


def test_a_bucket_allows_bursts_of_two_seconds_then_says_how_long_to_wait() -> None:
    limiter = RateLimiter()
    allowed = [limiter.retry_after("k", rate=5, now=100.0) for _ in range(11)]
    assert allowed[:10] == [None] * 10
    assert allowed[10] == pytest.approx(0.2)
    assert limiter.retry_after("k", rate=5, now=100.2) is None  # refilled one token
    assert limiter.retry_after("k", rate=5, now=200.0, cost=11) == float("inf")  # more than a burst: never


def test_a_limiter_keeps_at_most_its_number_of_callers() -> None:
    limiter = RateLimiter(max_names=3)
    for caller in "abcd":
        limiter.retry_after(caller, rate=1, now=0.0, cost=2)
    assert limiter.retry_after("d", rate=1, now=0.0) is not None  # d is remembered as spent
    assert limiter.retry_after("a", rate=1, now=0.0) is None  # a was forgotten: a fresh bucket


KEYS = AuthConfig.model_validate(
    {
        "version": 2,
        "keys": [
            {"name": "ops", "sha256": digest("s3cret"), "scopes": ["read"], "rate_per_second": 1},
            {"name": "site", "sha256": digest("site"), "scopes": ["ingest"], "sources": ["web"]},
        ],
    }
)


def guarded(keyring: Keyring, scope: Scope, allow_query: bool = False) -> TestClient:
    app = FastAPI()

    @app.get("/private")
    def private(request: Request) -> dict[str, str | None]:
        key = keyring.check(request, scope, allow_query)
        return {"name": key.name if key else None}

    return TestClient(app)


def test_requests_need_a_known_key_with_the_scope_and_are_rate_limited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stop_the_clock(monkeypatch, auth)
    client = guarded(Keyring(KEYS), "read")
    missing = client.get("/private")
    assert (missing.status_code, missing.json()["detail"]) == (
        401,
        "a key with the 'read' scope is required: send Authorization: Bearer <key>",
    )
    assert client.get("/private", headers={"Authorization": "Bearer nope"}).status_code == 401
    wrong_scope = client.get("/private", headers={"Authorization": "Bearer site"})
    assert (wrong_scope.status_code, wrong_scope.json()["detail"]) == (
        403,
        "key 'site' lacks the 'read' scope",
    )
    assert client.get("/private", headers={"Authorization": "Bearer s3cret"}).json() == {"name": "ops"}
    assert client.get("/private", headers={"X-API-Key": "s3cret"}).status_code == 200
    limited = client.get("/private", headers={"X-API-Key": "s3cret"})
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"


def test_a_key_in_the_url_counts_only_where_a_route_allows_it() -> None:
    assert guarded(Keyring(KEYS), "read").get("/private", params={"token": "s3cret"}).status_code == 401
    assert guarded(Keyring(KEYS), "read", allow_query=True).get(
        "/private", params={"token": "s3cret"}
    ).json() == {"name": "ops"}


def test_events_count_against_a_keys_events_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    stop_the_clock(monkeypatch, auth)
    keyring = Keyring(KEYS)
    site = KEYS.all_keys()[1]
    keyring.charge_events(site, 3000)  # within the burst of 2 × 2000
    with pytest.raises(Exception, match="2000 events/s") as refused:
        keyring.charge_events(site, 1001)
    assert getattr(refused.value, "status_code", None) == 429


def test_without_a_configuration_every_request_passes_as_nobodys() -> None:
    assert guarded(Keyring(None), "operate").get("/private").json() == {"name": None}
