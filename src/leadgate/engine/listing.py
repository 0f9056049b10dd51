"""Lead lists at scale: filters, search, segments and seek pagination over the store.

What the web app's Leads page, its CSV export and `leadgate lead list` read. A page is
found by seeking, never by OFFSET: the cursor holds the sort key of the last row shown,
and the next page starts right after it on the sort's index (migration
0014_lead_search), so page 20,000 costs what page 1 costs.

    q = LeadQuery(stage="mql", search="acme", segment="hot_mqls", limit=50)
    page = list_page(engine, q)                  # page.rows, page.next (None at the end)
    list_page(engine, replace(q, after=page.next))
    for rows in iter_pages(engine, q, 1000): ... # every match, a page at a time (exports)

Every sort is one direction over its whole key (`-score` is indexed as an expression);
a page after a cursor is read as branches, each an equality prefix and one range on that
index. Search is a case-insensitive substring of the email, first and last name, name or
company (every word must be found); its candidates come from a trigram index on
`lead_search` (SQLite FTS5, PostgreSQL pg_trgm). The source and the predicted band are
columns the store keeps from the attributes (migration 0015_lead_filters), each with an
index: a rare value is read from it and sorted, a common one tested along the sort's
index (`_plan`). A segment tests the leads along the sort's index until a page is full:
cheap when many match, a long walk when few do (docs/ui.md, "Leads at scale").
"""

from __future__ import annotations

import base64
import binascii
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import orjson

from leadgate.engine.summary import SUMMARY_WIDTH, summary, summary_columns
from leadgate.ingest.validate import InputError
from leadgate.lifecycle.stages import STAGES
from leadgate.playbook.model import FieldCondition

if TYPE_CHECKING:
    from leadgate.engine.engine import Engine
    from leadgate.store.database import Database

# sort -> (key expressions, in one direction; descending?). `id` ends each key: a total order.
SORTS: dict[str, tuple[tuple[str, ...], bool]] = {
    "priority": (("l.fit_grade", "l.engagement_grade", "-l.score", "l.created_at", "l.id"), False),
    "score": (("-l.score", "l.id"), False),
    "recent": (("l.updated_at", "l.id"), True),
    # The probability `leadgate predict` stored, highest first; leads without one last.
    "predicted": (("{pred_key}", "l.id"), False),
    "email": (("l.email", "l.id"), False),
}
# Predicted-conversion bands (of the stored probability); `none`: no prediction stored.
BANDS: dict[str, tuple[float | None, float | None]] = {
    "high": (0.5, None),
    "medium": (0.2, 0.5),
    "low": (None, 0.2),
}
SEARCH_FIELDS = ("first_name", "last_name", "name", "company")
# `leads.source_key` holds this many characters of the source (migration 0015; a test
# checks): a longer one is found by its first characters, then tested in full.
SOURCE_KEY_CHARS = 200
# A filter with an index of its own that finds fewer leads than this starts SQLite's plan.
RARE = 2000
# The predicted probability as the store keeps it (migration 0015), NULL when none.
_PRED = "l.predicted"
# The summary row (engine.summary), then the attributes; the sort key follows (k0, k1...).
_COLS = f"{summary_columns('l')}, l.attributes"
_ATTRS = SUMMARY_WIDTH
_KEY = SUMMARY_WIDTH + 1
_NO_PREDICTION = 1e300  # the sort key of a lead without a prediction: after every -p


@dataclass(frozen=True, slots=True)
class LeadQuery:
    """What a list shows: filters (all optional, combined with AND), order, page."""

    stage: str | None = None
    grade: str | None = None
    owner: str | None = None
    min_score: float | None = None
    source: str | None = None
    search: str | None = None
    predicted: str | None = None  # a band: high, medium, low, none
    min_predicted: float | None = None
    segment: str | None = None
    sort: str = "priority"
    limit: int = 50
    after: str | None = None  # the cursor of the previous page


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[dict[str, Any]]
    next: str | None


def _grade(grade: str) -> tuple[str, str]:
    g = grade.strip().upper()
    if len(g) == 1 and g in "ABCD":
        return "l.fit_grade", g
    if len(g) == 1 and g in "1234":
        return "l.engagement_grade", g
    if len(g) == 2 and g[0] in "ABCD" and g[1] in "1234":
        return "l.grade", g
    raise InputError("grade", f"'{grade}' is not a grade (A-D, 1-4 or e.g. B2)")


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class _Sql:
    """A statement under construction: filters with `?` parameters, and fragments (compiled
    segments) spliced in after the driver's parameter style is applied, as their literals
    may hold a `?` or a `%`."""

    def __init__(self, db: Database):
        self.db = db
        self.dialect = "sqlite" if db.is_sqlite else "postgres"
        self.where: list[str] = []
        self.params: list[Any] = []
        self.fragments: list[str] = []
        # Filters an index of their own can start the plan from: (index, sql, params).
        self.seeks: list[tuple[str, str, list[Any]]] = []
        self.leads = "leads l"

    def add(self, sql: str, *params: Any) -> None:
        self.where.append(sql)
        self.params.extend(params)

    def add_seek(self, index: str, sql: str, *params: Any) -> None:
        """A filter `sql` of one column whose index (`index`) can find its leads."""
        self.seeks.append((index, sql, list(params)))

    def add_fragment(self, sql: str) -> None:
        self.where.append(f"<<{len(self.fragments)}>>")
        self.fragments.append(sql)

    def select(self, head: str, extra: list[str], tail: str) -> str:
        """`head WHERE filters AND extra tail`, still with `?` and fragment markers."""
        where = self.where + extra
        return head + (" WHERE " + " AND ".join(where) if where else "") + tail

    def finish(self, sql: str) -> str:
        sql = self.db.param(sql)
        for i, frag in enumerate(self.fragments):
            sql = sql.replace(f"<<{i}>>", f"({frag})")
        return sql


def _pred_key() -> str:
    # Written as migration 0015 indexes it: SQLite matches an index expression by its text.
    return f"COALESCE(-{_PRED}, {_NO_PREDICTION!r})"


def _key(sort: str) -> tuple[list[str], bool]:
    keys, desc = SORTS[sort]
    return [k.replace("{pred_key}", _pred_key()) for k in keys], desc


def encode_cursor(sort: str, values: list[Any]) -> str:
    """An opaque cursor: the sort and the key of the last row shown."""
    return base64.urlsafe_b64encode(orjson.dumps([sort, *values])).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> list[Any]:
    """The key values in a cursor made for `sort`; InputError when it is not one."""
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise InputError("after", "not a cursor of this list (start from the first page)") from None
    keys = SORTS[sort][0]
    if not isinstance(data, list) or len(data) != len(keys) + 1 or data[0] != sort:
        raise InputError("after", "not a cursor for this sort order (start from the first page)")
    values = data[1:]
    for v in values:
        if isinstance(v, bool) or not isinstance(v, str | int | float):
            raise InputError("after", "not a cursor of this list (start from the first page)")
    return values


def segment_condition(engine: Engine, name: str) -> Any:
    """The active playbook's segment `name`; InputError naming the segments when unknown."""
    segments = engine.processor().playbook.segments
    if name not in segments:
        names = ", ".join(segments) or "the active playbook defines none"
        raise InputError("segment", f"no segment '{name}' (segments: {names})")
    return segments[name]


def _filters(engine: Engine, q: LeadQuery, s: _Sql) -> None:
    if q.stage:
        stage = q.stage.strip().lower()
        if stage not in STAGES:
            raise InputError("stage", f"unknown stage '{q.stage}' (one of {', '.join(STAGES)})")
        s.add("l.stage = ?", stage)
    if q.grade:
        col, g = _grade(q.grade)
        s.add(f"{col} = ?", g)
    if q.owner:
        s.add("l.owner = ?", q.owner)
    if q.min_score is not None:
        s.add("l.score >= ?", q.min_score)
    if q.source:
        # The playbook's own `eq` (any case, blanks around ignored), on the column the
        # store keeps: the source stripped and case-folded, its first SOURCE_KEY_CHARS.
        key = q.source.strip().casefold()
        s.add_seek("ix_leads_source_key", "l.source_key = ?", key[:SOURCE_KEY_CHARS])
        if len(key) >= SOURCE_KEY_CHARS:
            from leadgate.analytics.sqlsegments import segment_where

            cond = FieldCondition(field="source", op="eq", value=q.source)
            s.add_fragment(segment_where(cond, s.dialect))
    if q.predicted:
        band = q.predicted.strip().lower()
        if band != "none" and band not in BANDS:
            raise InputError("predicted", f"one of {', '.join([*BANDS, 'none'])}")
        s.add_seek("ix_leads_predicted_band", "l.predicted_band = ?", band)
    if q.min_predicted is not None:
        # The second test follows from the first; it lets the plan seek the predicted
        # sort's index (a key of -p is at most -x when p is at least x).
        s.add(f"{_PRED} >= ? AND {_pred_key()} <= ?", q.min_predicted, -q.min_predicted)
    if q.search:
        _search(engine.db, q.search, s)
    if q.segment:
        # Loaded here: the segment compiler brings sqlglot (~0.1 s of a CLI start).
        from leadgate.analytics.sqlsegments import segment_where

        s.add_fragment(segment_where(segment_condition(engine, q.segment), s.dialect))


def _plan(db: Database, s: _Sql) -> None:
    """Where the plan starts, when a filter has an index of its own.

    PostgreSQL's planner knows how many leads a value has (its statistics) and chooses.
    SQLite's has no statistics here and guesses: it took the filter's index for a source
    most leads have (reading them all and sorting them: 140 ms at 100k leads), the
    priority index for a source none has (walking all of it). So the filter's index is
    asked first how many leads it holds, up to RARE: fewer, and the plan starts there
    (INDEXED BY; the sort is of fewer than RARE rows); more, and the filter's index is
    kept out (`+`), so the sort's index is walked, and a page of N rows is found within
    about N * leads / RARE of them."""
    if not db.is_sqlite:
        for _, sql, params in s.seeks:
            s.add(sql, *params)
        return
    if not s.seeks:
        return
    counts = []
    with db.read_raw() as dbapi:
        cur = dbapi.cursor()
        for index, sql, params in s.seeks:
            count = (
                f"SELECT COUNT(*) FROM (SELECT 1 FROM leads l INDEXED BY {index} WHERE {sql} "
                f"LIMIT {RARE})"
            )
            counts.append(cur.execute(count, tuple(params)).fetchone()[0])
        cur.close()
    best = min(range(len(counts)), key=counts.__getitem__, default=None)
    for i, (index, sql, params) in enumerate(s.seeks):
        if i == best and counts[i] < RARE:
            s.leads = f"leads l INDEXED BY {index}"
            s.add(sql, *params)
        else:
            s.add("+" + sql, *params)


def _search(db: Database, text: str, s: _Sql) -> None:
    # Addresses are stored in NFC (check_email): `jose\u0301` typed finds `josé`.
    words = unicodedata.normalize("NFC", text).split()[:5]
    for w in words:
        if db.is_sqlite:
            # The trigram index (migration 0014) finds the candidates of a word of 3+
            # characters; LIKE then decides (it ignores the case of ASCII letters).
            if len(w) >= 3:
                s.add(
                    "l.id IN (SELECT rowid FROM lead_search WHERE lead_search MATCH ?)",
                    '"' + w.replace('"', '""') + '"',
                )
            cols = ["l.email"] + [f"json_extract(l.attributes, '$.{f}')" for f in SEARCH_FIELDS]
            op = "LIKE"
        else:
            # The candidates from the trigram index on `lead_search` (migration 0014).
            # OFFSET 0 keeps the planner from folding this into a walk of the sort's
            # index that tests every lead: it guesses pg_trgm's selectivity at a flat 1%,
            # and search terms are mostly rare.
            s.add(
                "l.id IN (SELECT s.id FROM lead_search s WHERE s.body ILIKE ? "
                "ESCAPE '\\' OFFSET 0)",
                _like(w),
            )
            cols = ["l.email"] + [f"(CAST(l.attributes AS JSONB) ->> '{f}')" for f in SEARCH_FIELDS]
            op = "ILIKE"
        s.add(
            "(" + " OR ".join(f"{c} {op} ? ESCAPE '\\'" for c in cols) + ")",
            *([_like(w)] * len(cols)),
        )


def _row(r: Any) -> dict[str, Any]:
    try:
        attrs = orjson.loads(r[_ATTRS]) if r[_ATTRS] else {}
    except orjson.JSONDecodeError:
        attrs = {}
    pred = attrs.get("predicted")
    return {
        **summary(r),
        "first_name": attrs.get("first_name"),
        "last_name": attrs.get("last_name"),
        "company": attrs.get("company"),
        "source": attrs.get("source"),
        "predicted": (
            float(pred) if isinstance(pred, int | float) and not isinstance(pred, bool) else None
        ),
        "attributes": attrs,
    }


def list_page(engine: Engine, q: LeadQuery, tick: bool = True) -> Page:
    """One page of the list and the cursor of the next (None at the end).

    `tick` fires due timers first (a write), so stages are as of now."""
    if q.sort not in SORTS:
        raise InputError("sort", f"one of {', '.join(SORTS)}")
    if not 1 <= q.limit <= 100_000:
        raise InputError("limit", "between 1 and 100000")
    if tick:
        engine.tick()
    sql, params = statement(engine, q)
    # The driver's connection: on an SQLite file a one-shot `leadgate lead list` then
    # never imports SQLAlchemy (issue 17); a server reads through its pool as before.
    with engine.db.read_raw() as dbapi:
        cur = dbapi.cursor()
        rows = cur.execute(sql, tuple(params)).fetchall()
        cur.close()
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    nxt = encode_cursor(q.sort, list(rows[-1][_KEY:])) if more and rows else None
    return Page([_row(r) for r in rows], nxt)


def statement(engine: Engine, q: LeadQuery) -> tuple[str, list[Any]]:
    """The SQL of one page, ready for the driver, and its parameters (one row more than
    the page: whether a next one exists). Tests read its plan."""
    db = engine.db
    s = _Sql(db)
    _filters(engine, q, s)
    _plan(db, s)
    keys, desc = _key(q.sort)
    direction = " DESC" if desc else ""
    n = int(q.limit) + 1
    head = f"SELECT {_COLS}, {', '.join(f'{k} AS k{i}' for i, k in enumerate(keys))} FROM {s.leads}"
    inner = f" ORDER BY {', '.join(k + direction for k in keys)} LIMIT {n}"
    if not q.after:
        sql, params = s.select(head, [], inner), list(s.params)
    else:
        # After the cursor (x1..xn): the rows with k1 past x1, those with k1 = x1 and k2
        # past x2, ... Each branch is an equality prefix and one range on the sort's index,
        # which SQLite and PostgreSQL both seek (a row-value comparison over expressions
        # SQLite would scan from the top); the branches are merged in order.
        values = decode_cursor(q.after, q.sort)
        past = "<" if desc else ">"
        branches, params = [], []
        for i in range(len(keys)):
            extra = [f"{k} = ?" for k in keys[:i]] + [f"{keys[i]} {past} ?"]
            branches.append(f"SELECT * FROM ({s.select(head, extra, inner)}) AS b{i}")
            params += [*s.params, *values[: i + 1]]
        outer = ", ".join(f"k{i}{direction}" for i in range(len(keys)))
        sql = " UNION ALL ".join(branches) + f" ORDER BY {outer} LIMIT {n}"
    return s.finish(sql), params


def iter_pages(engine: Engine, q: LeadQuery, size: int = 1000) -> Iterator[list[dict[str, Any]]]:
    """Every lead of the list, `size` at a time (the export: memory stays one page)."""
    page = list_page(engine, replace(q, limit=size, after=q.after))
    while True:
        if page.rows:
            yield page.rows
        if page.next is None:
            return
        page = list_page(engine, replace(q, limit=size, after=page.next), tick=False)
