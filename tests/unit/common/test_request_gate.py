"""A known key before any body is read, and a body bounded while it is read (services/common/request_gate.py):
the answers a caller gets, and what the route behind ever sees. Each case was run once against the app
without the gate, where a keyless or oversized body reached the route (and FastAPI parsed it: 422)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel

from services.common.auth import AuthConfig, Key, Keyring, digest
from services.common.request_gate import RequestGate

KEY, OTHER = "k-operator", "k-reader"
seen: list[int] = []


class Note(BaseModel):
    note: str


def app_with(gate: bool, limit: int = 1024) -> TestClient:
    keys = Keyring(
        AuthConfig(
            version=2,
            keys=(
                Key(name="operator", sha256=digest(KEY), scopes=frozenset({"operate"})),
                Key(name="reader", sha256=digest(OTHER), scopes=frozenset({"read"})),
            ),
        )
    )
    app = FastAPI()
    if gate:
        app.add_middleware(RequestGate, keys=keys, max_body_bytes=limit, exempt=lambda path: path == "/hooks")

    @app.post("/notes")
    async def add_note(body: Note, request: Request) -> dict[str, str]:
        keys.check(request, "operate")
        seen.append(len(body.note))
        return {"ok": body.note[:10]}

    @app.post("/hooks")
    async def hook(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    return TestClient(app)


@pytest.fixture(autouse=True)
def nothing_seen() -> Iterator[None]:
    seen.clear()
    yield


def chunks(total: int) -> Iterator[bytes]:
    """A body without a Content-Length (chunked), in 64 KiB pieces."""
    sent = 0
    while sent < total:
        piece = min(65536, total - sent)
        sent += piece
        yield b"x" * piece


def test_a_body_without_a_known_key_is_refused_401_before_it_is_read() -> None:
    big = b'{"note": "' + b"x" * 5_000_000 + b'"}'
    without_gate = app_with(gate=False, limit=1024).post("/notes", content=big)
    assert without_gate.status_code == 422  # the 5 MB body read and parsed before the route's key check
    for headers in ({}, {"Authorization": "Bearer not-a-key"}):
        answer = app_with(gate=True).post("/notes", content=big, headers=headers)
        assert answer.status_code == 401, answer.text
        assert answer.headers["www-authenticate"] == "Bearer"
        assert "known key" in answer.json()["detail"]
    assert seen == []


def test_a_body_over_the_limit_is_refused_413_by_its_declared_length_or_as_it_arrives() -> None:
    client = app_with(gate=True, limit=1024)
    auth = {"Authorization": f"Bearer {KEY}"}
    declared = client.post("/notes", content=b"x" * 5000, headers=auth)
    assert declared.status_code == 413 and declared.json()["detail"] == "body of 5000 bytes, at most 1024"
    streamed = client.post("/notes", content=chunks(300_000), headers=auth)
    assert streamed.status_code == 413 and streamed.json()["detail"] == "body larger than 1024 bytes"
    assert seen == []


def test_a_known_key_with_a_body_within_the_limit_reaches_the_route_which_checks_its_scope() -> None:
    client = app_with(gate=True)
    ok = client.post("/notes", json={"note": "called the donor"}, headers={"Authorization": f"Bearer {KEY}"})
    assert ok.status_code == 200 and ok.json() == {"ok": "called the"}
    wrong_scope = client.post("/notes", json={"note": "x"}, headers={"Authorization": f"Bearer {OTHER}"})
    assert wrong_scope.status_code == 403  # known, so the body is read; the route says what it lacks
    assert seen == [16]


def test_routes_that_verify_their_callers_themselves_are_left_alone() -> None:
    answer = app_with(gate=True, limit=1024).post("/hooks", content=b"y" * 5000)
    assert answer.status_code == 200 and answer.json() == {"bytes": 5000}
