from llm_agg.memo import Memo


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
