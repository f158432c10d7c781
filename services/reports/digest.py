"""The weekly digest: this week's Mission Experience beside last week's, in words and numbers, as a
document a Chief Constituent Officer can send on (Markdown or HTML). Pure: it takes what the API's report
endpoints answered for the two weeks (services/reports/client.py fetches them)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Literal

from services.domain.scoring_model import DIMENSIONS

Block = tuple[str, Any]  # ("h1" | "h2" | "p" | "ul" | "table", content)
SCALE = (
    "Scores are 0–100 (50 is neutral): the mean of what each day's touchpoints gave the people who had one."
)


@dataclass(frozen=True)
class Week:
    start: str  # dates, YYYY-MM-DD
    end: str
    experience: dict[str, Any]  # GET /v1/reports/experience?granularity=day over the week
    handoffs: dict[str, Any]  # GET /v1/reports/handoffs over the week


def _means(rows: list[dict[str, Any]]) -> tuple[int, dict[str, float | None]]:
    """Person-days with a touchpoint, and the mean window scores weighted by them."""
    people = sum(row["people"] for row in rows)
    means: dict[str, float | None] = {
        name: (sum(row["mean"][name] * row["people"] for row in rows) / people if people else None)
        for name in ("overall", *DIMENSIONS)
    }
    return people, means


def _change(now: float | None, before: float | None, unit: str = " points") -> str:
    if now is None:
        return "no data"
    if before is None:
        return f"{now:.1f} (no data the week before)"
    delta = now - before
    arrow = "▲" if delta > 0.05 else "▼" if delta < -0.05 else "="
    return f"{now:.1f} ({arrow} {delta:+.1f}{unit} on {before:.1f})"


def _count_change(now: float, before: float, money: bool = False) -> str:
    shown = f"{now:,.0f}" if money else f"{now:,}"
    if not before:
        return f"{shown} (none the week before)" if now else shown
    return f"{shown} ({(now - before) / before:+.0%} on {before:,.0f})"


def _failed(summary: dict[str, Any]) -> tuple[int, float]:
    return sum(r["count"] for r in summary["failed"]), sum(r["amount"] for r in summary["failed"])


def _pairs(matrix: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{r['rule']}|{r['from']}|{r['to']}": r for r in matrix}


def digest(this: Week, last: Week) -> list[Block]:
    """The digest as blocks, for ``to_markdown`` or ``to_html``."""
    people, means = _means(this.experience["rows"])
    people_before, means_before = _means(last.experience["rows"])
    summary, summary_before = this.experience["summary"], last.experience["summary"]
    failed, failed_amount = _failed(summary)
    failed_before, failed_amount_before = _failed(summary_before)
    risk = summary["value_at_risk"]
    blocks: list[Block] = [
        ("h1", f"Mission Experience — the week of {this.start} to {this.end}"),
        ("p", f"Compared with the week before ({last.start} to {last.end}). {SCALE}"),
        ("h2", "In brief"),
        (
            "ul",
            [
                f"People with a touchpoint, counted per day: {_count_change(people, people_before)}",
                f"Overall experience: {_change(means['overall'], means_before['overall'])}",
                *(f"{name.title()}: {_change(means[name], means_before[name])}" for name in DIMENSIONS),
                f"Failed gifts: {_count_change(failed, failed_before)}, worth "
                f"{_count_change(failed_amount, failed_amount_before, money=True)}",
                f"Recurring gifts recovered: {summary['recovered']['count']} "
                f"(worth {summary['recovered']['amount']:,.0f})",
                f"Value at risk: {risk['people']} people newly below the at-risk floor, who gave "
                f"{risk['giving_12_months']:,.0f} in the 12 months before",
            ],
        ),
    ]
    blocks += _in_words(means, means_before, summary)
    blocks += _handoffs(this.handoffs["matrix"], last.handoffs["matrix"])
    drivers = summary["drivers"]
    moved = [f"Took away: {_driver(r)}" for r in drivers["negative"]]
    moved += [f"Added: {_driver(r)}" for r in drivers["positive"]]
    blocks += [("h2", "What moved the experience"), ("ul", moved or ["Nothing moved it this week."])]
    if summary["failed"]:
        header = ["Processor", "Reason", "Gifts", "Amount"]
        rows = [
            [r["processor"], r["error_code"], f"{r['count']:,}", f"{r['amount']:,.0f}"]
            for r in summary["failed"][:10]
        ]
        blocks += [("h2", "Failed gifts by processor and reason"), ("table", (header, rows))]
    blocks.append(("p", "Every figure is defined in Mission Pulse's docs/reports.md."))
    return blocks


def _driver(row: dict[str, Any]) -> str:
    return f"{row['type']} ({row['points']:+,.0f} points over {row['events']:,} events)"


def _in_words(
    means: dict[str, float | None], before: dict[str, float | None], summary: dict[str, Any]
) -> list[Block]:
    moves = []
    for name in DIMENSIONS:
        now, then = means[name], before[name]
        if now is not None and then is not None:
            moves.append((name, now - then))
    if not moves:
        return []
    name, delta = max(moves, key=lambda move: abs(move[1]))
    if abs(delta) < 0.5:
        sentence = "The three dimensions held steady (none moved half a point)."
    else:
        sentence = f"{name.title()} {'rose' if delta > 0 else 'fell'} most ({delta:+.1f} points)."
    worst = summary["drivers"]["negative"][:1]
    if worst:
        sentence += f" What took away most: {worst[0]['type']} ({worst[0]['points']:+,.0f} points)."
    return [("p", sentence)]


def _handoffs(matrix: list[dict[str, Any]], before: list[dict[str, Any]]) -> list[Block]:
    if not matrix:
        return [("h2", "Hand-offs between departments"), ("p", "No hand-off was triggered this week.")]
    earlier = _pairs(before)
    rows = []
    for row in sorted(matrix, key=lambda r: -r["broken_share"]):
        was = earlier.get(f"{row['rule']}|{row['from']}|{row['to']}")
        rows.append(
            [
                row["rule"],
                f"{row['from']} → {row['to']}",
                f"{row['triggered']:,}",
                f"{row['broken_share']:.0%}",
                f"{was['broken_share']:.0%}" if was else "–",
                "–" if row["p50_s"] is None else f"{row['p50_s'] / 60:g} min",
            ]
        )
    worst = max(matrix, key=lambda r: r["broken_share"])
    was = earlier.get(f"{worst['rule']}|{worst['from']}|{worst['to']}")
    words = (
        f"The seam that broke most: {worst['from']} → {worst['to']} ({worst['rule']}), "
        f"{worst['broken_share']:.0%} of its hand-offs broken"
        + (f" (the week before: {was['broken_share']:.0%})." if was else ".")
    )
    header = [
        "Rule",
        "From → to",
        "Triggered",
        "Broken",
        "Broken the week before",
        "Median time to follow-up",
    ]
    return [("h2", "Hand-offs between departments"), ("p", words), ("table", (header, rows))]


def to_markdown(blocks: list[Block]) -> str:
    out = []
    for kind, content in blocks:
        if kind == "h1":
            out.append(f"# {content}\n")
        elif kind == "h2":
            out.append(f"## {content}\n")
        elif kind == "p":
            out.append(f"{content}\n")
        elif kind == "ul":
            out.append("".join(f"- {item}\n" for item in content))
        elif kind == "table":
            header, rows = content
            lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
            out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def to_html(blocks: list[Block]) -> str:
    body = []
    for kind, content in blocks:
        if kind in ("h1", "h2", "p"):
            body.append(f"<{kind}>{html.escape(content)}</{kind}>")
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in content) + "</ul>")
        elif kind == "table":
            header, rows = content
            head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
            cells = "".join(
                "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
    style = (
        "body{font-family:system-ui,sans-serif;max-width:50em;margin:2em auto;color:#1b1f24;"
        "line-height:1.45}table{border-collapse:collapse}"
        "th,td{border-bottom:1px solid #d0d5dc;padding:3px 8px;text-align:left}"
    )
    title = html.escape(next((c for k, c in blocks if k == "h1"), "Mission Experience"))
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def render(blocks: list[Block], format: Literal["md", "html"]) -> str:
    return to_markdown(blocks) if format == "md" else to_html(blocks)
