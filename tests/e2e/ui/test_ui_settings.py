"""The admin views' key, and the Settings view in a real browser: accounts added with a live
key check and shown only masked, enabled, disabled and removed; gateway keys shown once and
revoked; the routing in effect."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.harness import FakeUpstream, Process
from tests.e2e.ui.support import ADMIN_KEY, Watch, shoot, start_ui_gateway, unlock

pytestmark = pytest.mark.e2e

PROVIDER_KEY = "gsk_ui_added_key_3c9f2a"


def storage(page: Page) -> str:
    """Everything the page keeps in the browser, as one string."""
    text: str = page.evaluate(
        "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
    )
    return text


def test_a_wrong_admin_key_is_refused_with_a_clear_message(
    page: Page, ui_gateway: Process, watch: Watch
) -> None:
    watch.expect("status of 401")
    page.goto(ui_gateway.url + "/ui#/settings")
    unlock(page, "settings", "not-the-admin-key")
    gate = page.locator("#view-settings form.gate")
    expect(gate.get_by_role("alert")).to_have_text(
        "The admin key was refused: The admin key is not valid."
    )
    expect(page.get_by_role("heading", name="Provider accounts")).to_be_hidden()
    assert "not-the-admin-key" not in storage(page)
    shoot(page, "admin-key-refused")

    unlock(page, "settings")
    expect(page.get_by_role("heading", name="Provider accounts")).to_be_visible()
    # Once per tab: the other admin views open without asking.
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("#view-dashboard form.gate")).to_be_hidden()
    expect(page.locator("#view-dashboard .provider").first).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('llm-agg.admin-key')") == ADMIN_KEY
    assert ADMIN_KEY not in page.evaluate("JSON.stringify(Object.entries(localStorage))")

    # A key that stops working (rotated on the server) is forgotten and asked for again.
    page.evaluate("sessionStorage.setItem('llm-agg.admin-key', 'rotated-away')")
    page.get_by_role("button", name="Refresh now").click()
    expect(page.locator("#view-dashboard form.gate [role=alert]")).to_contain_text(
        "The admin key was refused"
    )
    # And a new tab asks again: the key lived in this tab only.
    other = page.context.new_page()
    other.goto(ui_gateway.url + "/ui#/settings")
    expect(other.locator("#view-settings form.gate")).to_be_visible()
    other.close()


def test_an_account_added_in_settings_is_checked_live_then_shown_only_masked(
    page: Page, ui_gateway: Process, fake: FakeUpstream, watch: Watch
) -> None:
    watch.expect("status of 400")  # the refused key below
    page.goto(ui_gateway.url + "/ui#/settings")
    unlock(page, "settings")
    form = page.get_by_role("form", name="Add a provider account")
    group = form.get_by_label("Project or organisation (optional)", exact=True)
    form.get_by_label("Provider", exact=True).select_option("cerebras")
    expect(group).to_be_hidden()  # cerebras counts its quota per key
    form.get_by_label("Provider", exact=True).select_option("groq")
    form.get_by_label("Account name", exact=True).fill("work")
    form.get_by_label("API key", exact=True).fill(PROVIDER_KEY)
    form.get_by_label("Extra headers (optional)", exact=True).fill("X-Team: blue")
    group.fill("org-1")  # Groq's limits belong to the organisation
    form.get_by_role("button", name="Add account").click()

    status = page.locator("#settings-provider-accounts + .notice")
    expect(status).to_have_text("groq accepted the key. Added groq/work (gsk_…9f2a).")
    row = page.locator("tr[data-account='groq/work']")
    expect(row.locator("code.masked")).to_have_text("gsk_…9f2a")
    expect(row).to_contain_text("X-Team")
    expect(row.locator("td.quota-group")).to_have_text("org-1")
    expect(form.get_by_label("API key", exact=True)).to_have_value("")
    assert PROVIDER_KEY not in page.content()
    assert PROVIDER_KEY not in storage(page)
    shoot(page, "settings")

    # A key the provider refuses is not stored, and the page says why.
    fake.queue_models("groq", {"status": 401, "body": {"error": {"message": "Invalid API Key"}}})
    form.get_by_label("Account name", exact=True).fill("typo")
    form.get_by_label("API key", exact=True).fill("gsk_wrong_key_000000")
    form.get_by_role("button", name="Add account").click()
    expect(status).to_have_text("Not stored: groq refused the key: Invalid API Key.", timeout=10000)
    expect(page.locator("tr[data-account='groq/typo']")).to_have_count(0)

    # Checking an account again asks the provider now.
    row.get_by_role("button", name="Check key").click()
    expect(status).to_have_text("groq/work: groq accepted the key.")

    row.get_by_role("button", name="Disable").click()
    expect(row.locator(".badge")).to_have_text("disabled")
    row.get_by_role("button", name="Enable").click()
    expect(row.locator(".badge")).to_have_text("enabled")
    remove = row.get_by_role("button", name="Remove")
    remove.click()
    expect(remove).to_have_text("Sure? Remove")  # asks once more, without a modal
    remove.click()
    expect(page.locator("tr[data-account='groq/work']")).to_have_count(0)
    expect(status).to_have_text("groq/work removed.")


def test_a_gateway_key_is_shown_once_with_a_copy_button_and_can_be_revoked(
    page: Page, ui_gateway: Process
) -> None:
    page.goto(ui_gateway.url + "/ui#/settings")
    unlock(page, "settings")
    form = page.get_by_role("form", name="Create a gateway key")
    form.get_by_label("Name", exact=True).fill("laptop")
    form.get_by_label("Requests per minute (optional)", exact=True).fill("30")
    form.get_by_role("button", name="Create key").click()

    secret = page.locator(".new-key code.secret")
    expect(secret).to_have_text(re.compile(r"^sk-llmagg-\S{20,}$"))
    key = secret.inner_text()
    expect(page.locator(".new-key")).to_contain_text("cannot be shown again")
    page.locator(".new-key").get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == key
    assert key not in storage(page)
    shoot(page, "settings-new-key")

    # The key works on /v1 until it is revoked.
    models = ui_gateway.url + "/v1/models"
    assert httpx.get(models, headers={"authorization": f"Bearer {key}"}).status_code == 200
    page.get_by_role("button", name="I have kept it").click()
    expect(page.locator(".new-key")).to_be_hidden()
    assert key not in page.content()  # gone from the page for good
    row = page.locator("#view-settings tr", has_text="laptop")
    expect(row).to_contain_text(key[:14])
    revoke = row.get_by_role("button", name="Revoke")
    revoke.click()
    revoke.click()
    expect(row).to_have_count(0)
    assert httpx.get(models, headers={"authorization": f"Bearer {key}"}).status_code == 401


def test_settings_show_the_routing_in_effect(page: Page, ui_gateway: Process) -> None:
    page.goto(ui_gateway.url + "/ui#/settings")
    unlock(page, "settings")
    routing = page.get_by_role("region", name="Routing")
    balanced = routing.locator("details", has_text="balanced (default)")
    in_order = [re.compile(r"^groq/fake-model score [\d.]+$"), re.compile(r"^cerebras/fake-model")]
    expect(balanced.locator("li")).to_have_text(in_order)
    expect(balanced.locator("summary")).to_contain_text("weights: quality 3, speed 2")
    fastest = routing.locator("details", has_text="fastest")
    fastest.locator("summary").click()
    expect(fastest.locator("li")).to_have_text(in_order)
    expect(routing).to_contain_text("No routing rules in the catalog")
    shoot(page, "settings-routing")


RULES = """
providers:
  groq:
    models: [{id: fake-model, context: 8192, quality: 4, speed: 5}]
  cerebras:
    models: [{id: fake-model, context: 8192, quality: 3, speed: 4, tasks: [code]}]
routing_rules:
  - name: code to cerebras
    conditions: {task: code, content_keywords: [python]}
    provider_preferences: [cerebras]
    fallback_chain: [groq/fake-model]
"""


def test_settings_show_the_catalogs_routing_rules(
    page: Page, tmp_path: Path, fake: FakeUpstream
) -> None:
    gateway = start_ui_gateway(tmp_path, fake, RULES)
    try:
        page.goto(gateway.url + "/ui#/settings")
        unlock(page, "settings")
        rules = page.get_by_role("region", name=re.compile("^Routing rules"))
        expect(rules.locator("tbody tr")).to_have_count(1)
        expect(rules.locator("tbody tr td")).to_have_text(
            ["code to cerebras", "keywords: python; task: code", "cerebras", "groq/fake-model"]
        )
        shoot(page, "settings-rules")
    finally:
        gateway.stop()
