"""Whether a 429 is a quota spent for hours, not a burst: then its whole scope is parked until
the reset, not cooled for a minute.

A reset hours away says so, wherever the provider puts it: ``Retry-After``, the exhausted
window's ``X-RateLimit-Reset`` (OpenRouter's ``free-models-per-day`` sends ``Retry-After: 60``
with a reset at midnight, in epoch milliseconds), or the same headers repeated in its error
body. A provider's error mapping that knows better (a quota named in its body, as Gemini's)
sets ``UpstreamFailure.parking`` itself, and that stands.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from llm_agg.limits.headers import retry_after
from llm_agg.providers.failures import FailureKind, UpstreamFailure
from llm_agg.providers.parking import Parking

LONG_QUOTA = 3600.0  # a 429 whose reset is at least this far away is a spent quota
# OpenRouter names the quota in its message ("Rate limit exceeded: free-models-per-day. ...");
# only the name shown to people is taken from there, never the decision.
_QUOTA_NAME = re.compile(r"exceeded: ([a-z0-9-]+)")


def _waits(headers: Mapping[str, str], now: float) -> list[float]:
    lowered = {k.lower(): v for k, v in headers.items()}
    without_retry = {k: v for k, v in lowered.items() if k != "retry-after"}
    return [w for h in (lowered, without_retry) if (w := retry_after(h, now)) is not None]


def with_parking(
    failure: UpstreamFailure, headers: Mapping[str, str], now: float, whole_account: bool
) -> UpstreamFailure:
    """``failure`` with the ``Parking`` its 429 announces by a reset hours away, if it does:
    of every model of the account (``whole_account``), else of the model asked."""
    if failure.kind is not FailureKind.RATE_LIMITED or failure.parking is not None:
        return failure
    longest = max([*_waits(headers, now), *_waits(failure.announced, now)], default=0.0)
    if longest < LONG_QUOTA:
        return failure
    named = _QUOTA_NAME.search(failure.message)
    name = named.group(1) if named else f"quota resetting in {longest / 3600:.1f} h"
    return replace(failure, parking=Parking(name, whole_account, wait=longest))
