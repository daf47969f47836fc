"""The Analytics view in a real browser: the traffic just sent from the chat, and a week of
usage drawn as bars, charts over time and tables, by provider, model and key."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from llm_agg.store.base import UsageEvent
from tests.e2e.harness import FakeUpstream, Process
from tests.e2e.ui.support import Watch, data_dir, record_usage, shoot, stream, unlock

pytestmark = pytest.mark.e2e


def test_analytics_shows_the_traffic_just_sent_from_the_chat(
    page: Page, own_gateway: Process, fake: FakeUpstream, watch: Watch
) -> None:
    watch.expect("status of 429")  # the failed attempt, as the console reports it
    # GIVEN two replies from groq and a failed attempt on cerebras, all sent from the page,
    fake.queue("groq", {"chunks": stream("One.")}, {"chunks": stream("Two", " and more.")})
    fake.queue("cerebras", {"status": 429, "headers": {"retry-after": "30"}})
    page.goto(own_gateway.url + "/ui")
    for text in ("first", "second"):
        page.get_by_label("Message", exact=True).fill(text)
        page.get_by_label("Message", exact=True).press("Enter")
        expect(page.locator("article[data-role=assistant]").last).to_have_attribute(
            "data-state", "done", timeout=10000
        )
    page.get_by_label("Provider", exact=True).select_option("cerebras")
    page.get_by_label("Message", exact=True).fill("third")
    page.get_by_label("Message", exact=True).press("Enter")
    expect(page.locator("article[data-role=assistant]").last).to_have_attribute(
        "data-state", "error", timeout=10000
    )
    # WHEN the admin opens Analytics, THEN it counts them (usage is written within a second).
    page.goto(own_gateway.url + "/ui#/analytics")
    unlock(page, "analytics")
    table = page.get_by_role("region", name="Usage by provider")
    groq = table.locator("tr[data-group=groq] td")
    for _ in range(20):
        if groq.count() and groq.first.inner_text() == "2":
            break
        page.get_by_role("button", name="Show").click()
        page.wait_for_timeout(250)
    expect(groq).to_have_text(["2", "0", "24", "9", re.compile("ms$"), re.compile("ms$"), "0"])
    cerebras_errors = table.locator("tr[data-group=cerebras] td").nth(1)
    expect(cerebras_errors).to_have_text("1")  # the 429
    expect(cerebras_errors).to_have_attribute("title", "rate_limited: 1")
    expect(page.locator("#view-analytics .chart canvas")).to_have_count(4)
    shoot(page, "analytics-live")


def week(today: datetime) -> list[UsageEvent]:
    """A week of made-up traffic: groq every day and growing (one request of today served after
    a failover), cerebras some days with errors, two gateway keys."""
    events = []
    for back in range(7):
        day = (today - timedelta(days=back)).date().isoformat()
        groq = ("groq", "llama-3.3-70b", "env", "key_laptop")
        for i in range(7 - back):
            attempt = 2 if back == 0 and i == 0 else 1
            events.append(
                UsageEvent(day, *groq, True, 120, 40 + i, 300.0 + 40 * i, attempt=attempt)
            )
        if back % 2 == 0:
            cerebras = ("cerebras", "gpt-oss-120b", "work", "-")
            events.append(UsageEvent(day, *cerebras, True, 90, 30, 180.0))
            events.append(UsageEvent(day, *cerebras, False, 0, 0, 2500.0, "server"))
    return events


def test_analytics_draws_a_week_by_provider_model_and_key(
    page: Page, own_gateway: Process, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    record_usage(data_dir(tmp_path, own_gateway), week(now))
    key = httpx.post(
        own_gateway.url + "/admin/keys",
        json={"name": "laptop"},
        headers={"authorization": "Bearer sk-llmagg-admin-ui-e2e-5b7d019c3e8f"},
    ).json()
    page.goto(own_gateway.url + "/ui#/analytics")
    unlock(page, "analytics")

    tiles = page.locator("#view-analytics .tile")
    expect(tiles.nth(0).locator(".value")).to_have_text("36")  # 28 groq + 8 cerebras
    expect(tiles.nth(1).locator(".value")).to_have_text("4 (11.1%)")
    bars = page.locator("#view-analytics .bars li")
    expect(bars).to_have_count(2)
    expect(bars.first.locator(".name")).to_have_text("groq")
    charts = page.locator("#view-analytics .chart")
    expect(charts).to_have_count(4)
    expect(charts.locator("canvas")).to_have_count(4)
    expect(charts.first).to_have_attribute("aria-label", "Requests per day: groq, cerebras")
    table = page.get_by_role("region", name="Usage by provider")
    expect(table.locator("tr[data-group=groq] td")).to_have_text(
        ["28", "0", "3,360", "1,176", "500 ms", "500 ms", "1"]
    )
    expect(table.locator("tr[data-group=cerebras] td").first).to_have_text("8")
    expect(table.locator("tr[data-group=cerebras] td").nth(1)).to_have_attribute(
        "title", "server: 4"
    )
    expect(table.get_by_role("columnheader", name="Failovers")).to_be_visible()
    expect(table.locator("tr.total td").first).to_have_text("36")
    days = page.get_by_role("region", name="Usage by day (UTC)")
    expect(days.locator("tbody tr")).to_have_count(7)
    shoot(page, "analytics")
    page.emulate_media(color_scheme="dark")
    page.get_by_role("button", name="Show").click()  # charts take the dark palette when drawn
    expect(charts.locator("canvas")).to_have_count(4)
    shoot(page, "analytics-dark")
    page.emulate_media(color_scheme="light")

    page.get_by_label("Group by", exact=True).select_option("gateway_key")
    table = page.get_by_role("region", name="Usage by gateway key")
    expect(table.locator("tbody th")).to_have_text(
        ["key_laptop", "no key (open local server)", "Total"]
    )
    assert key["name"] == "laptop"  # key_laptop is not its id: shown as stored

    page.get_by_label("Group by", exact=True).select_option("model")
    expect(page.get_by_role("region", name="Usage by model").locator("tbody th")).to_have_text(
        ["groq/llama-3.3-70b", "cerebras/gpt-oss-120b", "Total"]
    )

    # Today only: the week before is left out.
    page.get_by_role("button", name="Today").click()
    expect(tiles.nth(0).locator(".value")).to_have_text("9")
