"""Integration fixtures: the real services on the real broker `make test` started (MP_KAFKA_BOOTSTRAP)."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.common.auth import digest
from tests.integration.harness import Service, free_port, start_service, wait_for

SERVICES = ("ingest", "scorer", "api")


@dataclass
class System:
    """ingest, scorer and api as processes, and how to reach them."""

    bootstrap: str
    env: dict[str, str]
    log_dir: Path
    services: dict[str, Service]

    def url(self, name: str) -> str:
        port = {"ingest": "MP_INGEST_PORT", "api": "MP_API_PORT", "scorer": "MP_SCORER_WEB_PORT"}[name]
        return f"http://127.0.0.1:{self.env[port]}"

    @property
    def ingest_url(self) -> str:
        return self.url("ingest")

    @property
    def api_url(self) -> str:
        return self.url("api")

    @property
    def scorer_url(self) -> str:
        return self.url("scorer")

    def start(self, name: str) -> None:
        self.services[name] = start_service(name, self.env, self.log_dir)
        ready = "/readyz"
        wait_for(self.url(name) + ready, self.services[name])

    def kill(self, name: str) -> None:
        """SIGKILL: no clean shutdown, no flush, no commit."""
        process = self.services[name].process
        process.send_signal(signal.SIGKILL)
        process.wait()


@contextmanager
def launch(bootstrap: str, tmp: Path, **overrides: str) -> Iterator[System]:
    tmp.mkdir(parents=True, exist_ok=True)
    env = {
        "MP_KAFKA_BOOTSTRAP": bootstrap,
        "MP_INGEST_PORT": str(free_port()),
        "MP_API_PORT": str(free_port()),
        "MP_SCORER_WEB_PORT": str(free_port()),
        "MP_SCORER_DATA_DIR": str(tmp / "scorer-data"),
        "MP_SCORER_APP_ID": f"test-scorer-{uuid.uuid4().hex[:8]}",
        **overrides,
    }
    system = System(bootstrap=bootstrap, env=env, log_dir=tmp, services={})
    try:
        for name in SERVICES:
            system.start(name)
        yield system
    finally:
        for service in system.services.values():
            service.stop()


def isolated_topics() -> dict[str, str]:
    """Topic names of a system's own, so that it shares nothing with the other tests."""
    suffix = uuid.uuid4().hex[:8]
    return {
        f"MP_TOPIC_{name.upper()}": f"{topic}-{suffix}"
        for name, topic in [
            ("touchpoints", "touchpoints"),
            ("scores", "constituent-scores"),
            ("alerts", "alerts"),
            ("dead_letters", "touchpoints.dlq"),
            ("identities", "identity-links"),
        ]
    }


@pytest.fixture(scope="session")
def bootstrap() -> str:
    address = os.environ.get("MP_KAFKA_BOOTSTRAP")
    if not address:
        pytest.fail("integration tests need a Kafka broker: run them with `make test` (which starts one)")
    return address


@pytest.fixture(scope="session")
def system(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with launch(bootstrap, tmp_path_factory.mktemp("system")) as running:
        yield running


@dataclass(frozen=True)
class Keys:
    ingest: str
    read: str
    write: str

    def header(self, which: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {getattr(self, which)}"}


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(ingest=uuid.uuid4().hex, read=uuid.uuid4().hex, write=uuid.uuid4().hex)


@pytest.fixture(scope="session")
def secured(bootstrap: str, keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """A system of its own that requires keys: an ingest key, a read token and an operator's write token."""
    tmp = tmp_path_factory.mktemp("secured")
    config = tmp / "auth.toml"
    config.write_text(f"""version = 1
[[ingest_keys]]
name = "everything"
sources = ["*"]
sha256 = "{digest(keys.ingest)}"
[[read_tokens]]
name = "dashboard"
sha256 = "{digest(keys.read)}"
[[write_tokens]]
name = "on-call"
sha256 = "{digest(keys.write)}"
""")
    with launch(bootstrap, tmp, MP_AUTH_CONFIG=str(config), **isolated_topics()) as running:
        yield running
