"""One batch of raw touchpoint records in; changed constituent states, alerts and spike counts out.

Pure: no I/O. The Faust agent hands over a whole batch so that each constituent's state is read and
written once per batch, however many of its events the batch holds (the per-write cost is Faust's
bottleneck). A record holds one event (a JSON object) of the constituent its key names, or several (a JSON
array, as ingest writes a request's events): keyed by one constituent, or without a key, of constituents
that all belong in the record's partition by the default partitioner. The partition decides which worker
holds a constituent's state, so an event in the wrong one is dead-lettered rather than scored apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from services.domain.alerts import handoffs, recovery
from services.domain.alerts.model import Alert
from services.domain.alerts.routing import Routing
from services.domain.alerts.rules import AlertRules, HandoffRule
from services.domain.alerts.score_drops import note_score, score_alert_update
from services.domain.alerts.sources import count_sources
from services.domain.alerts.spikes import PartialCounts, count_attempts
from services.domain.alerts.transactions import on_transaction
from services.domain.erasure import ErasureRegistry
from services.domain.report import contributions, handoff_matrix
from services.domain.report.counters import WindowCounters
from services.domain.scoring import ConstituentState, Outcome, apply_event, giving_12_months, scores_at
from services.domain.scoring_model import ScoringModel
from services.domain.watermarks import Watermarks
from services.scorer.records import DeadLetter, Incoming, valid_events

STORM_MINUTES_KEPT = 1000  # per-partition-minute alert budgets remembered
UNSUPPRESSED = frozenset({"transaction.failed", "recurring.recovery"})  # counted in the budget, never held


@dataclass(frozen=True, slots=True)
class Encoded:
    """A changed person as the compiled core hands it back (services/scorer/compiled.py): ready to send."""

    constituent_id: str
    partition: int
    state: bytes  # the core's layout, for the table
    score_record: bytes  # JSON, for constituent-scores
    deadline: bytes | None  # JSON, for the deadline table (None: owed nothing)


@dataclass(slots=True)
class BatchResult:
    changed: dict[str, ConstituentState] = field(default_factory=dict)
    encoded: list[Encoded] = field(default_factory=list)  # changed, from the compiled core
    partitions: dict[str, int] = field(default_factory=dict)  # where each constituent's state lives
    alerts: list[tuple[Alert, float]] = field(default_factory=list)  # with the time of the triggering fact
    dead_letters: list[DeadLetter] = field(default_factory=list)
    outcomes: Counter[tuple[str, str, Outcome]] = field(default_factory=Counter)
    event_times: list[float] = field(default_factory=list)
    spike_counts: dict[tuple[int, str, int], PartialCounts] = field(default_factory=dict)
    source_counts: dict[str, dict[int, int]] = field(default_factory=dict)  # watched key → bucket → events
    suppressed_alerts: int = 0
    erased: set[str] = field(default_factory=set)  # erased in this batch: their stored state goes
    recoveries_opened: int = 0
    report: WindowCounters = field(default_factory=dict)  # Mission Experience increments per window
    recoveries_closed: list[recovery.Closed] = field(default_factory=list)


class BatchProcessor:
    """Scores, alert lifecycles and hand-off deadlines for one worker; remembers watermarks and storm
    budgets between batches (in memory: both rebuild themselves after a restart)."""

    def __init__(self, model: ScoringModel, rules: AlertRules) -> None:
        self.model = model
        self.rules = rules
        self.routing = Routing(rules)
        self.watermarks = Watermarks(rules.time.allowed_lateness_seconds, rules.time.idle_seconds)
        self._opened: Counter[tuple[int, int]] = Counter()  # (partition, event minute) → alerts opened
        self._budget = rules.storm.max_constituent_alerts_per_partition_minute
        self._handoff_types = handoffs.event_types(rules.handoffs)
        self._watched_sources = rules.watched_sources
        self._handoff_rules = {rule.name: rule for rule in rules.handoffs}
        self.erasures = ErasureRegistry()  # followed from the erasures topic (services/scorer/app.py)

    def process(
        self,
        records: Iterable[Incoming],
        load_state: Callable[[str, int], ConstituentState | None],
        now: float,
        due: Iterable[tuple[int, str]] = (),
        partitions: int | None = None,
        erase: Iterable[tuple[int, str]] = (),
    ) -> BatchResult:
        """Fold ``records``, then look at every touched constituent's hand-off deadlines, and at those of
        ``due`` (partition, constituent id) pairs the deadline timer named. ``partitions``: how many the
        touchpoints topic has, to check where the events of records without a key belong. ``erase``:
        (partition, constituent id) erased now: their stored state is not read, and goes."""
        result = BatchResult()
        people = _Loaded(load_state, self.model, self._handoff_rules, result)
        loaded = people.states
        for partition, constituent_id in erase:
            loaded[constituent_id] = ConstituentState(constituent_id=constituent_id)  # a new person, if any
            result.partitions[constituent_id] = partition
            result.erased.add(constituent_id)
        latest: dict[str, tuple[float, dict[str, Any]]] = {}  # newest event per constituent, for evidence
        handoffs_before = people.handoffs_before  # for the report's hand-off matrix
        journal = contributions.Journal()  # the report's people, moved once per batch
        scored: list[tuple[dict[str, Any], float]] = []
        state_of = people.state_of

        for record in records:
            for event, event_time in valid_events(
                record, result.dead_letters, now, partitions, self.model.max_future_seconds
            ):
                constituent_id = event["constituent_id"]
                if self.erasures.written_before(constituent_id, record.timestamp):
                    result.outcomes[(event["source"], event["type"], Outcome.ERASED)] += 1
                    continue
                state = state_of(constituent_id, event_time, record.partition)
                outcome = apply_event(state, event, event_time, self.model)
                result.outcomes[(event["source"], event["type"], outcome)] += 1
                if outcome is Outcome.DUPLICATE:
                    continue
                self.watermarks.observe(record.partition, event_time, now)
                contributions.on_event(state, event, event_time, self.model, result.report, journal)
                result.changed[constituent_id] = state
                result.event_times.append(event_time)
                scored.append((event, event_time))
                # deadlines this event's time already passed break first, as they did when it was live
                self._expire(state, record.partition, now, result)
                self._alert_on_event(state, event, event_time, record.partition, result)
                if event_time >= latest.get(constituent_id, (event_time, event))[0]:
                    latest[constituent_id] = (event_time, event)

        for partition, constituent_id in due:
            state_of(constituent_id, now, partition)
        for constituent_id, state in loaded.items():
            partition = result.partitions[constituent_id]
            watermark = self.watermarks.watermark(partition, now)
            expired = handoffs.expire(state.handoffs, watermark, self.rules.handoffs)
            for alert in expired:
                deadline = _deadline_of(alert, state)
                if self._admit(alert, state, partition, deadline, result):
                    result.alerts.append((alert, deadline))
            stalled = self._expire_recovery(state, watermark, result)
            if expired or stalled or constituent_id in result.changed:
                result.changed[constituent_id] = state
            if state.handoffs or constituent_id in handoffs_before:
                before = handoffs_before.get(constituent_id, {})
                handoff_matrix.changes(before, state.handoffs, self._handoff_rules, result.report)
        for constituent_id, (_, event) in latest.items():
            state = result.changed[constituent_id]
            overall = scores_at(state, self.model, state.reference_time).overall
            note_score(state, state.reference_time, overall, self.model)
            score_alert = score_alert_update(state, overall, self.model, event)
            if score_alert is not None:
                result.alerts.append((score_alert, state.reference_time))
                if score_alert["status"] == "open" and overall < self.model.score_alert.floor:
                    contributions.fell_below_floor(
                        result.report, state.reference_time, giving_12_months(state)
                    )
        for closed in result.recoveries_closed:
            if closed.outcome == "recovered":
                contributions.recovered(result.report, closed.at, closed.amount)
        journal.flush(loaded, self.model, result.report)
        result.spike_counts = count_attempts(scored, self.rules.spikes)
        result.source_counts = count_sources(scored, self._watched_sources)
        result.alerts = [
            (self.routing.route(alert, loaded.get(alert["constituent_id"] or "")), fact_time)
            for alert, fact_time in result.alerts
        ]
        return result

    def _expire(self, state: ConstituentState, partition: int, now: float, result: BatchResult) -> bool:
        """Break the hand-offs whose deadline the partition's watermark passed; True if any changed."""
        watermark = self.watermarks.watermark(partition, now)
        before = len(state.handoffs)
        expired = handoffs.expire(state.handoffs, watermark, self.rules.handoffs)
        for alert in expired:
            deadline = _deadline_of(alert, state)
            if self._admit(alert, state, partition, deadline, result):
                result.alerts.append((alert, deadline))
        return bool(expired) or len(state.handoffs) != before

    def _alert_on_event(
        self,
        state: ConstituentState,
        event: dict[str, Any],
        event_time: float,
        partition: int,
        result: BatchResult,
    ) -> None:
        may_open = self._opened[(partition, int(event_time // 60))] < self._budget
        alerts = (
            handoffs.on_event(state.handoffs, state.early_follow_ups, event, event_time, self.rules.handoffs)
            if event["type"] in self._handoff_types
            else []
        )
        if self.rules.recovery is not None and recovery.concerns(event, state.recovery, self.rules.recovery):
            cases = recovery.on_event(
                state.recovery,
                state.recovery_early,
                state.constituent_id,
                event,
                event_time,
                self.rules.recovery,
            )
            alerts += cases.alerts
            result.recoveries_opened += cases.opened
            result.recoveries_closed += cases.closed
        transaction = on_transaction(state, event, event_time, self.rules.failed_transactions, may_open)
        if transaction is not None:
            alerts.append(transaction)
        elif not may_open and event["type"] == "donation.failed" and state.failed_transaction is None:
            result.suppressed_alerts += 1
        for alert in alerts:
            if self._admit(alert, state, partition, event_time, result):
                result.alerts.append((alert, event_time))

    def _expire_recovery(self, state: ConstituentState, watermark: float, result: BatchResult) -> bool:
        """Stall or lose the recovery cases whose deadlines the watermark passed; True if any changed."""
        if self.rules.recovery is None or not state.recovery:
            return False
        before = [dict(case) for case in state.recovery]
        cases = recovery.expire(state.recovery, state.constituent_id, watermark, self.rules.recovery)
        result.alerts += [(alert, watermark) for alert in cases.alerts]
        result.recoveries_closed += cases.closed
        return state.recovery != before

    def _admit(
        self, alert: Alert, state: ConstituentState, partition: int, fact_time: float, result: BatchResult
    ) -> bool:
        """Storm control: at most the configured number of per-constituent alerts open per partition and
        minute of event time. A suppressed hand-off alert is marked so that its resolution stays silent."""
        if alert["status"] != "open" or alert.get("escalated"):
            return True
        budget_key = (partition, int(fact_time // 60))
        if self._opened[budget_key] >= self._budget and alert["kind"] not in UNSUPPRESSED:
            for handoff in state.handoffs:
                if handoff["trigger_event_id"] == alert["evidence"][0]:
                    handoff["suppressed"] = True
            result.suppressed_alerts += 1
            return False
        self._opened[budget_key] += 1
        if len(self._opened) > STORM_MINUTES_KEPT:
            for stale in sorted(self._opened, key=lambda key: key[1])[: STORM_MINUTES_KEPT // 2]:
                del self._opened[stale]
        return True


class _Loaded:
    """The states one batch touches, each read once. A class, not a closure inside ``process``: compiled
    by mypyc, a nested function and its environment reference each other, and that cycle kept a whole
    batch's states alive until a later pass of the garbage collector (docs/performance.md, "Garbage")."""

    def __init__(
        self,
        load_state: Callable[[str, int], ConstituentState | None],
        model: ScoringModel,
        handoff_rules: dict[str, HandoffRule],
        result: BatchResult,
    ) -> None:
        self.load_state = load_state
        self.model = model
        self.handoff_rules = handoff_rules
        self.result = result
        self.states: dict[str, ConstituentState] = {}
        self.handoffs_before: dict[str, handoff_matrix.Snapshot] = {}

    def state_of(self, constituent_id: str, at: float, partition: int) -> ConstituentState:
        self.result.partitions.setdefault(constituent_id, partition)
        state = self.states.get(constituent_id)
        if state is None:
            stored = self.load_state(constituent_id, partition)
            state = stored or ConstituentState(constituent_id=constituent_id)
            # note the score before this batch, so that a drop within the batch shows
            seen_at = state.reference_time if state.events else at
            note_score(state, seen_at, scores_at(state, self.model, seen_at).overall, self.model)
            self.states[constituent_id] = state
            if state.handoffs:
                self.handoffs_before[constituent_id] = handoff_matrix.snapshot(
                    state.handoffs, self.handoff_rules
                )
        return state


def _deadline_of(alert: Alert, state: ConstituentState) -> float:
    trigger = alert["evidence"][0]
    return next((h["deadline"] for h in state.handoffs if h["trigger_event_id"] == trigger), 0.0)
