"""`llm-agg serve` is open only when bound to loopback; anywhere else keys are required."""

from __future__ import annotations

import pytest

from llm_agg_local.serve import is_loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost"])
def test_loopback_hosts_may_serve_without_keys(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "myhost.lan"])
def test_any_other_host_requires_keys(host: str) -> None:
    assert not is_loopback(host)
