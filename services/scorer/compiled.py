"""The scorer's batch fold in compiled code where it is built (services/fold_core, `mission_pulse_core`;
docs/compiled-core.md), with the interface of ``BatchProcessor`` (services/scorer/processing.py, its
specification, held to it by tests/unit/core/test_batch.py), so that the Faust wiring runs either.

The compiled worker keeps each person's state as its own bytes (src/layout.rs): it reads them from the
table, folds a batch, and hands back for each changed person the bytes to store, the score record and the
deadline entry, ready to send (``BatchResult.encoded``). A state the Python model wrote (JSON) is read as
well, so a changelog written before the switch needs nothing done. A rare state that may be over
``MP_SCORER_MAX_STATE_BYTES`` in its JSON form goes back as a Python ``ConstituentState`` for the
documented trimming rule (services/domain/state_bounds.py), stored as JSON, and read back next time.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any, Literal

import orjson

from services.domain.alerts import recovery
from services.domain.alerts.routing import Routing
from services.domain.alerts.rules import AlertRules
from services.domain.alerts.spikes import PartialCounts
from services.domain.erasure import Erasure, ErasureRegistry
from services.domain.events import occurred_at_epoch
from services.domain.scoring import ConstituentState, Outcome
from services.domain.scoring_model import ScoringModel
from services.scorer.processing import BatchResult, Encoded
from services.scorer.records import DeadLetter, Incoming, decode_touchpoints

CoreChoice = Literal["auto", "compiled", "python"]


class CoreUnavailable(RuntimeError):
    """MP_SCORER_CORE=compiled, or a state in the core's bytes to read, and no compiled core installed."""


def compiled_core() -> ModuleType | None:
    """The installed compiled core, or None (no Rust toolchain where it was set up: `make core`)."""
    try:
        return importlib.import_module("mission_pulse_core")
    except ImportError:
        return None


def choose(choice: CoreChoice) -> ModuleType | None:
    """The compiled core to run, or None for the Python model; CoreUnavailable when it is asked for and
    absent."""
    if choice == "python":
        return None
    core = compiled_core()
    if core is None and choice == "compiled":
        raise CoreUnavailable(
            "MP_SCORER_CORE=compiled but mission_pulse_core is not installed: run `make core` "
            "(needs cargo) or set MP_SCORER_CORE=auto to run the Python model"
        )
    return core


def state_from_stored(stored: bytes) -> ConstituentState:
    """A stored state as the Python model's object, whichever wrote it (JSON, or the core's bytes)."""
    if stored[:1] == b"{":
        return ConstituentState.from_dict(orjson.loads(stored))
    core = compiled_core()
    if core is None:
        raise CoreUnavailable(
            "this state was written by the compiled core and mission_pulse_core is not installed: "
            "run `make core` to read it"
        )
    return ConstituentState.from_dict(orjson.loads(core.Constituent.from_bytes(stored).to_json()))


def _event_time(occurred_at: str) -> float:
    """Python's reading of an ``occurred_at`` the core's RFC 3339 parser leaves to it."""
    return occurred_at_epoch({"occurred_at": occurred_at})


def _not_json(raw: bytes) -> str:
    try:
        decode_touchpoints(raw)
    except ValueError as error:
        return str(error)
    return "not JSON"  # the core and orjson disagree about this record: say so plainly


class _Erasures:
    """The erasure registry, each erasure also told to the compiled worker (which drops on replay). Holds
    an ``ErasureRegistry`` rather than extending it: mypyc compiles that class, and an interpreted class
    cannot inherit from a compiled one."""

    def __init__(self, worker: Any) -> None:
        self.registry = ErasureRegistry()
        self._worker = worker

    def apply(self, erasure: Any) -> Erasure:
        applied = self.registry.apply(erasure)
        self._worker.note_erasure(applied["constituent_id"], float(applied["at"]))
        return applied

    def written_before(self, constituent_id: str, timestamp: float) -> bool:
        return self.registry.written_before(constituent_id, timestamp)


class _Watermarks:
    """What the deadline timer asks of the watermarks, from the compiled worker."""

    def __init__(self, worker: Any) -> None:
        self._worker = worker

    def watermark(self, partition: int, now: float) -> float:
        return float(self._worker.watermark(partition, now))


class CompiledProcessor:
    """``BatchProcessor`` run by the compiled core: ``process`` takes a loader of stored bytes."""

    def __init__(
        self, core: ModuleType, model: ScoringModel, rules: AlertRules, max_state_bytes: int = 64 * 1024
    ) -> None:
        self.worker = core.Worker(
            model.model_dump_json(),
            model.fingerprint,
            model.max_future_seconds,
            rules.model_dump_json(),
            max_state_bytes,  # the core flags a state near it as JSON (src/worker.rs, near_limit)
        )
        self.routing = Routing(rules)  # for the systemic alerts (services/scorer/systemic_agents.py)
        self.erasures = _Erasures(self.worker)
        self.watermarks = _Watermarks(self.worker)
        self.max_state_bytes = max_state_bytes

    def process(
        self,
        records: Iterable[Incoming],
        load_stored: Callable[[str, int], bytes | None],
        now: float,
        due: Iterable[tuple[int, str]] = (),
        partitions: int | None = None,
        erase: Iterable[tuple[int, str]] = (),
    ) -> BatchResult:
        got = self.worker.process(
            [(r.partition, r.key, r.value, r.timestamp) for r in records],
            load_stored,
            _event_time,
            now,
            list(due),
            partitions,
            list(erase),
        )
        return self._result(got)

    def _result(self, got: dict[str, Any]) -> BatchResult:
        result = BatchResult()
        for constituent_id, partition in got["erased"]:
            result.erased.add(constituent_id)
            result.partitions[constituent_id] = partition
        for constituent_id, partition, state, record, deadline, near_limit in got["changed"]:
            result.partitions[constituent_id] = partition
            if near_limit:  # within 1 KiB of the limit as JSON: the Python model's trimming rule decides
                result.changed[constituent_id] = state_from_stored(state)
            else:
                result.encoded.append(Encoded(constituent_id, partition, state, record, deadline))
        result.alerts = [(orjson.loads(alert), at) for alert, at in got["alerts"]]
        result.dead_letters = [
            DeadLetter(raw=raw, reason=reason if reason is not None else _not_json(raw), code=code)
            for raw, reason, code in got["dead_letters"]
        ]
        result.outcomes = Counter(
            {(source, kind, Outcome(outcome)): n for (source, kind, outcome), n in got["outcomes"]}
        )
        result.event_times = got["event_times"]
        result.spike_counts = {
            (rule, key, bucket): PartialCounts(attempts, failures, evidence)
            for rule, key, bucket, attempts, failures, evidence in got["spike_counts"]
        }
        result.source_counts = {key: dict(buckets) for key, buckets in got["source_counts"]}
        result.suppressed_alerts = got["suppressed_alerts"]
        result.recoveries_opened = got["recoveries_opened"]
        result.recoveries_closed = [
            recovery.Closed(outcome, amount, seconds, at)
            for outcome, amount, seconds, at in got["recoveries_closed"]
        ]
        result.report = {window: Counter(dict(counted)) for window, counted in got["report"]}
        return result
