"""Deadlines counted in a rep's working time.

An SLA of one hour given at 17:10 on a Friday to a rep who works 09:00-17:30
Monday to Friday is due at 09:40 on Monday, in the rep's own time zone. Every
working window is built from local wall-clock times and only then turned into
an instant, so a day on which the clocks change still has exactly its
working hours (09:00-17:00 is eight real hours on a DST day too).

Times in and out are epoch seconds (UTC), like everywhere in leadgate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A calendar with working days always has one within a week; holidays could
# in theory cover years, so the search stops somewhere finite.
_MAX_DAYS = 3 * 366


class CalendarError(ValueError):
    """A calendar setting that cannot work (unknown zone, bad hours, no working day)."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def parse_hours(text: str) -> tuple[time, time | None]:
    """'09:00-17:30' → (09:00, 17:30). '24:00' as the end means midnight (returned as None)."""
    try:
        start_s, end_s = (p.strip() for p in text.split("-", 1))
        start = _clock(start_s)
        end = None if end_s == "24:00" else _clock(end_s)
    except ValueError:
        raise CalendarError(
            "hours", f"'{text}' is not a working-hours range like 09:00-17:30"
        ) from None
    if end is not None and end <= start:
        raise CalendarError("hours", f"'{text}': the day must end after it starts")
    return start, end


def _clock(s: str) -> time:
    hh, mm = s.split(":")
    if len(mm) != 2:
        raise ValueError(s)
    return time(int(hh), int(mm))


def parse_days(spec: str | Iterable[str]) -> frozenset[int]:
    """'mon-fri', 'mon,wed,fri' or a list of day names → weekday numbers (Monday is 0)."""
    parts: list[str] = []
    if isinstance(spec, str):
        parts = [p.strip().lower() for p in spec.split(",") if p.strip()]
    else:
        parts = [str(p).strip().lower() for p in spec]
    out: set[int] = set()
    for p in parts:
        if "-" in p:
            a, b = (x.strip()[:3] for x in p.split("-", 1))
            if a not in WEEKDAYS or b not in WEEKDAYS:
                raise CalendarError("days", f"'{p}' is not a range of days like mon-fri")
            i, j = WEEKDAYS.index(a), WEEKDAYS.index(b)
            k = i
            while True:
                out.add(k)
                if k == j:
                    break
                k = (k + 1) % 7
        else:
            d = p[:3]
            if d not in WEEKDAYS:
                raise CalendarError("days", f"'{p}' is not a day (mon, tue, ... sun)")
            out.add(WEEKDAYS.index(d))
    if not out:
        raise CalendarError("days", "at least one working day is needed")
    return frozenset(out)


def zone(name: str) -> ZoneInfo:
    """An IANA time zone, or CalendarError naming the field."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a region's folder (`Europe`) or a name too long for a file name.
        raise CalendarError("timezone", f"unknown time zone '{name}'") from None


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """When someone works: a zone, working weekdays, daily hours, and holidays (local dates)."""

    timezone: str = "UTC"
    days: frozenset[int] = frozenset(range(5))
    start: time = time(9, 0)
    end: time | None = time(17, 0)  # None: until midnight
    holidays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def build(
        cls,
        timezone: str = "UTC",
        days: str | Iterable[str] = "mon-fri",
        hours: str = "09:00-17:00",
        holidays: Iterable[date | str] = (),
    ) -> BusinessCalendar:
        """A calendar from the playbook's or a rep's spelling, checked."""
        zone(timezone)
        start, end = parse_hours(hours)
        hol: set[date] = set()
        for h in holidays:
            if isinstance(h, date):
                hol.add(h)
            else:
                try:
                    hol.add(date.fromisoformat(str(h)))
                except ValueError:
                    raise CalendarError("holidays", f"'{h}' is not a date (YYYY-MM-DD)") from None
        return cls(timezone, parse_days(days), start, end, frozenset(hol))

    def window(self, day: date) -> tuple[float, float] | None:
        """The working window of a local date as epoch seconds, or None on a day off."""
        if day.weekday() not in self.days or day in self.holidays:
            return None
        tz = zone(self.timezone)
        lo = datetime.combine(day, self.start, tzinfo=tz).timestamp()
        if self.end is None:
            hi = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).timestamp()
        else:
            hi = datetime.combine(day, self.end, tzinfo=tz).timestamp()
        return lo, hi

    def local_date(self, t: float) -> date:
        """The local calendar date at instant t."""
        return datetime.fromtimestamp(t, zone(self.timezone)).date()


def add_business_hours(start: float, hours: float, cal: BusinessCalendar) -> float:
    """The instant `hours` of working time after `start` (epoch seconds)."""
    if hours < 0:
        raise CalendarError("hours", "an SLA cannot be negative")
    remaining = hours * 3600.0
    t = start
    day = cal.local_date(start) - timedelta(days=1)  # a window may straddle UTC midnight
    for _ in range(_MAX_DAYS):
        w = cal.window(day)
        day += timedelta(days=1)
        if w is None:
            continue
        lo, hi = w
        if hi <= t:
            continue
        begin = max(lo, t)
        avail = hi - begin
        if remaining <= avail:
            return begin + remaining
        remaining -= avail
        t = hi
    raise CalendarError("holidays", "no working time within three years")


def business_seconds_between(a: float, b: float, cal: BusinessCalendar) -> float:
    """Working seconds from a to b (negative when b is before a)."""
    if b < a:
        return -business_seconds_between(b, a, cal)
    total = 0.0
    day = cal.local_date(a) - timedelta(days=1)
    last = cal.local_date(b)
    while day <= last:
        w = cal.window(day)
        day += timedelta(days=1)
        if w is None:
            continue
        lo, hi = max(w[0], a), min(w[1], b)
        if hi > lo:
            total += hi - lo
    return total


def is_overdue(due_at: float | None, now: float, done: bool = False) -> bool:
    """An open deadline that has passed."""
    return due_at is not None and not done and now > due_at
