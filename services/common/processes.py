"""Waiting for a service we started to answer 200 on a URL (its /readyz)."""

from __future__ import annotations

import subprocess
import time

import httpx


def wait_until_ready(
    url: str, process: subprocess.Popen[bytes] | None = None, timeout_s: float = 120
) -> None:
    """Poll ``url``; stop with a clear message if ``process`` exits or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"{url}: the service exited with code {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not become ready within {timeout_s:g}s")
