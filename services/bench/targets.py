"""The performance targets (docs/performance.md), checked against one `make bench` run's results: each one
met, or the measured gap, or why this run did not measure it. Pure: reads the results dict run.py writes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

GROUPED = "grouped as ingest writes"
ONE_PER_RECORD = "one event per record"


@dataclass(frozen=True, slots=True)
class Verdict:
    target: str
    measured: str
    verdict: str  # "met", "not met: …", or "not measured: …"


def _at_least(target: str, value: float, goal: float, shown: str) -> Verdict:
    if value >= goal:
        return Verdict(target, shown, "met")
    gap = f"{_times(goal / value)} short" if value > 0 else "nothing measured"
    return Verdict(target, shown, f"not met: {gap}")


def _at_most(target: str, value: float, goal: float, shown: str) -> Verdict:
    if value <= goal:
        return Verdict(target, shown, "met")
    return Verdict(target, shown, f"not met: {_times(value / goal)} over")


def _times(ratio: float) -> str:
    return f"{ratio:.2f}×" if ratio < 1.1 else f"{ratio:.1f}×"


def _row(scorer: dict[str, Any], start: str) -> dict[str, Any] | None:
    return next((figures for name, figures in scorer.items() if name.startswith(start)), None)


def _peers(scorer: dict[str, Any], layout: str) -> dict[str, dict[str, Any]]:
    return {
        name.split(",")[0]: figures
        for name, figures in scorer.items()
        if "light fold" in name and layout in name and not figures.get("error")
    }


def _rate(figures: dict[str, Any]) -> str:
    return f"{figures['events_per_s']:,} events/s"


def scorer_verdicts(scorer: dict[str, Any]) -> list[Verdict]:
    verdicts = []
    peers = _peers(scorer, GROUPED)
    best = max(peers.items(), key=lambda item: item[1]["events_per_s"], default=None)
    grouped = {
        store: row
        for store in ("memory://", "rocksdb://")
        if (row := _row(scorer, f"scorer ({store}), {GROUPED}")) is not None
    }
    for store, row in grouped.items():
        verdicts.append(
            _at_least(
                f"scorer {store}, {GROUPED}: ≥ 100,000 events/s", row["events_per_s"], 100_000, _rate(row)
            )
        )
        if best is not None:
            name, figures = best
            verdicts.append(
                _at_least(
                    f"scorer {store}, {GROUPED}: ahead of the best peer",
                    row["events_per_s"],
                    figures["events_per_s"],
                    f"{row['events_per_s'] / figures['events_per_s']:.3f}× {name} "
                    f"({figures['events_per_s']:,}/s)",
                )
            )
        per = row.get("rss_bytes_per_constituent")
        if per:
            verdicts.append(
                _at_most(f"scorer {store}: ≤ 1 KB resident per constituent", per, 1024, f"{per:,} B")
            )
    one = _row(scorer, f"scorer (memory://), {ONE_PER_RECORD}")
    if one is not None:
        verdicts.append(
            _at_least(f"scorer, {ONE_PER_RECORD}: ≥ 40,000 events/s", one["events_per_s"], 40_000, _rate(one))
        )
    pure = _row(scorer, "pure processing")
    if pure is not None:
        verdicts.append(
            _at_least("pure processing: ≥ 250,000 events/s", pure["events_per_s"], 250_000, _rate(pure))
        )
    peaks = [figures.get("peak_rss_bytes") or 0 for figures in peers.values()]
    ours = [row.get("peak_rss_bytes") or row.get("rss_bytes") or 0 for row in grouped.values()]
    if any(peaks) and any(ours):
        verdicts.append(
            _at_most(
                f"scorer peak RSS ({GROUPED}) ≤ the peers' (the larger)",
                max(ours),
                max(peaks),
                f"{max(ours) / 2**20:,.0f} MiB against {max(peaks) / 2**20:,.0f} MiB",
            )
        )
    return verdicts


def e2e_verdicts(e2e: dict[str, Any], scorer_capacity: int | None = None) -> list[Verdict]:
    """``scorer_capacity``: the events/s one scorer worker ran in this run (grouped, memory://), if it
    ran: a rate above it is not measured, for latency would only grow with the backlog."""
    verdicts = []
    for rate, goal in ((5000, 100.0), (20000, 250.0)):
        target = f"end to end p99 ≤ {goal:g} ms at {rate:,} events/s (score at the API, alert on SSE)"
        measured = e2e.get(f"{rate:,} events/s")
        if measured is None:
            why = f"this run's rates were {', '.join(e2e) or 'none'}"
            if scorer_capacity is not None and scorer_capacity < rate:
                why = (
                    f"one scorer worker ran {scorer_capacity:,} events/s in this run, below {rate:,}: "
                    "latency would only grow with the backlog"
                )
            verdicts.append(Verdict(target, "", f"not measured: {why}"))
            continue
        p99 = max(
            measured[path]["p99_ms"]
            for path in ("accepted → score at the API", "donation.failed → alert on SSE")
        )
        verdicts.append(_at_most(target, p99, goal, f"{p99} ms"))
    return verdicts


def _at_population(verdict: Verdict, population: int) -> Verdict:
    """Met over fewer constituents than the target's 1,000,000 is not the target met (a gap is one all the
    same)."""
    if population >= 1_000_000 or verdict.verdict != "met":
        return verdict
    return replace(verdict, verdict=f"met over {population:,}; not measured at 1,000,000")


def _over(population: int) -> str:
    """What a figure says of the population it was measured over, when not the targets' 1,000,000."""
    if population == 1_000_000:
        return ""
    return f" (over {population:,} constituents{', not 1,000,000' if population < 1_000_000 else ''})"


def api_verdicts(api: dict[str, Any]) -> list[Verdict]:
    population = api["population"]
    over = _over(population)
    ready = api["loaded_ready_s"]
    verdicts = [
        _at_population(
            _at_most("API ready ≤ 10 s over 1,000,000 constituents", ready, 10.0, f"{ready} s{over}"),
            population,
        ),
        _at_most(
            "API view ≤ 400 B resident per constituent",
            api["rss_bytes_per_constituent"],
            400,
            f"{api['rss_bytes_per_constituent']:,} B",
        ),
    ]
    return verdicts + _read_verdicts("API", api, population)


def _read_verdicts(who: str, api: dict[str, Any], population: int) -> list[Verdict]:
    """The read targets: one person and the at-risk list, p99 at their rates, open model."""
    over = _over(population)
    verdicts = []
    for case, rate, goal in (("by id", 2000, 5.0), ("at-risk list (50)", 200, 20.0)):
        read = "GET" if case == "by id" else "at-risk list"
        target = f"{who} {read} p99 ≤ {goal:g} ms at {rate:,}/s, open model"
        figures = api["requests"].get(f"{case}, open model at {rate}/s")
        if figures is None:
            verdicts.append(
                Verdict(target, "", "not measured: no open-model run (before 2026-12-07: wrk, closed)")
            )
        elif figures["p99_ms"] is None:
            verdicts.append(Verdict(target, "", "not measured: the load generator got no answer"))
        else:
            p99 = figures["p99_ms"]
            verdicts.append(_at_population(_at_most(target, p99, goal, f"{p99} ms{over}"), population))
    return verdicts


SCORER_OUTPUT = 15_000  # records/s: the most the scorer published in any bench so far (issue 35's table)


def redis_verdicts(sink: dict[str, Any], scorer_capacity: int | None = None) -> list[Verdict]:
    """MP_SERVING=redis: the sink keeps up with the scorer; the API is ready in seconds with a flat RSS."""
    population = sink["population"]
    output = scorer_capacity or SCORER_OUTPUT
    where = "this run's scorer" if scorer_capacity else "the scorer's best measured"
    verdicts = [
        _at_least(
            f"sink ≥ the scorer's output ({where}, {output:,} records/s)",
            sink["records_per_s"],
            output,
            f"{sink['records_per_s']:,} records/s",
        )
    ]
    api = sink.get("api")
    if api is None:
        return verdicts
    grown = api["loaded_rss_bytes"] - api["empty_rss_bytes"]
    verdicts += [
        _at_most(
            "Redis mode: API ready ≤ 10 s at any population",
            api["loaded_ready_s"],
            10.0,
            f"{api['loaded_ready_s']} s over {population:,}",
        ),
        _at_most(
            "Redis mode: API RSS flat (over everyone ≤ 1.1× over nobody)",
            api["loaded_rss_bytes"] / api["empty_rss_bytes"],
            1.1,
            f"{api['loaded_rss_bytes'] / 2**20:.0f} MiB against {api['empty_rss_bytes'] / 2**20:.0f} MiB "
            f"({grown / population:.1f} B per constituent)",
        ),
    ]
    return verdicts + _read_verdicts("Redis mode: API", api, population)


def verdicts(results: dict[str, Any]) -> list[Verdict]:
    """Every target this run's scenarios speak to, in the order of docs/performance.md."""
    found = []
    if "scorer" in results:
        found += scorer_verdicts(results["scorer"])
    if "e2e" in results:
        capacity = results.get("scorer", {}).get(f"scorer (memory://), {GROUPED}", {}).get("events_per_s")
        found += e2e_verdicts(results["e2e"], capacity)
    if "api" in results:
        found += api_verdicts(results["api"])
    if "sink" in results and "skipped" not in results["sink"]:
        capacity = results.get("scorer", {}).get(f"scorer (memory://), {GROUPED}", {}).get("events_per_s")
        found += redis_verdicts(results["sink"], capacity)
    return found
