"""The Mission Experience report end to end: events in, the scorer's counters aggregated per window and
published to the report topic, the API serving the experience and the hand-off matrix — and the CSV
saying exactly what the JSON says."""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.fixtures.config import CONFIG
from tests.fixtures.fast_rules import fast_rules
from tests.fixtures.system import System, isolated_topics, launch
from tests.fixtures.touchpoints import touchpoint
from tests.fixtures.waiting import post_each

pytestmark = pytest.mark.integration


@pytest.fixture
def system(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """A system of each test's own: reports add up everyone on the topics, so a test sharing them with
    another would count that test's people too (and pass or fail by the order the tests ran in)."""
    tmp = tmp_path_factory.mktemp("report")
    with launch(
        bootstrap, tmp / "system", MP_ALERTS_CONFIG=str(fast_rules(tmp)), **isolated_topics("report")
    ) as running:
        yield running


def until(system: System, path: str, params: dict[str, str], ready: Any, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        body = httpx.get(f"{system.api_url}{path}", params=params).json()
        if ready(body):
            return body
        assert time.monotonic() < deadline, f"{path} never got there: {body}"
        time.sleep(0.5)


def as_csv(system: System, path: str, params: dict[str, str]) -> list[dict[str, str]]:
    answer = httpx.get(f"{system.api_url}{path}", params=params, headers={"Accept": "text/csv"})
    assert answer.headers["content-type"].startswith("text/csv"), answer.text
    return list(csv.DictReader(io.StringIO(answer.text)))


def an_hour_with_a_failed_gift(system: System) -> dict[str, Any]:
    """Three people, one of whom failed to give: the report of the hour, once it counts all three."""
    people = [f"rp-{uuid.uuid4().hex[:6]}" for _ in range(3)]
    post_each(
        system,
        [
            touchpoint(
                people[0], "donation.failed", amount=40, processor="stripe", error_code="card_declined"
            ),
            touchpoint(people[1], "web.page_view"),
            touchpoint(people[2], "web.form_submitted", form="volunteer_signup"),
        ],
    )
    return until(  # type: ignore[no-any-return]
        system,
        "/v1/reports/experience",
        {"granularity": "hour"},
        lambda b: b["rows"] and b["rows"][-1]["people"] >= 3,
    )


def test_the_experience_of_the_hour_its_drivers_and_failed_gifts_and_the_csv_agrees(system: System) -> None:
    body, params = an_hour_with_a_failed_gift(system), {"granularity": "hour"}
    row = body["rows"][-1]
    assert row["people"] == 3
    assert row["mean"]["operations"] < 50 and sum(row["histogram"]) == row["people"]
    summary = body["summary"]
    assert summary["drivers"]["negative"][0]["type"] == "donation.failed"
    assert summary["failed"][0] == {
        "processor": "stripe",
        "error_code": "card_declined",
        "count": 1,
        "amount": 40.0,
    }
    [csv_row] = [r for r in as_csv(system, "/v1/reports/experience", params) if r["window"] == row["window"]]
    assert int(csv_row["people"]) == row["people"]
    assert float(csv_row["mean_operations"]) == row["mean"]["operations"]
    assert [int(csv_row[f"histogram_{n}"]) for n in range(10)] == row["histogram"]
    by_role = until(system, "/v1/reports/experience", {**params, "by": "role"}, lambda b: b["rows"])
    assert "volunteer" in {r["role"] for r in by_role["rows"]}


def a_kept_and_a_broken_hand_off(system: System) -> dict[str, Any]:
    """A gift receipted in time and one never receipted: the hand-off matrix once it shows both."""
    kept, broken = f"rk-{uuid.uuid4().hex[:6]}", f"rb-{uuid.uuid4().hex[:6]}"
    gift = touchpoint(kept, "donation.succeeded", amount=20)
    gift["correlation_id"] = "pay-kept"
    receipt = touchpoint(kept, "email.sent", template="receipt")
    receipt["correlation_id"] = "pay-kept"
    lonely = touchpoint(broken, "donation.succeeded", amount=20)
    lonely["correlation_id"] = "pay-lonely"
    post_each(system, [gift, receipt, lonely])

    def settled(body: dict[str, Any]) -> bool:
        rows = [r for r in body["matrix"] if r["rule"] == "donation-receipt"]
        return bool(rows) and rows[0]["in_time"] >= 1 and rows[0]["broken"] >= 1

    return until(system, "/v1/reports/handoffs", {}, settled)  # type: ignore[no-any-return]


def test_the_hand_off_matrix_counts_kept_and_broken_hand_offs_and_the_csv_agrees(system: System) -> None:
    body = a_kept_and_a_broken_hand_off(system)  # the 3 s deadline passes, then a tick
    [row] = [r for r in body["matrix"] if r["rule"] == "donation-receipt"]
    assert (row["from"], row["to"], row["triggered"]) == ("fundraising", "marketing", 2)
    assert row["p50_s"] == 60.0  # the receipt came within the first bucket
    [csv_row] = [r for r in as_csv(system, "/v1/reports/handoffs", {}) if r["rule"] == "donation-receipt"]
    assert {k: csv_row[k] for k in ("triggered", "in_time", "broken", "p50_s")} == {
        "triggered": "2", "in_time": "1", "broken": "1", "p50_s": "60.0",
    }  # fmt: skip


def test_a_range_backwards_or_too_long_is_refused_with_the_reason(system: System) -> None:
    backwards = httpx.get(
        f"{system.api_url}/v1/reports/experience",
        params={"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
    )
    assert backwards.status_code == 400 and "must be before" in backwards.json()["detail"]
    too_long = httpx.get(
        f"{system.api_url}/v1/reports/experience",
        params={"granularity": "hour", "from": "2026-01-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
    )
    assert too_long.status_code == 400 and "at most 31 days" in too_long.json()["detail"]


def test_the_weekly_digest_reads_the_report_from_the_api(
    system: System, capsys: pytest.CaptureFixture[str]
) -> None:
    from services.cli import main

    an_hour_with_a_failed_gift(system)
    a_kept_and_a_broken_hand_off(system)
    main(["report", "--week", "--api-url", system.api_url])
    text = capsys.readouterr().out
    assert text.startswith("# Mission Experience — the week of ")
    assert "Failed gifts: 1 " in text and "card_declined" in text
    assert "| donation-receipt | fundraising → marketing | 2 | 50% |" in text
    with pytest.raises(SystemExit, match="could not reach the API"):
        main(["report", "--week", "--api-url", "http://127.0.0.1:9"])


def test_a_what_if_run_on_the_recorded_topic_gives_the_same_comparison_every_time(
    system: System, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from services.cli import main

    candidate = tmp_path / "harsher.toml"
    shipped = (CONFIG / "scoring.toml").read_text()
    assert '"donation.failed" = { operations = -20 }' in shipped
    candidate.write_text(
        shipped.replace(
            '"donation.failed" = { operations = -20 }', '"donation.failed" = { operations = -90 }'
        )
    )
    post_each(
        system, [touchpoint(f"wi-{uuid.uuid4().hex[:6]}", "donation.failed", amount=10)]
    )  # on the topic now
    for name, value in system.env.items():  # the system's broker and topics
        monkeypatch.setenv(name, value)
    runs = []
    for _ in range(2):
        main(["rescore", "--model", str(candidate), "--quiet"])
        runs.append(capsys.readouterr().out)
    assert runs[0] == runs[1]
    assert runs[0].startswith("# What-if: harsher.toml against scoring.toml")
    assert "donation.failed: " in runs[0]  # the person who failed to give moves, and why
    main(
        [
            "rescore",
            "--model",
            str(candidate),
            "--format",
            "json",
            "--since",
            "1h",
            "--output",
            str(tmp_path / "w.json"),
        ]
    )
    assert orjson.loads((tmp_path / "w.json").read_bytes())["events"] >= 1
