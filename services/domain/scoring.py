"""The experience score: per-constituent, event-time decayed impacts on three dimensions.

Pure: no I/O. Each event type has impact points per dimension (content, operations, principles). A
dimension keeps the sum of its impacts, each decayed by half every ``half_life_hours`` of *event* time,
held at a reference time (the newest event seen). Adding a decayed term is commutative, so the same set of
events gives the same sums whatever order they arrive in; a score is read at any instant by decaying the
sums to it and mapping them onto 0–100 around the baseline. See docs/scoring.md.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DIMENSIONS = ("content", "operations", "principles")
SECONDS_PER_HOUR = 3600.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DimensionWeights(_Strict):
    content: float = Field(ge=0, le=1)
    operations: float = Field(ge=0, le=1)
    principles: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> DimensionWeights:
        total = self.content + self.operations + self.principles
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ValueError(f"weights must sum to 1, they sum to {total:g}")
        return self


class Impact(_Strict):
    content: float = 0.0
    operations: float = 0.0
    principles: float = 0.0


class ScoringModel(_Strict):
    """The scoring configuration (deploy/config/scoring.toml), validated."""

    version: int = Field(ge=1, le=1)
    baseline: float = Field(gt=0, lt=100)
    half_life_hours: float = Field(gt=0)
    saturation: float = Field(gt=0)
    dedup_window: int = Field(ge=1, le=10_000)
    weights: DimensionWeights
    impacts: dict[str, Impact]

    @classmethod
    def from_toml(cls, text: str, origin: str = "scoring config") -> ScoringModel:
        """Parse and validate; raise ValueError naming the file, the field and what is wrong."""
        try:
            return cls.model_validate(tomllib.loads(text))
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{origin}: not valid TOML: {error}") from error
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in error.errors()
            )
            raise ValueError(f"{origin}: {problems}") from error

    def decay(self, seconds: float) -> float:
        """The factor an impact keeps after ``seconds`` of event time."""
        return float(0.5 ** (seconds / (self.half_life_hours * SECONDS_PER_HOUR)))

    def dimension_score(self, impact_sum: float) -> float:
        """Map a decayed impact sum onto 0–100: the baseline at 0, saturating smoothly at the ends."""
        room = 100.0 - self.baseline if impact_sum >= 0 else self.baseline
        return self.baseline + room * math.tanh(impact_sum / self.saturation)


class Outcome(Enum):
    SCORED = "scored"
    DUPLICATE = "duplicate"
    UNKNOWN_TYPE = "unknown_type"


@dataclass(slots=True)
class ConstituentState:
    """What the scorer keeps per constituent (stored as JSON in the changelog-backed table)."""

    constituent_id: str
    reference_time: float = 0.0
    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(DIMENSIONS, 0.0))
    recent_event_ids: list[str] = field(default_factory=list)
    counts_by_type: dict[str, int] = field(default_factory=dict)
    counts_by_source: dict[str, int] = field(default_factory=dict)
    events: int = 0
    last_event_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "constituent_id": self.constituent_id,
            "reference_time": self.reference_time,
            "sums": self.sums,
            "recent_event_ids": self.recent_event_ids,
            "counts_by_type": self.counts_by_type,
            "counts_by_source": self.counts_by_source,
            "events": self.events,
            "last_event_at": self.last_event_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConstituentState:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Scores:
    overall: float
    content: float
    operations: float
    principles: float

    def to_dict(self) -> dict[str, float]:
        return {
            "overall": round(self.overall, 2),
            "content": round(self.content, 2),
            "operations": round(self.operations, 2),
            "principles": round(self.principles, 2),
        }


def apply_event(
    state: ConstituentState, event: dict[str, Any], event_time: float, model: ScoringModel
) -> Outcome:
    """Fold one validated event into ``state``; a repeated ``event_id`` changes nothing."""
    event_id = event["event_id"]
    if event_id in state.recent_event_ids:
        return Outcome.DUPLICATE
    state.recent_event_ids.append(event_id)
    if len(state.recent_event_ids) > model.dedup_window:
        del state.recent_event_ids[0]
    event_type = event["type"]
    state.counts_by_type[event_type] = state.counts_by_type.get(event_type, 0) + 1
    state.counts_by_source[event["source"]] = state.counts_by_source.get(event["source"], 0) + 1
    state.events += 1
    state.last_event_at = max(state.last_event_at, event_time)

    impact = model.impacts.get(event_type)
    if impact is None:
        return Outcome.UNKNOWN_TYPE
    if event_time > state.reference_time:
        factor = model.decay(event_time - state.reference_time)
        for dimension in DIMENSIONS:
            state.sums[dimension] *= factor
        state.reference_time = event_time
        weight = 1.0
    else:
        weight = model.decay(state.reference_time - event_time)
    for dimension in DIMENSIONS:
        state.sums[dimension] += weight * getattr(impact, dimension)
    return Outcome.SCORED


def scores_at(state: ConstituentState, model: ScoringModel, at: float) -> Scores:
    """The scores as they stand at instant ``at`` (never earlier than the newest event)."""
    factor = model.decay(max(0.0, at - state.reference_time))
    by_dimension = {d: model.dimension_score(state.sums[d] * factor) for d in DIMENSIONS}
    overall = sum(getattr(model.weights, d) * by_dimension[d] for d in DIMENSIONS)
    return Scores(overall=overall, **by_dimension)
