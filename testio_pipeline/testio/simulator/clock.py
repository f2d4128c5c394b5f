"""Time helpers: epoch seconds internally, local-offset ISO strings on the wire (quirk 5.10).

The live API renders test and bug timestamps in the product's local time, e.g.
`2025-10-27T02:00:00+01:00`. Zones follow the EU daylight-saving rule, computed here without
tzdata so the output never depends on the host's zone database.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from testio_pipeline.testio.simulator.config import DAY, HOUR

_TWO_DIGITS = tuple(f"{i:02d}" for i in range(60))


@lru_cache(maxsize=None)
def _eu_summer_bounds(year: int) -> tuple[int, int]:
    """Epoch seconds of the EU summer-time start and end in `year` (both at 01:00 UTC)."""

    def last_sunday(month: int) -> int:
        # day 31 exists in both march and october
        day31 = datetime(year, month, 31, 1, 0, tzinfo=timezone.utc)
        back = (day31.weekday() - 6) % 7
        return int((day31 - timedelta(days=back)).timestamp())

    return last_sunday(3), last_sunday(10)


def local_offset_hours(epoch: int, base_hours: int) -> int:
    """The UTC offset at `epoch` of a zone with standard offset `base_hours` and EU DST."""
    year = time.gmtime(epoch).tm_year
    start, end = _eu_summer_bounds(year)
    return base_hours + 1 if start <= epoch < end else base_hours


@lru_cache(maxsize=1 << 16)
def _local_hour(hour: int, base_hours: int) -> tuple[str, str]:
    """("YYYY-MM-DDTHH:", "+HH:00") of UTC hour number `hour` (epoch // HOUR) in local time.

    DST switches at 01:00 UTC, so the offset is constant within an hour of epoch seconds.
    """
    offset = local_offset_hours(hour * HOUR, base_hours)
    t = time.gmtime((hour + offset) * HOUR)
    sign = "+" if offset >= 0 else "-"
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:", f"{sign}{abs(offset):02d}:00"


def iso_local(epoch: int, base_hours: int) -> str:
    """`epoch` as an ISO-8601 string in local time with its offset, e.g. `...T13:00:00+02:00`.

    Hot (every bug and test body has one or more), hence the per-hour cache.
    """
    hour, second = divmod(epoch, HOUR)
    prefix, suffix = _local_hour(hour, base_hours)
    return f"{prefix}{_TWO_DIGITS[second // 60]}:{_TWO_DIGITS[second % 60]}{suffix}"


def utc_datetime(epoch: int) -> datetime:
    """`epoch` as an aware UTC datetime (the ground truth's timestamp type)."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def to_seconds(value: timedelta | None = None, *, hours: float = 0.0, days: float = 0.0) -> int:
    """A duration given as a timedelta and/or hours/days, in whole seconds."""
    total = (value.total_seconds() if value is not None else 0.0) + hours * HOUR + days * DAY
    return int(round(total))
