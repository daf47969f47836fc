"""Header values checked at the edge; secrets scrubbed from what leaves."""

from __future__ import annotations

import pytest

from llm_agg.api.wire import check_headers, header_value_ok
from llm_agg.providers.scrub import scrub, scrub_bytes, secret_values


@pytest.mark.parametrize("value", ["", "a", "Bearer x", "a\tb", "v=1; q=2", "~!@#"])
def test_printable_ascii_values_may_be_sent(value: str) -> None:
    assert header_value_ok(value)


@pytest.mark.parametrize("value", ["a\n", "a\r\nb", " a", "a ", "caf\u00e9", "\x7f", "a\x00"])
def test_control_characters_non_ascii_and_edge_spaces_may_not(value: str) -> None:
    assert not header_value_ok(value)


def test_a_header_that_cannot_be_sent_is_named_but_its_value_never_shown() -> None:
    with pytest.raises(ValueError, match="X-Org") as caught:
        check_headers({"X-Org": "secret\r\n"})
    assert "secret" not in str(caught.value)


def test_every_secret_is_scrubbed_raw_and_as_json_writes_it() -> None:
    secrets = secret_values('sk-"quoted"-key', {"X-Org": "org-123456", "X-Flag": "1"})
    text = 'k=sk-"quoted"-key j=sk-\\"quoted\\"-key o=org-123456 flag=1'
    assert scrub(text, secrets) == "k=*** j=*** o=*** flag=1"  # "1" is too short to be one
    assert scrub_bytes(text.encode(), secrets) == b"k=*** j=*** o=*** flag=1"
    assert secret_values(None, {}) == ()
