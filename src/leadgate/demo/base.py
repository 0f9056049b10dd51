"""Shared pieces of the demo generator: time constants, the weekly intake curve, weighted
choice tables and fast ISO 8601 formatting.

Example: `Table([("US", 34), ("GB", 11)]).pick(0.5)` is "US" (0.5 of the total weight
falls in the US share); `Clock().iso(1_762_128_000)` is "2025-11-03T00:00:00Z".
"""

from __future__ import annotations

import math
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

#: The default window start: fixed (not "now") so one seed always gives one data set.
#: 2025-11-03 + 180 days ends on 2026-05-02, in the past for the test clock and today.
DEFAULT_START = datetime(2025, 11, 3, tzinfo=UTC)

HOUR = 3600
DAY = 86400
MAX_DAYS = 3650  # the burst weights are exp(age / 7 days): past ~13 years they overflow

Row = dict[str, Any]


# --- small helpers ------------------------------------------------------------------------


class Table:
    """A weighted choice table: pick(u) for u uniform in [0, 1)."""

    __slots__ = ("cum", "total", "values")

    def __init__(self, pairs: Sequence[tuple[Any, float]]):
        self.values = [v for v, _ in pairs]
        self.cum = list(accumulate(float(w) for _, w in pairs))
        self.total = self.cum[-1]

    def pick(self, u: float) -> Any:
        i = bisect_right(self.cum, u * self.total)
        return self.values[i if i < len(self.values) else -1]


_FOLD = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ß": "ss", "ł": "l", "đ": "d"})


def ascii_fold(name: str) -> str:
    """A name as an email local-part fragment: accents folded, only a-z."""
    text = unicodedata.normalize("NFKD", name.translate(_FOLD))
    return "".join(ch for ch in text.lower() if "a" <= ch <= "z")


def words(text: str) -> list[str]:
    """Split a word list; an underscore joins particles ("van_den_Berg" is one surname)."""
    return [w.replace("_", " ") for w in text.split()]


class Clock:
    """ISO 8601 UTC formatting with a per-hour prefix cache (formatting is the hot path)."""

    __slots__ = ("_hours",)

    def __init__(self) -> None:
        self._hours: dict[int, str] = {}

    def prefix(self, ts: int) -> str:
        h = ts // HOUR
        p = self._hours.get(h)
        if p is None:
            p = datetime.fromtimestamp(h * HOUR, UTC).strftime("%Y-%m-%dT%H:")
            self._hours[h] = p
        return p

    def iso(self, ts: int) -> str:
        return self.prefix(ts) + MMSS[ts % HOUR]


MMSS = [f"{s // 60:02d}:{s % 60:02d}Z" for s in range(HOUR)]


def normalised(cum: list[float]) -> list[float]:
    """Cumulative weights scaled to end at exactly 1.0, for bisect with a bare random()."""
    return [c / cum[-1] for c in cum[:-1]] + [1.0]


def resolve(start: datetime | None, days: int) -> int:
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be between 1 and {MAX_DAYS}, got {days}")
    when = DEFAULT_START if start is None else start
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return math.floor(when.timestamp())


def check_counts(n_leads: int, n_events: int) -> None:
    if n_leads < 0 or n_events < 0:
        raise ValueError("n_leads and n_events must not be negative")
    if n_leads == 0 and n_events > 0:
        raise ValueError("events need leads: n_leads is 0 but n_events is not")


# Hour of day in UTC: 07-16 is the European working day, 13-21 the US one.
_HOUR_OF_DAY = [
    0.15, 0.12, 0.10, 0.10, 0.12, 0.18, 0.30, 0.55, 0.85, 1.00, 1.05, 1.05,
    1.00, 1.15, 1.25, 1.25, 1.15, 0.95, 0.80, 0.70, 0.55, 0.40, 0.28, 0.20,
]  # fmt: skip
# Monday..Sunday: B2B forms are filled at work; Friday afternoons and weekends are quiet.
_WEEKDAY = [1.05, 1.10, 1.10, 1.00, 0.80, 0.30, 0.28]


def hour_factor(ts: int) -> float:
    # 1970-01-01 was a Thursday, hence the +3 to get Monday = 0.
    return _HOUR_OF_DAY[(ts // HOUR) % 24] * _WEEKDAY[(ts // DAY + 3) % 7]
