"""The alert rule configuration (deploy/config/alerts.toml), validated. Pure: no I/O."""

from __future__ import annotations

from pydantic import Field, model_validator

from services.domain.alerts.model import Severity
from services.domain.config import EventMatch, StrictModel, parse_toml


class TimeRules(StrictModel):
    allowed_lateness_seconds: float = Field(ge=0)
    idle_seconds: float = Field(gt=0)
    timer_interval_seconds: float = Field(gt=0)


OWNER_PATTERN = r"^[a-z][a-z0-9-]*$"


class Routed(StrictModel):
    """Who acts on a rule's alerts, and how soon an open one must be acknowledged before it escalates."""

    owner: str = Field(pattern=OWNER_PATTERN)
    ack_within_minutes: float | None = Field(None, gt=0)


class FailedTransactionRules(Routed):
    critical_amount: float = Field(gt=0)
    escalate_after: int = Field(ge=2)
    escalate_within_minutes: float = Field(gt=0)


class SpikeRule(Routed):
    source: str
    attempt_types: frozenset[str]
    failure_types: frozenset[str]
    group_by_attribute: str | None = None
    window_minutes: float = Field(gt=0)
    min_attempts: int = Field(ge=1)
    min_failure_rate: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _failures_are_attempts(self) -> SpikeRule:
        if not self.failure_types <= self.attempt_types:
            raise ValueError("every failure type must also be an attempt type")
        return self


class StormRules(StrictModel):
    max_constituent_alerts_per_partition_minute: int = Field(ge=1)


class HandoffRule(Routed):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    trigger: EventMatch
    follow_up: EventMatch
    same_correlation_id: bool = False
    deadline_minutes: float = Field(gt=0)
    departments: tuple[str, str]
    severity: Severity
    # an event that ends what the trigger started (a recurring gift cancelled): what it owes is dropped
    cancelled_by: EventMatch | None = None

    @property
    def deadline_seconds(self) -> float:
        return self.deadline_minutes * 60

    @property
    def repeats(self) -> bool:
        """The follow-up is the next event of the trigger's kind (the next instalment of a recurring gift):
        it must come after its trigger, and each one both keeps the last promise and makes the next."""
        return self.trigger.type == self.follow_up.type


class ScoreDropRouting(Routed):
    """Who owns ``score.dropped`` (its thresholds are the scoring model's ``[score_alert]``)."""


class PriorityRule(StrictModel):
    """Constituents whose alerts go one severity level up and are marked ``priority``: those with ``role``,
    or whose gifts in the last 12 months (``giving_12_months``) reach ``giving_12_months_at_least``."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    role: str | None = None
    giving_12_months_at_least: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_condition(self) -> PriorityRule:
        if (self.role is None) == (self.giving_12_months_at_least is None):
            raise ValueError(
                f"priority rule {self.name!r}: give exactly one of role, giving_12_months_at_least"
            )
        return self


class RecoveryRules(Routed):
    """``recurring.recovery``: the dunning path of a failed recurring gift (domain/alerts/recovery.py)."""

    email_template: str = "payment_recovery"  # the recovery email's template attribute
    email_within_hours: float = Field(gt=0)  # failed → recovery email sent
    update_within_days: float = Field(gt=0)  # recovery email → payment method updated
    lost_after_days: float = Field(gt=0)  # failed → recovered, or lost
    severity: Severity


SOURCE_KEY = r"^[a-z][a-z0-9_-]*(/[a-z0-9][a-z0-9_.-]*)?$"  # "web", "donation/stripe"


class SilenceRule(Routed):
    """``source.silent``: a source (or one processor/provider of it) that is expected to send at least
    ``min_expected`` events within ``silent_after_minutes`` sent none for that long."""

    source: str = Field(pattern=SOURCE_KEY)
    silent_after_minutes: float = Field(gt=0)
    min_expected: float = Field(ge=1)


class RejectingRule(Routed):
    """``source.rejecting``: what ingest's ``endpoint`` refused (dead letters: bad signatures, schema, …)
    within ``window_minutes`` reached ``min_refused`` and either ``min_share`` of what reached it for
    ``source`` or, whatever the share, ``max_refused`` (the rate of a rotated secret on a busy source)."""

    source: str = Field(pattern=SOURCE_KEY)
    endpoint: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")  # ingest's dead-letter source: stripe, sendgrid, …
    window_minutes: float = Field(gt=0)
    min_refused: int = Field(ge=1)
    min_share: float = Field(gt=0, le=1)
    max_refused: int | None = Field(None, ge=1)


class AlertRules(StrictModel):
    version: int = Field(ge=1, le=1)
    time: TimeRules
    failed_transactions: FailedTransactionRules
    spikes: tuple[SpikeRule, ...] = ()
    storm: StormRules
    handoffs: tuple[HandoffRule, ...] = ()
    score_drops: ScoreDropRouting
    priority: tuple[PriorityRule, ...] = ()
    silence: tuple[SilenceRule, ...] = ()
    rejecting: tuple[RejectingRule, ...] = ()
    recovery: RecoveryRules | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> AlertRules:
        for what, names in [
            ("hand-off rule names", [rule.name for rule in self.handoffs]),
            ("silence sources", [rule.source for rule in self.silence]),
            ("rejecting endpoints", [rule.endpoint for rule in self.rejecting]),
        ]:
            if len(names) != len(set(names)):
                raise ValueError(f"{what} must be unique: {names}")
        return self

    @property
    def watched_sources(self) -> frozenset[str]:
        """The source keys whose volume the scorer counts (for silence and refusal shares)."""
        return frozenset(rule.source for rules in (self.silence, self.rejecting) for rule in rules)

    def with_deadlines_scaled(self, factor: float) -> AlertRules:
        """The same rules with every hand-off deadline, silence window and recovery deadline multiplied by
        ``factor`` (demos compress time)."""
        if factor == 1:
            return self
        scaled = tuple(
            rule.model_copy(update={"deadline_minutes": rule.deadline_minutes * factor})
            for rule in self.handoffs
        )
        silence = tuple(
            rule.model_copy(update={"silent_after_minutes": rule.silent_after_minutes * factor})
            for rule in self.silence
        )
        recovery = self.recovery and self.recovery.model_copy(
            update={
                name: getattr(self.recovery, name) * factor
                for name in ("email_within_hours", "update_within_days", "lost_after_days")
            }
        )
        return self.model_copy(update={"handoffs": scaled, "silence": silence, "recovery": recovery})

    @classmethod
    def from_toml(cls, text: str, origin: str = "alerts config") -> AlertRules:
        return parse_toml(cls, text, origin)
