from __future__ import annotations

from llm_agg.routing.rotation import conversation_of, order_accounts
from tests.support.routing import chat


def order(
    rooms: dict[str, float], used: dict[str, float] | None = None, conversation: str | None = None
) -> list[str]:
    used = used or {}
    return order_accounts(
        list(rooms), lambda a: a, lambda a: rooms[a], lambda a: used.get(a, 0.0), conversation
    )


def test_most_headroom_first() -> None:
    assert order({"a": 0.2, "b": 0.9, "c": 0.5}) == ["b", "c", "a"]


def test_ties_go_to_the_least_recently_used() -> None:
    assert order({"a": 1.0, "b": 1.0, "c": 1.0}, {"a": 30.0, "b": 10.0, "c": 20.0}) == [
        "b",
        "c",
        "a",
    ]


def test_a_conversation_stays_on_one_account_while_that_costs_nothing() -> None:
    rooms = {"a": 1.0, "b": 1.0, "c": 1.0}
    first = order(rooms, conversation="talk-1")[0]
    for used in ({"a": 5.0}, {"b": 5.0}, {"c": 5.0}):
        assert order(rooms, used, conversation="talk-1")[0] == first
    others = {order(rooms, conversation=f"talk-{i}")[0] for i in range(30)}
    assert others == {"a", "b", "c"}  # different conversations spread over the accounts


def test_a_conversation_leaves_its_account_when_it_runs_low() -> None:
    rooms = {"a": 1.0, "b": 1.0}
    sticky = order(rooms, conversation="talk-1")[0]
    rooms[sticky] = 0.3  # under half the best headroom: stickiness would cost
    assert order(rooms, conversation="talk-1")[0] != sticky


def test_the_opening_of_a_conversation_identifies_it_across_turns() -> None:
    first = chat("Plan a trip to Lisbon", user="u1")
    later = chat(
        "x",
        user="u1",
        messages=[
            {"role": "user", "content": "Plan a trip to Lisbon"},
            {"role": "assistant", "content": "Sure: ..."},
            {"role": "user", "content": "And a day in Sintra?"},
        ],
    )
    assert conversation_of(first) == conversation_of(later)
    assert conversation_of(first) != conversation_of(chat("Plan a trip to Porto", user="u1"))
