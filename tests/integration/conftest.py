"""Integration fixtures: the real services on the real broker `make test` started (MP_KAFKA_BOOTSTRAP).

Every test module that uses ``system`` gets a system of its own, on topics of its own (the topic factory
``isolated_topics``), so no test can write to another's topics.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from services.common.auth import digest
from tests.fixtures.log_privacy import leaks_in_logs
from tests.fixtures.redis_server import redis_server
from tests.fixtures.system import Keys, System, isolated_topics, launch


@pytest.fixture(scope="session", autouse=True)
def no_personal_data_in_any_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the whole run, every service log it wrote (every test's ingest, scorer and api, their replicas
    and restarts) holds no email address, phone number, webhook secret or private key (docs/privacy.md);
    a leak fails the run at the last test's teardown, naming the file and the line."""
    yield
    found = leaks_in_logs(tmp_path_factory.getbasetemp())
    assert not found, "personal data or secrets in service logs:\n" + "\n".join(
        f"{path}\n  " + "\n  ".join(lines[:5]) for path, lines in found.items()
    )


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis of the test module's own (Debian's redis-server, no persistence), as Kafka's topics are."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def bootstrap() -> str:
    address = os.environ.get("MP_KAFKA_BOOTSTRAP")
    if not address:
        pytest.fail("integration tests need a Kafka broker: run them with `make test` (which starts one)")
    return address


@pytest.fixture(scope="module")
def system(
    bootstrap: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    """ingest, scorer and api for this test module alone, on its own topics (authentication off)."""
    owner = request.module.__name__.rsplit(".", 1)[-1]
    topics = isolated_topics(owner)
    with launch(bootstrap, tmp_path_factory.mktemp(owner), **topics) as running:
        yield running


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(ingest=uuid.uuid4().hex, read=uuid.uuid4().hex, write=uuid.uuid4().hex)


@pytest.fixture(scope="module")
def secured(
    bootstrap: str, keys: Keys, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    """A system of the module's own that requires keys: an ingest key, a read token and a write token."""
    owner = request.module.__name__.rsplit(".", 1)[-1]
    tmp = tmp_path_factory.mktemp(f"{owner}-secured")
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
    with launch(bootstrap, tmp, MP_AUTH_CONFIG=str(config), **isolated_topics(f"{owner}-secured")) as running:
        yield running
