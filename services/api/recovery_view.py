"""The recurring-gift recovery cases open right now, folded from the score records. Pure.

Each score record carries its person's recovery cases (services/domain/alerts/recovery.py); this index
keeps the open ones, so the API answers "which gifts are being recovered, at which step" and counts them
by step (a gauge) without reading everyone. Most records have no case: those are skipped on their bytes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from itertools import islice
from typing import Any

import orjson

from services.domain.alerts.recovery import OPEN_STEPS, step_of

NO_CASES = b'"recovery":[]'


def case_view(case: dict[str, Any]) -> dict[str, Any]:
    """What the API shows of a case: its step and facts, without the scorer's bookkeeping."""
    shown = {k: v for k, v in case.items() if k not in ("alerted", "due_at", "evidence")}
    return {**shown, "step": step_of(case)}


def open_cases_of(constituent_id: str, value: bytes | None) -> list[dict[str, Any]]:
    """The open cases one score record carries, as shown (none for a tombstone)."""
    if value is None or NO_CASES in value:
        return []
    return open_cases_in(constituent_id, orjson.loads(value))


def open_cases_in(constituent_id: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The open cases of a score record already read, as shown."""
    cases = record.get("recovery") or []
    return [{**case_view(c), "constituent_id": constituent_id} for c in cases if not c.get("outcome")]


def newest_first(cases: Iterable[dict[str, Any]], step: str | None, limit: int) -> list[dict[str, Any]]:
    """Open cases, the most recently opened first (optionally at one step)."""
    chosen = (c for c in cases if step in (None, c["step"]))
    return list(islice(sorted(chosen, key=lambda c: c["opened_at"], reverse=True), limit))


class RecoveryView:
    def __init__(self) -> None:
        self._open: dict[str, list[dict[str, Any]]] = {}  # constituent → its open cases, as shown
        self._by_step: Counter[str] = Counter()

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        constituent_id = key.decode()
        shown = open_cases_of(constituent_id, value)
        if constituent_id in self._open:
            self._drop(constituent_id)
        if shown:
            self._open[constituent_id] = shown
            self._by_step.update(case["step"] for case in shown)

    def _drop(self, constituent_id: str) -> None:
        self._by_step.subtract(case["step"] for case in self._open.pop(constituent_id))

    def open_count(self, step: str) -> int:
        return self._by_step[step]

    def open_by_step(self) -> dict[str, int]:
        return {step: self._by_step[step] for step in OPEN_STEPS}

    def open_cases(self, step: str | None, limit: int) -> list[dict[str, Any]]:
        """Open cases, the most recently opened first (optionally at one step)."""
        return newest_first((c for cases in self._open.values() for c in cases), step, limit)

    def __len__(self) -> int:
        return sum(len(cases) for cases in self._open.values())
