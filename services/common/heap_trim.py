"""Give the memory a service freed back to the system.

glibc's ``malloc`` keeps what a process frees inside its heap for later use, and returns it to the system
only from the top of the heap. The scorer frees most of what it allocates — every state it rewrites is a
new block of ~2 KB, every batch's records and results go — and the blocks it keeps are spread over the
whole heap, so its resident memory grew to several times what it held: 8 KB per constituent against
~2 KB of live state in the pure processing over 300,000 events (docs/performance.md, "Memory given
back"). ``malloc_trim(0)`` hands the free pages inside the heap back (``madvise``); the scorer calls it
once per ``MP_HEAP_TRIM_INTERVAL_S``.
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
    """Calls ``trim`` (``malloc_trim()``; None: nothing to call) and tells how long it took; how often is
    the caller's (the scorer's timer, ``MP_HEAP_TRIM_INTERVAL_S``)."""

    def __init__(
        self, trim: Callable[[], object] | None, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._trim = trim
        self._clock = clock
        self.trims = 0

    def __call__(self) -> float:
        """Trim now; the seconds it took (0.0 when there is nothing to call)."""
        if self._trim is None:
            return 0.0
        started = self._clock()
        self._trim()
        self.trims += 1
        return self._clock() - started
