"""Keys on a running system: ingest needs a key for its source, the query API a read token."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from services.common.auth import digest
from tests.fixtures.system import isolated_topics, launch
from tests.fixtures.touchpoints import touchpoint

pytestmark = pytest.mark.integration


def test_keys_decide_who_may_write_and_read(bootstrap: str, tmp_path: Path) -> None:
    web_key, read_token = uuid.uuid4().hex, uuid.uuid4().hex
    config = tmp_path / "auth.toml"
    config.write_text(f"""version = 1
[[ingest_keys]]
name = "website"
sources = ["web"]
sha256 = "{digest(web_key)}"
rate_per_second = 1
[[read_tokens]]
name = "ops"
sha256 = "{digest(read_token)}"
""")
    with launch(bootstrap, tmp_path, MP_AUTH_CONFIG=str(config), **isolated_topics()) as system:
        events = f"{system.ingest_url}/v1/events"
        web = {"Authorization": f"Bearer {web_key}"}
        assert httpx.post(events, json=touchpoint("c-1", "web.page_view")).status_code == 401
        assert (
            httpx.post(
                events, json=touchpoint("c-1", "web.page_view"), headers={"Authorization": "Bearer wrong"}
            ).status_code
            == 401
        )
        assert httpx.post(events, json=touchpoint("c-1", "web.page_view"), headers=web).status_code == 202
        forbidden = httpx.post(events, json=touchpoint("c-1", "donation.failed"), headers=web)
        assert forbidden.status_code == 403
        assert forbidden.json()["detail"] == "key 'website' may not submit events of source 'donation'"
        # the two requests above used the key's whole burst (1/s, bursts of two); the third comes
        # milliseconds later, long before a token comes back a second after
        limited = httpx.post(events, json=touchpoint("c-1", "web.page_view"), headers=web)
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "1"
        assert "1 requests/s for 'website'" in limited.json()["detail"]

        profile = f"{system.api_url}/v1/constituents/c-1"
        assert httpx.get(profile).status_code == 401
        assert httpx.get(profile, headers={"Authorization": f"Bearer {read_token}"}).status_code in (200, 404)
        with httpx.stream(
            "GET", f"{system.api_url}/v1/alerts/stream", params={"token": read_token}, timeout=10
        ) as stream:
            assert stream.status_code == 200
        for open_route in ("/healthz", "/metrics"):
            assert httpx.get(system.api_url + open_route).status_code == 200
            assert httpx.get(system.ingest_url + open_route).status_code == 200
