"""Running Mission Pulse's services as child processes: a free port, start, wait until ready, stop.

Used by ``mission-pulse run``, the benchmarks, the soak and the integration tests, so that each starts,
waits for and stops a service the same way.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from services.common.settings import REPO_ROOT


class NotReady(RuntimeError):
    """A started service exited, or did not answer ready in time; the message says which."""


RESTART_EXIT_CODE = 75  # EX_TEMPFAIL: a service asking its supervisor to start it again


EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_CHOSEN_PORT = 10000
_handed_out: set[int] = set()


def ephemeral_ports(range_file: Path = EPHEMERAL_RANGE_FILE) -> range:
    """The ports the kernel takes outgoing connections' source ports from (Linux's default if unknown)."""
    try:
        low, high = (int(part) for part in range_file.read_text().split())
    except (OSError, ValueError):
        return range(32768, 61000)
    return range(low, high + 1)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, chosen below the ephemeral range.

    A port the kernel hands out for port 0 comes from the range outgoing connections take their source
    ports from, so a service that binds it seconds later can find it taken by a connection (to Kafka,
    to Redis) made in between. Below that range only listeners take ports; each port is handed out once
    per process.
    """
    below = range(LOWEST_CHOSEN_PORT, ephemeral_ports().start)
    for _ in range(200 if len(below) > 1000 else 0):
        port = secrets.choice(below)
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port
    with socket.socket() as sock:  # no room below the ephemeral range: the kernel's choice
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def environment_with(overrides: Mapping[str, str]) -> dict[str, str]:
    """This process's environment with ``overrides`` over it: what a child started with them sees."""
    return {**os.environ, **overrides}


def start_service(
    name: str, env: dict[str, str] | None = None, output: Path | int | None = None, detached: bool = False
) -> subprocess.Popen[bytes]:
    """``mission-pulse <name>`` as a child process with ``env`` (None: this process's environment).
    ``output``: a log file for its stdout and stderr, ``subprocess.DEVNULL``, or None to share ours.
    ``detached``: in a session of its own, so that it outlives this process and its terminal's Ctrl-C."""
    command = [sys.executable, "-m", "services.cli", name]
    if isinstance(output, Path):
        output.parent.mkdir(parents=True, exist_ok=True)
        with output.open("wb") as log:
            return subprocess.Popen(
                command,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
                start_new_session=detached,
            )
    return subprocess.Popen(
        command, env=env, stdout=output, stderr=output, cwd=REPO_ROOT, start_new_session=detached
    )


def wait_until_ready(
    url: str, process: subprocess.Popen[bytes] | None = None, timeout_s: float = 120
) -> None:
    """Poll ``url`` until it answers 200; NotReady if ``process`` exits or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise NotReady(f"{url}: the service exited with code {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise NotReady(f"{url} did not become ready within {timeout_s:g}s")


def stop(process: subprocess.Popen[bytes], timeout_s: float = 20) -> None:
    """SIGTERM (a clean shutdown), then SIGKILL if it has not exited within ``timeout_s``."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def rss_bytes(pid: int) -> int:
    """A process's resident memory (Linux)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024  # type: ignore[union-attr]
