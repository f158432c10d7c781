"""Integration fixtures: the real services on the real broker `make test` started (MP_KAFKA_BOOTSTRAP)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.integration.harness import Service, free_port, start_service, wait_for


@dataclass
class System:
    ingest_url: str
    api_url: str
    scorer_url: str
    bootstrap: str
    services: list[Service]


@pytest.fixture(scope="session")
def bootstrap() -> str:
    address = os.environ.get("MP_KAFKA_BOOTSTRAP")
    if not address:
        pytest.fail("integration tests need a Kafka broker: run them with `make test` (which starts one)")
    return address


@pytest.fixture(scope="session")
def system(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    ports = {"ingest": free_port(), "api": free_port(), "scorer": free_port()}
    logs = tmp_path_factory.mktemp("service-logs")
    env = {
        "MP_KAFKA_BOOTSTRAP": bootstrap,
        "MP_INGEST_PORT": str(ports["ingest"]),
        "MP_API_PORT": str(ports["api"]),
        "MP_SCORER_WEB_PORT": str(ports["scorer"]),
        "MP_SCORER_DATA_DIR": str(tmp_path_factory.mktemp("scorer-data")),
        "MP_SCORER_APP_ID": f"test-scorer-{uuid.uuid4().hex[:8]}",
    }
    services = [start_service(name, env, logs) for name in ("ingest", "scorer", "api")]
    try:
        running = System(
            ingest_url=f"http://127.0.0.1:{ports['ingest']}",
            api_url=f"http://127.0.0.1:{ports['api']}",
            scorer_url=f"http://127.0.0.1:{ports['scorer']}",
            bootstrap=bootstrap,
            services=services,
        )
        wait_for(f"{running.ingest_url}/readyz", services[0])
        wait_for(f"{running.scorer_url}/metrics", services[1])
        wait_for(f"{running.api_url}/readyz", services[2])
        yield running
    finally:
        for service in services:
            service.stop()
