"""The readings a GET serves were rewritten for speed (each touchpoint's decay worked out once, each hourly
bucket read once for all windows); their first, plainest form is kept here as the specification, and both
must give exactly the same answers — the same floats, the same counts in the same key order.
(The explanation was made faster too: the weights read once, the lifetime counts passed in.)"""

from collections import Counter
from collections.abc import Iterable
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from services.domain.readings import explain, lifetime_counts, rolling_counts, score_history
from services.domain.scoring import KEY_SEPARATOR, ConstituentState, Scores, decay, scores_from_totals
from services.domain.scoring_model import DIMENSIONS, SECONDS_PER_HOUR, WINDOWS_HOURS, ScoringModel
from tests.fixtures.config import MODEL
from tests.unit.domain.test_scoring import DAY, START, events, fold


def plain_score_history(state: ConstituentState, model: ScoringModel) -> list[tuple[float, Scores]]:
    oldest = state.reference_time - 20 * model.half_life_hours * SECONDS_PER_HOUR
    totals = [sum(sums[i] for sums in state.contributions.values()) for i in range(3)]
    history: list[tuple[float, Scores]] = []
    for position in range(len(state.timeline) - 1, -1, -1):
        at = float(state.timeline[position][0])
        if at < oldest:
            break
        if position + 1 < len(state.timeline) and state.timeline[position + 1][0] == at:
            continue
        later = totals[:]
        for newer in state.timeline[position + 1 :]:
            impact = model.impacts.get(newer[2])
            if impact is not None:
                weight = decay(model, state.reference_time - float(newer[0]))
                later = [
                    total - weight * points for total, points in zip(later, impact.as_tuple(), strict=True)
                ]
        growth = 1 / decay(model, max(0.0, state.reference_time - at))
        history.append((at, scores_from_totals(model, [total * growth for total in later])))
    history.reverse()
    return history


def plain_rolling_counts(
    state: ConstituentState, model: ScoringModel, at: float
) -> dict[str, dict[str, Any]]:
    now_hour = int(at // SECONDS_PER_HOUR)
    result: dict[str, dict[str, Any]] = {}
    for name, hours in WINDOWS_HOURS.items():
        in_window = (
            (key, count)
            for hour, bucket in state.hourly.items()
            if now_hour - hours < int(hour) <= now_hour
            for key, count in bucket.items()
        )
        counts = _by_source_and_type(in_window)
        failures = sum(n for event_type, n in counts["by_type"].items() if event_type in model.failure_types)
        result[name] = {**counts, "failures": failures}
    return result


def plain_explain(
    state: ConstituentState, model: ScoringModel, at: float, top: int = 5
) -> list[dict[str, Any]]:
    factor = decay(model, max(0.0, at - state.reference_time))
    lifetime = _by_source_and_type(state.counts.items())["by_type"]
    rows = []
    for event_type, sums in state.contributions.items():
        points = {d: round(value * factor, 3) for d, value in zip(DIMENSIONS, sums, strict=True)}
        weighted = sum(getattr(model.weights, d) * points[d] for d in DIMENSIONS)
        row = {"type": event_type, "events": lifetime.get(event_type, 0), "points": points}
        rows.append({**row, "weighted_points": round(weighted, 3)})
    rows.sort(key=lambda row: abs(row["weighted_points"]), reverse=True)
    return [row for row in rows[:top] if row["weighted_points"] != 0]


def _by_source_and_type(counts: Iterable[tuple[str, int]]) -> dict[str, dict[str, int]]:
    by_source: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    for key, count in counts:
        source, event_type = key.split(KEY_SEPARATOR, 1)
        by_source[source] += count
        by_type[event_type] += count
    return {"by_source": dict(by_source), "by_type": dict(by_type)}


@settings(max_examples=300)
@given(events, st.floats(0, 40 * DAY))
def test_the_fast_readings_answer_exactly_as_their_plain_specification(batch: list, later: float) -> None:  # type: ignore[type-arg]
    state = fold(batch)
    at = state.reference_time + later
    assert score_history(state, MODEL) == plain_score_history(state, MODEL)
    fast, plain = rolling_counts(state, MODEL, at), rolling_counts(state, MODEL, START)
    assert fast == plain_rolling_counts(state, MODEL, at)
    assert [list(window["by_type"]) for window in fast.values()] == [
        list(window["by_type"]) for window in plain_rolling_counts(state, MODEL, at).values()
    ]  # the same keys in the same order: the same JSON
    assert plain == plain_rolling_counts(state, MODEL, START)
    for top in (1, 5, 50):
        expected = plain_explain(state, MODEL, at, top)
        assert explain(state, MODEL, at, top) == expected
        assert explain(state, MODEL, at, top, lifetime_counts(state)["by_type"]) == expected
        assert orjson.dumps(explain(state, MODEL, at, top)) == orjson.dumps(
            expected
        )  # -0.0 and key order too
