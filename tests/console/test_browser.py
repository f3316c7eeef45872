"""The console in a real browser: Debian's chromium driven by Playwright (never `playwright
install`). With UPDATE_SCREENSHOTS=1 the pages are also saved into docs/img/."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tryton_ops.client.errors import SessionExpired

from .conftest import ALICE_PASSWORD

pytestmark = pytest.mark.one_series

CHROMIUM = "/usr/bin/chromium"
IMG = Path(__file__).parents[2] / "docs" / "img"
SCREENSHOTS = os.environ.get("UPDATE_SCREENSHOTS") == "1"


def shot(page: Page, name: str) -> None:
    """docs/img/ops-<name>.png, rewritten only when asked (UPDATE_SCREENSHOTS=1, like
    UPDATE_GOLDEN; not TRYTON_OPS_*: those are tryton-ops settings)."""
    if SCREENSHOTS:
        IMG.mkdir(exist_ok=True)
        page.screenshot(path=str(IMG / f"ops-{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    # a login checks the password hash and the administrator in trytond: seconds on a busy CI
    expect.set_options(timeout=30_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def log_in(page: Page, url: str, login: str, password: str) -> None:
    page.goto(f"{url}ops/")
    page.fill("#login", login)
    page.fill("#password", password)
    page.click("button[type=submit]")


def open_page(page: Page, name: str) -> None:
    """Open a console page and wait until it has been drawn from its JSON."""
    before = page.locator("#main").get_attribute("data-loaded")
    page.evaluate(f"location.hash = {name!r}")
    page.wait_for_function(
        "before => document.querySelector('#main').dataset.loaded !== before",
        arg=before,
        timeout=30_000,
    )


def test_non_admin_is_refused(console, browser):
    page = browser.new_page()
    log_in(page, console.url, "alice", ALICE_PASSWORD)
    expect(page.locator("#login-error")).to_contain_text("reserved to administrators")
    shot(page, "login-refused")
    page.goto(f"{console.url}ops/static/index.html")
    assert "log in first" in page.content()
    page.close()


def test_admin_finds_saved_call_capture_flame_graph_and_kills_session(console, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    log_in(page, console.url, "admin", console.stack.database.password)
    expect(page.locator("#me")).to_contain_text("admin")

    # capture alice's calls from the console, then alice saves a party
    open_page(page, "capture")
    page.fill("#capture-login", "alice")
    page.fill("#capture-duration", "10m")
    page.click("#capture-on")
    expect(page.locator("#main table")).to_contain_text("alice")
    shot(page, "capture")
    alice = console.alice()
    [party] = alice.call("model.party.party.create", [{"name": "Browser party"}], {})
    deadline = time.monotonic() + 30
    while True:  # the workers see the activation within about a second
        alice.call("model.party.party.write", [party], {"name": "Browser party saved"}, {})
        found = page.request.get(
            f"{console.url}ops/api/calls?method=party.party.write&user=alice"
        ).json()["calls"]
        if any(c["full"] and c["profile"] for c in found) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert any(c["full"] and c["profile"] for c in found), found

    # the save among the recorded calls, with its SQL statements and its flame graph
    open_page(page, "calls?method=party.party.write&user=alice")
    shot(page, "calls")
    page.locator("#main tr.clickable", has_text="SQL + profile").first.click()
    expect(page.locator("#statements")).to_contain_text("UPDATE")
    expect(page.locator("#statements")).to_contain_text("party_party")
    flame = page.frame_locator("#flame")
    expect(flame.locator("canvas").first).to_be_visible()
    shot(page, "call")

    # live refresh: the traffic page counts new calls without a reload (refresh_s = 1 here)
    open_page(page, "traffic?since=15m")
    before = int(page.locator("#stat-calls").inner_text())
    for _ in range(3):
        alice.call("model.party.party.search_count", [], {})
    page.wait_for_function(
        "n => Number(document.querySelector('#stat-calls').textContent) >= n + 3",
        arg=before,
        timeout=30_000,
    )

    for name in ("traffic?since=15m", "methods", "findings", "cache", "system", "queue", "doctor"):
        open_page(page, name)
        expect(page.locator("#page-error")).to_have_count(0)
        if name.startswith("traffic"):
            expect(page.locator(".uplot").first).to_be_visible()
        shot(page, name.split("?")[0])
    # sortable: clicking a column header orders the methods by it
    open_page(page, "methods")
    page.click("th[data-key=count]")
    counts = [int(t) for t in page.locator("#main tbody tr td:nth-child(2)").all_inner_texts()]
    assert counts == sorted(counts, reverse=True)

    # kill alice's sessions from the console: her next call is refused
    open_page(page, "sessions")
    expect(page.locator("#main table")).to_contain_text("alice")
    shot(page, "sessions")
    page.click("button[data-login=alice]")
    page.wait_for_function(
        "() => !document.querySelector('button[data-login=alice]')", timeout=30_000
    )
    with pytest.raises(SessionExpired):
        alice.call("model.party.party.search_count", [], {})
    page.close()
