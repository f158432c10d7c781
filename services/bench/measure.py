"""What every benchmark measures with: figures, percentiles, a metric's total, a process's memory."""

from __future__ import annotations

import re
import statistics
from typing import Any

Figures = dict[str, Any]


def percentiles(latencies: list[float]) -> dict[str, float]:
    if len(latencies) < 2:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}
    cuts = statistics.quantiles(latencies, n=100)
    return {f"p{n}_ms": round(cuts[n - 1] * 1000, 2) for n in (50, 95, 99)}


def metric_total(text: str, name: str) -> float:
    return sum(float(value) for value in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))
