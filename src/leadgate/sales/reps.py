"""Reps: add, edit, list, out of office. Adding a rep or bringing one back routes the
MQLs that waited without an owner.

    sales.add_rep("ana", "bdr", team="emea", timezone="Europe/Lisbon", capacity=40)
    sales.set_away("ana", "2026-12-24")   # back at the start of that day, her time
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any

from leadgate.engine.engine import NotFound
from leadgate.ingest.validate import InputError, check_email, iso
from leadgate.sales.base import _REP_COLS, ROLES, Rep, _loads
from leadgate.sales.routing import Routing
from leadgate.sla.calendar import BusinessCalendar, CalendarError, zone
from leadgate.store.repository import Repository

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._'@-]{0,99}$")
# The most open leads a rep may hold: what the column (a 32-bit integer) can store.
MAX_CAPACITY = 2**31 - 1


class RepDesk(Routing):
    """Reps as sales ops manage them."""

    def add_rep(
        self,
        name: str,
        role: str,
        team: str | None = None,
        email: str | None = None,
        timezone: str | None = None,
        capacity: int | None = None,
        hours: str | None = None,
        days: str | None = None,
        weight: float = 1.0,
    ) -> dict[str, Any]:
        """Create a rep (and their team if new). Raises InputError naming the bad field."""
        name = name.strip()
        if not _NAME.match(name):
            raise InputError("name", f"'{name}' is not a rep name (letters, digits, . _ - ')")
        if role not in ROLES:
            raise InputError("role", f"'{role}' is not a role: one of {', '.join(ROLES)}")
        if email is not None:
            email = check_email(email)
        if weight <= 0:
            raise InputError("weight", "must be above 0")
        _check_schedule(timezone, capacity, hours, days)
        now = self.engine.clock()
        with self.engine.db.write() as conn:
            repo = Repository(self.engine.db, conn)
            if repo.execute("SELECT 1 FROM sales_reps WHERE name = ?", [name]).fetchone():
                raise InputError("name", f"a rep named '{name}' exists already")
            if team:
                repo.execute(
                    "INSERT INTO sales_teams (name, created_at) VALUES (?, ?) "
                    "ON CONFLICT (name) DO NOTHING",
                    [team, now],
                )
            repo.execute(
                f"INSERT INTO sales_reps ({_REP_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [name, role, team, email, timezone, hours, days, capacity, weight, None, True, now],
            )
            self._route_unowned(repo, now)
        return self.rep(name)

    def update_rep(
        self,
        name: str,
        timezone: str | None,
        capacity: int | None,
        hours: str | None,
        days: str | None,
    ) -> dict[str, Any]:
        """Set a rep's time zone, capacity (None: no limit) and working hours and days
        (None: the defaults, 09:00-17:00 mon-fri), checked as `add_rep` checks them."""
        _check_schedule(timezone, capacity, hours, days)
        with self.engine.db.write() as conn:
            repo = Repository(self.engine.db, conn)
            if name not in self._reps(repo):
                raise NotFound(f"no rep named '{name}'")
            repo.execute(
                "UPDATE sales_reps SET timezone = ?, capacity = ?, hours = ?, days = ? "
                "WHERE name = ?",
                [timezone, capacity, hours, days, name],
            )
        return self.rep(name)

    def _rep_dict(self, r: Rep, load: int, now: float) -> dict[str, Any]:
        return {
            "name": r.name,
            "role": r.role,
            "team": r.team,
            "email": r.email,
            "timezone": r.timezone,
            "hours": r.hours,
            "days": r.days,
            "capacity": r.capacity,
            "weight": r.weight,
            "open_leads": load,
            "away": r.away(now),
            "away_until": iso(r.away_until),
            "active": r.active,
        }

    def reps(self) -> list[dict[str, Any]]:
        """Every rep with their open-lead count and whether they are away now."""
        now = self.engine.clock()
        with self.engine.db.read() as conn:
            repo = Repository(self.engine.db, conn)
            reps = self._reps(repo)
            loads = _loads(repo, list(reps))
        return [self._rep_dict(r, loads.get(r.name, 0), now) for r in reps.values()]

    def rep(self, name: str) -> dict[str, Any]:
        """One rep, or NotFound."""
        for r in self.reps():
            if r["name"] == name:
                return r
        raise NotFound(f"no rep named '{name}'")

    def set_away(self, name: str, until: str | float | date | None) -> dict[str, Any]:
        """Out of office until a moment (a bare date: back at the start of that day, in the
        rep's time zone). None: back now."""
        now = self.engine.clock()
        with self.engine.db.write() as conn:
            repo = Repository(self.engine.db, conn)
            r = self._reps(repo).get(name)
            if r is None:
                raise NotFound(f"no rep named '{name}'")
            ts = None if until is None else _parse_until(until, r.timezone or "UTC", now)
            repo.execute("UPDATE sales_reps SET away_until = ? WHERE name = ?", [ts, name])
            if ts is None or ts <= now:
                self._route_unowned(repo, now)
        return self.rep(name)


def _parse_until(value: str | float | date, tz: str, now: float) -> float:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, time(0), tzinfo=zone(tz)).timestamp()
    text = str(value).strip()
    try:
        d = date.fromisoformat(text)
        return datetime.combine(d, time(0), tzinfo=zone(tz)).timestamp()
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise InputError("until", f"'{value}' is not a date (YYYY-MM-DD or ISO 8601)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone(tz))
    return dt.timestamp()


def _check_schedule(
    timezone: str | None, capacity: int | None, hours: str | None, days: str | None
) -> None:
    """A rep's capacity, time zone and working hours and days, as a calendar would read
    them (None: no limit, UTC, 09:00-17:00, mon-fri); InputError names the bad field."""
    if capacity is not None and capacity < 1:
        raise InputError("capacity", "must be at least 1 (omit it for no limit)")
    if capacity is not None and capacity > MAX_CAPACITY:
        raise InputError("capacity", f"must be at most {MAX_CAPACITY:,} (omit it for no limit)")
    try:
        if timezone is not None:
            zone(timezone)
        BusinessCalendar.build(timezone or "UTC", days or "mon-fri", hours or "09:00-17:00")
    except CalendarError as exc:
        raise InputError(exc.field, exc.message) from None
