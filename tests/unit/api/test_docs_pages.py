"""The API's interactive docs load a CDN's scripts under a looser policy, on the console's origin: off
unless asked for (issue 34); the OpenAPI document itself is always served."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.api.settings import ApiSettings


@pytest.mark.parametrize("asked", [False, True])
def test_the_interactive_docs_are_served_only_when_asked_for(asked: bool) -> None:
    client = TestClient(create_app(ApiSettings(environment="development", api_interactive_docs=asked)))
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == (200 if asked else 404)
    assert client.get("/redoc").status_code == (200 if asked else 404)
