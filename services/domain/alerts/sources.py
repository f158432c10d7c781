"""Sources that went quiet (``source.silent``) or are being refused (``source.rejecting``). Pure.

A source key is a source (``web``) or one processor/provider of it (``donation/stripe``, ``email/ses``),
as events name them. Like spikes, each scorer batch reduces its events to counts per watched key and
10-second bucket of event time (``count_sources``), and ingest's dead letters are counted per key and
bucket of their ``received_at``; the counts meet, keyed by source, in one ``SourceState`` that learns the
key's volume and decides.

- **Expected volume** is learned from the stream: events per hour of event time, kept four weeks. With a
  week of history, the expectation for now is the mean of the same hour of the week in the weeks seen;
  before that (a new deployment), the rate the source has kept since it was first seen.
- **Silence** is judged against the wall clock: how long since the scorer last *received* an event of
  the key (``last_arrival``), so a replay of old events counts as the source speaking; a replay cannot
  reproduce a past silence (the data has no record of when nothing came).
- **Refusals** are judged on the data alone (bucket times from ``received_at`` and event time), so a
  replay of the same dead letters and events gives the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from services.domain.alerts.model import Alert, derive_alert_id, new_alert, resolved
from services.domain.alerts.rules import RejectingRule, SilenceRule

BUCKET_SECONDS = 10
HOUR = 3600
WEEK_HOURS = 168
WEEKS_KEPT = 4
MAX_EVIDENCE = 5


def source_keys(event: dict[str, Any]) -> tuple[str, ...]:
    """``("donation", "donation/stripe")`` for a Stripe donation event; ``("web",)`` for a page view."""
    attributes = event.get("attributes") or {}
    by = attributes.get("processor") or attributes.get("provider")
    source = event["source"]
    return (source, f"{source}/{by}") if isinstance(by, str) and by else (source,)


def count_sources(
    events: list[tuple[dict[str, Any], float]], watched: frozenset[str]
) -> dict[str, dict[int, int]]:
    """Events per watched source key and 10-second bucket of event time."""
    counts: dict[str, dict[int, int]] = {}
    if not watched:
        return counts
    for event, event_time in events:
        for key in source_keys(event):
            if key in watched:
                bucket = int(event_time // BUCKET_SECONDS) * BUCKET_SECONDS
                per_bucket = counts.setdefault(key, {})
                per_bucket[bucket] = per_bucket.get(bucket, 0) + 1
    return counts


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _minutes(minutes: float) -> str:
    if minutes < 1:
        return f"{minutes * 60:.0f} s"
    return f"{minutes / 60:g} h" if minutes >= 60 else f"{minutes:g} min"


@dataclass(slots=True)
class SourceState:
    """What one source key needs: its hourly volume, recent accepted/refused counts, the open alerts."""

    key: str
    hourly: dict[str, int] = field(default_factory=dict)  # hour index of event time → events
    recent: dict[str, list[int]] = field(default_factory=dict)  # bucket start → [accepted, refused]
    first_at: float | None = None  # event time of the first event seen
    newest_at: float = 0.0  # newest event time seen
    last_arrival: float | None = None  # wall clock when an event of the key last reached the scorer
    window_end: float = 0.0  # newest bucket end seen (accepted or refused)
    refusals: list[str] = field(default_factory=list)  # the newest refusal reason codes
    silent_alert: Alert | None = None
    rejecting_alert: Alert | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _SOURCE_STATE_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceState:
        return cls(**data)

    def add_accepted(self, buckets: dict[int, int], arrived: float, window_s: float = 0.0) -> None:
        """Count events per hour and, when refusals are judged over ``window_s``, per recent bucket."""
        for bucket, count in buckets.items():
            hour = str(int(bucket // HOUR))
            self.hourly[hour] = self.hourly.get(hour, 0) + count
            if window_s and bucket + BUCKET_SECONDS > self.window_end - window_s:
                self.recent.setdefault(str(bucket), [0, 0])[0] += count
            self.first_at = bucket if self.first_at is None else min(self.first_at, bucket)
            self.newest_at = max(self.newest_at, bucket + BUCKET_SECONDS)
            self.window_end = max(self.window_end, bucket + BUCKET_SECONDS)
        self.last_arrival = max(self.last_arrival or arrived, arrived)
        oldest_kept = int(self.newest_at // HOUR) - WEEKS_KEPT * WEEK_HOURS
        for stale in [h for h in self.hourly if int(h) <= oldest_kept]:
            del self.hourly[stale]
        self._forget_before(self.window_end - window_s)

    def _forget_before(self, window_start: float) -> None:
        for stale in [b for b in self.recent if int(b) + BUCKET_SECONDS <= window_start]:
            del self.recent[stale]

    def advance(self, to: float) -> None:
        """Move the refusal window's end on without counts (nothing arrives any more: it can clear)."""
        self.window_end = max(self.window_end, to)

    def add_refused(self, bucket: int, count: int, code: str) -> None:
        """Count refusals per recent bucket (of ingest's ``received_at``)."""
        self.recent.setdefault(str(bucket), [0, 0])[1] += count
        self.window_end = max(self.window_end, bucket + BUCKET_SECONDS)
        self.refusals = [*self.refusals, code][-MAX_EVIDENCE:]

    def expected_per_hour(self, now: float) -> float:
        """Events expected per hour around ``now``: the same hour of the week in the weeks seen, or, with
        under a week of history, the rate kept since the source was first seen."""
        if self.first_at is None:
            return 0.0
        hour = int(now // HOUR)
        first_hour = int(self.first_at // HOUR)
        same_hours = [hour - WEEK_HOURS * week for week in range(1, WEEKS_KEPT + 1)]
        seen = [h for h in same_hours if h >= first_hour]
        if seen:
            return sum(self.hourly.get(str(h), 0) for h in seen) / len(seen)
        span_hours = max(self.newest_at - self.first_at, BUCKET_SECONDS) / HOUR
        return sum(self.hourly.values()) / span_hours

    def check_silence(self, rule: SilenceRule, now: float, judging_since: float) -> Alert | None:
        """The alert update silence calls for at wall-clock ``now``. ``judging_since``: when this worker
        started counting arrivals (nothing is silent for longer than the worker has been listening)."""
        if self.last_arrival is None:
            return None
        window_s = rule.silent_after_minutes * 60
        quiet_since = max(self.last_arrival, judging_since)
        silent_for = now - quiet_since
        if silent_for < window_s:
            return self._resolve_silence(now)
        expected = self.expected_per_hour(now) * window_s / HOUR
        if self.silent_alert is not None or expected < rule.min_expected:
            return None
        window = _minutes(rule.silent_after_minutes)
        self.silent_alert = new_alert(
            alert_id=derive_alert_id("silent", self.key, str(int(quiet_since))),
            kind="source.silent",
            severity="critical",
            constituent_id=None,
            source=self.key.split("/", 1)[0],
            departments=[],
            title=f"{self.key}: no events for {window}",
            detail=f"Nothing from {self.key} reached Mission Pulse for {window}, where about {expected:.0f} "
            f"were expected (at least {rule.min_expected:g} to judge); the last arrived at "
            f"{_iso(self.last_arrival)}. Is its webhook still registered and its secret current?",
            evidence=[],
            rule=f"silence:{self.key}",
            opened_at=_iso(quiet_since + window_s),
        )
        return self.silent_alert

    def _resolve_silence(self, now: float) -> Alert | None:
        if self.silent_alert is None:
            return None
        update = resolved(self.silent_alert, _iso(self.last_arrival or now), "Resolved: events resumed.")
        self.silent_alert = None
        return update

    def check_refusals(self, rule: RejectingRule) -> Alert | None:
        """The alert update refusals call for over the window ending at the newest bucket seen."""
        self._forget_before(self.window_end - rule.window_minutes * 60)
        accepted = sum(a for a, _ in self.recent.values())
        refused = sum(r for _, r in self.recent.values())
        share = refused / (accepted + refused) if refused else 0.0
        many = rule.max_refused is not None and refused >= rule.max_refused
        rejecting = refused >= rule.min_refused and (share >= rule.min_share or many)
        at = _iso(self.window_end)
        window = _minutes(rule.window_minutes)
        if rejecting and self.rejecting_alert is None:
            codes = ", ".join(sorted(set(self.refusals)))
            # named by the first refusal in the window: however the counts were batched (live, or a
            # replay reading them all at once), the same refusals name the same alert
            first_refused = min(int(b) for b, (_, r) in self.recent.items() if r)
            self.rejecting_alert = new_alert(
                alert_id=derive_alert_id("rejecting", self.key, str(first_refused)),
                kind="source.rejecting",
                severity="critical",
                constituent_id=None,
                source=self.key.split("/", 1)[0],
                departments=[],
                title=f"{self.key}: {share:.0%} of what {rule.endpoint} sent is refused",
                detail=f"Ingest refused {refused} of {accepted + refused} {rule.endpoint} deliveries for "
                f"{self.key} in the last {window} ({codes}; thresholds: {rule.min_refused} and "
                f"{rule.min_share:.0%}{f', or {rule.max_refused}' if rule.max_refused else ''}). "
                "A rotated secret or a changed payload format? See the dead letters.",
                evidence=[],
                rule=f"rejecting:{self.key}",
                opened_at=at,
            )
            return self.rejecting_alert
        if not rejecting and self.rejecting_alert is not None:
            cleared = f"Cleared: {refused} of {accepted + refused} refused in the {window} to {at}."
            update = resolved(self.rejecting_alert, at, cleared)
            self.rejecting_alert = None
            return update
        return None


_SOURCE_STATE_FIELDS = tuple(f.name for f in fields(SourceState))  # not __slots__: mypyc compiles this module
