"""The Chat view in a real browser: pickers from /v1/models, a reply that streams in as
Markdown, the stop button, who served the reply, the conversation kept, and a hostile reply
that stays inert."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.harness import FakeUpstream, Process
from tests.e2e.ui.support import ADMIN_KEY, Watch, shoot, start_ui_gateway, stream, wait_until

pytestmark = pytest.mark.e2e

REPLY = "article[data-role=assistant]"


def ask(page: Page, text: str) -> None:
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_label("Message", exact=True).press("Enter")


def test_pickers_list_the_gateways_models_and_providers(page: Page, ui_gateway: Process) -> None:
    page.goto(ui_gateway.url + "/ui")
    model = page.get_by_label("Model")
    expect(model.locator("option")).to_have_text(["auto", "groq/fake-model", "cerebras/fake-model"])
    expect(page.get_by_label("Provider").locator("option")).to_have_text(
        ["Any provider", "cerebras", "groq"]
    )
    expect(page.get_by_label("Quality (for auto)").locator("option")).to_have_text(
        ["Server default", "Fastest", "Balanced", "Best quality"]
    )
    page.get_by_label("Provider").select_option("cerebras")
    expect(model.locator("option")).to_have_text(["auto", "cerebras/fake-model"])
    model.select_option("cerebras/fake-model")
    expect(page.get_by_label("Quality (for auto)")).to_be_disabled()


def test_reply_streams_in_progressively_as_markdown_and_names_who_served_it(
    page: Page, ui_gateway: Process, fake: FakeUpstream
) -> None:
    parts = [
        "First **part**. ",
        "Second part. ",
        "Some code:\n\n```python\nprint('hi')\n```\n",
        "The end.",
    ]
    fake.queue("groq", {"chunks": stream(*parts), "delay": 0.4})
    page.goto(ui_gateway.url + "/ui")
    ask(page, "Tell me in parts")
    reply = page.locator(REPLY).last
    body = reply.locator(".body")

    # GIVEN a reply arriving every 0.4 s, THEN the page shows it part by part while streaming.
    expect(body).to_contain_text("First part.", timeout=5000)
    assert reply.get_attribute("data-state") == "streaming"
    assert "The end." not in body.inner_text()
    expect(body.locator("strong")).to_have_text("part")  # Markdown, while it streams
    expect(page.get_by_role("button", name="Stop")).to_be_enabled()
    shoot(page, "chat-streaming")
    expect(body).to_contain_text("Second part.")
    assert "The end." not in body.inner_text()

    expect(reply).to_have_attribute("data-state", "done", timeout=10000)
    expect(body).to_contain_text("The end.")
    expect(body.locator(".code pre code.hljs")).to_have_text("print('hi')")
    expect(body.locator(".code .hljs-built_in")).to_have_text("print")  # highlighted
    meta = reply.locator(".meta")
    expect(meta.locator("[data-field=provider]")).to_have_text("groq")
    expect(meta.locator("[data-field=model]")).to_have_text("fake-model")
    expect(meta.locator("[data-field=attempts]")).to_have_text("1 attempt")
    expect(meta.locator("[data-field=tokens]")).to_have_text("12 → 12 tokens")
    expect(page.get_by_role("button", name="Stop")).to_be_disabled()

    # The copy button puts the code, as text, on the clipboard.
    body.get_by_role("button", name="Copy python code").click()
    assert page.evaluate("navigator.clipboard.readText()") == "print('hi')\n"
    shoot(page, "chat")


def test_failover_shows_every_attempt_in_the_reply(
    page: Page, ui_gateway: Process, fake: FakeUpstream
) -> None:
    fake.queue("groq", {"status": 500})
    fake.queue("cerebras", {"chunks": stream("Served by the second.")})
    page.goto(ui_gateway.url + "/ui")
    ask(page, "anyone?")
    reply = page.locator(REPLY).last
    expect(reply).to_have_attribute("data-state", "done", timeout=10000)
    expect(reply.locator("[data-field=provider]")).to_have_text("cerebras")
    expect(reply.locator("[data-field=attempts]")).to_have_text("2 attempts")


def test_stop_aborts_the_stream_up_to_the_provider(
    page: Page, ui_gateway: Process, fake: FakeUpstream
) -> None:
    fake.queue("groq", {"chunks": stream(*[f"word{i} " for i in range(40)]), "delay": 0.25})
    page.goto(ui_gateway.url + "/ui")
    ask(page, "Talk for a long time")
    reply = page.locator(REPLY).last
    expect(reply.locator(".body")).to_contain_text("word1", timeout=5000)
    page.get_by_role("button", name="Stop").click()
    expect(reply).to_have_attribute("data-state", "stopped")
    expect(reply.locator("[data-field=state]")).to_have_text("stopped")
    # The gateway let go of the upstream stream too: the provider saw the client leave.
    wait_until(lambda: fake.disconnects() >= 1, timeout=10)
    shown = reply.locator(".body").inner_text()
    page.wait_for_timeout(600)
    assert reply.locator(".body").inner_text() == shown  # nothing more arrives
    assert "word39" not in shown


def test_conversation_is_kept_in_the_browser_and_sent_back_as_history(
    page: Page, ui_gateway: Process, fake: FakeUpstream
) -> None:
    page.goto(ui_gateway.url + "/ui")
    ask(page, "My name is Ada.")
    expect(page.locator(REPLY).last).to_have_attribute("data-state", "done", timeout=10000)
    page.reload()
    expect(page.locator("article[data-role=user] .body")).to_have_text(["My name is Ada."])
    expect(page.locator(REPLY)).to_contain_text("Hello from groq: My name is Ada.")
    ask(page, "What is my name?")
    expect(page.locator(REPLY).last).to_have_attribute("data-state", "done", timeout=10000)
    sent = fake.received()[-1]["body"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[0]["content"] == "My name is Ada."
    page.get_by_role("button", name="New chat").click()
    expect(page.locator("article")).to_have_count(0)
    page.reload()
    expect(page.locator("article")).to_have_count(0)


HOSTILE = [
    "Look: <img src=x onerror=\"window.__xss='img'\"> ",
    "<script>window.__xss='script'</script>",
    "[click me](javascript:window.__xss='md-link') ",
    '<a href="javascript:window.__xss=\'a\'" id="lure">html link</a> ',
    "<svg onload=\"window.__xss='svg'\"></svg>",
    "<iframe src=\"javascript:window.__xss='iframe'\"></iframe>",
    '<p style="position:fixed;inset:0" onclick="window.__xss=\'p\'">cover</p>',
    '<a href="data:text/html,<script>alert(1)</script>">data</a>',
    "![pixel](https://tracker.example/p.png)",
]


def test_a_hostile_reply_is_inert_and_leaves_the_console_clean(
    page: Page, ui_gateway: Process, fake: FakeUpstream
) -> None:
    """Nothing runs, and the CSP never has to say no: the reply's own HTML is never parsed
    (the page fixture fails the test on any console error, a CSP report included)."""
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation',"
        " (e) => (window.__csp ||= []).push(e.violatedDirective + ' ' + e.sourceFile))"
    )
    fake.queue("groq", {"chunks": stream(*HOSTILE), "delay": 0.05})
    page.goto(ui_gateway.url + "/ui")
    ask(page, "say something nasty")
    reply = page.locator(REPLY).last
    expect(reply).to_have_attribute("data-state", "done", timeout=10000)
    body = reply.locator(".body")
    expect(body).to_contain_text("html link")
    body.get_by_text("html link").click()  # its javascript: address is gone: plain text now
    body.get_by_text("click me").click()
    body.get_by_text("cover").click()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    assert page.evaluate("window.__csp") is None
    expect(body).to_contain_text("<img src=x onerror=\"window.__xss='img'\">")  # as written
    found = page.evaluate(
        """(root) => {
            const all = [...root.querySelectorAll('*')];
            return {
              handlers: all.flatMap(el => [...el.attributes].map(a => a.name))
                           .filter(n => n.startsWith('on')),
              styles: all.filter(el => el.hasAttribute('style')).length,
              ids: all.filter(el => el.id).length,
              scripts: root.querySelectorAll('script, iframe, svg, object, embed').length,
              hrefs: [...root.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
              images: [...root.querySelectorAll('img')].map(i => i.getAttribute('src')),
            };
        }""",
        body.element_handle(),
    )
    assert found["handlers"] == [] and found["styles"] == 0 and found["ids"] == 0
    assert found["scripts"] == 0
    assert not [h for h in found["hrefs"] if not h.startswith(("http:", "https:", "#"))]
    assert found["images"] == []  # shown as links: the reply makes the browser fetch nothing
    expect(body.get_by_role("link", name="image: pixel")).to_have_attribute(
        "href", "https://tracker.example/p.png"
    )
    shoot(page, "chat-hostile-reply")


def test_a_gateway_that_needs_a_key_asks_for_one_and_keeps_it_in_the_tab(
    page: Page, tmp_path: Path, fake: FakeUpstream, watch: Watch
) -> None:
    watch.expect("status of 401")
    gateway = start_ui_gateway(tmp_path, fake, None, "--require-auth")
    try:
        made = httpx.post(
            gateway.url + "/admin/keys",
            json={"name": "browser"},
            headers={"authorization": f"Bearer {ADMIN_KEY}"},
        ).json()
        page.goto(gateway.url + "/ui")
        form = page.get_by_role("form", name="Gateway key")
        expect(form).to_contain_text("This gateway needs a gateway key")
        form.get_by_label("Gateway key", exact=True).fill("sk-llmagg-not-a-real-key-0000")
        form.get_by_role("button", name="Use this key").click()
        expect(form).to_contain_text("not valid")
        form.get_by_label("Gateway key", exact=True).fill(made["key"])
        form.get_by_role("button", name="Use this key").click()
        expect(form).to_be_hidden()
        expect(page.get_by_label("Model", exact=True).locator("option")).to_have_count(3)
        ask(page, "with a key")
        reply = page.locator(REPLY).last
        expect(reply).to_have_attribute("data-state", "done", timeout=10000)
        expect(reply.locator(".body")).to_have_text("Hello from groq: with a key")
        assert page.evaluate("sessionStorage.getItem('llm-agg.gateway-key')") == made["key"]
        assert made["key"] not in page.evaluate("JSON.stringify(Object.entries(localStorage))")
    finally:
        gateway.stop()
