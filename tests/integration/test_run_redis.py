"""`MP_SERVING=redis make run`: the whole system with the serving tier — a local Redis started for it, the
sink writing the simulator's people into it, the API answering from it — and all of it gone at the end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import suppress
from pathlib import Path

import httpx
import pytest

from services.common.processes import free_port
from services.serving.local_redis import answers
from tests.fixtures.system import isolated_topics

pytestmark = pytest.mark.integration


def test_make_run_with_redis_serving_starts_redis_and_the_sink_and_serves_from_them(
    bootstrap: str, tmp_path: Path
) -> None:
    api_port, redis_port = free_port(), free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    env = {
        **{name: value for name, value in os.environ.items() if name != "MP_AUTH_CONFIG"},
        **isolated_topics("run-redis"),
        "MP_KAFKA_BOOTSTRAP": bootstrap,
        "MP_SERVING": "redis",
        "MP_REDIS_URL": redis_url,
        "MP_API_PORT": str(api_port),
        "MP_INGEST_PORT": str(free_port()),
        "MP_SCORER_WEB_PORT": str(free_port()),
        "MP_SCORER_DATA_DIR": str(tmp_path / "scorer"),
        "MP_SCORER_APP_ID": f"run-redis-{uuid.uuid4().hex[:8]}",
        "MP_SINK_GROUP": f"run-redis-{uuid.uuid4().hex[:8]}",
        "MP_SINK_METRICS_PORT": str(free_port()),
    }
    log = (tmp_path / "run.log").open("wb")
    run = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run", "--rate", "40"], env=env, stdout=log, stderr=log
    )
    try:
        read = {"Authorization": f"Bearer {_read_token(tmp_path / 'run.log', run)}"}
        deadline, system = time.monotonic() + 120, {}
        while time.monotonic() < deadline:
            with suppress(httpx.TransportError):  # not listening yet
                system = httpx.get(f"http://127.0.0.1:{api_port}/v1/system", headers=read, timeout=5).json()
            if system.get("population", 0) >= 20:
                break
            assert run.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            time.sleep(1)
        assert system.get("serving") == "redis" and system["population"] >= 20, system
        assert answers(redis_url), "the Redis make run started is not the one named"
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=60)
        log.close()
    output = (tmp_path / "run.log").read_text()
    assert f"a local redis-server on 127.0.0.1:{redis_port}" in output
    assert not answers(redis_url), "the local Redis outlived make run"


def _read_token(log: Path, run: subprocess.Popen[bytes]) -> str:
    """The development read token make run printed (made on its first run, in .dev/)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.strip().startswith("API read token"):
                return line.split()[-1]
        assert run.poll() is None, log.read_text()[-3000:]
        time.sleep(0.2)
    raise AssertionError("make run printed no read token")
