"""Give the memory a service freed back to the system.

glibc's ``malloc`` keeps what a process frees inside its heap for later use, and returns it to the system
only from the top of the heap. The scorer frees most of what it allocates — every state it rewrites is a
new block of ~2 KB, every batch's records and results go — and the blocks it keeps are spread over the
whole heap, so its resident memory grew to several times what it held: 8 KB per constituent against
~2 KB of live state in the pure processing over 300,000 events (docs/performance.md, "Memory given
back"). ``malloc_trim(0)`` hands the free pages inside the heap back (``madvise``); ``HeapTrim`` calls it
at most once per interval.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from collections.abc import Callable


def malloc_trim() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)``, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


class HeapTrim:
    """``maybe()``: ``trim`` (``malloc_trim()``; None: nothing to call) if ``every_s`` passed since the last
    trim (0: never); the seconds spent trimming so far in ``spent_s``."""

    def __init__(
        self,
        every_s: float,
        trim: Callable[[], object] | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._every_s = every_s
        self._trim = trim
        self._clock = clock
        self._last = clock()
        self.trims = 0
        self.spent_s = 0.0

    def maybe(self) -> bool:
        """Trim now if it is due; whether it did."""
        if not self._every_s or self._trim is None:
            return False
        now = self._clock()
        if now - self._last < self._every_s:
            return False
        self._trim()
        self._last = self._clock()
        self.trims += 1
        self.spent_s += self._last - now
        return True
