"""Synthetic but realistic constituent journeys for `make run`. Pure: no I/O, deterministic per seed.

Each journey is a short story across silos — a gift and its receipt, a volunteer sign-up and its welcome
email, a newsletter, an event — with the failures nonprofits actually see: declined cards, missing
receipts, bounced emails, site errors.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Event = dict[str, Any]
Scheduled = tuple[float, Event]  # (when, event)

PERSONAS = ("donor", "volunteer", "subscriber", "attendee")
PERSONA_WEIGHTS = (0.45, 0.15, 0.3, 0.1)
AMOUNTS = (10, 25, 50, 100, 250, 1000)
AMOUNT_WEIGHTS = (0.2, 0.3, 0.25, 0.15, 0.07, 0.03)


@dataclass(frozen=True, slots=True)
class FailureRates:
    """How often things go wrong; the defaults make a lively `make run`."""

    payment_failed: float = 0.08
    retry_after_failure: float = 0.5
    receipt_missing: float = 0.05
    welcome_missing: float = 0.1
    bounce: float = 0.04
    site_error: float = 0.03
    recovery_email_missing: float = 0.1
    # the card processor "stripe" fails every payment for `outage_s`, starting `outage_after_s` into
    # each `outage_every_s` cycle (the first a minute after the simulation starts)
    outage_every_s: float = 360.0
    outage_after_s: float = 60.0
    outage_s: float = 90.0
    # in the same cycle, the email provider "sendgrid" pauses (its deliveries held until it resumes, as a
    # provider retries) and then Stripe's webhook secret is "rotated" (its deliveries refused until fixed,
    # then resent): source.silent and source.rejecting
    pause_after_s: float = 170.0
    pause_s: float = 75.0
    refused_after_s: float = 260.0
    refused_s: float = 90.0
    # a failed recurring gift: the donor updates the card and the retry succeeds (recovered), or cancels
    recurring_cancel: float = 0.3


REFUSED_UNTIL = "_refused_until"  # on an event ingest will refuse (runner.py): when it is sent again


class JourneyMaker:
    def __init__(
        self,
        seed: int,
        constituents: int,
        run_id: str,
        failures: FailureRates | None = None,
        zipf_exponent: float | None = None,
    ) -> None:
        """``run_id`` keeps event ids unique across runs: the same seed replays the same stories.
        ``zipf_exponent`` skews activity (the k-th most active person acts ∝ 1/k^s); uniform when None."""
        self._rng = random.Random(seed)
        self._run_id = run_id
        self._people = [
            (f"c-{n:05d}", self._rng.choices(PERSONAS, PERSONA_WEIGHTS)[0]) for n in range(constituents)
        ]
        self._cumulative: list[float] | None = None
        if zipf_exponent is not None:
            self._cumulative = list(
                itertools.accumulate(1 / (k + 1) ** zipf_exponent for k in range(constituents))
            )
        self._failures = failures or FailureRates()
        self._first_start: float | None = None
        self._start = 0.0

    def _id(self) -> str:
        return f"sim-{self._run_id}-{self._rng.getrandbits(64):016x}"

    def next_journey(self, start: float) -> list[Scheduled]:
        """One journey of a randomly chosen constituent, starting at ``start`` (epoch seconds)."""
        if self._cumulative is None:
            constituent_id, persona = self._rng.choice(self._people)
        else:
            constituent_id, persona = self._rng.choices(self._people, cum_weights=self._cumulative)[0]
        steps: list[Scheduled] = []
        if self._first_start is None:
            self._first_start = start
        self._start = start

        def add(delay: float, source: str, event_type: str, department: str, **extra: Any) -> None:
            event: Event = {
                "event_id": self._id(),
                "source": source,
                "type": event_type,
                "occurred_at": datetime.fromtimestamp(start + delay, UTC).isoformat(),
                "constituent_id": constituent_id,
                "department": department,
            }
            correlation_id = extra.pop("correlation_id", None)
            if correlation_id:
                event["correlation_id"] = correlation_id
            if extra:
                event["attributes"] = extra
            steps.append((start + delay, event))

        stories: dict[str, Callable[[Callable[..., None]], None]] = {
            "donor": self._gift,
            "volunteer": self._volunteering,
            "subscriber": self._newsletter,
            "attendee": self._event,
        }
        stories[persona](add)
        return [self._delivered(when, event) for when, event in steps]

    def _window(self, when: float, after_s: float, length_s: float) -> float | None:
        """The end of the cycle's window (``after_s`` into each cycle, ``length_s`` long) ``when`` is in."""
        if self._first_start is None:
            return None
        cycle_s = self._failures.outage_every_s
        into = (when - self._first_start) % cycle_s
        if 0 <= into - after_s < length_s:
            return when - into + after_s + length_s
        return None

    def _delivered(self, when: float, event: Event) -> Scheduled:
        """When the event reaches ingest: a paused provider's later (its time of occurrence unchanged); one
        a rotated secret refuses is marked to be refused first and sent again when the window ends."""
        attributes = event.get("attributes") or {}
        if attributes.get("provider") == "sendgrid":
            resumes = self._window(when, self._failures.pause_after_s, self._failures.pause_s)
            if resumes is not None:
                return resumes + self._rng.uniform(0, 5), event
        if event["source"] == "donation" and attributes.get("processor") == "stripe":
            fixed = self._window(when, self._failures.refused_after_s, self._failures.refused_s)
            if fixed is not None:
                return when, {**event, REFUSED_UNTIL: fixed + self._rng.uniform(0, 5)}
        return when, event

    def _visit(self, add: Callable[..., None], url: str) -> None:
        if self._rng.random() < self._failures.site_error:
            add(0, "web", "web.error", "it", url=url, error_code=self._rng.choice(("500", "502", "timeout")))
        else:
            add(0, "web", "web.page_view", "marketing", url=url)

    def _email(
        self,
        add: Callable[..., None],
        delay: float,
        template: str,
        department: str,
        correlation_id: str | None = None,
    ) -> None:
        sent = {"template": template, "provider": "sendgrid"}
        add(delay, "email", "email.sent", department, correlation_id=correlation_id, **sent)
        if self._rng.random() < self._failures.bounce:
            add(delay + 1, "email", "email.bounced", department, reason="mailbox_full", **sent)
            return
        add(delay + 1, "email", "email.delivered", department, **sent)
        if self._rng.random() < 0.5:
            add(delay + 8, "email", "email.opened", department, **sent)
            if self._rng.random() < 0.3:
                add(delay + 12, "email", "email.clicked", department, **sent)

    def _gift(self, add: Callable[..., None]) -> None:
        self._visit(add, "/donate")
        amount = self._rng.choices(AMOUNTS, AMOUNT_WEIGHTS)[0]
        recurring = self._rng.random() < 0.2
        payment = f"pay_{self._rng.getrandbits(40):010x}"
        processor = "stripe" if self._rng.random() < 0.7 else "paypal"
        details: dict[str, Any] = {
            "amount": amount,
            "currency": "USD",
            "recurring": recurring,
            "processor": processor,
        }
        if recurring:
            details["subscription"] = f"sub_{payment[4:]}"
        delay = 3.0
        outage = processor == "stripe" and self._in_outage()
        if outage or self._rng.random() < self._failures.payment_failed:
            code = "gateway_timeout" if outage else self._rng.choice(("card_declined", "insufficient_funds"))
            add(
                delay,
                "donation",
                "donation.failed",
                "fundraising",
                correlation_id=payment,
                error_code=code,
                **details,
            )
            if self._rng.random() >= self._failures.recovery_email_missing:
                self._email(add, delay + self._rng.uniform(5, 20), "payment_recovery", "fundraising", payment)
            if self._rng.random() >= self._failures.retry_after_failure:
                if recurring and self._rng.random() < self._failures.recurring_cancel:
                    add(delay + 30, "donation", "donation.recurring_cancelled", "fundraising", **details)
                return
            payment = f"pay_{self._rng.getrandbits(40):010x}"
            if recurring:  # the recovery email asked for a new card
                add(
                    delay + 15,
                    "donation",
                    "donation.payment_method_updated",
                    "fundraising",
                    processor=processor,
                )
            delay += 20
            if outage:  # the donor tries another way to pay
                details = {**details, "processor": "paypal"}
        add(delay, "donation", "donation.succeeded", "fundraising", correlation_id=payment, **details)
        if self._rng.random() >= self._failures.receipt_missing:
            self._email(
                add, delay + self._rng.uniform(2, 8), "receipt", "fundraising", correlation_id=payment
            )

    def _in_outage(self) -> bool:
        if self._first_start is None:
            return False
        into_cycle = (self._start - self._first_start) % self._failures.outage_every_s
        return 0 <= into_cycle - self._failures.outage_after_s < self._failures.outage_s

    def _volunteering(self, add: Callable[..., None]) -> None:
        self._visit(add, "/volunteer")
        add(4, "web", "web.form_submitted", "programs", form="volunteer_signup")
        if self._rng.random() >= self._failures.welcome_missing:
            self._email(add, self._rng.uniform(5, 15), "volunteer_welcome", "programs")

    def _newsletter(self, add: Callable[..., None]) -> None:
        self._email(add, 0, "newsletter", "marketing")
        if self._rng.random() < 0.03:
            add(30, "email", "email.unsubscribed", "marketing", template="newsletter", provider="sendgrid")
        elif self._rng.random() < 0.3:
            self._visit(add, "/stories")

    def _event(self, add: Callable[..., None]) -> None:
        name = self._rng.choice(("gala", "river-cleanup", "open-day"))
        add(0, "events", "event.registered", "events", event_name=name)
        self._email(add, self._rng.uniform(3, 10), "event_confirmation", "events")
        if self._rng.random() < 0.6:
            add(40, "events", "event.attended", "events", event_name=name)
        elif self._rng.random() < 0.3:
            add(25, "events", "event.cancelled", "events", event_name=name)
