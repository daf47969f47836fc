"""A provider's word that a quota is spent, read from its error body: which quota, whether it
covers every model of the account or only the one asked, and until when.

Pure data for the failure that carries it (``UpstreamFailure.parking``); the quota parks the
scope it names (``Accounting.failed``) until ``until(now)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_WAIT = 60.0  # a spent per-minute quota whose body gives no wait


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        # No tz database (a slim image): standard time, which is never earlier than the
        # real midnight, so a quota is never tried before its reset.
        return timezone(timedelta(hours=-8)) if name == "America/Los_Angeles" else UTC


def next_midnight(now: float, zone: str) -> float:
    """The epoch second of the next midnight in ``zone`` after ``now``."""
    local = datetime.fromtimestamp(now, _zone(zone))
    tomorrow = (local + timedelta(days=1)).date()
    midnight = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=local.tzinfo)
    return midnight.timestamp()


@dataclass(frozen=True, slots=True)
class Parking:
    quota: str  # the provider's own name for it (Gemini's ``quotaId``)
    whole_account: bool  # every model of the account (or project), else only the model asked
    wait: float | None = None  # seconds, as the provider said
    daily_reset_zone: str | None = None  # a per-day quota: spent until midnight there

    def until(self, now: float) -> float:
        if self.daily_reset_zone is not None:
            # A per-day quota's own retry delay is not its reset: it comes back at midnight.
            return max(next_midnight(now, self.daily_reset_zone), now + (self.wait or 0.0))
        return now + (DEFAULT_WAIT if self.wait is None else self.wait)

    @property
    def reason(self) -> str:
        return f"quota {self.quota} spent"
