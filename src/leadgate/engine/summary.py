"""One lead as a list shows it: the summary row every lead list builds the same way.

The web app's Leads list (`leadgate.engine.listing`) and the API's `GET /v1/leads`
(`leadgate.api.queries`) both read these columns first and make these keys of them, so
the two can never disagree on a field (the API's keys are a public contract: this is
exactly its item; the web list adds fields from the attributes).

    sql = f"SELECT {summary_columns('l')}, l.attributes FROM leads l ..."
    item = summary(row)            # {"id": ..., "email": ..., ..., "updated_at": "..."}
    rest = row[SUMMARY_WIDTH:]     # the columns selected after them
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from leadgate.ingest.validate import iso

# (column of `leads`, key in the row); times are epoch seconds in the store, ISO 8601 out.
_FIELDS = (
    ("id", "id"),
    ("email", "email"),
    ("stage", "stage"),
    ("fit", "fit"),
    ("engagement", "engagement"),
    ("score", "score"),
    ("fit_grade", "fit_grade"),
    ("engagement_grade", "engagement_grade"),
    ("grade", "grade"),
    ("owner", "owner"),
    ("stage_at", "stage_since"),
    ("created_at", "created_at"),
    ("updated_at", "updated_at"),
)
_TIMES = frozenset({"stage_at", "created_at", "updated_at"})
SUMMARY_WIDTH = len(_FIELDS)
SUMMARY_KEYS = tuple(key for _, key in _FIELDS)
# Where each column is in a row selected with summary_columns() (e.g. for a cursor).
SUMMARY_INDEX = {col: i for i, (col, _) in enumerate(_FIELDS)}


def summary_columns(alias: str = "") -> str:
    """The columns summary() reads, in its order (`alias`: the leads table's, if any)."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + col for col, _ in _FIELDS)


def summary(row: Sequence[Any]) -> dict[str, Any]:
    """The summary of a lead from a row that starts with summary_columns()."""
    return {key: iso(row[i]) if col in _TIMES else row[i] for i, (col, key) in enumerate(_FIELDS)}
