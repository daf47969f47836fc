"""The order a host's addresses are tried in (happy eyeballs, RFC 8305): families alternate,
the resolver's first family first."""

from __future__ import annotations

import socket

from llm_agg.http_transport.connect import _interleave

V4, V6 = socket.AF_INET, socket.AF_INET6


def info(family: int, host: str) -> tuple[int, int, int, str, tuple[str, int]]:
    return (family, socket.SOCK_STREAM, 6, "", (host, 443))


def test_families_alternate_starting_with_the_resolvers_first() -> None:
    resolved = [info(V6, "::1"), info(V6, "::2"), info(V4, "1.0.0.1"), info(V4, "1.0.0.2")]
    ordered = [entry[4][0] for entry in _interleave(resolved)]
    assert ordered == ["::1", "1.0.0.1", "::2", "1.0.0.2"]


def test_one_family_keeps_the_resolvers_order() -> None:
    resolved = [info(V4, "1.0.0.2"), info(V4, "1.0.0.1")]
    assert _interleave(resolved) == resolved
