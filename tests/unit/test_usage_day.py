"""The UTC day a usage record counts in, as ``datetime`` says it, however it is worked out."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from llm_agg.usage import day_of

MIDNIGHT = datetime(2026, 12, 7, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        (MIDNIGHT - 0.000001, "2026-12-06"),
        (MIDNIGHT, "2026-12-07"),
        (MIDNIGHT + 86_399.999, "2026-12-07"),
        (datetime(2028, 2, 29, 12, tzinfo=UTC).timestamp(), "2028-02-29"),
        (0.0, "1970-01-01"),
        (-1.0, "1969-12-31"),
    ],
)
def test_a_moment_counts_in_its_utc_day(moment: float, day: str) -> None:
    assert day_of(moment) == day


def test_any_moment_gets_the_day_datetime_gives_it() -> None:
    draw = random.Random(17)
    for _ in range(2_000):
        moment = draw.uniform(0, 4e9)
        assert day_of(moment) == datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d")
