"""What a candidate scoring model would change, before it goes live: the same events folded through the
live model and the candidate side by side, compared. Pure (``mission-pulse rescore`` reads the events).

Everything is read at one instant — the newest event time replayed, not the wall clock — so the same
recorded topic gives the same comparison every time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.domain.alerts.score_drops import is_breached, note_score
from services.domain.readings import explain
from services.domain.scoring import ConstituentState, Outcome, apply_event, scores_at
from services.domain.scoring_model import ScoringModel

BANDS = 10
MOVERS = 10


@dataclass(slots=True)
class Person:
    live: ConstituentState
    candidate: ConstituentState


@dataclass
class WhatIf:
    live: ScoringModel
    candidate: ScoringModel
    people: dict[str, Person] = field(default_factory=dict)
    events: int = 0
    newest: float = 0.0

    def add(self, event: dict[str, Any], event_time: float) -> None:
        """Fold one valid event into both models' state of its person (repeats count once, as live)."""
        constituent_id = event["constituent_id"]
        person = self.people.get(constituent_id)
        if person is None:
            person = self.people[constituent_id] = Person(
                ConstituentState(constituent_id), ConstituentState(constituent_id)
            )
        for state, model in ((person.live, self.live), (person.candidate, self.candidate)):
            if apply_event(state, event, event_time, model) is not Outcome.DUPLICATE:
                note_score(state, event_time, scores_at(state, model, event_time).overall, model)
        self.events += 1
        self.newest = max(self.newest, event_time)

    def compare(self) -> dict[str, Any]:
        """The comparison at the newest event time: distributions, floor crossings, score.dropped alerts
        that would open or close, and the people whose score moves most with their explanations."""
        at = self.newest
        live_scores = {c: scores_at(p.live, self.live, at).overall for c, p in self.people.items()}
        cand_scores = {c: scores_at(p.candidate, self.candidate, at).overall for c, p in self.people.items()}
        live_floor, cand_floor = self.live.score_alert.floor, self.candidate.score_alert.floor
        newly = sorted(c for c in self.people if live_scores[c] >= live_floor and cand_scores[c] < cand_floor)
        no_longer = sorted(
            c for c in self.people if live_scores[c] < live_floor and cand_scores[c] >= cand_floor
        )
        live_alerting = {c for c, p in self.people.items() if is_breached(p.live, live_scores[c], self.live)}
        cand_alerting = {
            c for c, p in self.people.items() if is_breached(p.candidate, cand_scores[c], self.candidate)
        }
        moves = sorted(self.people, key=lambda c: (-abs(cand_scores[c] - live_scores[c]), c))[:MOVERS]
        return {
            "as_of": at,
            "live_version": self.live.fingerprint,
            "candidate_version": self.candidate.fingerprint,
            "events": self.events,
            "people": len(self.people),
            "live": _distribution(live_scores.values()),
            "candidate": _distribution(cand_scores.values()),
            "crossing_floor": {"newly_below": len(newly), "no_longer_below": len(no_longer)},
            "score_dropped_alerts": {
                "would_open": len(cand_alerting - live_alerting),
                "would_not_open": len(live_alerting - cand_alerting),
                "open_under_both": len(live_alerting & cand_alerting),
            },
            "movers": [
                self._mover(c, live_scores[c], cand_scores[c], at)
                for c in moves
                if cand_scores[c] != live_scores[c]
            ],
        }

    def _mover(self, constituent_id: str, live: float, candidate: float, at: float) -> dict[str, Any]:
        person = self.people[constituent_id]
        before = {row["type"]: row["weighted_points"] for row in explain(person.live, self.live, at, top=50)}
        after = {
            row["type"]: row["weighted_points"]
            for row in explain(person.candidate, self.candidate, at, top=50)
        }
        changed = {
            t: {"live": before.get(t, 0.0), "candidate": after.get(t, 0.0)}
            for t in sorted(before.keys() | after.keys())
            if round(before.get(t, 0.0) - after.get(t, 0.0), 3)
        }
        return {
            "constituent_id": constituent_id,
            "live": round(live, 2),
            "candidate": round(candidate, 2),
            "change": round(candidate - live, 2),
            "explain": changed,
        }


def _distribution(scores: Any) -> dict[str, Any]:
    values = list(scores)
    histogram = [0] * BANDS
    for value in values:
        histogram[min(BANDS - 1, int(value // (100 / BANDS)))] += 1
    return {"mean": round(sum(values) / len(values), 2) if values else None, "histogram": histogram}


def to_markdown(result: dict[str, Any], live_name: str, candidate_name: str) -> str:
    """The comparison as a document."""
    bands = [f"{10 * n}–{10 * n + 10}" for n in range(BANDS)]
    lines = [
        f"# What-if: {candidate_name} against {live_name}",
        "",
        f"Model versions: candidate {result['candidate_version']}, live {result['live_version']}.",
        "",
        f"{result['events']:,} events of {result['people']:,} people, read at their newest event time.",
        "",
        "## Score distribution",
        "",
        "| model | mean | " + " | ".join(bands) + " |",
        "|---|---:|" + "---:|" * BANDS,
    ]
    for name, label in (("live", live_name), ("candidate", candidate_name)):
        dist = result[name]
        lines.append(f"| {label} | {dist['mean']} | " + " | ".join(str(n) for n in dist["histogram"]) + " |")
    crossing, alerts = result["crossing_floor"], result["score_dropped_alerts"]
    lines += [
        "",
        "## At-risk floor and alerts",
        "",
        f"- {crossing['newly_below']} people would fall below the at-risk floor, "
        f"{crossing['no_longer_below']} would rise above it.",
        f"- score.dropped: {alerts['would_open']} alerts would open that are not open now, "
        f"{alerts['would_not_open']} open now would not, {alerts['open_under_both']} are open under both.",
        "",
        f"## The {len(result['movers'])} people whose score moves most",
        "",
    ]
    for mover in result["movers"]:
        lines.append(
            f"- **{mover['constituent_id']}**: {mover['live']} → {mover['candidate']} ({mover['change']:+})"
        )
        for event_type, points in mover["explain"].items():
            lines.append(f"  - {event_type}: {points['live']:+} → {points['candidate']:+} weighted points")
    return "\n".join(lines) + "\n"
