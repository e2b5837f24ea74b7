"""The page in a real browser: headless Chromium (Debian's package) driven by Playwright.

No browser is downloaded: Playwright drives /usr/bin/chromium, installed with apt-get when it is
missing and we are root, as dev/stack.py does for PostgreSQL and nginx.
"""

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, WebSocketRoute, expect, sync_playwright

from dev.stack import apt_install

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
TIMEOUT_MS = 10_000


def ensure_chromium() -> None:
    if CHROMIUM.exists():
        return
    try:
        apt_install(["chromium"])  # as root on Debian; otherwise it says what to install
    except SystemExit as missing:
        pytest.fail(f"this test needs Debian's chromium: {missing}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    ensure_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def settled_count(page: Page, quiet: float = 0.7, timeout: float = 15) -> int:
    """The count the page shows once it has not changed for `quiet` seconds."""
    count = page.locator("#count")
    expect(count).to_have_text(re.compile(r"^\d+$"), timeout=TIMEOUT_MS)
    deadline = time.monotonic() + timeout
    shown, since = count.text_content(), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, "the count on the page never settled"
        time.sleep(0.05)
        now = count.text_content()
        if now != shown:
            shown, since = now, time.monotonic()
    assert shown is not None
    return int(shown)


def test_two_pages_see_two_then_one(browser: Browser, base_url: str) -> None:
    first = browser.new_page()
    first.goto(base_url + "/")
    expect(first.locator("#status")).to_have_attribute("data-state", "connected", timeout=TIMEOUT_MS)
    base = settled_count(first) - 1  # everyone but this test's pages

    second = browser.new_page()
    second.goto(base_url + "/")
    for page in (first, second):
        expect(page.locator("#count")).to_have_text(str(base + 2), timeout=TIMEOUT_MS)
    second.close()
    expect(first.locator("#count")).to_have_text(str(base + 1), timeout=TIMEOUT_MS)
    first.close()


def test_the_page_says_when_it_is_disconnected_and_reconnects(browser: Browser, base_url: str) -> None:
    # The page's socket goes through Playwright's route to the real server, so the test can cut it.
    routes: list[WebSocketRoute] = []

    def through(route: WebSocketRoute) -> None:
        route.connect_to_server()
        routes.append(route)

    page = browser.new_page()
    page.route_web_socket(re.compile(r"/counter$"), through)
    page.goto(base_url + "/")
    status = page.locator("#status")
    expect(status).to_have_attribute("data-state", "connected", timeout=TIMEOUT_MS)
    expect(page.locator("#count")).to_have_text(re.compile(r"^\d+$"), timeout=TIMEOUT_MS)

    routes[-1].close(code=1001, reason="test cuts the socket")
    expect(status).to_have_attribute("data-state", "disconnected", timeout=TIMEOUT_MS)
    expect(status).to_contain_text("disconnected")
    expect(page.locator("#count")).to_have_class(re.compile(r"\bstale\b"))  # dimmed: not live
    # Backoff starts under a second; the page comes back by itself and shows a count again.
    expect(status).to_have_attribute("data-state", "connected", timeout=TIMEOUT_MS)
    assert len(routes) == 2
    expect(page.locator("#count")).not_to_have_class(re.compile(r"\bstale\b"))
    page.close()
