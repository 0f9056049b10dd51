"""Number and date formats, decided per column from the whole column.

One value alone often cannot say what it means: `1.200` is 1200 in Germany and 1.2 in
the US; `03/04/2026` is 3 April in Europe and 4 March in the US. The column can: a
`1.234,50` or a `2,5` elsewhere in it says the comma is the decimal mark; a `15/03/2026`
says its dates are day first. So an import first surveys the typed columns of the whole
file (`Survey`), decides each column's format once (`Survey.decide`), prints the decision
with the value that decided it, and only then converts values.

Example: a semicolon-separated export whose `Number of Employees` holds `1.200` and
whose `Annual Revenue` holds `2,5 Mio`: the revenue column decides "decimal comma" for
the file, so `1.200` is 1200. A `Create Date` column holding `03/04/2026` and
`15/03/2026` is day first: `03/04/2026` is 3 April. When nothing decides (every date
could be either), the import stops before storing anything and asks for
`--date-order dmy|mdy|ymd` (or `--decimal , | .`).

Parsing itself is left to python-dateutil, told the order decided here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dateutil import parser as dateparser

from leadgate.ingest.money import split_money
from leadgate.ingest.validate import InputError, check_offset, check_time, parse_time

DATE_ORDERS = ("dmy", "mdy", "ymd")
DECIMALS = (",", ".")
# d/m/y, m/d/y or y/m/d with / . or - between, a time may follow.
_NUMERIC_DATE = re.compile(r"\s*(\d{1,4})([/.\-])(\d{1,2})\2(\d{1,4})(?:$|[\sT,])")
_ORDER_WORDS = {"dmy": "day first", "mdy": "month first", "ymd": "year first"}


@dataclass
class _Evidence:
    """What a column's values say, with the first example of each kind."""

    votes: dict[str, tuple[int, str, int]] = field(default_factory=dict)
    ambiguous: tuple[str, int] | None = None
    ambiguous_n: int = 0
    dotted: bool = True  # every ambiguous date written with dots (15.03.2026)
    symbols: dict[str, int] = field(default_factory=dict)

    def vote(self, choice: str, value: str, line: int) -> None:
        n, v, ln = self.votes.get(choice, (0, value, line))
        self.votes[choice] = (n + 1, v, ln)


@dataclass(frozen=True)
class ColumnFormat:
    """A column's decided format and why (shown in the import summary)."""

    column: str
    field: str
    kind: str  # "number" or "date"
    decimal: str | None = None
    date_order: str | None = None
    why: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, without empty keys."""
        out = {"field": self.field, "kind": self.kind, "why": self.why}
        if self.decimal is not None:
            out["decimal"] = self.decimal
        if self.date_order is not None:
            out["date_order"] = self.date_order
        return out


def number_vote(digits: str) -> str | None:
    """The decimal mark a number (digits and separators only) proves, or None.

    `1.234,5` → ","; `2,5` → ","; `1.200.000` → ","; `12.75` → "."; `1.200` → None.
    """
    seps = [c for c in digits if c in ",."]
    if not seps:
        return None
    if "," in seps and "." in seps:
        return seps[-1]
    sep = seps[0]
    other = "." if sep == "," else ","
    if len(seps) > 1:
        return other  # repeated: a thousands separator
    whole, frac = digits.split(sep)
    if len(frac) != 3 or whole in ("", "0"):
        return sep
    return None


def date_vote(text: str) -> tuple[str | None, bool, str | None]:
    """(order proved, whether it is a numeric date at all, separator) for one value."""
    m = _NUMERIC_DATE.match(text)
    if not m:
        return None, False, None
    a, sep, b, c = m.group(1), m.group(2), m.group(3), m.group(4)
    if len(a) == 4:
        return "ymd", True, sep
    x, y = int(a), int(b)
    if x > 12 and y <= 12:
        return "dmy", True, sep
    if y > 12 and x <= 12:
        return "mdy", True, sep
    if x == y or len(c) not in (2, 4) or (x > 12 and y > 12):
        return "any", True, sep  # the same either way, or no date either way (skipped later)
    return None, True, sep


class Survey:
    """Evidence gathered from every value of the typed columns, then one decision each."""

    def __init__(self, kinds: dict[str, tuple[str, str]]):
        # field → (column as written, "number" | "integer" | "money" | "date")
        self.kinds = kinds
        self.evidence = {f: _Evidence() for f in kinds}

    def add(self, field_: str, raw: str, line: int) -> None:
        """Take one value of a surveyed column into account."""
        value = raw.strip()
        if not value or value.isdigit():
            return  # nothing to learn from an empty cell or plain digits
        ev = self.evidence[field_]
        kind = self.kinds[field_][1]
        if kind == "date":
            if value[4:5] == "-" and value[:4].isdigit():
                return  # ISO 8601: year first, never ambiguous
            order, numeric, sep = date_vote(value)
            if order in DATE_ORDERS:
                ev.vote(order, value, line)
            elif numeric and order is None:
                ev.ambiguous_n += 1
                ev.ambiguous = ev.ambiguous or (value, line)
                ev.dotted = ev.dotted and sep == "."
            return
        money = split_money(value)
        if money is None:
            return
        digits, currency, _ = money
        if currency:
            ev.symbols[currency] = ev.symbols.get(currency, 0) + 1
        vote = number_vote(digits)
        if vote:
            ev.vote(vote, value, line)
        elif any(c in ",." for c in digits):
            ev.ambiguous_n += 1
            ev.ambiguous = ev.ambiguous or (value, line)

    def decide(
        self, delimiter: str, decimal: str | None = None, date_order: str | None = None
    ) -> dict[str, ColumnFormat]:
        """Each surveyed column's format. InputError when the data cannot decide one."""
        out: dict[str, ColumnFormat] = {}
        file_votes: dict[str, int] = {}
        for f, (_, kind) in self.kinds.items():
            if kind != "date":
                for k, (n, _, _) in self.evidence[f].votes.items():
                    file_votes[k] = file_votes.get(k, 0) + n
        for f, (column, kind) in self.kinds.items():
            ev = self.evidence[f]
            if kind == "date":
                out[f] = self._date(f, column, ev, date_order)
            else:
                out[f] = self._number(f, column, kind, ev, delimiter, decimal, file_votes)
        return out

    def _date(self, f: str, column: str, ev: _Evidence, given: str | None) -> ColumnFormat:
        if given:
            return ColumnFormat(column, f, "date", date_order=given, why="--date-order")
        proved = {k: v for k, v in ev.votes.items() if k in ("dmy", "mdy")}
        if len(proved) == 2:
            (v1, l1), (v2, l2) = ((v, ln) for _, v, ln in proved.values())
            raise InputError(
                column,
                f"its dates disagree: '{v1}' (line {l1}) and '{v2}' (line {l2}) cannot both "
                "be read one way; say --date-order dmy|mdy|ymd (values that do not fit are "
                "skipped and reported)",
            )
        if proved:
            (order, (_, v, ln)) = next(iter(proved.items()))
            why = f"'{v}' (line {ln}) can only be {_ORDER_WORDS[order]}"
            return ColumnFormat(column, f, "date", date_order=order, why=why)
        if ev.ambiguous is None:
            return ColumnFormat(column, f, "date", date_order=None, why="no ambiguous dates")
        if ev.dotted:
            why = "dates written with dots (31.12.2026) are day first"
            return ColumnFormat(column, f, "date", date_order="dmy", why=why)
        v, ln = ev.ambiguous
        raise InputError(
            column,
            f"{ev.ambiguous_n} date(s) such as '{v}' (line {ln}) could be day first or month "
            "first and no row decides; say --date-order dmy (day first) or --date-order mdy",
        )

    def _number(
        self,
        f: str,
        column: str,
        kind: str,
        ev: _Evidence,
        delimiter: str,
        given: str | None,
        file_votes: dict[str, int],
    ) -> ColumnFormat:
        def fmt(mark: str, why: str) -> ColumnFormat:
            return ColumnFormat(column, f, "number", decimal=mark, why=why)

        if given:
            return fmt(given, "--decimal")
        if ev.votes:
            mark, (_, v, ln) = max(ev.votes.items(), key=lambda kv: kv[1][0])
            return fmt(mark, f"'{v}' (line {ln}) has '{mark}' as its decimal mark")
        if ev.ambiguous is None:
            return fmt(".", "no value has a separator")
        if kind == "integer":
            mark = "," if delimiter == ";" else "."
            return fmt(mark, "a whole count: '1.200' and '1,200' both mean 1200")
        if file_votes:
            mark = max(file_votes.items(), key=lambda kv: kv[1])[0]
            return fmt(mark, f"the file's other number columns use '{mark}'")
        if delimiter == ";":
            return fmt(",", "semicolon-separated files come from decimal-comma locales")
        if any(c in ev.symbols for c in ("USD", "GBP", "CAD", "AUD", "JPY", "INR")):
            return fmt(".", "amounts in $, £, ¥ or ₹ use a decimal point")
        v, ln = ev.ambiguous
        raise InputError(
            column,
            f"'{v}' (line {ln}) could be a thousand or a decimal and no value decides; "
            "say --decimal , or --decimal .",
        )


def parse_number(raw: str, fmt: ColumnFormat, integer: bool) -> tuple[float | int, str | None]:
    """A cell as (number, currency or None) under the column's decided decimal mark."""
    value = raw.strip()
    band = re.fullmatch(r"(\d[\d.,]*)\s*-\s*(\d[\d.,]*)", value)
    if band:
        lo, _ = parse_number(band.group(1), fmt, integer)
        hi, _ = parse_number(band.group(2), fmt, integer)
        n: float = (lo + hi) / 2  # "51-200" size bands: the middle, as CRMs segment
        return (int(n) if integer else n), None
    money = split_money(value)
    if money is None:
        raise InputError(fmt.field, f"'{value}' is not a number")
    digits, currency, multiplier = money
    mark = fmt.decimal or "."
    thousands = "." if mark == "," else ","
    if integer and multiplier == 1 and number_vote(digits) is None:
        mark, thousands = "\0", ",."  # a whole count: either separator groups thousands
    text = digits
    for t in thousands:
        text = text.replace(t, "")
    text = text.replace(mark, ".") if mark != "\0" else text
    try:
        n = float(text) * multiplier
    except ValueError:
        raise InputError(fmt.field, f"'{value}' is not a number") from None
    if not math.isfinite(n):
        # float() turns 400 digits into infinity, which no store keeps (JSON writes null).
        raise InputError(fmt.field, f"'{value}' is too large a number")
    if n < 0:
        raise InputError(fmt.field, f"'{value}' is negative")
    if integer:
        if n != int(n):
            raise InputError(fmt.field, f"'{value}' is not a whole number")
        return int(n), currency
    return n, currency


def parse_date(raw: str, fmt: ColumnFormat, now: float) -> float:
    """A cell as epoch seconds under the column's decided order (naive times are UTC)."""
    text = raw.strip()
    order, numeric, _ = date_vote(text)
    if not numeric or order == "ymd":
        # ISO 8601 and other year-first dates (2026-01-05) are never ambiguous.
        return parse_time(text, fmt.field, now)
    want = fmt.date_order
    if order in DATE_ORDERS and want and order != want:
        raise InputError(
            fmt.field,
            f"'{text}' is not {_ORDER_WORDS[want]} as the rest of the column ({fmt.why})",
        )
    try:
        dt = dateparser.parse(text, dayfirst=want == "dmy", yearfirst=want == "ymd")
    except (ValueError, OverflowError):
        raise InputError(fmt.field, f"'{text}' is not a date") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return check_time(_timestamp(dt, fmt.field, text), fmt.field, now)


def _timestamp(dt: datetime, field_: str, text: str) -> float:
    check_offset(dt, field_, text)
    try:
        return dt.timestamp()
    except (OverflowError, ValueError, OSError):
        raise InputError(field_, f"'{text}' is not a time this store can hold") from None
