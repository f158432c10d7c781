"""A new API replica is not ready until caught up, and a client resuming on it misses no alert."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest

from services.common.processes import free_port
from tests.fixtures.ledger import alert_updates, published_twice
from tests.fixtures.system import isolated_topics, launch, start_service
from tests.fixtures.touchpoints import touchpoint
from tests.fixtures.waiting import post_each

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_a_new_replica_serves_only_once_caught_up_and_resumes_streams_without_gaps(
    bootstrap: str, tmp_path: Path
) -> None:
    with launch(bootstrap, tmp_path, MP_API_SSE_HEARTBEAT_S="1", **isolated_topics()) as system:
        donors = [f"r-{uuid.uuid4().hex[:6]}" for _ in range(5)]
        post_each(system, [touchpoint(donor, "donation.failed", amount=5) for donor in donors[:3]])
        deadline = time.monotonic() + 30
        first: list[dict[str, object]] = []
        while time.monotonic() < deadline and len(first) < 3:
            first = httpx.get(f"{system.api_url}/v1/alerts", params={"kind": "transaction.failed"}).json()[
                "alerts"
            ]
            time.sleep(0.3)
        # a client read the stream up to the third alert, then its replica went away
        last_seen = None
        with httpx.stream(
            "GET", f"{system.api_url}/v1/alerts/stream", headers={"Last-Event-ID": "-1"}, timeout=10
        ) as replay:
            seen, deadline = 0, time.monotonic() + 30
            for line in replay.iter_lines():
                if line.startswith("id: "):
                    last_seen, seen = line.removeprefix("id: "), seen + 1
                    if seen == 3:
                        break
                assert time.monotonic() < deadline, "the stream never replayed three alerts"
        post_each(system, [touchpoint(donor, "donation.failed", amount=5) for donor in donors[3:]])
        deadline = time.monotonic() + 30  # all five alerts published before the new replica starts
        while time.monotonic() < deadline and len(first) < 5:
            first = httpx.get(f"{system.api_url}/v1/alerts", params={"kind": "transaction.failed"}).json()[
                "alerts"
            ]
            time.sleep(0.3)
        assert len(first) == 5

        port = free_port()
        replica = start_service("api", {**system.env, "MP_API_PORT": str(port)}, tmp_path / "replica")
        url = f"http://127.0.0.1:{port}"
        try:
            statuses = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    statuses.append(httpx.get(f"{url}/readyz", timeout=2).status_code)
                except httpx.HTTPError:
                    statuses.append(0)
                if statuses[-1] == 200:
                    break
                time.sleep(0.05)
            assert statuses[-1] == 200, "the new replica never became ready"
            alerts = httpx.get(f"{url}/v1/alerts", params={"kind": "transaction.failed"}).json()["alerts"]
            assert len(alerts) == 5, "ready before it caught up"
            resumed: list[str] = []
            with httpx.stream(
                "GET",
                f"{url}/v1/alerts/stream",
                headers={"Last-Event-ID": str(last_seen)},
                timeout=httpx.Timeout(10, read=30),
            ) as stream:
                deadline = time.monotonic() + 30  # keep-alives every 1 s would defeat a read timeout
                for line in stream.iter_lines():
                    if line.startswith("data: "):
                        resumed += [donor for donor in donors if donor in line]
                    # both came: read on to the next keep-alive, so that a repeat after them shows too
                    if set(donors[3:]) <= set(resumed) and line == ": keep-alive":
                        break
                    assert time.monotonic() < deadline, f"the resumed stream brought only {resumed}"
            updates = alert_updates(system)
            with httpx.stream(  # a quiet stream still speaks: a keep-alive comment every heartbeat (1 s here)
                "GET", f"{url}/v1/alerts/stream", params={"constituent_id": "nobody"}, timeout=10
            ) as quiet:
                lines, deadline = [], time.monotonic() + 10
                for line in quiet.iter_lines():
                    lines.append(line)
                    if line == ": keep-alive" or time.monotonic() > deadline:
                        break
            assert ": keep-alive" in lines, lines
        finally:
            replica.stop()
    assert sorted(resumed) == sorted(donors[3:]), "the resumed stream missed or repeated alerts"
    # and on the topic itself each alert was published once
    failed = [u for u in updates if u["kind"] == "transaction.failed"]
    assert sorted(u["constituent_id"] for u in failed) == sorted(donors)
    assert published_twice(updates) == 0
