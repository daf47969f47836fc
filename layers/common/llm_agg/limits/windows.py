"""Rate windows: fixed buckets aligned on the epoch (a day is a UTC day), as the providers
that announce their resets count them, and the names of their counters in the store.
"""

from __future__ import annotations

from dataclasses import dataclass

WINDOW_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
WINDOW_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}
KIND_WORDS = {"r": "requests", "t": "tokens"}
ACCOUNT = "*"  # the scope of a limit that counts every model of an account


@dataclass(frozen=True, slots=True)
class Limit:
    """``value`` requests (``kind`` r) or tokens (t) per ``window``, counted per account and
    model, or per account when ``scope`` is ``ACCOUNT``."""

    kind: str
    window: str
    value: int
    scope: str

    @property
    def name(self) -> str:
        return f"{self.kind}p{self.window}"

    def describe(self) -> str:
        return f"{self.value} {KIND_WORDS[self.kind]} per {WINDOW_WORDS[self.window]}"


def parse_name(name: str) -> tuple[str, str]:
    """``rpm`` → (``r``, ``m``)."""
    return name[0], name[2]


def bucket(window: str, now: float) -> tuple[int, float]:
    """The index of the window holding ``now`` and the moment it ends."""
    length = WINDOW_SECONDS[window]
    index = int(now // length)
    return index, (index + 1) * length


def counter_key(provider: str, account: str, limit: Limit, index: int) -> str:
    return counter_prefix(provider, account, limit) + str(index)


def counter_prefix(provider: str, account: str, limit: Limit) -> str:
    """What the keys of every window of one limit start with (the window's index follows)."""
    return f"rl|{provider}|{account}|{limit.scope}|{limit.name}|"
