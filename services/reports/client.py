"""Fetching two weeks of the Mission Experience report from the API, for the weekly digest."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx

from services.reports.digest import Week


class ReportUnavailable(Exception):
    """The API could not be asked, or refused (the message says why)."""


def fetch_week(client: httpx.Client, ending: date) -> Week:
    """The 7 days before ``ending`` (00:00 UTC)."""
    end = datetime(ending.year, ending.month, ending.day, tzinfo=UTC)
    start = end - timedelta(days=7)
    window = {"from": start.isoformat(), "to": end.isoformat()}
    try:
        experience = client.get("/v1/reports/experience", params={**window, "granularity": "day"})
        handoffs = client.get("/v1/reports/handoffs", params=window)
    except httpx.HTTPError as error:
        raise ReportUnavailable(f"could not reach the API at {client.base_url}: {error}") from None
    for answer in (experience, handoffs):
        if answer.status_code != 200:
            raise ReportUnavailable(f"the API answered {answer.status_code}: {answer.text[:300]}")
    last_day = (end - timedelta(days=1)).date()
    return Week(start.date().isoformat(), last_day.isoformat(), experience.json(), handoffs.json())


def two_weeks(api_url: str, key: str | None, ending: date) -> tuple[Week, Week]:
    """This week and the one before it."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=api_url, headers=headers, timeout=30) as client:
        return fetch_week(client, ending), fetch_week(client, ending - timedelta(days=7))
