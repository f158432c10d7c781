"""What a candidate scoring model would change: both models over the same events, compared at the newest
event time — the same answer for the same events in any order."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from typing import Any

from services.domain.scoring_model import Impact
from services.domain.whatif import WhatIf, to_markdown
from tests.fixtures.alerting import T0, event
from tests.fixtures.config import MODEL

HARSHER = MODEL.model_copy(
    update={"impacts": {**MODEL.impacts, "donation.failed": Impact(operations=-90)}}
)  # a failed gift hurts far more


def events() -> list[tuple[dict[str, Any], float]]:
    happened = []
    for n in range(20):
        who = f"p{n % 5}"
        kind = "donation.failed" if n == 0 else "web.page_view"  # p0 failed to give, once
        happened.append((event(f"e{n}", kind, n * 60.0, who, amount=10), T0 + n * 60.0))
    return happened


def compared(order: list[tuple[dict[str, Any], float]]) -> dict[str, Any]:
    whatif = WhatIf(MODEL, HARSHER)
    for one, at in order:
        whatif.add(one, at)
    return whatif.compare()


def test_a_harsher_model_moves_the_people_who_failed_to_give_and_says_why() -> None:
    result = compared(events())
    assert (result["people"], result["events"]) == (5, 20)
    assert result["candidate"]["mean"] < result["live"]["mean"]
    assert result["crossing_floor"] == {"newly_below": 1, "no_longer_below": 0}
    assert result["score_dropped_alerts"]["would_open"] == 1
    [mover] = result["movers"]  # only p0 failed
    assert mover["constituent_id"] == "p0" and mover["change"] < 0
    assert set(mover["explain"]) == {"donation.failed"}
    assert mover["explain"]["donation.failed"]["candidate"] < mover["explain"]["donation.failed"]["live"]


def test_the_same_events_in_any_order_give_the_same_comparison() -> None:
    expected = compared(events())
    for seed in range(5):
        shuffled = events()
        random.Random(seed).shuffle(shuffled)
        assert compared(shuffled) == expected


def test_the_comparison_reads_as_a_document() -> None:
    text = to_markdown(compared(events()), "scoring.toml", "harsher.toml")
    assert text.startswith("# What-if: harsher.toml against scoring.toml")
    assert "1 people would fall below the at-risk floor" in text and "**p0**" in text


def test_a_model_version_names_every_setting_and_nothing_else() -> None:
    assert MODEL.fingerprint  # derived before copying: a copy must not inherit it
    same = MODEL.model_copy(update={"impacts": dict(MODEL.impacts)})
    harsher = MODEL.model_copy(
        update={"impacts": {**MODEL.impacts, "donation.failed": Impact(operations=-90)}}
    )
    assert harsher.fingerprint != MODEL.fingerprint
    assert MODEL.fingerprint == same.fingerprint and len(MODEL.fingerprint) == 12
    assert HARSHER.fingerprint != MODEL.fingerprint
    assert compared(events())["candidate_version"] == HARSHER.fingerprint


def test_a_model_version_is_the_same_in_every_process() -> None:
    """Sets in the model (failure types, sources) iterate in a per-process order; the version must not."""
    script = "from tests.fixtures.config import MODEL; print(MODEL.fingerprint)"
    versions = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in (1, 2, 3)
    }
    assert versions == {MODEL.fingerprint}
