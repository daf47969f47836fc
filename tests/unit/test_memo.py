import gc
import weakref

from llm_agg.memo import IdMemo, Memo


def test_keep_remembers_and_answers_the_value() -> None:
    memo: Memo[str, int] = Memo(3)
    assert memo.keep("a", 1) == 1
    assert memo["a"] == 1
    assert memo.get("b") is None


def test_a_full_memo_forgets_everything_before_keeping_the_next() -> None:
    memo: Memo[int, int] = Memo(3)
    for key in range(3):
        memo.keep(key, key)
    assert len(memo) == 3
    memo.keep(3, 3)
    assert dict(memo) == {3: 3}


def test_a_spray_of_new_keys_never_grows_it_past_its_limit() -> None:
    memo: Memo[int, None] = Memo(16)
    for key in range(1000):
        memo.keep(key, None)
        assert len(memo) <= 16
    assert 999 in memo


class _Thing:
    """An object compared by identity, as a target or a URL object is looked up."""


def test_an_id_memo_answers_for_the_object_its_key_names() -> None:
    memo: IdMemo[int, str] = IdMemo(4)
    thing = _Thing()
    assert memo.keep(id(thing), "worked out", thing) == "worked out"
    assert memo.get(id(thing)) == "worked out"
    other = _Thing()
    assert memo.get(id(other)) is None


def test_an_id_memo_keeps_the_objects_of_its_keys_alive_while_they_are_there() -> None:
    # Held, the object's id cannot go to another object while its entry is there: a hit
    # needs no ``is`` check. Without the hold a new object at the same address would hit.
    memo: IdMemo[int, str] = IdMemo(4)
    thing = _Thing()
    gone = weakref.ref(thing)
    memo.keep(id(thing), "value", thing)
    del thing
    gc.collect()
    assert gone() is not None


def test_an_id_memo_lets_its_objects_go_when_it_is_emptied() -> None:
    memo: IdMemo[int, int] = IdMemo(2)
    things = [_Thing() for _ in range(3)]
    refs = [weakref.ref(t) for t in things]
    for n, thing in enumerate(things):
        memo.keep(id(thing), n, thing)
    assert len(memo) == 1  # full at the third: emptied first
    del things, thing
    gc.collect()
    assert [r() is None for r in refs] == [True, True, False]
    memo.clear()
    gc.collect()
    assert refs[2]() is None
    assert not memo


def test_an_id_memo_entry_may_hold_several_objects_or_none() -> None:
    memo: IdMemo[tuple[int, int], str | None] = IdMemo(8)
    a, b = _Thing(), _Thing()
    memo.keep((id(a), id(b)), "both", a, b)
    memo.keep((id(a), 0), None)  # a "not this way" answer, right for any object
    assert memo[(id(a), id(b))] == "both"
    assert (id(a), 0) in memo and memo[(id(a), 0)] is None
