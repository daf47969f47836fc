"""The Dashboard in a real browser: every provider and account with its quota and requests
today, the free capacity of the configured keys, and a cooldown appearing by itself after an
upstream 429."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from llm_agg.providers.registry import BUILTIN
from tests.e2e.harness import FakeUpstream, Process
from tests.e2e.ui.support import shoot, start_ui_gateway, unlock

pytestmark = pytest.mark.e2e

LIMITED = """
providers:
  groq:
    timeout: 2
    models: [{id: fake-model, context: 8192, quality: 4, speed: 5, limits: {rpm: 30, rpd: 500}}]
  cerebras:
    timeout: 2
    models: [{id: fake-model, context: 8192, quality: 3, speed: 4}]
"""
CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def gateway(tmp_path: Path, fake: FakeUpstream) -> Iterator[Process]:
    process = start_ui_gateway(tmp_path, fake, LIMITED)
    yield process
    process.stop()


def test_dashboard_shows_each_account_then_its_cooldown_after_an_upstream_429(
    page: Page, gateway: Process, fake: FakeUpstream
) -> None:
    served = httpx.post(gateway.url + "/v1/chat/completions", json=CHAT, timeout=10)
    assert served.headers["x-llm-agg-provider"] == "groq"
    page.goto(gateway.url + "/ui#/dashboard")
    unlock(page, "dashboard")
    groq = page.locator("#view-dashboard section[data-provider=groq]")
    expect(groq.locator("h2")).to_have_text("groq configured")
    account = groq.locator("tr[data-account=env]")
    expect(account.locator("[data-field=state]")).to_have_text("healthy")
    expect(account.locator("[data-field=cooling]")).to_have_text("—")
    expect(account.locator("[data-field=quota]")).to_contain_text("29 / 30 rpm")
    expect(account.locator("[data-field=quota]")).to_contain_text("499 / 500 rpd")
    expect(account.locator("td.num")).to_have_text("1", timeout=8000)  # requests today
    expect(page.locator("#view-dashboard section[data-provider=anthropic]")).to_contain_text(
        "not configured"
    )
    expect(page.locator("#view-dashboard section[data-provider=gemini]")).to_contain_text(
        "set GEMINI_API_KEY (or GOOGLE_API_KEY)."
    )
    expect(page.locator("#view-dashboard .summary")).to_have_text(
        f"2 of {len(BUILTIN)} providers configured · 2 of 2 accounts healthy"
    )
    # What the keys are worth: the free windows of each configured model, left of the total.
    free = page.locator("#view-dashboard section.capacity tr[data-provider=groq]")
    expect(free.locator("[data-field=quotas]")).to_have_text("1 (1 key, per account)")
    expect(free.locator("[data-window=rpm]")).to_have_text("29 / 30")
    expect(free.locator("[data-window=rpd]")).to_have_text("499 / 500")

    # GIVEN groq answers 429 with a Retry-After, WHEN a request goes through the gateway,
    # THEN the dashboard shows groq cooling down, by itself (it refreshes every 5 s).
    fake.queue("groq", {"status": 429, "headers": {"retry-after": "120"}})
    served = httpx.post(gateway.url + "/v1/chat/completions", json=CHAT, timeout=10)
    assert served.headers["x-llm-agg-provider"] == "cerebras"
    cooling = account.locator("[data-field=cooling]")
    expect(cooling).to_contain_text("fake-model until", timeout=8000)  # the model's window
    expect(cooling).to_contain_text("(in 1m")
    expect(cooling).to_contain_text("429")  # why, as the router put it
    expect(page.locator("#view-dashboard .summary")).to_contain_text("1 cooling down")
    shoot(page, "dashboard")


def test_dashboard_shows_a_failing_provider_with_its_last_error_and_until_when(
    page: Page, gateway: Process, fake: FakeUpstream
) -> None:
    # GIVEN groq answers 503 three times in a row (requests forced to it),
    down = {"status": 503, "body": {"error": {"message": "Service Unavailable"}}}
    fake.queue("groq", down, down, down)
    for _ in range(3):
        forced = httpx.post(
            gateway.url + "/v1/chat/completions", json={**CHAT, "provider": "groq"}, timeout=10
        )
        assert forced.status_code == 502
    # WHEN the dashboard is opened, THEN groq's account is failing until its circuit's end,
    # with the last error, when it came and how many in a row.
    page.goto(gateway.url + "/ui#/dashboard")
    unlock(page, "dashboard")
    account = page.locator("#view-dashboard section[data-provider=groq] tr[data-account=env]")
    state = account.locator("[data-field=state]")
    expect(state).to_contain_text("failing")
    expect(state).to_contain_text("until")
    error = account.locator("td.last-error")
    expect(error).to_contain_text("HTTP 503")
    expect(error).to_contain_text("3 in a row")
    expect(page.locator("#view-dashboard .summary")).to_contain_text("1 failing")
