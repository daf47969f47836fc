"""What the page tests share: the gateway's environment, streams to script, the admin key
typed in, screenshots, and a watch on the page's errors."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from playwright.sync_api import ConsoleMessage, Page

from llm_agg.settings import Settings
from llm_agg.store.base import UsageEvent
from llm_agg.store.factory import open_stores
from tests.e2e.harness import ROOT, FakeUpstream, Process, start_gateway

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts" / "ui"
ADMIN_KEY = "sk-llmagg-admin-ui-e2e-5b7d019c3e8f"


def gateway_env(fake: FakeUpstream) -> dict[str, str]:
    return {**fake.provider_env("e2e_test_key"), "LLM_AGG_ADMIN_KEY": ADMIN_KEY}


def start_ui_gateway(
    tmp: Path, fake: FakeUpstream, catalog: str | None = None, *extra: str
) -> Process:
    """A gateway of a test's own, on the e2e catalog or on ``catalog`` (YAML text), with
    ``extra`` arguments to ``llm-agg serve``."""
    env = gateway_env(fake)
    if catalog is not None:
        path = tmp / "providers.yaml"
        path.write_text(catalog)
        env["LLM_AGG_CONFIG"] = str(path)
    return start_gateway(tmp, env, *extra)


def data_dir(tmp: Path, gateway: Process) -> Path:
    """Where ``start_gateway(tmp, …)`` put this gateway's store."""
    return tmp / f"data-{gateway.url.rsplit(':', 1)[1]}"


def stream(*parts: str, model: str = "fake-model") -> list[dict[str, Any]]:
    """The chunks of a streamed reply whose content arrives in ``parts``."""
    base = {"id": "chatcmpl-ui", "object": "chat.completion.chunk", "created": 0, "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    usage = {"prompt_tokens": 12, "completion_tokens": 3 * len(parts), "total_tokens": 0}
    return [
        chunk({"role": "assistant", "content": ""}),
        *(chunk({"content": part}) for part in parts),
        chunk({}, "stop"),
        {**base, "choices": [], "usage": usage},
    ]


def unlock(page: Page, view: str, key: str = ADMIN_KEY) -> None:
    """Type the admin key into the view's gate, as a person would."""
    gate = page.locator(f"#view-{view} form.gate")
    gate.get_by_label("Admin key").fill(key)
    gate.get_by_role("button", name="Unlock").click()


def shoot(page: Page, name: str, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.evaluate("window.scrollTo(0, 0)")  # else the sticky header lands mid-picture
    page.screenshot(path=str(path), full_page=full_page)
    return path


def wait_until(condition: Any, timeout: float = 10.0, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not true within {timeout}s: {condition}")


class Watch:
    """Uncaught errors, console errors and CSP violations of a page. Some failures are the
    test's own doing (a wrong key is a 401 the console reports): ``expect`` names them."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.expected: list[str] = []

    def attach(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"console: {message.text} at {message.location.get('url')}")

    def expect(self, text: str) -> None:
        self.expected.append(text)

    def check(self) -> None:
        left = [p for p in self.problems if not any(e in p for e in self.expected)]
        assert not left, "the page reported errors:\n" + "\n".join(left)


def record_usage(data_dir: Path, events: list[UsageEvent]) -> None:
    """Write usage straight into a running gateway's store (SQLite: safe beside its process)."""
    stores = open_stores(Settings(data_dir=data_dir))
    try:
        stores.usage.record(events)
    finally:
        stores.close()
