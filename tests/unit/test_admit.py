"""Admission of a target (``Accounting.admit``): a parked key is turned down with what
``blocked`` says of it, a cooldown with its reset; anything else goes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_agg.limits.cooldown import Cooldown
from llm_agg.limits.quota import Admission
from llm_agg.providers.accounts import Account
from llm_agg.providers.base import Target
from llm_agg.runtime import Runtime
from llm_agg.settings import Settings


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    made = Runtime(Settings(data_dir=tmp_path, environ={}))
    yield made
    asyncio.run(made.aclose())


def admit(runtime: Runtime, key: str = "k") -> Admission:
    target = Target(runtime.specs["groq"], "m", Account("groq", "env", key))
    return asyncio.run(runtime.accounting.admit(target, 10))


def test_a_target_nothing_holds_back_is_admitted(runtime: Runtime) -> None:
    assert admit(runtime).ok


@pytest.mark.parametrize(
    ("reason", "message", "said"),
    [("key_refused", "401 bad key", "key refused: 401 bad key"), ("no_credits", "", "no credits")],
)
def test_a_parked_key_is_turned_down_as_blocked_says(
    runtime: Runtime, reason: str, message: str, said: str
) -> None:
    runtime.quota.circuits.park("groq", "env", "k", reason, message)
    admission = admit(runtime)
    assert (admission.ok, admission.until, admission.reason) == (False, None, said)
    target = Target(runtime.specs["groq"], "m", Account("groq", "env", "k"))
    blocked = runtime.accounting.blocked(target)
    assert blocked is not None and blocked.refused and blocked.reason == said
    assert admit(runtime, key="a-new-key").ok  # the account's new key is not the one refused


def test_a_cooling_target_is_turned_down_until_its_reset(runtime: Runtime) -> None:
    until = time.time() + 60
    runtime.quota.cooldowns.add(Cooldown("groq", "env", "m", until, "rate limited"))
    admission = admit(runtime)
    assert (admission.ok, admission.until, admission.reason) == (False, until, "rate limited")


def test_admission_starts_the_quota_s_refresh_when_due_and_only_then(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[str] = []
    quota = runtime.quota
    monkeypatch.setattr(quota, "_forget", lambda: started.append("refresh"))
    quota.refreshed = time.monotonic() - quota.refresh_every  # due
    assert admit(runtime).ok
    assert started == ["refresh"]
    assert time.monotonic() - quota.refreshed < quota.refresh_every
    assert admit(runtime).ok  # not due again yet
    assert started == ["refresh"]
