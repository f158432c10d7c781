"""``GET /v1/constituents/<id>`` is answered in plain ASGI (services/api/fast_reads.py), not by FastAPI's
route: for every kind of request — found, never scored, an id with a slash or non-ASCII letters, no key, an
unknown key, a key without the read scope, a key over its rate — the answer is the one the FastAPI route
gives: status, body and headers (the security headers included). Other paths still reach FastAPI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from redis.exceptions import ConnectionError as RedisConnectionError

from services.api.app import create_app
from services.api.routes import constituents
from services.api.settings import ApiSettings
from services.common import auth
from services.common.auth import digest
from tests.fixtures.clock import stop_the_clock
from tests.unit.api.test_score_view import folded_records

KEYS = """version = 2
[[keys]]
name = "reader"
scopes = ["read"]
sha256 = "%s"
rate_per_second = 1000
[[keys]]
name = "slow-reader"
scopes = ["read"]
sha256 = "%s"
rate_per_second = 1
[[keys]]
name = "eraser"
scopes = ["erase"]
sha256 = "%s"
"""


def client(tmp_path: Path, fast: bool, records: list[tuple[bytes, bytes]]) -> TestClient:
    auth = tmp_path / f"auth-{fast}.toml"
    auth.write_text(KEYS % (digest("reader-key"), digest("slow-key"), digest("erase-key")))
    app = create_app(ApiSettings(auth_config=auth), fast_reads=fast)
    scores = app.state.context.versions.active.reads.scores
    for key, value in records:
        scores.apply(key, value)
    scores.caught_up()
    return TestClient(app)


def answer(client: TestClient, path: str, key: str | None) -> tuple[int, Any, dict[str, str]]:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    response = client.get(path, headers=headers)
    body = orjson.loads(response.content)
    if response.status_code == 200:  # "now" moves between the two requests: the rest must not
        for moving in ("as_of", "scores", "history", "explain", "counts", "score"):
            body.pop(moving)
    kept = {name: value for name, value in response.headers.items() if name != "date"}
    return response.status_code, body, kept


REQUESTS = [
    ("/v1/constituents/c-00001", "reader-key"),
    ("/v1/constituents/c-00007", "reader-key"),
    ("/v1/constituents/nobody", "reader-key"),  # never scored: 404
    ("/v1/constituents/with/a/slash", "reader-key"),
    ("/v1/constituents/Zoë-Ångström", "reader-key"),
    ("/v1/constituents/", "reader-key"),  # an empty id
    ("/v1/constituents/c-00001", None),  # no key: 401
    ("/v1/constituents/c-00001", "made-up-key"),  # unknown: 401
    ("/v1/constituents/c-00001", "erase-key"),  # no read scope: 403
    ("/v1/constituents/c-00001", "slow-key"),  # 1/s, bursts of 2: the third is refused (429)
    ("/v1/constituents/c-00002", "slow-key"),
    ("/v1/constituents/c-00003", "slow-key"),
]


def test_one_persons_score_is_answered_exactly_as_the_fastapi_route_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stop_the_clock(monkeypatch, auth)  # the slow key's third request is refused however slow this machine is
    records = folded_records(12, seed=3)
    fast, route = client(tmp_path, True, records), client(tmp_path, False, records)
    statuses = []
    for path, key in REQUESTS:
        expected = answer(route, path, key)
        assert answer(fast, path, key) == expected, path
        statuses.append(expected[0])
    assert statuses == [200, 200, 404, 404, 404, 404, 401, 401, 403, 200, 200, 429]  # every kind was asked


def test_the_fast_lane_answers_before_fastapi_and_leaves_every_other_path_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked_fastapi: list[str] = []

    async def route_answer(context: Any, constituent_id: str) -> tuple[int, bytes]:
        asked_fastapi.append(constituent_id)
        return 418, b"{}"

    monkeypatch.setattr(constituents, "constituent_answer", route_answer)
    records = folded_records(3, seed=4)
    headers = {"Authorization": "Bearer reader-key"}
    fast, route = client(tmp_path, True, records), client(tmp_path, False, records)
    before = _timed("/v1/constituents/{constituent_id:path}")
    assert fast.get("/v1/constituents/c-00001", headers=headers).status_code == 200
    assert asked_fastapi == []  # answered before FastAPI ...
    assert _timed("/v1/constituents/{constituent_id:path}") == before + 1  # ... and timed as its route
    assert route.get("/v1/constituents/c-00001", headers=headers).status_code == 418
    assert asked_fastapi == ["c-00001"]  # (the patch is real: without the fast lane, FastAPI answers)
    assert fast.get("/v1/constituents", headers=headers).json()["population"] == 3  # FastAPI's list
    assert fast.post("/v1/constituents/c-00001", headers=headers).status_code == 405  # not a GET: FastAPI's
    assert fast.get("/healthz").json()["status"] == "ok"


def test_redis_away_is_a_503_with_retry_after_in_both_lanes_and_every_read_route(tmp_path: Path) -> None:
    """MP_SERVING=redis: a read Redis does not answer is refused with Retry-After, never answered stale."""

    async def away(*_: Any, **__: Any) -> Any:
        raise RedisConnectionError("Error 111 connecting to 10.0.0.7:6379. Connection refused.")

    fast, route = client(tmp_path, True, []), client(tmp_path, False, [])
    for app in (fast.app, route.app):
        reads = app.state.context.versions.active.reads  # type: ignore[attr-defined]
        for name in ("get", "ranked", "histogram", "population", "open_by_step", "open_cases"):
            setattr(reads, name, away)
    before = REGISTRY.get_sample_value("mp_api_serving_unavailable_total", {"error": "ConnectionError"}) or 0
    headers = {"Authorization": "Bearer reader-key"}
    assert answer(fast, "/v1/constituents/c-1", "reader-key") == answer(
        route, "/v1/constituents/c-1", "reader-key"
    )
    for path in (
        "/v1/constituents/c-1",
        "/v1/constituents",
        "/v1/scores/summary",
        "/v1/recovery",
        "/v1/system",
    ):
        refused = fast.get(path, headers=headers)
        assert refused.status_code == 503, path
        assert refused.headers["retry-after"] == "2"
        assert "Redis" in refused.json()["detail"] and "10.0.0.7" not in refused.text  # no address leaks
    after = REGISTRY.get_sample_value("mp_api_serving_unavailable_total", {"error": "ConnectionError"})
    assert after == before + 7
    assert fast.get("/v1/constituents/c-1").status_code == 401  # the key is still checked first


def _timed(route: str) -> float:
    """How many GETs of ``route`` the API's latency histogram has counted."""
    count = REGISTRY.get_sample_value(
        "mp_http_request_duration_seconds_count",
        {"service": "api", "route": route, "method": "GET", "status": "200"},
    )
    return count or 0.0
