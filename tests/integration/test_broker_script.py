"""deploy/kafka/kafka.sh: a Ctrl-C at the terminal does not stop the broker under the services that still
use it (issue 34: stopping `make run` printed 3,528 aiokafka errors, the broker gone before the services);
`kafka.sh stop`, which `make run` calls once they are gone, does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from services.common.processes import free_port
from tests.fixtures.config import REPO_ROOT

pytestmark = pytest.mark.integration
KAFKA_SH = str(REPO_ROOT / "deploy/kafka/kafka.sh")


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_a_ctrl_c_to_the_terminals_group_leaves_the_broker_for_kafka_sh_stop(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_PORT": str(port),
        "KAFKA_CONTROLLER_PORT": str(free_port()),
        "KAFKA_DATA_DIR": str(tmp_path / "kafka"),
    }
    # a shell in a group of its own, as a terminal's foreground job: it starts the broker and waits
    script = f"{KAFKA_SH} start && sleep 60"
    terminal = subprocess.Popen(["/bin/bash", "-c", script], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not answers(port):
            assert time.monotonic() < deadline and terminal.poll() is None, "the broker did not start"
            time.sleep(0.5)
        os.killpg(terminal.pid, signal.SIGINT)  # Ctrl-C
        terminal.wait(timeout=10)
        time.sleep(3)
        assert answers(port), "the broker stopped with the terminal's Ctrl-C"
    finally:
        subprocess.run([KAFKA_SH, "stop"], env=env, check=False)
    assert not answers(port)
