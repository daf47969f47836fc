"""The web page in headless Chromium (Debian's, through Playwright) against a real
``llm-agg serve`` and the fake upstream: one browser for all these tests, a fresh context per
test.

Playwright's sync API keeps an asyncio loop running in this thread while it is started, so it
lives only as long as this package's tests: the async tests that follow need the thread back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.e2e.harness import FakeUpstream, Process, start_gateway
from tests.e2e.ui.support import CHROMIUM, Watch, gateway_env, start_ui_gateway


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs it (Debian's chromium).")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=[
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    )
    yield browser
    browser.close()


@pytest.fixture(scope="package")
def ui_gateway(e2e_tmp: Path, fake: FakeUpstream) -> Iterator[Process]:
    """The gateway most page tests share: groq and cerebras at the fake, an admin key."""
    process = start_gateway(e2e_tmp, gateway_env(fake))
    yield process
    process.stop()


@pytest.fixture
def own_gateway(tmp_path: Path, fake: FakeUpstream) -> Iterator[Process]:
    """A gateway of the test's own, for what would disturb the others (a cooldown)."""
    process = start_ui_gateway(tmp_path, fake)
    yield process
    process.stop()


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def page(browser: Browser, watch: Watch) -> Iterator[Page]:
    """A page in a fresh context (its own sessionStorage and localStorage). The test fails if
    the page threw, logged an error or broke its Content-Security-Policy."""
    context = browser.new_context(viewport={"width": 1200, "height": 860})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    watch.attach(page)
    yield page
    context.close()
    watch.check()
