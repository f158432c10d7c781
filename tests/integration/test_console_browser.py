"""The operations console in a real headless browser (Debian's chromium, driven by Playwright).

Screenshots of each step are kept in test-artifacts/console/.
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.fixtures.config import REPO_ROOT
from tests.fixtures.system import Keys, System
from tests.fixtures.touchpoints import touchpoint

pytestmark = pytest.mark.integration
ARTIFACTS = REPO_ROOT / "test-artifacts" / "console"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (make browser)")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


def open_console(browser: Browser, system: System, key: str) -> Page:
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(f"{system.api_url}/console/#key={key}")
    page.locator("#linked-key-use").click(timeout=15_000)  # the operator saw whose key it is, and agreed
    expect(page.locator("#connection")).to_have_text("Live", timeout=15_000)
    assert "key=" not in page.url, "the key must leave the address bar"
    return page


def send_failed_donation(system: System, keys: Keys) -> str:
    donor = f"d-{uuid.uuid4().hex[:8]}"
    for event in (
        touchpoint(donor, "web.page_view"),
        touchpoint(donor, "donation.failed", amount=75, currency="USD", error_code="card_declined"),
    ):
        answer = httpx.post(f"{system.ingest_url}/v1/events", json=event, headers=keys.header("ingest"))
        assert answer.status_code == 202, answer.text
    return donor


def card(page: Page, donor: str) -> str:
    return f"li.alert:has-text('{donor}')"


def test_an_operator_sees_a_failed_donation_live_acknowledges_it_and_follows_the_donor(
    browser: Browser, secured: System, keys: Keys
) -> None:
    operator = open_console(browser, secured, keys.write)
    colleague = open_console(browser, secured, keys.read)  # another client, read-only
    operator.locator("#sign-in-open").click()
    operator.get_by_label("Your name").fill("Dana Ops")
    operator.get_by_role("button", name="Save").click()
    expect(operator.locator("#connection")).to_contain_text("Live", timeout=15_000)

    donor = send_failed_donation(secured, keys)
    alert = operator.locator(card(operator, donor))
    expect(alert).to_contain_text("Failed donation of 75 USD", timeout=15_000)
    expect(alert).to_have_attribute("data-severity", "warning")
    expect(operator.locator("#open-counts")).to_contain_text("transaction.failed")
    operator.screenshot(path=ARTIFACTS / "1-alert-arrived.png")

    alert.get_by_role("button", name="Acknowledge").focus()  # by keyboard
    operator.keyboard.press("Enter")
    expect(alert).to_contain_text("acknowledged by on-call for Dana Ops", timeout=10_000)
    expect(operator.locator("#action-result")).to_contain_text("acknowledged")
    alert_id = alert.get_attribute("data-alert-id")
    seen = httpx.get(f"{secured.api_url}/v1/alerts/{alert_id}", headers=keys.header("read")).json()
    assert (seen["acknowledged_by"], seen["actions"][-1]["on_behalf_of"]) == ("on-call", "Dana Ops")
    expect(colleague.locator(card(colleague, donor))).to_contain_text(
        "acknowledged by on-call for Dana Ops", timeout=10_000
    )
    operator.screenshot(path=ARTIFACTS / "2-acknowledged.png")

    colleague.locator(card(colleague, donor)).get_by_role("button", name="Resolve").click()
    expect(colleague.locator("#action-result")).to_contain_text("can read but not act")

    alert.get_by_role("button", name=f"Journey of {donor}").click()
    journey = operator.locator("#constituent")
    expect(journey).to_be_visible()
    expect(journey.locator("#timeline li")).to_have_count(2)
    expect(journey.locator("#timeline")).to_contain_text("donation.failed")
    expect(journey.locator("#timeline")).to_contain_text("web.page_view")
    expect(journey.locator("#constituent-alerts")).to_contain_text("Failed donation of 75 USD")
    expect(journey.locator("svg.chart polyline[data-series='overall']")).to_have_count(1)
    expect(journey).to_contain_text("donation.failed")  # the explain table
    assert f"#/constituent/{donor}" in operator.url
    operator.screenshot(path=ARTIFACTS / "3-constituent-journey.png", full_page=True)


def test_a_team_sees_its_open_alerts_grouped_by_rule_and_acknowledges_a_group_at_once(
    browser: Browser, secured: System, keys: Keys
) -> None:
    donors = [send_failed_donation(secured, keys) for _ in range(3)]
    page = open_console(browser, secured, keys.write)
    for donor in donors:
        expect(page.locator(card(page, donor))).to_contain_text("team finance", timeout=15_000)
    expect(page.locator(card(page, donors[0]))).to_contain_text("open for")
    page.get_by_label("Team", exact=True).select_option("finance")  # my team: remembered by the browser
    page.get_by_label("Show", exact=True).select_option("grouped")
    group = page.locator("li.group[data-rule='failed-transaction']")
    expect(group).to_contain_text("failed-transaction ×", timeout=15_000)
    expect(group).to_contain_text("team finance")
    group.get_by_role("button", name=re.compile(r"^Show \d+ people$")).click()
    for donor in donors:
        expect(group.locator(card(page, donor))).to_be_visible(timeout=10_000)
    page.screenshot(path=ARTIFACTS / "2b-grouped-by-rule.png")
    group.get_by_role("button", name=re.compile(r"^Acknowledge all \d+$")).click()
    expect(page.locator("#action-result")).to_contain_text("acknowledged", timeout=10_000)
    expect(group).to_contain_text("0 unacknowledged", timeout=10_000)
    for donor in donors:
        listed = httpx.get(
            f"{secured.api_url}/v1/alerts", params={"constituent_id": donor}, headers=keys.header("read")
        ).json()["alerts"]
        assert [alert["acknowledged_by"] for alert in listed] == ["on-call"]
    page.reload()
    expect(page.get_by_label("Team", exact=True)).to_have_value("finance")


def test_recurring_gifts_being_recovered_are_listed_with_their_step_and_in_the_donors_journey(
    browser: Browser, secured: System, keys: Keys
) -> None:
    donor = f"r-{uuid.uuid4().hex[:8]}"
    gift = {"amount": 30, "currency": "USD", "recurring": True, "subscription": f"sub_{donor}"}
    for event in (
        touchpoint(donor, "donation.failed", **gift),
        touchpoint(donor, "email.sent", template="payment_recovery"),
        touchpoint(donor, "email.bounced", template="payment_recovery"),
    ):
        answer = httpx.post(f"{secured.ingest_url}/v1/events", json=event, headers=keys.header("ingest"))
        assert answer.status_code == 202, answer.text
    page = open_console(browser, secured, keys.read)
    row = page.locator(f"#recovery tr:has-text('{donor}')")
    expect(row).to_contain_text("email bounced", timeout=20_000)  # the side panel refreshes every 5 s
    expect(row).to_contain_text("30 USD")
    expect(page.locator("#recovery-steps")).to_contain_text("email bounced: ")
    expect(page.locator(card(page, donor)).first).to_contain_text("not being recovered", timeout=15_000)
    row.get_by_role("button", name=donor).click()
    expect(page.locator("#constituent-recovery")).to_contain_text("stalled: the recovery email bounced")
    page.screenshot(path=ARTIFACTS / "2c-recurring-recovery.png", full_page=True)


def test_the_mission_experience_page_charts_the_three_dimensions_maps_the_hand_offs_and_prints(
    browser: Browser, secured: System, keys: Keys
) -> None:
    donor = send_failed_donation(secured, keys)
    gift = touchpoint(donor, "donation.succeeded", amount=40)
    receipt = touchpoint(donor, "email.sent", template="receipt")
    gift["correlation_id"] = receipt["correlation_id"] = f"pay-{donor}"
    for event in (gift, receipt):
        assert (
            httpx.post(
                f"{secured.ingest_url}/v1/events", json=event, headers=keys.header("ingest")
            ).status_code
            == 202
        )
    deadline = time.monotonic() + 30  # the report windows are aggregated and published within seconds
    while time.monotonic() < deadline:
        matrix = httpx.get(f"{secured.api_url}/v1/reports/handoffs", headers=keys.header("read")).json()[
            "matrix"
        ]
        if any(row["rule"] == "donation-receipt" and row["in_time"] for row in matrix):
            break
        time.sleep(0.5)
    page = open_console(browser, secured, keys.read)  # the page keeps the key for the tab
    page.get_by_role("link", name="Mission Experience").click()
    expect(page.locator("#report-status")).to_contain_text("1 day with a touchpoint", timeout=15_000)
    expect(page.locator("#dimensions svg polyline")).to_have_count(3)
    cell = page.locator("#matrix td[data-pair='fundraising>marketing']")
    expect(cell).to_contain_text("0% (0 of 1)")
    expect(page.locator("#drivers-negative")).to_contain_text("donation.failed")
    expect(page.locator("#failed")).to_contain_text("card_declined")
    assert page.evaluate(CONTRAST_OF_EVERY_TEXT) == [], "text below WCAG AA contrast (4.5:1)"
    page.screenshot(path=ARTIFACTS / "6-mission-experience.png", full_page=True)
    page.emulate_media(media="print")
    expect(page.locator("#range")).to_be_hidden()
    page.screenshot(path=ARTIFACTS / "7-mission-experience-print.png", full_page=True)
    page.emulate_media(media="screen")
    cell.get_by_role("link").click()
    expect(page.get_by_label("Kind", exact=True)).to_have_value("handoff.broken")
    expect(page.get_by_label("Show", exact=True)).to_have_value("grouped")


def test_after_a_network_drop_the_page_says_so_and_resumes_without_missing_an_alert(
    browser: Browser, secured: System, keys: Keys
) -> None:
    page = open_console(browser, secured, keys.read)
    secured.kill("api")
    expect(page.locator("#connection")).to_contain_text("reconnecting", timeout=15_000)
    page.screenshot(path=ARTIFACTS / "4-connection-lost.png")
    donor = send_failed_donation(secured, keys)  # an alert is published while the page is away
    secured.start("api")
    expect(page.locator("#connection")).to_contain_text("Live (reconnected", timeout=30_000)
    expect(page.locator(card(page, donor))).to_contain_text("Failed donation", timeout=15_000)
    page.screenshot(path=ARTIFACTS / "5-resumed.png")


CONTRAST_OF_EVERY_TEXT = """() => {
  const channel = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const rgba = (text) => text.match(/[\\d.]+/g).map(Number);
  const background = (node) => {
    for (; node; node = node.parentElement) {
      const colour = rgba(getComputedStyle(node).backgroundColor);
      if (colour.length === 3 || colour[3] > 0) return colour.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const worst = [];
  for (const node of document.querySelectorAll("body *")) {
    const own = [...node.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim());
    if (!own || !node.checkVisibility() || node.closest(".visually-hidden")) continue;
    const [a, b] = [luminance(rgba(getComputedStyle(node).color)), luminance(background(node))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) worst.push(`${node.tagName}.${node.className}: ${ratio.toFixed(2)}`);
  }
  return worst;
}"""


def test_every_text_is_readable_and_every_control_named(
    browser: Browser, secured: System, keys: Keys
) -> None:
    send_failed_donation(secured, keys)
    page = open_console(browser, secured, keys.write)
    expect(page.locator("li.alert").first).to_be_visible(timeout=15_000)
    assert page.evaluate(CONTRAST_OF_EVERY_TEXT) == [], "text below WCAG AA contrast (4.5:1)"
    for name in ("Kind", "Severity", "Source", "Status", "Team", "Show"):
        expect(page.get_by_label(name, exact=True)).to_be_visible()
    for button in page.get_by_role("button").all():
        assert (button.text_content() or "").strip(), "a button without a name"
    page.reload()  # a fresh page (the key already accepted in this tab): no dialog took the focus
    expect(page.locator("#connection")).to_have_text("Live", timeout=15_000)
    page.keyboard.press("Tab")  # the first stop is the skip link
    expect(page.get_by_role("link", name="Skip to the alert feed")).to_be_focused()


def test_a_key_in_a_link_is_shown_by_name_and_used_only_once_accepted_and_the_page_breaks_no_policy(
    browser: Browser, secured: System, keys: Keys
) -> None:
    """Issue 34: the console took a #key= link from anyone (a planted key acts in its owner's name) without
    saying whose it was, and every load logged a CSP violation (a data: icon)."""
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.goto(f"{secured.api_url}/console/#key={keys.read}")
    dialog = page.locator("#linked-key")
    expect(dialog).to_be_visible(timeout=15_000)
    expect(page.locator("#linked-key-who")).to_have_text("dashboard (read)")
    assert "key=" not in page.url
    expect(page.locator("#connection")).not_to_have_text("Live", timeout=3_000)  # not used unasked
    page.locator("#linked-key-ignore").click()
    assert page.evaluate("sessionStorage.getItem('mission-pulse.key')") is None
    page.goto(f"{secured.api_url}/console/?again#key={keys.read}")  # a new load, not a fragment change
    page.locator("#linked-key-use").click(timeout=15_000)
    expect(page.locator("#connection")).to_have_text("Live", timeout=15_000)
    expect(page.locator("#sign-in-open")).to_have_text("Key: dashboard")
    page.screenshot(path=str(ARTIFACTS / "linked-key.png"))
    assert not [p for p in problems if "Content Security Policy" in p], problems
    page.close()
