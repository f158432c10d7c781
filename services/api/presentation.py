"""How the API presents what its views hold: a constituent now, the score distribution, SSE frames. Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi.responses import Response

from services.api.recovery_view import case_view
from services.domain.alerts.model import Alert
from services.domain.readings import explain, lifetime_counts, rolling_counts, score_history
from services.domain.scoring import ConstituentState, giving_12_months, scores_at
from services.domain.scoring_model import ScoringModel

HISTOGRAM_EDGES = [float(edge) for edge in range(0, 101, 10)]


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def json_response(content: Any) -> Response:
    """JSON straight from orjson: the hot routes skip FastAPI's generic encoder, the bulk of their time."""
    return Response(orjson.dumps(content), media_type="application/json")


def sse_frame(offset: int, alert: Alert) -> bytes:
    return b"id: %d\nevent: alert\ndata: %s\n\n" % (offset, orjson.dumps(alert))


def constituent_now(published: dict[str, Any], model: ScoringModel, now: float) -> dict[str, Any]:
    """A published score record as of ``now``: everything the API explains (a ranked list's row is
    services/api/list_rows.py)."""
    state = ConstituentState.from_dict(published)
    scores = scores_at(state, model, now).to_dict()
    summary = {
        "constituent_id": state.constituent_id,
        "score": scores["overall"],
        "roles": state.roles,
        "last_event_at": iso(state.last_event_at),
    }
    lifetime = lifetime_counts(state)
    # each instant written once: history points are timeline instants, the newest touch one of them too
    # (formatting was the largest single cost of a GET: docs/performance.md, "Serving a million people")
    written: dict[float, str] = {}

    def at_(epoch: float) -> str:
        text = written.get(epoch)
        if text is None:
            text = written[epoch] = iso(epoch)
        return text

    as_of = at_(now)
    return {
        **summary,
        "as_of": as_of,
        "scores": scores,
        "scores_at_last_event": published["scores"],
        "updated_at": iso(published["updated_at"]),
        "events": state.events,
        "last_touch": {source: at_(at) for source, at in state.last_touch.items()},
        "counts": {"lifetime": lifetime, **rolling_counts(state, model, now)},
        "explain": explain(state, model, now, lifetime=lifetime["by_type"]),
        "timeline": [
            {
                "occurred_at": at_(at),
                "source": source,
                "type": kind,
                "event_id": event_id,
                "failure": kind in model.failure_types,
            }
            for at, source, kind, event_id in reversed(state.timeline)
        ],
        "history": [{"at": at_(at), **past.to_dict()} for at, past in score_history(state, model)]
        + [{"at": as_of, **scores}],
        "score_alert_open_since": state.score_alert_opened_at,
        "model_version": published.get("model_version"),  # the scoring model that wrote the record
        "giving_12_months": giving_12_months(state),
        # recurring gifts failed and being recovered (or recovered, or lost), newest first
        "recovery": [case_view(case) for case in reversed(published.get("recovery") or [])],
    }


def score_summary(
    population: int, counts: list[int], below_floor: int, model: ScoringModel
) -> dict[str, Any]:
    """The distribution: ``counts`` per band of ``HISTOGRAM_EDGES``, and how many are below the floor."""
    return {
        "population": population,
        "histogram": [
            {"from": low, "to": high, "count": count}
            for low, high, count in zip(HISTOGRAM_EDGES, HISTOGRAM_EDGES[1:], counts, strict=False)
        ],
        "below_floor": below_floor,
        "floor": model.score_alert.floor,
    }
