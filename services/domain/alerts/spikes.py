"""Systemic failure spikes: the failure rate per source (or payment processor) over a sliding window.

Pure: no I/O. Events of one source are spread over every partition and worker, so each scorer batch
reduces its events to counts per spike key and 10-second bucket of event time (``count_attempts``); those
partial counts meet, keyed by spike key, in one place that folds them (``SpikeState.add``) and decides
(``SpikeState.evaluate``). One alert opens while the condition holds and resolves when it clears.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from services.domain.alerts.model import Alert, derive_alert_id, new_alert, resolved
from services.domain.alerts.rules import SpikeRule

BUCKET_SECONDS = 10
MAX_EVIDENCE = 5


def spike_key(rule: SpikeRule, event: dict[str, Any]) -> str:
    """``donation`` or, when the rule groups by an attribute the event names, ``donation/stripe``."""
    if rule.group_by_attribute:
        value = (event.get("attributes") or {}).get(rule.group_by_attribute)
        if isinstance(value, str) and value:
            return f"{rule.source}/{value}"
    return rule.source


@dataclass(slots=True)
class PartialCounts:
    attempts: int = 0
    failures: int = 0
    evidence: list[str] = field(default_factory=list)


def count_attempts(
    events: list[tuple[dict[str, Any], float]], rules: tuple[SpikeRule, ...]
) -> dict[tuple[int, str, int], PartialCounts]:
    """Reduce (event, event_time) pairs to counts per (rule index, spike key, bucket start)."""
    counts: defaultdict[tuple[int, str, int], PartialCounts] = defaultdict(PartialCounts)
    for event, event_time in events:
        for index, rule in enumerate(rules):
            if event["source"] != rule.source or event["type"] not in rule.attempt_types:
                continue
            bucket = int(event_time // BUCKET_SECONDS) * BUCKET_SECONDS
            partial = counts[(index, spike_key(rule, event), bucket)]
            partial.attempts += 1
            if event["type"] in rule.failure_types:
                partial.failures += 1
                if len(partial.evidence) < MAX_EVIDENCE:
                    partial.evidence.append(event["event_id"])
    return dict(counts)


@dataclass(slots=True)
class SpikeState:
    """Everything one spike key needs: recent buckets, how far event time got, the open alert."""

    key: str
    rule_index: int
    buckets: dict[str, list[int]] = field(default_factory=dict)  # bucket start → [attempts, failures]
    evidence: list[str] = field(default_factory=list)
    window_end: float = 0.0
    open_alert: Alert | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _SPIKE_STATE_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpikeState:
        return cls(**data)

    def add(self, bucket: int, attempts: int, failures: int, evidence: list[str]) -> None:
        counts = self.buckets.setdefault(str(bucket), [0, 0])
        counts[0] += attempts
        counts[1] += failures
        self.evidence = (self.evidence + evidence)[-MAX_EVIDENCE:]
        self.window_end = max(self.window_end, bucket + BUCKET_SECONDS)

    def advance(self, to: float) -> None:
        """Move the window's end forward without counts (the source went quiet)."""
        self.window_end = max(self.window_end, to)

    def evaluate(self, rule: SpikeRule) -> Alert | None:
        """The alert update the window calls for now, if any (open on crossing, resolve on clearing)."""
        window_start = self.window_end - rule.window_minutes * 60
        for stale in [b for b in self.buckets if int(b) + BUCKET_SECONDS <= window_start]:
            del self.buckets[stale]
        attempts = sum(a for a, _ in self.buckets.values())
        failures = sum(f for _, f in self.buckets.values())
        rate = failures / attempts if attempts else 0.0
        spiking = attempts >= rule.min_attempts and rate >= rule.min_failure_rate
        window = f"{rule.window_minutes:g} min"
        at = datetime.fromtimestamp(self.window_end, UTC).isoformat()
        if spiking and self.open_alert is None:
            self.open_alert = new_alert(
                alert_id=derive_alert_id("spike", self.key, str(self.window_end)),
                kind="failure.spike",
                severity="critical",
                constituent_id=None,
                source=rule.source,
                departments=[],
                title=f"{self.key}: {rate:.0%} of attempts failing",
                detail=f"{failures} of {attempts} {rule.source} attempts failed in the last {window} "
                f"(threshold {rule.min_failure_rate:.0%} of at least {rule.min_attempts}).",
                evidence=list(self.evidence),
                rule=f"spike:{self.key}",
                opened_at=at,
            )
            return self.open_alert
        if not spiking and self.open_alert is not None:
            update = resolved(
                self.open_alert, at, f"Cleared: {failures} of {attempts} failed in the {window} to {at}."
            )
            self.open_alert = None
            return update
        return None


_SPIKE_STATE_FIELDS = tuple(f.name for f in fields(SpikeState))  # not __slots__: mypyc compiles this module
