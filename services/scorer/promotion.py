"""When a candidate scorer (``rescore --apply``) may name itself the live version. Pure: it is given where
the consumer groups are at each check (services/common/group_offsets.py) and keeps the checks it needs.

The rule: the candidate has committed, on every partition of the touchpoints, at least as far as the live
scorer's group had a ``lag_s`` earlier (its commit interval and a check), and it has read every report delta
it had written by then. Commits come every commit interval, so comparing with the live group's position of
that long ago holds as soon as the candidate keeps up — and never while it is still rebuilding: no person is
older in the new version than in the one served a few seconds before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.group_offsets import GroupPositions


@dataclass
class Promotion:
    candidate: str  # the candidate's consumer group (its application id)
    touchpoints: str
    report_deltas: str
    lag_s: float  # how far back the live group's position is taken
    _checks: list[tuple[float, GroupPositions]] = field(default_factory=list)

    def ready(self, at: float, now: GroupPositions, live_group: str) -> bool:
        """Record this check (``at``: monotonic seconds) and say whether the candidate may go live."""
        self._checks.append((at, now))
        earlier = [positions for when, positions in self._checks if when <= at - self.lag_s]
        if not earlier:
            return False
        del self._checks[: len(earlier) - 1]  # the newest of them is all a later check needs
        then = earlier[-1]
        return now.covers(self.candidate, then, live_group, f"{self.touchpoints}:") and now.covers(
            self.candidate, then, None, f"{self.report_deltas}:"
        )
