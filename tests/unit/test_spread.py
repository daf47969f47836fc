"""The order a request tries its targets in (``dispatch._Spread``): the router's, until a
failure ranks a provider or an account down. Before any failure ``next`` takes the first
pending target without ranking them (issue 17): the same order the ranking gives."""

from __future__ import annotations

import random

from llm_agg.dispatch import _Spread
from llm_agg.providers.base import Target
from llm_agg.providers.failures import FailureKind, UpstreamFailure
from tests.support.native import target


def drained(spread: _Spread) -> list[Target]:
    out = []
    while (t := spread.next()) is not None:
        out.append(t)
    return out


def ranked(targets: list[Target]) -> _Spread:
    """A spread that ranks from its first target on: a fault of a provider that is not among
    them is known, which ranks none of them down."""
    spread = _Spread(targets, lambda t: False)
    spread.sick["nobody"] = 0
    return spread


def test_before_any_failure_the_targets_come_in_the_routers_order() -> None:
    rng = random.Random(17)
    pool = [target(p, m) for p in ("groq", "cerebras", "mistral") for m in ("a", "b")]
    for _ in range(200):
        targets = [rng.choice(pool) for _ in range(rng.randint(0, 6))]  # repeats too
        assert drained(_Spread(targets, lambda t: False)) == targets
        assert drained(ranked(targets)) == targets


def test_a_failed_provider_is_tried_after_the_others() -> None:
    targets = [target("groq", "a"), target("groq", "b"), target("cerebras", "a")]
    spread = _Spread(targets, lambda t: False)
    first = spread.next()
    assert first == targets[0]
    spread.failed(first, UpstreamFailure(FailureKind.SERVER, 500, "down"))
    assert drained(spread) == [targets[2], targets[1]]
    assert spread.next() is None
