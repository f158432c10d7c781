"""The Alertmanager forwarder: open alerts on start and again every resend period, each update as it
comes, a failed post counted and survived, and a fresh subscription when it fell too far behind."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
from prometheus_client import REGISTRY

from services.api.alertmanager import AlertmanagerForwarder
from services.api.views import AlertView
from services.domain.alerts.model import Alert, new_alert


def alert(number: int, status: str = "open") -> Alert:
    return new_alert(
        alert_id=f"a-{number}",
        kind="transaction.failed",
        severity="warning",
        status=status,  # type: ignore[arg-type]
        constituent_id=f"c-{number}",
        source="donation",
        departments=["fundraising"],
        title="Failed donation",
        detail="A donation failed.",
        evidence=[f"e-{number}"],
        rule="failed-transaction",
        opened_at="2026-11-18T10:00:00+00:00",
        resolved_at="2026-11-18T10:05:00+00:00" if status == "resolved" else None,
    )


class Recorder:
    """Stands in for Alertmanager: records each post's alert ids; can be made to fail."""

    def __init__(self) -> None:
        self.posts: list[list[str]] = []
        self.failing = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.failing:
            return httpx.Response(503)
        self.posts.append([forwarded["labels"]["alert_id"] for forwarded in orjson.loads(request.content)])
        return httpx.Response(200)


def posts_failed() -> float:
    return REGISTRY.get_sample_value("mp_alertmanager_posts_total", {"outcome": "failed"}) or 0.0


async def run_for(forwarder: AlertmanagerForwarder, seconds: float, during: Any = None) -> None:
    task = asyncio.create_task(forwarder.run())
    try:
        if during is not None:
            await during()
        await asyncio.sleep(seconds)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def forwarder(view: AlertView, recorder: Recorder, resend_s: float) -> AlertmanagerForwarder:
    transport = httpx.MockTransport(recorder.handle)
    return AlertmanagerForwarder("http://am", "http://api", view, lambda: True, resend_s, transport)


async def test_open_alerts_are_sent_at_start_and_again_every_resend_period_and_updates_at_once() -> None:
    view, recorder = AlertView(100), Recorder()
    view.apply(0, alert(1))
    view.apply(1, alert(2, status="resolved"))

    async def resolve_one() -> None:
        await asyncio.sleep(0.05)
        view.apply(2, alert(1, status="resolved"))

    await run_for(forwarder(view, recorder, resend_s=0.3), 0.5, resolve_one)
    assert recorder.posts[0] == ["a-1"]  # only what is open, at start
    assert ["a-1"] in recorder.posts[1:]  # the resolution, as it came
    assert len(recorder.posts) >= 2 and recorder.posts[-1] in (["a-1"], [])  # nothing open is resent empty


async def test_a_failed_post_is_counted_and_the_forwarder_goes_on() -> None:
    view, recorder = AlertView(100), Recorder()
    view.apply(0, alert(1))
    recorder.failing = True
    before = posts_failed()
    sender = forwarder(view, recorder, resend_s=0.1)

    async def recover() -> None:
        await asyncio.sleep(0.25)
        recorder.failing = False

    await run_for(sender, 0.4, recover)
    assert posts_failed() > before
    assert ["a-1"] in recorder.posts  # resent once Alertmanager answered again


async def test_a_forwarder_that_fell_too_far_behind_subscribes_again_and_resends_what_is_open() -> None:
    view, recorder = AlertView(5000), Recorder()
    sender = forwarder(view, recorder, resend_s=0.3)

    async def flood_then_one_more() -> None:
        await asyncio.sleep(0.05)
        for offset in range(1500):  # more than a subscriber's queue holds, before it can post one
            view.apply(offset, alert(offset))
        assert view.subscribers == 0  # dropped, as a slow SSE client is
        await asyncio.sleep(0.45)  # past the next resend, where it subscribes again
        view.apply(1500, alert(9999, status="resolved"))

    await run_for(sender, 0.1, flood_then_one_more)
    everything = {alert_id for post in recorder.posts for alert_id in post}
    assert {f"a-{n}" for n in range(1500)} <= everything  # the resend covers what the queue dropped
    assert recorder.posts[-1] == ["a-9999"]  # and updates come live again, before the next resend
