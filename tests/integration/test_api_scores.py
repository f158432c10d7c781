"""The at-risk list and the score distribution, served from the API's index."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.fixtures.system import System
from tests.fixtures.touchpoints import touchpoint
from tests.fixtures.waiting import post_each, wait_for_counts

pytestmark = pytest.mark.integration


def test_the_most_at_risk_constituents_come_first_and_filters_apply(system: System) -> None:
    tag = uuid.uuid4().hex[:6]
    struggling, volunteer = f"risk-{tag}", f"vol-{tag}"
    events = [touchpoint(struggling, "donation.failed") for _ in range(4)]
    events += [touchpoint(volunteer, "web.form_submitted", form="volunteer_signup")]
    post_each(system, events)
    wait_for_counts(system, {struggling: 4, volunteer: 1})

    with httpx.Client(base_url=system.api_url) as client:
        lowest = client.get("/v1/constituents", params={"order": "asc", "limit": 1000}).json()
        scores = [row["score_at_last_event"] for row in lowest["constituents"]]
        assert scores == sorted(scores)
        assert struggling in [row["constituent_id"] for row in lowest["constituents"]]

        capped = client.get("/v1/constituents", params={"max_score": 45}).json()["constituents"]
        assert all(row["score_at_last_event"] <= 45 for row in capped)
        assert struggling in [row["constituent_id"] for row in capped]

        volunteers = client.get("/v1/constituents", params={"role": "volunteer", "limit": 1000}).json()
        assert volunteer in [row["constituent_id"] for row in volunteers["constituents"]]
        assert all("volunteer" in row["roles"] for row in volunteers["constituents"])

        assert client.get("/v1/constituents", params={"order": "sideways"}).status_code == 422


def test_the_summary_counts_everyone_once(system: System) -> None:
    newcomer = f"sum-{uuid.uuid4().hex[:6]}"
    before = httpx.get(f"{system.api_url}/v1/scores/summary").json()["population"]
    post_each(system, [touchpoint(newcomer, "web.page_view")])
    wait_for_counts(system, {newcomer: 1})
    summary = httpx.get(f"{system.api_url}/v1/scores/summary").json()
    assert summary["population"] == before + 1  # the newcomer, once
    assert len(summary["histogram"]) == 10
    assert sum(bin["count"] for bin in summary["histogram"]) == summary["population"]
