"""The weekly digest says what changed since last week, in words and numbers, as Markdown or HTML."""

from __future__ import annotations

from typing import Any

from services.reports.digest import Week, digest, render


def row(
    day: int, people: int, overall: float, content: float, operations: float, principles: float
) -> dict[str, Any]:
    mean = {"overall": overall, "content": content, "operations": operations, "principles": principles}
    return {"window": f"d:{day}", "people": people, "mean": mean}


def summary(failed: list[dict[str, Any]], negative: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "drivers": {
            "negative": negative,
            "positive": [{"type": "event.attended", "points": 120.0, "events": 30}],
        },
        "failed": failed,
        "recovered": {"count": 2, "amount": 50.0},
        "value_at_risk": {"people": 3, "giving_12_months": 1500.0},
    }


def matrix(broken_share: float) -> list[dict[str, Any]]:
    return [{"rule": "event-confirmation", "from": "events", "to": "marketing", "triggered": 40,
             "broken_share": broken_share, "p50_s": 300.0}]  # fmt: skip


THIS = Week(
    "2026-11-21",
    "2026-11-27",
    {
        "rows": [row(1, 100, 50.0, 52.0, 44.0, 55.0), row(2, 100, 50.0, 52.0, 42.0, 55.0)],
        "summary": summary(
            [{"processor": "stripe", "error_code": "card_declined", "count": 12, "amount": 600.0}],
            [{"type": "donation.failed", "points": -240.0, "events": 12}],
        ),
    },
    {"matrix": matrix(0.125)},
)
LAST = Week(
    "2026-11-14",
    "2026-11-20",
    {
        "rows": [row(0, 160, 51.0, 52.0, 46.0, 55.0)],
        "summary": summary(
            [{"processor": "stripe", "error_code": "card_declined", "count": 6, "amount": 300.0}], []
        ),
    },
    {"matrix": matrix(0.04)},
)


def test_the_digest_says_what_changed_in_words_and_numbers() -> None:
    text = render(digest(THIS, LAST), "md")
    assert text.startswith("# Mission Experience — the week of 2026-11-21 to 2026-11-27\n")
    assert "People with a touchpoint, counted per day: 200 (+25% on 160)" in text
    assert "Operations: 43.0 (▼ -3.0 points on 46.0)" in text
    assert "Operations fell most (-3.0 points). What took away most: donation.failed (-240 points)." in text
    assert "Failed gifts: 12 (+100% on 6), worth 600 (+100% on 300)" in text
    assert (
        "The seam that broke most: events → marketing (event-confirmation), 12% of its hand-offs broken"
        in text
    )
    assert "| event-confirmation | events → marketing | 40 | 12% | 4% | 5 min |" in text
    assert (
        "Value at risk: 3 people newly below the at-risk floor, who gave 1,500 in the 12 months before"
        in text
    )


def test_the_html_digest_is_a_document_with_everything_escaped() -> None:
    hostile = Week(
        THIS.start, THIS.end, THIS.experience, {"matrix": [{**matrix(0.5)[0], "rule": "<script>x"}]}
    )
    page = render(digest(hostile, LAST), "html")
    assert page.startswith("<!doctype html>") and "<h2>Hand-offs between departments</h2>" in page
    assert "<script>" not in page and "&lt;script&gt;x" in page


def test_a_quiet_week_reads_as_such() -> None:
    empty = {"rows": [], "summary": summary([], [])}
    text = render(digest(Week("a", "b", empty, {"matrix": []}), Week("c", "d", empty, {"matrix": []})), "md")
    assert "Overall experience: no data" in text and "No hand-off was triggered this week." in text
