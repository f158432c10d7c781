"""The broker deploy/compose.yaml and deploy/k8s/kafka.yaml run: deploy/kafka/broker.sh, the official
image's entrypoint, with the certificates deploy/kafka/tls.sh makes. Run here on the same Kafka jars (the
image's bin/ scripts stood in for by two lines each, Docker not running here): every service works through
it over SASL_SSL; nothing talks to it without TLS or with a wrong password; it does not start without its
passwords or its certificates."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from services.common.kafka import KafkaUnavailable, Record, ReliableProducer
from services.common.processes import free_port
from services.common.settings import REPO_ROOT, CommonSettings
from tests.fixtures.system import isolated_topics, launch, sasl_ssl
from tests.fixtures.touchpoints import touchpoint
from tests.fixtures.waiting import wait_for_counts

pytestmark = pytest.mark.integration
KAFKA = REPO_ROOT / "deploy" / "kafka"
LIBS = Path(os.environ.get("KAFKA_LIBS_DIR", REPO_ROOT / ".kafka" / "libs"))
DASH = shutil.which("dash") or "/bin/sh"  # a POSIX sh, as strict as the image's (busybox's has no bash)
USER, PASSWORD, BROKER_PASSWORD = "mission-pulse", f"pw-{uuid.uuid4().hex}", f"b-{uuid.uuid4().hex}"


def image_bin(home: Path) -> Path:
    """The two scripts of the image's /opt/kafka/bin that broker.sh calls, on the jars kafka.sh fetched."""
    java = (
        f"exec java -Xmx512m -Dlog4j.configuration=file:{KAFKA}/log4j.properties -Dkafka.logs.dir={home}"
        f' -cp "{LIBS}/*"'
    )
    (home / "bin").mkdir(parents=True)
    for name, main in (
        ("kafka-storage.sh", "kafka.tools.StorageTool"),
        ("kafka-server-start.sh", "kafka.Kafka"),
    ):
        script = home / "bin" / name
        script.write_text(f'#!/bin/sh\n{java} {main} "$@"\n')
        script.chmod(0o755)
    return home


def broker_env(tmp: Path, **overrides: str) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_HOME": str(tmp / "home"),
        "KAFKA_DATA_DIR": str(tmp / "data"),
        "KAFKA_TLS_DIR": str(tmp / "tls"),
        "KAFKA_SASL_PASSWORD": PASSWORD,
        "KAFKA_BROKER_PASSWORD": BROKER_PASSWORD,
        "KAFKA_ADVERTISED_HOST": "localhost",
        "KAFKA_CLIENT_PORT": str(free_port()),
        "KAFKA_CONTROLLER_PORT": str(free_port()),
        **overrides,
    }


@contextmanager
def deployed_broker(tmp: Path) -> Iterator[str]:
    """broker.sh under dash (a POSIX sh, as strict as the image's), with tls.sh's certificates."""
    subprocess.run([DASH, KAFKA / "tls.sh", tmp / "tls", "localhost,127.0.0.1"], check=True)
    image_bin(tmp / "home")
    env = broker_env(tmp)
    log = (tmp / "broker.log").open("w")
    broker = subprocess.Popen(
        [DASH, KAFKA / "broker.sh"], env=env, stdout=log, stderr=log, start_new_session=True
    )
    try:
        deadline, server_log = time.monotonic() + 90, tmp / "home" / "server.log"
        while not server_log.exists() or "Kafka Server started" not in server_log.read_text():
            assert broker.poll() is None, (tmp / "broker.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the deployed broker did not start within 90 s"
            time.sleep(0.5)
        yield f"localhost:{env['KAFKA_CLIENT_PORT']}"
    finally:
        os.killpg(broker.pid, signal.SIGTERM)
        try:
            broker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(broker.pid, signal.SIGKILL)
            broker.wait()


def test_every_service_works_through_the_deployed_broker_and_only_over_sasl_ssl(tmp_path: Path) -> None:
    with deployed_broker(tmp_path) as bootstrap:
        kafka = sasl_ssl(USER, PASSWORD, tmp_path / "tls" / "ca.pem")
        with launch(bootstrap, tmp_path / "system", **kafka, **isolated_topics("deployed")) as system:
            person = f"deployed-{uuid.uuid4().hex[:8]}"
            for event_type in ("web.page_view", "donation.failed"):
                event = touchpoint(person, event_type, amount=20, currency="USD")
                assert httpx.post(f"{system.ingest_url}/v1/events", json=event).status_code == 202
            wait_for_counts(system, {person: 2})  # ingest → Kafka → scorer (Faust) → Kafka → API view

        def client(password: str) -> CommonSettings:
            return CommonSettings(
                kafka_bootstrap=bootstrap,
                kafka_security_protocol="SASL_SSL",
                kafka_username=USER,
                kafka_password=password,  # type: ignore[arg-type]
                kafka_ca_file=tmp_path / "tls" / "ca.pem",
            )

        asyncio.run(_send_one(client(PASSWORD)))  # the control: the others differ only where refused
        for refused in (client("not-the-password"), CommonSettings(kafka_bootstrap=bootstrap)):  # no TLS
            with pytest.raises(KafkaUnavailable):
                asyncio.run(_send_one(refused))


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("KAFKA_SASL_PASSWORD", "KAFKA_SASL_PASSWORD is not set"),
        ("KAFKA_BROKER_PASSWORD", "KAFKA_BROKER_PASSWORD is not set"),
        ("tls", "broker.p12 is missing: make it with deploy/kafka/tls.sh"),
    ],
)
def test_the_deployed_broker_does_not_start_without_its_passwords_or_certificates(
    tmp_path: Path, missing: str, message: str
) -> None:
    if missing != "tls":
        subprocess.run([DASH, KAFKA / "tls.sh", tmp_path / "tls", "localhost"], check=True)
    image_bin(tmp_path / "home")
    env = broker_env(tmp_path)
    env.pop(missing, None)
    ended = subprocess.run([DASH, KAFKA / "broker.sh"], env=env, capture_output=True, text=True, timeout=60)
    assert ended.returncode == 64
    assert message in ended.stderr
    assert not (tmp_path / "data" / "log" / "meta.properties").exists()  # nothing formatted, nothing started


async def _send_one(settings: CommonSettings) -> None:
    producer = ReliableProducer(settings, timeout_s=5)
    try:
        await producer.send_all([Record(f"deployed-{uuid.uuid4().hex[:8]}", b"k", b"{}")])
    finally:
        await producer.stop()
