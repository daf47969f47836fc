"""``llm-agg stats`` lines from an /admin/usage-stats answer, without a server."""

from __future__ import annotations

from llm_agg.admin.views import usage
from llm_agg.store.base import UsageRow
from llm_agg_local.router_cli import (
    STATS_HEADER,
    STATUS_HEADER,
    fit,
    kinds_text,
    stats_rows,
    status_rows,
    table,
)


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
        "SUCCESS": "80.0%",
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


def test_usage_stats_carry_the_share_of_attempts_answered() -> None:
    answer = usage([_row("a1", {"server": 1}, 0), _row("a2", {}, 0)])
    assert answer["total"]["success_rate"] == 0.95  # type: ignore[index]
    assert usage([])["total"]["success_rate"] is None  # type: ignore[index]


WINDOWS = [
    {"scope": f"model-{i}", "name": "rpd", "limit": 1000, "used": i, "left": 1000 - i,
     "resets_at": 0}
    for i in range(40)
]  # fmt: skip
LISTING = {
    "data": [
        {
            "provider": "groq",
            "supported": True,
            "accounts": [
                {
                    "account_id": "env",
                    "state": "failing",
                    "state_until": 1788825600.0,
                    "consecutive_errors": 15,
                    "last_error": "HTTP 503 (server): " + "Service Unavailable " * 20,
                    "last_error_at": 1788825000.0,
                    "cooling_down": [],
                    "quota": WINDOWS,
                }
            ],
        },
        {"provider": "together", "supported": True, "accounts": []},
    ]
}


def test_status_says_the_state_until_when_and_the_tightest_quota_only() -> None:
    header, groq, together = status_rows(LISTING)
    assert header == STATUS_HEADER
    row = dict(zip(header, groq, strict=True))
    assert (row["STATE"], row["UNTIL"], row["ERRORS"]) == ("failing", "2026-09-08 00:00Z", "15")
    assert row["LAST ERROR"].startswith("2026-09-07 23:50Z HTTP 503 (server)")
    assert row["DETAIL"].startswith("model-39 961/1000 rpd, model-38 962/1000 rpd (+38 more)")
    assert together[:3] == ("together", "-", "not configured")


def test_the_status_table_fits_the_terminal() -> None:
    lines = table(fit(status_rows(LISTING), 100, (5, 6))).splitlines()
    assert max(len(line) for line in lines) <= 100
    assert "…" in lines[1] and "failing" in lines[1]
