"""``score.dropped``: a person's overall score fell sharply, or below the floor. Pure.

Once per crossing: the alert opens when the score crosses into a drop (measured against the highest score
per hour of the drop window) or below the floor, and resolves on the way back.
"""

from __future__ import annotations

from typing import Any

from services.domain.alerts.model import Alert, derive_alert_id, new_alert
from services.domain.scoring import ConstituentState
from services.domain.scoring_model import ScoringModel


def note_score(state: ConstituentState, at: float, overall: float, model: ScoringModel) -> None:
    """Remember the highest overall score per hour, for as long as a drop is measured against it."""
    hour = int(at // 3600)
    key = str(hour)
    state.score_peaks[key] = max(state.score_peaks.get(key, overall), overall)
    oldest_kept = hour - model.score_alert.drop_window_hours
    for stale in [h for h in state.score_peaks if int(h) <= oldest_kept]:
        del state.score_peaks[stale]


def is_breached(state: ConstituentState, overall: float, model: ScoringModel) -> bool:
    """Whether ``score.dropped`` holds: the score fell ``drop_points`` below its peak in the window, or
    below the floor."""
    rule = model.score_alert
    peak = max(state.score_peaks.values(), default=overall)
    return peak - overall >= rule.drop_points or overall < rule.floor


def score_alert_update(
    state: ConstituentState, overall: float, model: ScoringModel, latest: dict[str, Any]
) -> Alert | None:
    """Open ``score.dropped`` when the score crosses into a drop or below the floor; resolve it on the
    way back. Once per crossing: nothing while the condition merely persists."""
    rule = model.score_alert
    peak = max(state.score_peaks.values(), default=overall)
    dropped_by = peak - overall
    breached = is_breached(state, overall, model)
    if breached == (state.score_alert_opened_at is not None):
        return None
    opened_at = state.score_alert_opened_at
    if breached:
        state.score_alerts_opened += 1
        opened_at = state.score_alert_opened_at = latest["occurred_at"]
    else:
        state.score_alert_opened_at = None
    constituent_id = state.constituent_id
    reason = (
        f"fell {dropped_by:.1f} points from {peak:.1f} within {rule.drop_window_hours} h"
        if dropped_by >= rule.drop_points
        else f"is below the floor of {rule.floor:g}"
    )
    return new_alert(
        alert_id=derive_alert_id("score", constituent_id, str(state.score_alerts_opened)),
        kind="score.dropped",
        severity="warning",
        status="open" if breached else "resolved",
        constituent_id=constituent_id,
        source=latest["source"],
        departments=[latest["department"]] if latest.get("department") else [],
        title=f"Experience score of {constituent_id} dropped to {overall:.1f}",
        detail=f"The overall experience score {reason}; latest event {latest['type']}.",
        evidence=[latest["event_id"]],
        rule="score-dropped",
        opened_at=opened_at,
        resolved_at=None if breached else latest["occurred_at"],
    )
