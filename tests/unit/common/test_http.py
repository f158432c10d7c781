"""Request latency metrics: one series per route template, method and status; streams left out."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from services.common.http import add_common_routes


def observed(route: str, status: str) -> float:
    labels = {"service": "test-http", "route": route, "method": "GET", "status": status}
    return REGISTRY.get_sample_value("mp_http_request_duration_seconds_count", labels) or 0.0


def test_requests_are_counted_by_route_template_and_status() -> None:
    app = FastAPI()
    add_common_routes(app, "test-http")

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        if thing_id == "missing":
            raise HTTPException(404, "no such thing")
        return {"id": thing_id}

    @app.get("/things/{thing_id}/stream")
    async def stream(thing_id: str) -> StreamingResponse:
        def lines() -> Iterator[bytes]:
            yield b"data: 1\n\n"

        return StreamingResponse(lines(), media_type="text/event-stream")

    client = TestClient(app)
    before_ok, before_missing = observed("/things/{thing_id}", "200"), observed("/things/{thing_id}", "404")
    assert client.get("/things/a").status_code == 200
    assert client.get("/things/b").status_code == 200
    assert client.get("/things/missing").status_code == 404
    assert client.get("/things/a/stream").status_code == 200
    assert client.get("/nowhere").status_code == 404

    assert observed("/things/{thing_id}", "200") == before_ok + 2
    assert observed("/things/{thing_id}", "404") == before_missing + 1
    assert observed("/things/{thing_id}/stream", "200") == 0
    assert observed("unmatched", "404") >= 1
    assert 'route="/things/{thing_id}"' in client.get("/metrics").text
