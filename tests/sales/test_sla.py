"""Deadlines in working time: weekends, time zones, holidays and DST changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leadgate.engine.engine import Engine
from leadgate.ingest.validate import iso
from leadgate.sla import (
    BusinessCalendar,
    CalendarError,
    add_business_hours,
    business_seconds_between,
    is_overdue,
    parse_days,
)


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def test_inside_working_hours_is_plain_addition() -> None:
    cal = BusinessCalendar.build("UTC", "mon-fri", "09:00-17:30")
    # Wednesday 2026-06-03 10:00
    assert utc(add_business_hours(ts(2026, 6, 3, 10), 1, cal)) == datetime(
        2026, 6, 3, 11, tzinfo=UTC
    )
    assert utc(add_business_hours(ts(2026, 6, 3, 10), 0.25, cal)).minute == 15


def test_friday_evening_rolls_over_the_weekend() -> None:
    cal = BusinessCalendar.build("UTC", "mon-fri", "09:00-17:30")
    # Friday 2026-06-05 17:10 + 1h: 20 min on Friday, 40 min on Monday.
    due = add_business_hours(ts(2026, 6, 5, 17, 10), 1, cal)
    assert utc(due) == datetime(2026, 6, 8, 9, 40, tzinfo=UTC)


def test_saturday_start_waits_for_monday_opening() -> None:
    cal = BusinessCalendar.build("UTC", "mon-fri", "09:00-17:00")
    assert utc(add_business_hours(ts(2026, 6, 6, 12), 2, cal)) == datetime(
        2026, 6, 8, 11, tzinfo=UTC
    )


def test_rep_time_zone_decides_the_window() -> None:
    tokyo = BusinessCalendar.build("Asia/Tokyo", "mon-fri", "09:00-18:00")
    # 2026-06-03 08:00 UTC is 17:00 in Tokyo: one hour left today, then Thursday 09:00 JST.
    due = add_business_hours(ts(2026, 6, 3, 8), 2, tokyo)
    assert utc(due) == datetime(2026, 6, 4, 1, tzinfo=UTC)  # 10:00 JST
    ny = BusinessCalendar.build("America/New_York", "mon-fri", "09:00-17:00")
    # Same instant is 04:00 in New York: the clock starts at 09:00 EDT (13:00 UTC).
    assert utc(add_business_hours(ts(2026, 6, 3, 8), 2, ny)) == datetime(2026, 6, 3, 15, tzinfo=UTC)


def test_holidays_are_skipped() -> None:
    cal = BusinessCalendar.build(
        "Europe/Rome", "mon-fri", "09:00-17:00", ["2026-12-24", "2026-12-25"]
    )
    # Wednesday 23 Dec 16:30 CET + 1h → 30 min then Monday 28 Dec 09:30 CET (08:30 UTC).
    due = add_business_hours(ts(2026, 12, 23, 15, 30), 1, cal)
    assert utc(due) == datetime(2026, 12, 28, 8, 30, tzinfo=UTC)


def test_weekend_over_us_spring_forward() -> None:
    ny = BusinessCalendar.build("America/New_York", "mon-fri", "09:00-17:00")
    # Friday 6 Mar 2026 16:30 EST (21:30 UTC) + 1h; clocks go forward on Sunday 8 Mar.
    due = add_business_hours(ts(2026, 3, 6, 21, 30), 1, ny)
    assert utc(due) == datetime(2026, 3, 9, 13, 30, tzinfo=UTC)  # Monday 09:30 EDT


def test_dst_day_keeps_its_working_hours() -> None:
    berlin = BusinessCalendar.build("Europe/Berlin", "mon-sun", "09:00-17:00")
    # Sunday 29 Mar 2026 is the change to CEST. 09:00 CEST = 07:00 UTC; 8 h today, 2 more Monday.
    due = add_business_hours(ts(2026, 3, 29, 7), 10, berlin)
    assert utc(due) == datetime(2026, 3, 30, 9, tzinfo=UTC)  # Monday 11:00 CEST


def test_round_the_clock_calendar_counts_real_hours_across_dst() -> None:
    berlin = BusinessCalendar.build("Europe/Berlin", "mon-sun", "00:00-24:00")
    start = ts(2026, 3, 28, 23, 30)  # 00:30 CET on the spring-forward night
    assert add_business_hours(start, 3, berlin) == start + 3 * 3600
    # The autumn change makes Sunday 25 Oct 2026 a 25-hour day.
    day = business_seconds_between(ts(2026, 10, 24, 22), ts(2026, 10, 25, 23), berlin)
    assert day == 25 * 3600


def test_business_seconds_between_is_the_inverse() -> None:
    cal = BusinessCalendar.build("America/Los_Angeles", "mon-fri", "08:00-16:00")
    start = ts(2026, 11, 6, 23)  # Friday 15:00 PST... 16:00 PDT, with a DST change Sunday
    due = add_business_hours(start, 5, cal)
    assert business_seconds_between(start, due, cal) == pytest.approx(5 * 3600)
    assert business_seconds_between(due, start, cal) == pytest.approx(-5 * 3600)


def test_overdue() -> None:
    assert is_overdue(100.0, 101.0)
    assert not is_overdue(100.0, 100.0)
    assert not is_overdue(100.0, 200.0, done=True)
    assert not is_overdue(None, 200.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"hours": "17:00-09:00"}, "hours"),
        ({"hours": "nine to five"}, "hours"),
        ({"days": "funday"}, "days"),
        ({"holidays": ["25/12/2026"]}, "holidays"),
    ],
)
def test_bad_calendar_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(CalendarError) as e:
        BusinessCalendar.build(**kwargs)  # type: ignore[arg-type]
    assert e.value.field == field


def test_day_ranges() -> None:
    assert parse_days("mon-fri") == frozenset(range(5))
    assert parse_days("fri-mon") == frozenset({4, 5, 6, 0})
    assert parse_days(["Sat", "sun"]) == frozenset({5, 6})


def test_an_sla_longer_than_the_reps_calendar_holds_is_counted_in_plain_hours(
    engine: Engine,
) -> None:
    """A rep who works one minute a week and a 10-hour SLA in working hours: no deadline
    within three years of her calendar. The event that made the MQL failed (the ingest
    raised CalendarError, nothing stored); now the MQL is routed and due in 10 hours."""
    from leadgate.analytics.service import active_text
    from leadgate.ingest.validate import parse_event
    from leadgate.sales import install

    text = active_text(engine)
    assert "accept_within_hours: 1}" in text
    engine.activate_playbook(
        text.replace("accept_within_hours: 1}", "accept_within_hours: 10}"), "t"
    )
    install(engine).add_rep("slow", "bdr", hours="09:00-09:01", days="mon")
    now = engine.clock()
    engine.ingest([parse_event({"email": "ann@acme.com", "type": "demo_request"}, now)], now)
    shown = engine.show("ann@acme.com")
    assert shown["stage"] == "mql" and shown["owner"] == "slow"
    assert shown["sla_due_at"] == iso(now + 10 * 3600)


def test_playbook_check_refuses_an_sla_over_ninety_days() -> None:
    from leadgate.playbook.errors import PlaybookError
    from leadgate.playbook.loader import load_playbook

    with pytest.raises(PlaybookError) as err:
        load_playbook(
            "name: x\nfit: {rules: [], grades: {A: 50, B: 30, C: 10}}\n"
            "engagement: {rules: [], grades: {'1': 60, '2': 30, '3': 10}}\n"
            "stages: {sal: {accept_within_hours: 100000}}\n",
            "x.yaml",
        )
    assert "stages.sal.accept_within_hours" in str(err.value)
