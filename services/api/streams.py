"""How many live alert streams each key may hold open at once. Pure: the route takes and gives back a slot.

An open server-sent-events stream costs the API a queue of up to 1,000 alert updates and a task for as long
as the client stays; without a bound, one read key could open thousands (issue 34). A key over its
``MP_API_MAX_STREAMS_PER_KEY`` is answered 429 until one of its streams closes.
"""

from __future__ import annotations

from collections import Counter


class StreamSlots:
    def __init__(self, per_key: int) -> None:
        self.per_key = per_key
        self.open: Counter[str] = Counter()

    def take(self, key: str) -> bool:
        """Whether ``key`` may open one more stream (then it holds it until ``give_back``)."""
        if self.open[key] >= self.per_key:
            return False
        self.open[key] += 1
        return True

    def give_back(self, key: str) -> None:
        self.open[key] -= 1
        if self.open[key] <= 0:
            del self.open[key]
