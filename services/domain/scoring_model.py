"""The scoring configuration (deploy/config/scoring.toml), validated: impacts per event type, the half-life,
the baseline and saturation, the weights of the three dimensions, role rules and the score alert. Kept apart
from the scoring itself (services/domain/scoring.py, which re-exports these names) so that the pure core
can be compiled with mypyc (docs/performance.md): pydantic reads its validators' signatures, which
compiled functions do not have.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from pydantic import Field, model_validator

from services.domain.config import EventMatch, StrictModel, parse_toml

DIMENSIONS = ("content", "operations", "principles")
SECONDS_PER_HOUR = 3600.0
# Rolling windows the API reports; hourly buckets are kept for the longest of them.
WINDOWS_HOURS = {"24h": 24, "7d": 7 * 24, "30d": 30 * 24}
RETAINED_HOURS = max(WINDOWS_HOURS.values())


class DimensionWeights(StrictModel):
    content: float = Field(ge=0, le=1)
    operations: float = Field(ge=0, le=1)
    principles: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> DimensionWeights:
        total = self.content + self.operations + self.principles
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ValueError(f"weights must sum to 1, they sum to {total:g}")
        return self


class Impact(StrictModel):
    content: float = 0.0
    operations: float = 0.0
    principles: float = 0.0

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.content, self.operations, self.principles)


class RoleRule(EventMatch):
    """A constituent takes ``role`` once any event matching this rule is seen."""

    role: str = Field(pattern=r"^[a-z][a-z_]*$")


class ScoreAlertRule(StrictModel):
    """When a constituent's overall score counts as having dropped (see domain/alerts.py)."""

    drop_points: float = Field(gt=0, le=100)
    drop_window_hours: int = Field(ge=1, le=RETAINED_HOURS)
    floor: float = Field(ge=0, le=100)


class ScoringModel(StrictModel):
    """The scoring configuration (deploy/config/scoring.toml), validated."""

    version: int = Field(ge=1, le=1)
    baseline: float = Field(gt=0, lt=100)
    half_life_hours: float = Field(gt=0)
    saturation: float = Field(gt=0)
    # no longer used: every event id is remembered, within MP_SCORER_MAX_STATE_BYTES (domain/dedup.py); still
    # accepted, so that models written before (in the versions topic, in what-if files) still load
    dedup_horizon_days: float = Field(7.0, gt=0, le=366)
    timeline_length: int = Field(20, ge=0, le=200)
    max_future_seconds: float = Field(ge=0)
    failure_types: frozenset[str]
    sources: frozenset[str] = frozenset({"web", "email", "donation", "events"})
    weights: DimensionWeights
    score_alert: ScoreAlertRule
    impacts: dict[str, Impact]
    roles: tuple[RoleRule, ...] = ()

    @classmethod
    def from_toml(cls, text: str, origin: str = "scoring config") -> ScoringModel:
        return parse_toml(cls, text, origin)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> ScoringModel:
        """A copy whose derived values (cached below) are derived again from its own settings."""
        copied = super().model_copy(update=update, deep=deep)
        for derived in ("fingerprint", "roles_by_type"):
            copied.__dict__.pop(derived, None)
        return copied

    @cached_property
    def fingerprint(self) -> str:
        """The model's version as score records carry it (``model_version``): a digest of every setting, so
        two files that score alike share it and any change of a number makes a new one."""
        canonical = _canonical(self.model_dump(exclude={"version"}, round_trip=True))
        return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:12]

    @cached_property
    def roles_by_type(self) -> dict[str, tuple[RoleRule, ...]]:
        """The role rules an event of each type could match: most events match none, cheaply."""
        types = {rule.type for rule in self.roles}
        return {t: tuple(rule for rule in self.roles if rule.type == t) for t in types}


def _canonical(value: Any) -> Any:
    """``value`` with every set sorted: a set's order changes from one process to the next (string hashing
    is salted per process), and the fingerprint must not."""
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(_canonical(item) for item in value)
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return value
