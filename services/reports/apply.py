"""``mission-pulse rescore --apply --model candidate.toml``: versioned rescoring.

Starts a scorer for the candidate model under a new application id (``<app id>-v<version>``) that rebuilds
every person from the retained touchpoints into topics of its own (``<scores topic>-v<version>``, the same
for the report), shows its progress, and returns once that scorer has caught up and named itself live on the
versions topic. Every API replica then builds the new version's views and switches when they are caught up
(services/api/scoring_views.py); the scorer it replaces sends its alerts to a topic of its own from then on.
Names, records and who is live: services/domain/versions.py. docs/scoring.md says how to use it.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from services.common.follower import TopicFollower
from services.common.group_offsets import KafkaOffsets
from services.common.kafka import KafkaUnavailable
from services.common.processes import environment_with, free_port, start_service
from services.common.settings import CommonSettings
from services.domain.scoring_model import ScoringModel
from services.domain.versions import ACTIVE_KEY, ModelVersion, versioned_names
from services.scorer.settings import ScorerSettings

POLL_S = 1.0


@dataclass(frozen=True)
class Candidate:
    """A candidate version and the settings its scorer runs with."""

    version: str
    app_id: str
    report_deltas_topic: str  # its internal topic, which it must have read before it goes live
    env: dict[str, str]  # MP_* settings over the operator's own

    @classmethod
    def of(cls, settings: CommonSettings, model: ScoringModel, model_path: Path, data_dir: Path) -> Candidate:
        version = model.fingerprint
        app_id, scores, reports = versioned_names(
            settings.scorer_app_id, settings.topic_scores, settings.topic_reports, version
        )
        env = {
            "MP_SCORER_APP_ID": app_id,
            "MP_TOPIC_SCORES": scores,
            "MP_TOPIC_REPORTS": reports,
            "MP_SCORING_CONFIG": str(model_path.resolve()),
            "MP_SCORER_CANDIDATE": "true",
            "MP_SCORER_DATA_DIR": str(data_dir / f"scorer-v{version}"),
        }
        return cls(version, app_id, ScorerSettings(scorer_app_id=app_id).report_deltas_topic, env)


class ActiveVersion:
    """The versions topic's ``active`` record, followed in the background."""

    def __init__(self, settings: CommonSettings) -> None:
        self.record: ModelVersion | None = None
        self.follower = TopicFollower(settings, "rescore", {settings.topic_versions: self._fold})

    def _fold(self, record: Any) -> None:
        if record.key == ACTIVE_KEY:
            self.record = ModelVersion.decode(record.value)


async def apply_candidate(
    settings: CommonSettings,
    live: ScoringModel,
    candidate: Candidate,
    log_dir: Path,
    progress: bool = True,
) -> str:
    """Start the candidate's scorer (detached: it stays as the live scorer) and wait until it names itself
    live; what to tell the operator. SystemExit when the version is already live or its scorer stops."""
    active = ActiveVersion(settings)
    following = asyncio.create_task(active.follower.run())
    offsets = KafkaOffsets(settings)
    try:
        try:
            await asyncio.wait_for(active.follower.ready.wait(), timeout=60)
        except TimeoutError:
            raise SystemExit(f"rescore: {settings.topic_versions} could not be read within 60 s") from None
        live_version = active.record.version if active.record else live.fingerprint
        previous = active.record.app_id if active.record else settings.scorer_app_id
        if live_version == candidate.version:
            raise SystemExit(f"rescore: model version {candidate.version} is already the live one")
        log_path = log_dir / f"scorer-v{candidate.version}.log"
        env = environment_with({"MP_SCORER_WEB_PORT": str(free_port()), **candidate.env})
        process = start_service("scorer", env, log_path, detached=True)
        (log_dir / f"scorer-v{candidate.version}.pid").write_text(f"{process.pid}\n")
        bar = tqdm(
            unit="records", disable=not progress, file=sys.stderr, desc=f"rebuilding v{candidate.version}"
        )
        with bar:
            while active.record is None or active.record.app_id != candidate.app_id:
                if process.poll() is not None:
                    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
                    raise SystemExit(
                        f"rescore: the candidate's scorer stopped (exit code {process.returncode}); nothing "
                        f"was switched. The end of {log_path}:\n{tail}"
                    )
                topics = (settings.topic_touchpoints, candidate.report_deltas_topic)
                await _show_progress(bar, offsets, candidate.app_id, topics)
                await asyncio.sleep(POLL_S)
            bar.update((bar.total or 0) - bar.n)
    finally:
        following.cancel()
        await offsets.close()
    return (
        f"model version {candidate.version} is live since {time.strftime('%H:%M:%S')}: its scores are on "
        f"{candidate.env['MP_TOPIC_SCORES']}; each API switches to it as soon as its views of that topic are "
        f"built (GET /v1/system: model_version). Its scorer runs as pid {process.pid} (log: {log_path}); run "
        f"it with these settings from now on:\n"
        + "".join(f"  {name}={value}\n" for name, value in candidate.env.items())
        + f"The scorer it replaces ({previous}) now sends its alerts to a topic of its own; stop it once the "
        "APIs show the new version."
    )


async def _show_progress(bar: Any, offsets: KafkaOffsets, group: str, topics: tuple[str, str]) -> None:
    """The candidate group's committed records against all retained ones: touchpoints and report deltas,
    the two it must have read before it names itself live (services/scorer/version_agents.py)."""
    try:
        positions = await offsets.positions((group,), topics)
    except KafkaUnavailable:
        return
    done, total = positions.progress(group)
    bar.total = total
    bar.n = min(done, total)
    bar.refresh()
