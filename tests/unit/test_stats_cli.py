"""``llm-agg stats`` lines from an /admin/usage-stats answer, without a server."""

from __future__ import annotations

from llm_agg.admin.views import usage
from llm_agg.store.base import UsageRow
from llm_agg_local.router_cli import STATS_HEADER, kinds_text, stats_rows


def _row(account: str, errors: dict[str, int], failovers: int) -> UsageRow:
    return UsageRow(
        "2026-03-01", "groq", "m1", account, "-", 10, sum(errors.values()), 100, 50,
        {"250": 10}, errors, failovers,
    )  # fmt: skip


def test_stats_sum_failovers_and_error_kinds_over_accounts_of_a_model() -> None:
    answer = usage(
        [
            _row("a1", {"rate_limited": 2, "server": 1}, 1),
            _row("a2", {"rate_limited": 1}, 2),
        ]
    )
    header, line = stats_rows(answer)
    assert header == STATS_HEADER
    assert dict(zip(header, line, strict=True)) == {
        "DAY": "2026-03-01",
        "PROVIDER": "groq",
        "MODEL": "m1",
        "REQUESTS": "20",
        "ERRORS": "4",
        "PROMPT": "200",
        "COMPLETION": "100",
        "P50 MS": "250",
        "P95 MS": "250",
        "FAILOVERS": "3",
        "ERRORS BY KIND": "rate_limited:3,server:1",
    }


def test_no_errors_is_a_dash_so_columns_split_on_spaces_stay_in_place() -> None:
    assert kinds_text({}) == "-"
    assert kinds_text({"timeout": 0}) == "-"
    (_, line) = stats_rows(usage([_row("a1", {}, 0)]))
    assert line[-2:] == ("0", "-")
