"""What the ``detect_spikes`` agent does with each record of the spike-counts topic: fold it into the
key's stored state and say which alert updates that calls for. Pure: time comes in as an argument.

Two kinds of key share the topic (and the ``spike-states`` table), so each has one writer:
- a spike key (``donation/stripe``): partial attempt/failure counts, or ``advance_to`` when quiet
  (services/domain/alerts/spikes.py);
- ``source:<key>``: accepted events per bucket, refusals from ingest's dead letters, or a wall-clock
  ``check`` from the timer (services/domain/alerts/sources.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from services.domain.alerts.model import Alert
from services.domain.alerts.routing import Routing
from services.domain.alerts.rules import AlertRules
from services.domain.alerts.sources import BUCKET_SECONDS, SourceState
from services.domain.alerts.spikes import SpikeState
from services.scorer.outgoing import SOURCE_PREFIX


class Systemic:
    def __init__(self, rules: AlertRules, routing: Routing) -> None:
        self.rules = rules
        self.routing = routing
        self.silence = {rule.source: rule for rule in rules.silence}
        self.rejecting = {rule.source: rule for rule in rules.rejecting}
        self.source_of_endpoint = {rule.endpoint: rule.source for rule in rules.rejecting}

    def fold(
        self, key: bytes, message: dict[str, Any], stored: bytes | None, now: float
    ) -> tuple[bytes | None, list[Alert]]:
        """The key's new stored state (None: forget it) and the routed alert updates, if any."""
        if key.startswith(SOURCE_PREFIX):
            return self._fold_source(key[len(SOURCE_PREFIX) :].decode(), message, stored, now)
        return self._fold_spike(key.decode(), message, stored)

    def _fold_spike(
        self, key: str, message: dict[str, Any], stored: bytes | None
    ) -> tuple[bytes | None, list[Alert]]:
        if stored is not None:
            state = SpikeState.from_dict(orjson.loads(stored))
        else:
            state = SpikeState(key=key, rule_index=message.get("rule", 0))
        if state.rule_index >= len(self.rules.spikes):  # the rule was removed from the configuration
            return None, []
        if "advance_to" in message:
            state.advance(message["advance_to"])
        else:
            state.add(message["bucket"], message["attempts"], message["failures"], message["evidence"])
        alert = state.evaluate(self.rules.spikes[state.rule_index])
        return orjson.dumps(state.to_dict()), self._routed([alert])

    def _fold_source(
        self, key: str, message: dict[str, Any], stored: bytes | None, now: float
    ) -> tuple[bytes | None, list[Alert]]:
        silence, rejecting = self.silence.get(key), self.rejecting.get(key)
        if silence is None and rejecting is None:  # no rule watches it (any more)
            return None, []
        if stored is None and "check" in message:
            return None, []  # never heard of: it cannot have gone quiet
        state = SourceState.from_dict(orjson.loads(stored)) if stored is not None else SourceState(key=key)
        alerts: list[Alert | None] = []
        if "accepted" in message:
            window_s = rejecting.window_minutes * 60 if rejecting is not None else 0.0
            state.add_accepted({int(b): n for b, n in message["accepted"].items()}, now, window_s)
        if "refused" in message:
            for bucket, count in message["refused"].items():
                state.add_refused(int(bucket), count, message["code"])
        if "check" in message:
            state.advance(message["advance_to"])
        if silence is not None and ("check" in message or state.silent_alert is not None):
            alerts.append(state.check_silence(silence, now, message.get("since", float("-inf"))))
        if rejecting is not None:
            alerts.append(state.check_refusals(rejecting))
        return orjson.dumps(state.to_dict()), self._routed(alerts)

    def _routed(self, alerts: list[Alert | None]) -> list[Alert]:
        return [self.routing.route(alert) for alert in alerts if alert is not None]

    def refusal_counts(self, letters: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, int]]:
        """Ingest's dead letters of watched endpoints, as (source key, reason code) → bucket → count."""
        counts: dict[tuple[str, str], dict[str, int]] = {}
        for letter in letters:
            source = self.source_of_endpoint.get(str(letter.get("source")))
            received_at = letter.get("received_at")
            if source is None or letter.get("service") != "ingest" or not isinstance(received_at, str):
                continue
            try:
                at = datetime.fromisoformat(received_at).timestamp()
            except ValueError:
                continue
            bucket = str(int(at // BUCKET_SECONDS) * BUCKET_SECONDS)
            per_bucket = counts.setdefault((source, str(letter.get("reason_code"))), {})
            per_bucket[bucket] = per_bucket.get(bucket, 0) + 1
        return counts
