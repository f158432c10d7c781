"""The alert rule configuration (deploy/config/alerts.toml), validated. Pure: no I/O."""

from __future__ import annotations

from pydantic import Field, model_validator

from services.domain.alerts.model import Severity
from services.domain.config import EventMatch, StrictModel, parse_toml


class TimeRules(StrictModel):
    allowed_lateness_seconds: float = Field(ge=0)
    idle_seconds: float = Field(gt=0)
    timer_interval_seconds: float = Field(gt=0)


class FailedTransactionRules(StrictModel):
    critical_amount: float = Field(gt=0)
    escalate_after: int = Field(ge=2)
    escalate_within_minutes: float = Field(gt=0)


class SpikeRule(StrictModel):
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


class HandoffRule(StrictModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    trigger: EventMatch
    follow_up: EventMatch
    same_correlation_id: bool = False
    deadline_minutes: float = Field(gt=0)
    departments: tuple[str, str]
    severity: Severity

    @property
    def deadline_seconds(self) -> float:
        return self.deadline_minutes * 60


class AlertRules(StrictModel):
    version: int = Field(ge=1, le=1)
    time: TimeRules
    failed_transactions: FailedTransactionRules
    spikes: tuple[SpikeRule, ...] = ()
    storm: StormRules
    handoffs: tuple[HandoffRule, ...] = ()

    @model_validator(mode="after")
    def _unique_names(self) -> AlertRules:
        names = [rule.name for rule in self.handoffs]
        if len(names) != len(set(names)):
            raise ValueError(f"hand-off rule names must be unique: {names}")
        return self

    def with_deadlines_scaled(self, factor: float) -> AlertRules:
        """The same rules with every hand-off deadline multiplied by ``factor`` (demos compress time)."""
        if factor == 1:
            return self
        scaled = tuple(
            rule.model_copy(update={"deadline_minutes": rule.deadline_minutes * factor})
            for rule in self.handoffs
        )
        return self.model_copy(update={"handoffs": scaled})

    @classmethod
    def from_toml(cls, text: str, origin: str = "alerts config") -> AlertRules:
        return parse_toml(cls, text, origin)
