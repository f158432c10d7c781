"""With Kafka away ingest answers 503 + Retry-After, never 202, and recovers by itself."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.harness import KAFKA_SH, free_port, own_broker, start_service, wait_for
from tests.integration.test_pipeline import touchpoint

pytestmark = pytest.mark.integration


def test_ingest_refuses_with_503_while_kafka_is_down_and_recovers(tmp_path: Path) -> None:
    with own_broker(tmp_path / "kafka") as (bootstrap, broker_env):
        port = free_port()
        ingest = start_service(
            "ingest",
            {
                "MP_KAFKA_BOOTSTRAP": bootstrap,
                "MP_INGEST_PORT": str(port),
                "MP_INGEST_PRODUCE_TIMEOUT_S": "3",
            },
            tmp_path,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(f"{url}/readyz", ingest)
            assert httpx.post(f"{url}/v1/events", json=touchpoint("c-1", "web.page_view")).status_code == 202

            subprocess.run([KAFKA_SH, "stop"], env=broker_env, check=True)
            response = httpx.post(f"{url}/v1/events", json=touchpoint("c-1", "web.page_view"), timeout=30)
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "5"
            assert "Kafka is unavailable" in response.json()["detail"]
            assert httpx.get(f"{url}/readyz", timeout=10).status_code == 503

            subprocess.run([KAFKA_SH, "start"], env=broker_env, check=True)
            deadline = time.monotonic() + 60
            status = 0
            while time.monotonic() < deadline and status != 202:
                status = httpx.post(
                    f"{url}/v1/events", json=touchpoint("c-1", "web.page_view"), timeout=30
                ).status_code
                time.sleep(1)
            assert status == 202, f"ingest did not recover:\n{ingest.log_tail()}"
            assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
        finally:
            ingest.stop()
