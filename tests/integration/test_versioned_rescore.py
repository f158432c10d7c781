"""Versioned rescoring end to end (docs/scoring.md, "Applying a new model"): ``mission-pulse rescore --apply``
starts a scorer for the candidate model under a new application id, which rebuilds every person from the
retained touchpoints into a scores topic of its own and names itself live once caught up; the API switches
to it only when its new views are built. Meanwhile a client keeps asking: no answer ever comes from a
half-built version, and no answer from the old model follows one from the new."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.config_files import load_scoring_model
from services.common.processes import free_port
from tests.fixtures.config import CONFIG
from tests.fixtures.fast_rules import fast_rules
from tests.fixtures.ledger import values_of
from tests.fixtures.system import System, launch, start_service, wait_for
from tests.fixtures.touchpoints import touchpoint
from tests.fixtures.waiting import wait_for_counts

pytestmark = pytest.mark.integration
PEOPLE = 100
EVENTS_EACH = 20


@pytest.fixture
def system(bootstrap: str, tmp_path: Path) -> Iterator[System]:
    with launch(bootstrap, tmp_path / "system", MP_ALERTS_CONFIG=str(fast_rules(tmp_path))) as running:
        yield running


def candidate_model(tmp: Path) -> Path:
    """The live model with another half-life: every score changes, so does the model's version."""
    text = (CONFIG / "scoring.toml").read_text().replace("half_life_hours = 168.0", "half_life_hours = 24.0")
    assert "half_life_hours = 24.0" in text
    path = tmp / "candidate.toml"
    path.write_text(text)
    return path


class Watcher(threading.Thread):
    """A client asking the API for known people and the population, over and over, keeping every answer."""

    def __init__(self, system: System, people: list[str]) -> None:
        super().__init__(daemon=True)
        self.api, self.people = system.api_url, people
        self.answers: list[tuple[str, int, Any]] = []  # (what, status, model version or population)
        self.stop = threading.Event()
        self.died_of: BaseException | None = None  # a thread's death is silent: kept here, raised by the test

    def run(self) -> None:
        try:
            self.ask_until_stopped()
        except BaseException as error:
            self.died_of = error

    def ask_until_stopped(self) -> None:
        with httpx.Client(base_url=self.api, timeout=5) as client:
            n = 0
            while not self.stop.is_set():
                person = self.people[n % len(self.people)]
                answer = client.get(f"/v1/constituents/{person}")
                body = answer.json()
                self.answers.append(
                    ("person", answer.status_code, (body.get("model_version"), body.get("events")))
                )
                summary = client.get("/v1/scores/summary").json()
                self.answers.append(("population", summary["population"], None))
                self.answers.append(("ready", client.get("/readyz").status_code, None))
                n += 1


def served_version(system: System) -> str:
    return httpx.get(f"{system.api_url}/v1/system").json()["model_version"]


def until(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (result := check()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s:.0f} s"
        time.sleep(0.3)
    return result


def test_apply_rebuilds_the_candidate_and_the_api_switches_only_once_it_is_whole(
    system: System, tmp_path: Path
) -> None:
    live_version = load_scoring_model(CONFIG / "scoring.toml").fingerprint
    candidate = candidate_model(tmp_path)
    new_version = load_scoring_model(candidate).fingerprint
    people = [f"vr-{uuid.uuid4().hex[:8]}" for _ in range(PEOPLE)]
    events = [touchpoint(p, "donation.completed", amount=25 + n) for n in range(EVENTS_EACH) for p in people]
    for start in range(0, len(events), 1000):
        assert (
            httpx.post(f"{system.ingest_url}/v1/events", json=events[start : start + 1000]).status_code == 202
        )
    wait_for_counts(system, dict.fromkeys(people, EVENTS_EACH), timeout_s=120)  # the live scorer's
    assert served_version(system) == live_version

    watcher = Watcher(system, people)
    watcher.start()
    log_dir = tmp_path / "rescore"
    try:
        applied = system.command(
            "rescore",
            "--apply",
            "--model",
            str(candidate),
            "--quiet",
            "--log-dir",
            str(log_dir),
            timeout_s=240,
            MP_SCORING_CONFIG=str(CONFIG / "scoring.toml"),
        )
        assert applied.returncode == 0, applied.stderr + applied.stdout
        assert f"model version {new_version} is live" in applied.stdout
        until(lambda: served_version(system) == new_version, 60, "the API switched to the candidate")

        # The candidate is now the live scorer: new events are scored by it, a failed gift alerts once.
        late = f"vr-late-{uuid.uuid4().hex[:6]}"
        failed = touchpoint(
            late, "donation.failed", amount=40, processor="stripe", error_code="card_declined"
        )
        assert httpx.post(f"{system.ingest_url}/v1/events", json=failed).status_code == 202
        scored = until(
            lambda: (
                (a := httpx.get(f"{system.api_url}/v1/constituents/{late}")).status_code == 200 and a.json()
            ),
            60,
            "an event after the switch scored",
        )
        assert scored["model_version"] == new_version
        alerts = until(
            lambda: httpx.get(f"{system.api_url}/v1/alerts", params={"constituent_id": late}).json()[
                "alerts"
            ],
            60,
            "the candidate's alert on the shared topic",
        )
        assert len(alerts) == 1
        # …and the scorer it replaced sent its own alert for the same gift to its shadow topic, not to ours.
        shadow = f"{system.env['MP_SCORER_APP_ID']}-alerts"
        until(
            lambda: any(late.encode() in value for value in values_of(system.bootstrap, shadow)),
            60,
            "the replaced scorer's alert on its own topic",
        )
        # An API replica started now builds the live version's views from the start: never the old one.
        port = str(free_port())
        replica = start_service("api", {**system.env, "MP_API_PORT": port}, tmp_path / "api-2")
        try:
            wait_for(f"http://127.0.0.1:{port}/readyz", replica)
            assert httpx.get(f"http://127.0.0.1:{port}/v1/system").json()["model_version"] == new_version
        finally:
            replica.stop()
    finally:
        watcher.stop.set()
        watcher.join(10)
        assert not watcher.is_alive(), "the watcher did not stop"
        pid_file = log_dir / f"scorer-v{new_version}.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)

    assert watcher.died_of is None, f"the watcher stopped asking during the switch: {watcher.died_of!r}"
    people_answers = [(status, version) for what, status, version in watcher.answers if what == "person"]
    populations = [count for what, count, _ in watcher.answers if what == "population"]
    assert all(status == 200 for status, _ in people_answers), "a known person was missing from an answer"
    readiness = {status for what, status, _ in watcher.answers if what == "ready"}
    assert readiness == {200}, f"the API was not ready at some point of the switch: {readiness}"
    seen = [version for _, (version, _) in people_answers]
    assert all(events == EVENTS_EACH for _, (_, events) in people_answers), "a person was served half-built"
    assert set(seen) == {live_version, new_version}, f"both versions were served: {set(seen)}"
    first_new = seen.index(new_version)
    assert all(v == new_version for v in seen[first_new:]), "the old model answered after the new one"
    assert all(count >= PEOPLE for count in populations), (
        f"a half-built population was served: {min(populations)}"
    )
