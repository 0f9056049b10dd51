"""The handoff and the deal: SAL → SQL to an AE, SQL → SQO with an opportunity (amount,
currency, expected close), and changes to the open opportunity kept as events.

    sales.opportunity("ana@acme.io", 12000, "EUR", "2027-03-31", actor="bo")
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from time import time_ns
from typing import Any

from leadgate.engine.engine import NotFound
from leadgate.ingest.validate import EventIn, InputError
from leadgate.sales.base import _PENDING_AE, _PENDING_OPP, SalesBase
from leadgate.store.repository import Repository, dumps

_CURRENCY = re.compile(r"^[A-Z]{3}$")


class Opportunities(SalesBase):
    """SQL handoff and opportunities."""

    def promote_sql(self, email: str, actor: str, ae: str | None = None) -> dict[str, Any]:
        """SAL → SQL (guarded by the framework), handed to `ae` or by the routing rules."""
        token = _PENDING_AE.set(ae)
        try:
            self.engine.set_stage(email, "sql", None, actor)
        finally:
            _PENDING_AE.reset(token)
        return self.engine.show(email)

    def opportunity(
        self,
        lead: str | int,
        amount: float | str,
        currency: str,
        close_date: str | date,
        actor: str,
        backfill: bool = False,
    ) -> dict[str, Any]:
        """The AE accepts an SQL as an opportunity: SQL → SQO with amount, currency, close.
        A close date before today is refused unless `backfill` (recording a past deal)."""
        amt = _amount(amount)
        cur = _currency(currency)
        close = self._close_date(close_date, backfill)
        email = self._email_of(lead)
        token = _PENDING_OPP.set(
            {"amount": amt, "currency": cur, "expected_close": close.isoformat(), "actor": actor}
        )
        try:
            self.engine.set_stage(email, "sqo", None, actor)
        finally:
            _PENDING_OPP.reset(token)
        return self.engine.show(email)

    def update_opportunity(
        self,
        lead: str | int,
        actor: str,
        amount: float | str | None = None,
        currency: str | None = None,
        close_date: str | date | None = None,
        backfill: bool = False,
    ) -> dict[str, Any]:
        """Change the open opportunity's amount, currency or expected close. The change
        is kept as an `opportunity_updated` event on the lead (who, what was, what is)."""
        changes: dict[str, Any] = {}
        if amount is not None:
            changes["amount"] = _amount(amount)
        if currency is not None:
            changes["currency"] = _currency(currency)
        if close_date is not None:
            changes["expected_close"] = self._close_date(close_date, backfill).isoformat()
        if not changes:
            raise InputError("opportunity", "nothing to change: give amount, currency or close")
        email = self._email_of(lead)
        now = self.engine.clock()
        with self.engine.db.write() as conn:
            repo = Repository(self.engine.db, conn)
            lid = self._lead(repo, email).state.id
            row = repo.execute(
                "SELECT id, amount, currency, expected_close, outcome FROM sales_opportunities "
                "WHERE lead_id = ? ORDER BY id DESC LIMIT 1",
                [lid],
            ).fetchone()
            if row is None:
                raise NotFound(f"{email} has no opportunity (leadgate opportunity EMAIL ...)")
            if row[4] is not None:
                raise InputError(
                    "opportunity",
                    f"the opportunity is closed ({row[4]}); reopen the deal first with "
                    f"`leadgate stage set {email} sqo --reason R`",
                )
            was = {"amount": row[1], "currency": row[2], "expected_close": row[3]}
            sets = ", ".join(f"{k} = ?" for k in changes)
            repo.execute(
                f"UPDATE sales_opportunities SET {sets} WHERE id = ?", [*changes.values(), row[0]]
            )
        props = {
            "actor": actor,
            "changes": {k: {"was": was[k], "now": v} for k, v in changes.items()},
        }
        ev = EventIn(
            f"opp-{time_ns()}-{email}", email, "opportunity_updated", now, props, dumps(props)
        )
        self.engine.ingest([ev], now)
        return self.engine.show(email)

    def _close_date(self, close_date: str | date, backfill: bool) -> date:
        try:
            close = (
                close_date
                if isinstance(close_date, date)
                else date.fromisoformat(str(close_date).strip())
            )
        except ValueError:
            raise InputError("close_date", f"'{close_date}' is not a date (YYYY-MM-DD)") from None
        today = datetime.fromtimestamp(self.engine.clock(), UTC).date()
        if close < today and not backfill:
            raise InputError(
                "close_date",
                f"{close.isoformat()} is in the past (today is {today.isoformat()}); to "
                'record a deal after the fact, pass --backfill (HTTP: "backfill": true)',
            )
        return close


# A quadrillion in any currency: above every deal, and sums of them stay finite.
MAX_AMOUNT = 1e15


def _amount(amount: float | str) -> float:
    try:
        amt = float(amount)
    except (TypeError, ValueError):
        raise InputError("amount", f"'{amount}' is not a number") from None
    if not math.isfinite(amt) or amt <= 0:
        raise InputError("amount", "must be a positive number")
    if amt > MAX_AMOUNT:
        # A finite double such as 1.7e308 was taken, and two of them summed to infinity
        # in the pipeline reports.
        raise InputError("amount", f"{amount} is more than {MAX_AMOUNT:,.0f}: not a deal size")
    return amt


def _currency(currency: str) -> str:
    cur = str(currency).strip().upper()
    if not _CURRENCY.match(cur):
        raise InputError("currency", f"'{currency}' is not a 3-letter ISO 4217 code (EUR)")
    return cur
