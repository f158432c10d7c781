"""The Mission Experience report windows the API serves, folded from the compacted report topic. Pure.

One record per hourly or daily window: its counters (services/domain/report/counters.py), kept as
compressed bytes (a year of hourly windows would otherwise cost hundreds of megabytes as objects) and
read back only for the windows a request covers.
"""

from __future__ import annotations

import zlib
from collections import Counter

import orjson
from sortedcontainers import SortedDict

from services.domain.report.counters import Granularity, window_bounds


class ReportView:
    def __init__(self) -> None:
        self._windows: dict[Granularity, SortedDict] = {"hour": SortedDict(), "day": SortedDict()}

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Fold one record; ValueError for a key that is no window."""
        if key is None:
            raise ValueError("a report record without a key")
        window = key.decode()
        if not window.startswith(("h:", "d:")):
            raise ValueError(f"not a report window: {window!r}")
        granularity: Granularity = "hour" if window.startswith("h:") else "day"
        start, _ = window_bounds(window)
        if value is None:
            self._windows[granularity].pop(start, None)
        else:
            self._windows[granularity][start] = (window, zlib.compress(value, 1))

    def windows(self, granularity: Granularity, start: float, end: float) -> dict[str, Counter[str]]:
        """The windows starting in [start, end), each with its counters."""
        found = {}
        for key in self._windows[granularity].irange(start, end, inclusive=(True, False)):
            window, packed = self._windows[granularity][key]
            found[window] = Counter(orjson.loads(zlib.decompress(packed)))
        return found

    def __len__(self) -> int:
        return sum(len(windows) for windows in self._windows.values())
