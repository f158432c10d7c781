"""Scorer settings (env prefix ``MP_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from services.common.settings import REPO_ROOT, CommonSettings

TABLES = (
    "constituent-state",
    "handoff-deadlines",
    "spike-state",
    "report-windows",
)  # the names services/scorer/app.py uses


class ScorerSettings(CommonSettings):
    scorer_web_host: str = Field("127.0.0.1", description="Address of the scorer's /metrics web server")
    scorer_web_port: int = Field(6066, description="Port of the scorer's /metrics web server")
    scorer_store: str = Field(
        "memory://",
        description="Faust table store URL (memory:// keeps tables in RAM, rebuilt from the changelog)",
    )
    scorer_data_dir: Path = Field(
        REPO_ROOT / ".scorer-data", description="Faust data folder (tables, RocksDB)"
    )

    @property
    def ticks_topic(self) -> str:
        """Internal: hand-off deadline ticks, partitioned like the touchpoints."""
        return f"{self.scorer_app_id}-handoff-ticks"

    @property
    def changelog_topics(self) -> tuple[str, ...]:
        """The changelogs of the worker's tables (constituent-state, handoff-deadlines, spike-state), named
        as Faust names them; created before the worker starts (services/cli.py)."""
        return tuple(f"{self.scorer_app_id}-{table}-changelog" for table in TABLES)

    @property
    def report_deltas_topic(self) -> str:
        """Internal: each batch's Mission Experience counter increments, keyed by window."""
        return f"{self.scorer_app_id}-report-deltas"

    @property
    def spike_counts_topic(self) -> str:
        """Internal: per-batch failure counts, keyed by spike key (source or source/processor)."""
        return f"{self.scorer_app_id}-spike-counts"

    scorer_candidate: bool = Field(
        False,
        description="Set by rescore --apply: this worker rebuilds a new model version; its alerts stay on "
        "its own topic until it has caught up and names itself live on the versions topic",
    )

    @property
    def shadow_alerts_topic(self) -> str:
        """Where this worker's alerts go while another version is live (or it is still rebuilding)."""
        return f"{self.scorer_app_id}-alerts"

    @property
    def shadow_dead_letters_topic(self) -> str:
        return f"{self.scorer_app_id}-dead-letters"

    scorer_deadline_scale: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Multiplies every hand-off deadline and silence window (make run: 0.02: 15 min is 18 s)",
    )
    scorer_source_check_interval_s: float = Field(
        5.0, gt=0, description="How often each watched source is checked for silence (wall clock)"
    )
    scorer_batch_size: int = Field(
        1000, ge=1, description="Most Kafka records in one batch (a grouped record holds ~125 events)"
    )
    scorer_part_bytes: int = Field(
        4 * 1024 * 1024,
        ge=1024,
        description="A batch is folded in parts of at most this many bytes of records (~4,000 events a MiB), "
        "each part published before the next one is folded",
    )
    scorer_session_timeout_s: float = Field(
        10.0, ge=6, le=300, description="How soon Kafka gives a dead worker's partitions to the others"
    )
    scorer_buffer_records: int = Field(
        4096,
        ge=16,
        description="Records fetched ahead of the agent per stream (Faust's stream_buffer_maxsize): memory "
        "held for records not yet scored, each up to a request's events as ingest groups them",
    )
    scorer_faust_fast_paths: bool = Field(
        True,
        description="Faust's recovery takes each changelog record without a task and a timer, and stops at "
        "the first partition with records left when it asks whether it is done (services/faust_fixes)",
    )
    scorer_inbox: bool = Field(
        True,
        description="The inputs' records go from Faust's fetch loop to the agent in whole batches, past "
        "Faust's per-record stream path (services/faust_fixes/inbox.py); false: through Faust's stream",
    )
    scorer_batch_within_s: float = Field(
        0.01, gt=0, description="Longest wait to fill a batch: what a lone event waits before it is scored"
    )
    scorer_core: Literal["auto", "compiled", "python"] = Field(
        "auto",
        description="Which scoring core folds the batches: the compiled one (services/fold_core) where it is "
        "installed (auto), always it (compiled: the worker stops without it), or the Python model (python)",
    )
    scorer_max_state_bytes: int = Field(
        64 * 1024,
        ge=4096,
        le=512 * 1024,
        description="A constituent's state over this many bytes (JSON) is trimmed by the documented rule",
    )
    scorer_commit_interval_s: float = Field(
        2.8,
        gt=0,
        description="How often the worker commits its consumer offsets; what a crash makes it re-read",
    )
    scorer_stall_after_s: float = Field(
        30.0,
        ge=0,
        description="Records waiting on the broker, nothing consumed, no batch in progress for this long: "
        "the worker exits with code 75 for a fresh one (0: off)",
    )
