"""Benchmark traffic: the simulator's event mix over many constituents with skewed (Zipf-like) activity."""

from __future__ import annotations

import time
from collections.abc import Iterator

import orjson

from services.simulator.traffic import JourneyMaker

ZIPF_EXPONENT = 0.7  # over 1M people: a long tail, with the most active few thousand doing much of it


def events(count: int, constituents: int, seed: int = 1) -> Iterator[tuple[bytes, bytes]]:
    """``count`` (key, value) records, dated over the last hour so none is refused as future."""
    maker = JourneyMaker(seed, constituents, run_id=f"bench{seed}", zipf_exponent=ZIPF_EXPONENT)
    start = time.time() - 3600
    produced = 0
    while produced < count:
        for _, event in maker.next_journey(start + produced * 3600 / count):
            yield event["constituent_id"].encode(), orjson.dumps(event)
            produced += 1
            if produced == count:
                return
