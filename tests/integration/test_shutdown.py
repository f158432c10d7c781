"""A SIGTERM stops the API within its grace even while clients hold live alert streams open (issue 34: an
open stream held up a graceful shutdown for as long as the client stayed)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.system import launch

pytestmark = pytest.mark.integration


def test_an_open_alert_stream_does_not_hold_up_a_shutdown(bootstrap: str, tmp_path: Path) -> None:
    with launch(bootstrap, tmp_path, MP_SHUTDOWN_GRACE_S="2") as system, httpx.Client(timeout=30) as client:
        with client.stream("GET", f"{system.api_url}/v1/alerts/stream") as stream:
            assert stream.status_code == 200
            api = system.services["api"].process
            asked = time.monotonic()
            api.send_signal(signal.SIGTERM)
            api.wait(timeout=20)
            took = time.monotonic() - asked
        assert took < 10, f"the API took {took:.1f} s to stop with a stream open"
