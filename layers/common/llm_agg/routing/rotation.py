"""The order in which the accounts of one provider are tried. Pure.

Most headroom first (the share of quota left), ties by least recently used, so load spreads
over every account. A conversation may stay on one account, which keeps the provider's prompt
cache warm, when that costs nothing: its account is chosen by rendezvous hashing among those
with at least half the best headroom, so every process and Lambda picks the same one without
sharing any state, and a nearly spent account is never chosen for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TypeVar

from llm_agg.api.chat import ChatCall

A = TypeVar("A")


def _weight(conversation: str, account_id: str) -> bytes:
    return hashlib.blake2b(f"{conversation}|{account_id}".encode(), digest_size=8).digest()


def order_accounts(
    accounts: Sequence[A],
    account_id: Callable[[A], str],
    headroom: Callable[[A], float],
    last_used: Callable[[A], float],
    conversation: str | None = None,
) -> list[A]:
    if len(accounts) < 2:
        return list(accounts)
    rooms = {account_id(a): headroom(a) for a in accounts}
    ordered = sorted(accounts, key=lambda a: (-rooms[account_id(a)], last_used(a), account_id(a)))
    if conversation is None:
        return ordered
    best = rooms[account_id(ordered[0])]
    if best <= 0:
        return ordered
    eligible = [a for a in ordered if rooms[account_id(a)] >= best / 2]
    sticky = max(eligible, key=lambda a: _weight(conversation, account_id(a)))
    return [sticky, *(a for a in ordered if a is not sticky)]


def conversation_of(call: ChatCall) -> str:
    """What identifies a conversation across its turns: who asks (``user``) and how it began
    (its instructions and first user message, which do not change as it goes on)."""
    opening = []
    for message in call.request.messages:
        content = message.content
        opening.append(content[:2000] if isinstance(content, str) else repr(content)[:2000])
        if message.role == "user":
            break
    return "|".join([call.request.user or "", *opening])
