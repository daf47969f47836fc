"""The Dashboard in a real browser: every provider and account, and a cooldown appearing by
itself after an upstream 429."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.harness import FakeUpstream, Process
from tests.e2e.ui.support import shoot, unlock

pytestmark = pytest.mark.e2e


def test_dashboard_shows_each_account_then_its_cooldown_after_an_upstream_429(
    page: Page, own_gateway: Process, fake: FakeUpstream
) -> None:
    page.goto(own_gateway.url + "/ui#/dashboard")
    unlock(page, "dashboard")
    groq = page.locator("#view-dashboard section[data-provider=groq]")
    expect(groq.locator("h2")).to_have_text("groq configured")
    account = groq.locator("tr[data-account=env]")
    expect(account.locator("td").nth(1)).to_have_text("yes")  # healthy
    expect(account.locator("[data-field=cooling]")).to_have_text("—")
    expect(page.locator("#view-dashboard section[data-provider=anthropic]")).to_contain_text(
        "not configured"
    )
    expect(page.locator("#view-dashboard .summary")).to_have_text(
        "2 of 6 providers configured · 2 of 2 accounts healthy"
    )

    # GIVEN groq answers 429 with a Retry-After, WHEN a request goes through the gateway,
    # THEN the dashboard shows groq cooling down, by itself (it refreshes every 5 s).
    fake.queue("groq", {"status": 429, "headers": {"retry-after": "120"}})
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
    served = httpx.post(own_gateway.url + "/v1/chat/completions", json=body, timeout=10)
    assert served.headers["x-llm-agg-provider"] == "cerebras"
    cooling = account.locator("[data-field=cooling]")
    expect(cooling).to_contain_text("until", timeout=8000)
    expect(cooling).to_contain_text("(in 1m")
    expect(account.locator("td").nth(1)).to_have_text("no")
    expect(page.locator("#view-dashboard .summary")).to_have_text(
        "2 of 6 providers configured · 1 of 2 accounts healthy · 1 cooling down"
    )
    shoot(page, "dashboard")
