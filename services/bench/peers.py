"""The peers `make bench` measures beside the scorer, on the same topics in the same run: Kafka Streams
(deploy/bench/kstreams/, built from Maven Central with the Maven already used for the broker jars) and Quix
Streams (deploy/bench/quix/, in a virtualenv of its own, so it never enters the product's dependencies),
both running the *light fold* — per constituent: an event id seen among its last 256 dropped, decayed impact
sums per dimension (the live model's impacts and half-life), counts by source — with durable RocksDB state
and at-least-once commits every 100 ms. A peer that cannot be set up (no network, say) is left out with
its reason; the rest of the bench runs.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import orjson

from services.bench.measure import Figures
from services.common.processes import rss_bytes
from services.common.settings import REPO_ROOT, CommonSettings
from services.domain.scoring_model import ScoringModel

PEERS_DIR = REPO_ROOT / ".bench-peers"
QUIX_VERSION = "3.28.1"
KAFKA_STREAMS_VERSION = "3.9.2"  # the broker's (deploy/bench/kstreams/pom.xml)
PEER_TIMEOUT_S = 900


@dataclass(frozen=True)
class Peer:
    name: str
    command: list[str]  # then: bootstrap, topic, group, events, fold spec, state dir


def fold_spec(model: ScoringModel, folder: Path) -> Path:
    """The light fold's parameters as both peers read them: the half-life, then each type's impacts."""
    lines = [str(model.half_life_hours)]
    lines += [
        f"{kind} {' '.join(str(p) for p in impact.as_tuple())}" for kind, impact in model.impacts.items()
    ]
    path = folder / "light-fold.spec"
    path.write_text("\n".join(lines) + "\n")
    return path


def prepare() -> tuple[list[Peer], dict[str, str]]:
    """Build or reuse the peers; those ready, and why the others are not."""
    ready, missing = [], {}
    for name, build in (
        (f"Kafka Streams {KAFKA_STREAMS_VERSION}", _kafka_streams),
        (f"Quix Streams {QUIX_VERSION}", _quix),
    ):
        print(f"preparing the peer {name} …", flush=True)
        try:
            ready.append(Peer(name, build()))
        except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            missing[name] = f"not set up: {error}"
            print(f"  left out: {missing[name]}", flush=True)
    return ready, missing


def _kafka_streams() -> list[str]:
    folder = PEERS_DIR / "kstreams"
    source = REPO_ROOT / "deploy" / "bench" / "kstreams"
    if not (folder / "libs").is_dir():
        _run(["mvn", "-q", "-B", "-f", str(source / "pom.xml"), "dependency:copy-dependencies"])
    classes = folder / "classes"
    if not (classes / "LightFold.class").exists() or (
        (classes / "LightFold.class").stat().st_mtime < (source / "LightFold.java").stat().st_mtime
    ):
        classes.mkdir(parents=True, exist_ok=True)
        _run(["javac", "-cp", f"{folder / 'libs'}/*", "-d", str(classes), str(source / "LightFold.java")])
    return ["java", "-Xmx1g", "-cp", f"{classes}:{folder / 'libs'}/*", "LightFold"]


def _quix() -> list[str]:
    venv = PEERS_DIR / "quix"
    python = venv / "bin" / "python"
    marker = venv / f"quixstreams-{QUIX_VERSION}"
    if not marker.exists():
        _run([sys.executable, "-m", "venv", str(venv)])
        _run([str(python), "-m", "pip", "install", "-q", f"quixstreams=={QUIX_VERSION}"])
        marker.touch()
    return [str(python), "-W", "ignore", str(REPO_ROOT / "deploy" / "bench" / "quix" / "light_fold.py")]


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=600, cwd=REPO_ROOT)


def fold(peer: Peer, settings: CommonSettings, topic: str, events: int, spec: Path, state: Path) -> Figures:
    """The peer over the whole topic: its own rate (first record to the last folded) and peak memory."""
    group = f"bench-peer-{uuid.uuid4().hex[:6]}"
    command = [
        *peer.command,
        settings.kafka_bootstrap,
        topic,
        group,
        str(events),
        str(spec),
        str(state / group),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO_ROOT)
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            with suppress(OSError, AttributeError):  # gone between poll and read
                peak[0] = max(peak[0], rss_bytes(process.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = process.communicate(timeout=PEER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        return {"events": 0, "seconds": 0, "events_per_s": 0, "error": f"not done in {PEER_TIMEOUT_S} s"}
    sampler.join()
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        tail = err.decode(errors="replace")[-500:]
        return {"events": 0, "seconds": 0, "events_per_s": 0, "error": f"exit {process.returncode}: {tail}"}
    figures: Figures = orjson.loads(lines[-1])
    return {**figures, "peak_rss_bytes": peak[0]}
