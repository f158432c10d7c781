"""A Redis on this machine for `MP_SERVING=redis make run` and the tests: Debian's redis-server (`make redis`
installs it), on loopback, without persistence — Kafka is the source of truth and the sink rebuilds it."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis


def start_redis(
    port: int, workdir: Path, *options: str, probe: redis.Redis | None = None
) -> subprocess.Popen[bytes]:
    """redis-server on 127.0.0.1:``port`` with ``options`` (e.g. ``--replicaof host port``), answering
    ``probe``'s PING (a plain client on the port by default; one with TLS or a password for such a one)."""
    binary = shutil.which("redis-server")
    if not binary:
        raise RuntimeError("redis-server is not installed: `make redis` installs Debian's (MP_SERVING=redis)")
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "redis.log"
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--dir", str(workdir), "--logfile", str(log), *options]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            (probe or redis.Redis(port=port)).ping()
            return process
        except redis.ConnectionError:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"redis-server exited: {tail}") from None
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("redis-server did not answer within 20 s") from None
            time.sleep(0.05)


def answers(url: str) -> bool:
    """Whether a Redis answers at ``url`` now."""
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False
