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


async def until(condition: Any, timeout_s: float = 10.0) -> None:
    """Wait for ``condition()`` (no fixed sleeps: these machines are shared and may be slow)."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


async def running(forwarder: AlertmanagerForwarder, steps: Any) -> None:
    """Run the forwarder while ``steps()`` drives and watches it."""
    task = asyncio.create_task(forwarder.run())
    try:
        await steps()
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

    async def steps() -> None:
        await until(lambda: len(recorder.posts) >= 2)  # the start and a resend
        assert recorder.posts[0] == recorder.posts[1] == ["a-1"]  # only what is open
        view.apply(2, alert(1, status="resolved"))
        await until(lambda: len(recorder.posts) >= 3)
        await asyncio.sleep(0.5)  # resend periods in which the resolved alert must not be sent again

    await running(forwarder(view, recorder, resend_s=0.2), steps)
    # the resolution once, as it came; then nothing is open and nothing is resent
    assert [post for post in recorder.posts[2:] if post] == [["a-1"]]


async def test_a_failed_post_is_counted_and_the_forwarder_goes_on() -> None:
    view, recorder = AlertView(100), Recorder()
    view.apply(0, alert(1))
    recorder.failing = True
    before = posts_failed()

    async def steps() -> None:
        await until(lambda: posts_failed() > before)
        recorder.failing = False
        await until(lambda: ["a-1"] in recorder.posts)  # resent once Alertmanager answers again

    await running(forwarder(view, recorder, resend_s=0.1), steps)


async def test_a_forwarder_that_fell_too_far_behind_subscribes_again_and_resends_what_is_open() -> None:
    view, recorder = AlertView(5000), Recorder()

    async def steps() -> None:
        await until(lambda: view.subscribers == 1)
        for offset in range(1500):  # more than a subscriber's queue holds, before it can post one
            view.apply(offset, alert(offset))
        assert view.subscribers == 0  # dropped, as a slow SSE client is
        await until(lambda: view.subscribers == 1)  # subscribed again, at the next resend
        view.apply(1500, alert(9999, status="resolved"))
        await until(lambda: ["a-9999"] in recorder.posts)  # updates come live again

    await running(forwarder(view, recorder, resend_s=0.3), steps)
    everything = {alert_id for post in recorder.posts for alert_id in post}
    assert {f"a-{n}" for n in range(1500)} <= everything  # the resend covers what the queue dropped


async def test_an_escalated_alert_ends_its_old_label_set_so_the_pager_shows_it_once_at_its_new_severity() -> (
    None
):
    view, posts = AlertView(100), []

    def handle(request: httpx.Request) -> httpx.Response:
        posts.append(orjson.loads(request.content))
        return httpx.Response(200)

    opened = {**alert(1), "owner": "finance"}
    view.apply(0, opened)  # type: ignore[arg-type]
    am = AlertmanagerForwarder("http://am", "http://api", view, lambda: True, 60, httpx.MockTransport(handle))

    async def steps() -> None:
        await until(lambda: len(posts) >= 1)
        assert posts[0][0]["labels"]["owner"] == "finance" and "endsAt" not in posts[0][0]
        view.apply(1, {**opened, "severity": "critical", "escalated_unacknowledged": True})  # type: ignore[typeddict-item]
        await until(lambda: len(posts) >= 2)

    await running(am, steps)
    ended, escalated = posts[1]
    assert (ended["labels"]["severity"], "endsAt" in ended) == ("warning", True)
    assert (escalated["labels"]["severity"], escalated["labels"]["escalated"]) == (
        "critical",
        "unacknowledged",
    )
    assert "endsAt" not in escalated
