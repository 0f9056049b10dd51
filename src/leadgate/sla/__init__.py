"""Business-hours deadline arithmetic (pure: no I/O, no clock)."""

from leadgate.sla.calendar import (
    WEEKDAYS,
    BusinessCalendar,
    CalendarError,
    add_business_hours,
    business_seconds_between,
    is_overdue,
    parse_days,
    parse_hours,
)

__all__ = [
    "WEEKDAYS",
    "BusinessCalendar",
    "CalendarError",
    "add_business_hours",
    "business_seconds_between",
    "is_overdue",
    "parse_days",
    "parse_hours",
]
