"""Reading and writing leads, events, transitions and playbooks.

The hot paths (batch ingest) use the driver's `executemany` through SQLAlchemy's
connection, one statement per batch rather than per row: on SQLite that is the
difference between ~80k and 110k+ events/s (see PERFORMANCE-NOTES).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import orjson

from leadgate.leads.record import LeadState
from leadgate.lifecycle.stages import Transition
from leadgate.scoring.engagement import EngagementState, Event, Tally
from leadgate.store.database import PENDING_KEY, Database

if TYPE_CHECKING:
    from sqlalchemy import Connection

_LEAD_COLS = (
    "id, email, attributes, created_at, stage, stage_at, stage_reason, exit_armed, "
    "score_state, playbook_version, timer_spent_at, next_due_at, owner, updated_at, "
    "score, grade, fit"
)
_CHUNK = 900
# What `save_leads` writes (besides attributes); the stage columns only for leads
# whose stage or timer changed.
_SCORE_COLS = (
    "updated_at",
    "fit",
    "engagement",
    "score",
    "fit_grade",
    "engagement_grade",
    "grade",
    "scored_at",
    "playbook_version",
    "score_state",
    "exit_armed",
    "timer_spent_at",
)
_STAGE_COLS = ("stage", "stage_at", "stage_reason", "next_due_at")
# Below this many rows PostgreSQL gets plain statements: the temp-table path costs three
# extra statements (create, empty, COPY), which is most of a single-event request.
_SMALL_BATCH = 64
# Up to this many lead updates, joined to the leads by primary key (see _update_leads).
_PROBE_BATCH = 5_000
# PostgreSQL temporary tables the hot paths COPY into.
_LEADS_IN = (
    "id int4, attributes text, updated_at float8, fit float8, engagement float8, "
    "score float8, fit_grade text, engagement_grade text, grade text, scored_at float8, "
    "playbook_version int4, score_state text, exit_armed bool, timer_spent_at float8, "
    "stage text, stage_at float8, stage_reason text, next_due_at float8"
)
_EVENT_COLS = ("id", "lead_id", "type", "occurred_at", "received_at", "properties")
_EVENTS_IN = (
    "id text, lead_id int4, type text, occurred_at float8, received_at float8, properties text"
)


def _column_types(ddl: str) -> dict[str, str]:
    """Column name -> type of a temp table's DDL (binary COPY sends each value in its
    type's own wire format, so it must know them)."""
    return {name: kind for name, kind in (part.split(" ") for part in ddl.split(", "))}


_EVENTS_TYPES = _column_types(_EVENTS_IN)


# What a stored lead row holds of a LeadState (all of it: the caches are recomputed).
_STATE_FIELDS = tuple(f.name for f in fields(LeadState))


def dumps(obj: Any) -> str:
    """Compact JSON text (orjson) with sorted keys, so equal documents compare equal."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()


def loads(text: str | bytes | None) -> Any:
    """Inverse of `dumps`; None and empty give {}."""
    return orjson.loads(text) if text else {}


def dump_state(st: EngagementState, settled_at: float = -math.inf) -> str:
    """A lead's engagement state as stored: a JSON array, cheaper both ways than the
    keyed form of `EngagementState.to_json` (which `load_state` still reads). The
    lead's `settled_at` rides along as a sixth item when it is set."""
    data = [
        None if st.last_at == -math.inf else st.last_at,
        st.last_id,
        [[k, t.count, t.value, t.anchor, t.window] for k, t in st.rules.items()],
        st.adjustments,
        st.fit_adjustments,
    ]
    if settled_at != -math.inf:
        data.append(settled_at)
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()


def load_state(text: str | bytes | None) -> EngagementState:
    """Inverse of `dump_state`; also reads the keyed form and the empty `{}`."""
    return load_lead_state(text)[0]


def load_lead_state(text: str | bytes | None) -> tuple[EngagementState, float]:
    """(engagement state, settled_at) as `dump_state` wrote them."""
    data = orjson.loads(text) if text else None
    if not isinstance(data, list):
        return EngagementState.from_json(data), -math.inf
    t, last_id, rules, adjustments, fit_adjustments = data[:5]
    state = EngagementState(
        -math.inf if t is None else float(t),
        last_id,
        {k: Tally(c, float(v), float(a), w) for k, c, v, a, w in rules},
        adjustments,
        fit_adjustments,
    )
    return state, float(data[5]) if len(data) > 5 else -math.inf


class ConcurrentEvents(RuntimeError):
    """Another writer stored some of a batch's event ids (sent for another lead) while
    the batch was being scored: nothing of it is committed; run it again."""

    def __init__(self, ids: set[str]):
        super().__init__(f"{len(ids)} event id(s) stored by another writer meanwhile")
        self.ids = ids


@dataclass(slots=True)
class StoredLead:
    """A lead row: the core's state plus what only the store knows."""

    state: LeadState
    owner: str | None
    updated_at: float
    # Score and grade as stored before this transaction changed anything.
    score_before: float | None = None
    grade_before: str | None = None
    # (stage, stage_at, stage_reason, next_due_at) as stored; None: unknown.
    stage_before: tuple[str, float, str | None, float | None] | None = None
    # Stored stage changes this transaction voided (a re-derivation), for the listeners.
    voided: list[Transition] = field(default_factory=list)


def _row_to_lead(row: Sequence[Any]) -> StoredLead:
    engagement, settled = load_lead_state(row[8])
    state = LeadState(
        email=row[1],
        attributes=loads(row[2]),
        created_at=row[3],
        id=row[0],
        stage=row[4],
        stage_at=row[5],
        stage_reason=row[6],
        exit_armed=bool(row[7]),
        engagement_state=engagement,
        settled_at=settled,
        playbook_version=row[9],
        timer_spent_at=row[10],
        next_due_at=row[11],
        # Fit depends on attributes and the playbook only: reuse the stored value.
        fit_cache=row[16] if row[9] is not None else None,
    )
    return StoredLead(state, row[12], row[13], row[14], row[15], (row[4], row[5], row[6], row[11]))


def _chunks(items: Sequence[Any], n: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class Repository:
    """Statements over one connection (inside a transaction the caller owns)."""

    def __init__(self, db: Database, conn: Connection | None, raw: Any = None):
        """Over a SQLAlchemy connection, or (conn None) over the driver's own connection
        `raw` (`Database.read_raw`: reads only)."""
        self.db = db
        self.conn = conn
        self._raw = raw if conn is None else conn.connection.driver_connection
        # The events COPY running in the background (PostgreSQL), and what it raised.
        self._pending: threading.Thread | None = None
        self._pending_error: BaseException | None = None

    def _cur(self) -> Any:
        if self._pending is not None:
            self.wait()
        return self._raw.cursor()  # type: ignore[union-attr]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one raw statement (`?` placeholders) and return the cursor."""
        cur = self._cur()
        cur.execute(self.db.param(sql), tuple(params))
        return cur

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one raw statement for many rows."""
        if rows:
            cur = self._cur()
            cur.executemany(self.db.param(sql), rows)
            cur.close()

    # -- leads ----------------------------------------------------------------

    def leads_by_email(self, emails: Sequence[str], lock: bool = False) -> dict[str, StoredLead]:
        """The stored leads among `emails` (already normalised), locked for update on PostgreSQL."""
        out: dict[str, StoredLead] = {}
        if not self.db.is_sqlite:
            # One array parameter instead of a long IN list: PostgreSQL plans and binds
            # it once (an IN list of 900 parameters costs ~20x more here).
            suffix = " ORDER BY id FOR UPDATE" if lock else ""
            cur = self.execute(
                f"SELECT {_LEAD_COLS} FROM leads WHERE email = ANY(?::text[]){suffix}",
                [list(emails)],
            )
            for row in cur.fetchall():
                out[row[1]] = _row_to_lead(row)
            return out
        for chunk in _chunks(list(emails)):
            marks = ",".join("?" * len(chunk))
            cur = self.execute(f"SELECT {_LEAD_COLS} FROM leads WHERE email IN ({marks})", chunk)
            for row in cur.fetchall():
                out[row[1]] = _row_to_lead(row)
        return out

    def lead_by_email(self, email: str, lock: bool = False) -> StoredLead | None:
        """One lead by normalised email."""
        return self.leads_by_email([email], lock).get(email)

    def leads_after(self, after_id: int, limit: int, lock: bool = False) -> list[StoredLead]:
        """Up to `limit` leads with ids above `after_id`, in id order (a whole-store walk)."""
        suffix = " FOR UPDATE" if lock and not self.db.is_sqlite else ""
        cur = self.execute(
            f"SELECT {_LEAD_COLS} FROM leads WHERE id > ? ORDER BY id LIMIT ?{suffix}",
            [after_id, limit],
        )
        return [_row_to_lead(row) for row in cur.fetchall()]

    def lead_by_id(self, lead_id: int, lock: bool = False) -> StoredLead | None:
        """One lead by id."""
        suffix = " FOR UPDATE" if lock and not self.db.is_sqlite else ""
        row = self.execute(
            f"SELECT {_LEAD_COLS} FROM leads WHERE id = ?{suffix}", [lead_id]
        ).fetchone()
        return _row_to_lead(row) if row else None

    def insert_leads(self, leads: Sequence[LeadState], now: float) -> None:
        """Create leads (ids filled in). An email taken meanwhile is skipped, then read back."""
        if not leads:
            return
        if not self.db.is_sqlite:
            # In email order: two writers creating the same leads wait for each other
            # in one order, never in a cycle (a deadlock).
            order = sorted(leads, key=lambda x: x.email)
            cur = self.execute(
                "INSERT INTO leads (email, attributes, created_at, updated_at, stage, stage_at, "
                "fit, engagement, score, fit_grade, engagement_grade, grade, scored_at, "
                "score_state, exit_armed) "
                "SELECT e, a, c, ?, 'lead', c, 0, 0, 0, 'D', '4', 'D4', ?, '{}', false "
                "FROM unnest(?::text[], ?::text[], ?::float8[]) AS t(e, a, c) "
                "ON CONFLICT (email) DO NOTHING RETURNING id, email",
                [
                    now,
                    now,
                    [x.email for x in order],
                    [dumps(x.attributes) for x in order],
                    [x.created_at for x in order],
                ],
            )
            ids = {email: lid for lid, email in cur.fetchall()}
            if len(ids) < len(leads):
                # A concurrent writer created some of them first (we waited for it to
                # commit). Its row is the lead now: lock it and carry on from its state,
                # or saving ours would overwrite what it scored.
                taken = self.leads_by_email([x.email for x in leads if x.email not in ids], True)
                for x in leads:
                    stored = taken.get(x.email)
                    if stored is not None:
                        for name in _STATE_FIELDS:
                            setattr(x, name, getattr(stored.state, name))
            for x in leads:
                if x.email in ids:
                    x.id = ids[x.email]
            return
        for chunk in _chunks(list(leads), 600):
            values = []
            params: list[Any] = []
            for lead in chunk:
                values.append("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
                params += [
                    lead.email,
                    dumps(lead.attributes),
                    lead.created_at,
                    now,
                    lead.stage,
                    lead.stage_at,
                    0.0,
                    0.0,
                    0.0,
                    "D",
                    "4",
                    "D4",
                    now,
                    "{}",
                    False,
                ]
            cur = self.execute(
                "INSERT INTO leads (email, attributes, created_at, updated_at, stage, stage_at, "
                "fit, engagement, score, fit_grade, engagement_grade, grade, scored_at, "
                "score_state, exit_armed) VALUES "
                + ",".join(values)
                + " ON CONFLICT (email) DO NOTHING RETURNING id, email",
                params,
            )
            ids = {email: lid for lid, email in cur.fetchall()}
            missing = [lead.email for lead in chunk if lead.email not in ids]
            if missing:
                for email, stored in self.leads_by_email(missing).items():
                    ids[email] = stored.state.id
            for lead in chunk:
                lead.id = ids[lead.email]

    def save_leads(self, leads: Iterable[StoredLead], now: float, attributes: bool = True) -> None:
        """Write back each lead's state, scores, grades and stage.

        `attributes=False` leaves the attributes column alone (the caller changed none).
        The owner is never written here: the engine does not change it, routing does.
        A lead whose stage and timer are as stored gets a statement without them: each
        indexed column in an UPDATE's SET costs an index rewrite, changed or not.
        """
        self.wait()
        moved: list[tuple[Any, ...]] = []
        still: list[tuple[Any, ...]] = []
        for s in leads:
            lead = s.state
            card = lead.card
            if card is None:
                raise ValueError(f"lead {lead.email} was not scored before saving")
            fit = card.fit
            eng = card.engagement
            scores: tuple[Any, ...] = (
                now,
                fit,
                eng,
                round(fit + eng, 2),
                card.fit_grade,
                card.engagement_grade,
                card.fit_grade + card.engagement_grade,
                card.as_of,
                lead.playbook_version,
                dump_state(lead.engagement_state, lead.settled_at),
                lead.exit_armed,
                lead.timer_spent_at,
            )
            if attributes:
                scores = (dumps(lead.attributes), *scores)
            stage = (lead.stage, lead.stage_at, lead.stage_reason, lead.next_due_at)
            if stage == s.stage_before:
                still.append((*scores, lead.id))
            else:
                moved.append((*scores, *stage, lead.id))
                s.stage_before = stage
        head = (("attributes",) if attributes else ()) + _SCORE_COLS
        self._update_leads(head, still)
        self._update_leads(head + _STAGE_COLS, moved)

    def _update_leads(self, cols: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.db.is_sqlite or len(rows) < _SMALL_BATCH:
            self.executemany(
                f"UPDATE leads SET {', '.join(c + '=?' for c in cols)} WHERE id=?", rows
            )
            return
        # PostgreSQL: COPY into a session's temporary table, then one UPDATE joining it
        # (PERFORMANCE-NOTES: COPY ~5x row statements; psycopg dumps arrays in Python).
        self._copy_in("lg_leads_in", _LEADS_IN, (*cols, "id"), rows)
        sets = ", ".join(f"{c} = u.{c}" for c in cols)
        update = f"UPDATE leads SET {sets} FROM lg_leads_in u WHERE leads.id = u.id"
        if len(rows) <= _PROBE_BATCH:
            # The temporary table has no statistics, so the planner guesses its size and
            # tends to hash-join it against a scan of the whole leads table: 11 ms for
            # 800 rows at 30k leads, growing with the store. By primary key it is a few
            # ms whatever the store's size. One round trip (no parameters: a multi-
            # statement query), the join settings back to what they were after it.
            update = (
                "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; "
                f"{update}; RESET enable_hashjoin; RESET enable_mergejoin"
            )
        self._cur().execute(update)

    def _copy_in(
        self,
        table: str,
        ddl: str,
        cols: Sequence[str],
        rows: Iterable[Sequence[Any]],
        cur: Any = None,
    ) -> None:
        """PostgreSQL: `rows` into an (emptied) temporary table of this session."""
        cur = cur or self._cur()
        # IF NOT EXISTS each time: a rolled-back transaction takes the table with it.
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} ({ddl}) ON COMMIT DELETE ROWS")
        cur.execute(f"DELETE FROM {table}")
        self._copy_rows(cur, table, cols, _column_types(ddl), rows)

    @staticmethod
    def _copy_rows(
        cur: Any,
        table: str,
        cols: Sequence[str],
        types: dict[str, str],
        rows: Iterable[Sequence[Any]],
    ) -> None:
        """PostgreSQL: COPY `rows` into `table` in the binary format: the server parses
        no float or integer text, and psycopg packs each value in C."""
        with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([types[c] for c in cols])
            for row in rows:
                copy.write_row(row)

    # -- events ---------------------------------------------------------------

    def existing_event_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of these event ids are stored already."""
        out: set[str] = set()
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            cur = self.execute(f"SELECT id FROM events WHERE id IN ({marks})", chunk)
            out.update(r[0] for r in cur.fetchall())
        return out

    def insert_events(self, rows: Sequence[tuple[str, int, str, float, float, str]]) -> set[str]:
        """Append events (id, lead_id, type, occurred_at, received_at, properties).

        Returns the ids actually inserted: an id stored before is acknowledged and skipped.
        """
        skipped = self.insert_new_events(rows)
        self.wait()
        return {r[0] for r in rows if r[0] not in skipped}

    def insert_new_events(
        self, rows: Sequence[tuple[str, int, str, float, float, str]]
    ) -> set[str]:
        """As `insert_events`, but returns the ids skipped as stored before (usually none,
        so the hot path builds no set of every id).

        On PostgreSQL a big batch is still being stored when this returns: the next
        statement through this repository (or the commit) waits for it, and raises
        `ConcurrentEvents` if another writer stored some of these ids meanwhile."""
        if not rows:
            return set()
        if self.db.is_sqlite:
            # BEGIN IMMEDIATE makes this transaction the only writer, so rows appended
            # now get rowids above the largest one before: an id found at or below it
            # was stored before. The usual batch has no duplicate, which the change
            # count tells without looking any id up (that lookup cost ~4% of ingest).
            top = self.execute("SELECT MAX(rowid) FROM events").fetchone()[0] or 0
            cur = self._cur()
            cur.executemany(
                "INSERT INTO events (id, lead_id, type, occurred_at, received_at, properties) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING",
                rows,
            )
            if cur.rowcount == len(rows):
                return set()
            out: set[str] = set()
            for chunk in _chunks([r[0] for r in rows]):
                marks = ",".join("?" * len(chunk))
                found = self.execute(
                    f"SELECT id FROM events WHERE rowid <= ? AND id IN ({marks})", [top, *chunk]
                )
                out.update(r[0] for r in found.fetchall())
            return out
        # PostgreSQL: concurrent writers are possible (a store without the revision
        # counter), so the unique index decides; COPY first, and only the skipped ids
        # come back.
        cols = ", ".join(_EVENT_COLS)
        if len(rows) < _SMALL_BATCH:
            marks = ",".join(["(?,?,?,?,?,?)"] * len(rows))
            cur = self.execute(
                f"INSERT INTO events ({cols}) VALUES {marks} "
                "ON CONFLICT (id) DO NOTHING RETURNING id",
                [v for r in rows for v in r],
            )
            got = {r[0] for r in cur.fetchall()}
            return set() if len(got) == len(rows) else {r[0] for r in rows if r[0] not in got}
        # Which ids are stored already. Exact, not a guess: every writer of an event
        # holds its lead's row lock (read FOR UPDATE, or inserted by it) from before
        # this check until it commits, so nobody stores these leads' events meanwhile.
        # Only the same id sent for another lead at the same moment can still slip in,
        # and the unique index catches that (see `_move_events`).
        cur = self.execute(
            "SELECT id FROM events WHERE id = ANY(?::text[])", [[r[0] for r in rows]]
        )
        stored = {r[0] for r in cur.fetchall()}
        new = [r for r in rows if r[0] not in stored] if stored else rows
        if new:
            # The rows go to a temporary table (no index, no WAL: quick), then one
            # INSERT … SELECT into events runs while the caller scores the batch: the
            # server's index work is most of the cost, and psycopg waits for that one
            # statement without the GIL. (A COPY straight into events would need the
            # GIL back for every socket buffer the server drains, and wait for it
            # behind the scoring.) Every later statement of this repository, and the
            # end of the transaction, wait for it first.
            self._copy_in("lg_events_in", _EVENTS_IN, _EVENT_COLS, new)
            self._pending = threading.Thread(target=self._move_events, name="leadgate-events")
            assert self.conn is not None, "a write needs the transaction's connection"
            self.conn.info[PENDING_KEY] = self.wait
            self._pending.start()
        return stored

    def _move_events(self) -> None:
        """PostgreSQL, in a thread: the rows of lg_events_in into events, plainly (no
        speculative insertion per row), inside a savepoint so that a unique violation
        undoes only this. Then ON CONFLICT lets the index say which ids another writer
        stored meanwhile: the caller scored them, so it must run again."""
        # Here, not at the top: a SQLite-only process never loads psycopg (~45 ms).
        import psycopg

        cols = ", ".join(_EVENT_COLS)
        try:
            cur = self._raw.cursor()  # type: ignore[union-attr]
            cur.execute("SAVEPOINT lg_events")
            try:
                cur.execute(f"INSERT INTO events ({cols}) SELECT {cols} FROM lg_events_in")
            except psycopg.errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT lg_events")
            else:
                cur.execute("RELEASE SAVEPOINT lg_events")
                return
            cur.execute(
                f"WITH ins AS (INSERT INTO events ({cols}) SELECT {cols} FROM lg_events_in "
                "ON CONFLICT (id) DO NOTHING RETURNING id) "
                "SELECT i.id FROM lg_events_in i WHERE NOT EXISTS "
                "(SELECT 1 FROM ins WHERE ins.id = i.id)"
            )
            taken = {r[0] for r in cur.fetchall()}
            if taken:
                raise ConcurrentEvents(taken)
        except BaseException as exc:  # raised in the caller's thread by `wait`
            self._pending_error = exc

    def wait(self) -> None:
        """Let the events COPY running in the background finish; raise what it met."""
        worker = self._pending
        if worker is None:
            return
        self._pending = None
        if self.conn is not None:
            self.conn.info.pop(PENDING_KEY, None)
        worker.join()
        error, self._pending_error = self._pending_error, None
        if error is not None:
            raise error

    def events_of(self, lead_id: int) -> list[Event]:
        """Every stored event of a lead, in time order."""
        cur = self.execute(
            "SELECT id, type, occurred_at, properties FROM events WHERE lead_id = ? "
            "ORDER BY occurred_at, id",
            [lead_id],
        )
        return [Event(r[0], r[1], r[2], loads(r[3])) for r in cur.fetchall()]

    def recent_events(self, lead_id: int, limit: int = 20) -> list[tuple[Any, ...]]:
        """The latest events of a lead (id, type, occurred_at, properties), newest first."""
        cur = self.execute(
            "SELECT id, type, occurred_at, properties FROM events WHERE lead_id = ? "
            "ORDER BY occurred_at DESC, id DESC LIMIT ?",
            [lead_id, limit],
        )
        return [(r[0], r[1], r[2], loads(r[3])) for r in cur.fetchall()]

    def event_types(self) -> set[str]:
        """Every event type ever stored."""
        return {r[0] for r in self.execute("SELECT DISTINCT type FROM events").fetchall()}

    # -- transitions ----------------------------------------------------------

    def insert_transitions(
        self, items: Sequence[tuple[int, Transition]], playbook_version: int | None
    ) -> None:
        """Append stage changes (never updated, never deleted)."""
        self.executemany(
            "INSERT INTO transitions (lead_id, from_stage, to_stage, at, actor, reason, "
            "playbook_version) VALUES (?,?,?,?,?,?,?)",
            [
                (lid, t.from_stage, t.to_stage, t.at, t.actor, t.reason, playbook_version)
                for lid, t in items
            ],
        )

    def history(self, lead_id: int) -> list[tuple[Any, ...]]:
        """A lead's stage history as it stands (from, to, at, actor, reason,
        playbook_version), oldest first: voided rows, corrections and absorbed moves
        (from == to, see `leads.derivation`) left out."""
        return [r[1:] for r in self.history_rows(lead_id) if r[1] != r[2]]

    def history_rows(self, lead_id: int) -> list[tuple[Any, ...]]:
        """The rows of `history` and the absorbed moves (the facts a re-derivation reads),
        each led by its id."""
        cur = self.execute(
            "SELECT id, from_stage, to_stage, at, actor, reason, playbook_version "
            "FROM transitions WHERE lead_id = ? AND voids IS NULL AND id NOT IN "
            "(SELECT voids FROM transitions WHERE lead_id = ? AND voids IS NOT NULL) "
            "ORDER BY at, id",
            [lead_id, lead_id],
        )
        return [tuple(r) for r in cur.fetchall()]

    def history_with_corrections(
        self, lead_id: int
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """`history` and `corrections` in one read of the lead's rows (what `lead show`
        asks on every call): the history rows, and (voided id, from, to, at, actor,
        reason, correction time) per correction."""
        cur = self.execute(
            "SELECT id, from_stage, to_stage, at, actor, reason, playbook_version, voids "
            "FROM transitions WHERE lead_id = ? ORDER BY at, id",
            [lead_id],
        )
        rows = cur.fetchall()
        fixes = [r for r in rows if r[7] is not None]
        # Absorbed moves (from == to) are facts no reader shows, nor their voiding.
        if not fixes:
            return [tuple(r[1:7]) for r in rows if r[1] != r[2]], []
        by_id = {r[0]: r for r in rows}
        voided = {r[7] for r in fixes}
        history = [
            tuple(r[1:7]) for r in rows if r[7] is None and r[0] not in voided and r[1] != r[2]
        ]
        fixes.sort(key=lambda r: r[0])
        corr = [
            (f[7], by_id[f[7]][1], by_id[f[7]][2], by_id[f[7]][3], f[4], f[5], f[3])
            for f in fixes
            if f[7] in by_id and by_id[f[7]][1] != by_id[f[7]][2]
        ]
        return history, corr

    def corrections(self, lead_id: int) -> list[tuple[Any, ...]]:
        """A lead's correction rows, oldest first: (voided id, the voided row's from, to
        and at, the correction's actor, reason and time)."""
        cur = self.execute(
            "SELECT c.voids, v.from_stage, v.to_stage, v.at, c.actor, c.reason, c.at "
            "FROM transitions c JOIN transitions v ON v.id = c.voids "
            "WHERE c.lead_id = ? AND c.voids IS NOT NULL ORDER BY c.id",
            [lead_id],
        )
        return [tuple(r) for r in cur.fetchall()]

    def void_transitions(
        self,
        lead_id: int,
        rows: Sequence[tuple[Any, ...]],
        at: float,
        reason: str,
        playbook_version: int | None,
    ) -> None:
        """Append one correction row per voided row ((id, from, to, ...) as from
        `history_rows`): the voided row stays, and readers of the history skip it."""
        self.executemany(
            "INSERT INTO transitions (lead_id, from_stage, to_stage, at, actor, reason, "
            "playbook_version, voids) VALUES (?,?,?,?,?,?,?,?)",
            [
                (lead_id, r[1], r[2], at, "rule:rederive", reason, playbook_version, r[0])
                for r in rows
            ],
        )

    def eras(self) -> list[tuple[int, float]]:
        """(version, activated_at) of every version ever active, oldest first."""
        cur = self.execute("SELECT version, activated_at FROM playbooks ORDER BY version")
        return [(int(v), float(a)) for v, a in cur.fetchall()]

    # -- playbooks ------------------------------------------------------------

    def active_playbook(self) -> tuple[int, str] | None:
        """(version, yaml) of the active playbook: the latest activated."""
        row = self.execute(
            "SELECT version, yaml FROM playbooks ORDER BY version DESC LIMIT 1"
        ).fetchone()
        return (row[0], row[1]) if row else None

    def playbook_version(self, version: int) -> str | None:
        """The YAML of one stored version."""
        row = self.execute("SELECT yaml FROM playbooks WHERE version = ?", [version]).fetchone()
        return row[0] if row else None

    def add_playbook(self, name: str, text: str, actor: str, now: float) -> int:
        """Store a new active version and return its number."""
        row = self.execute("SELECT COALESCE(MAX(version), 0) FROM playbooks").fetchone()
        version = int(row[0]) + 1
        self.execute(
            "INSERT INTO playbooks (version, name, yaml, sha256, activated_at, activated_by) "
            "VALUES (?,?,?,?,?,?)",
            [version, name, text, hashlib.sha256(text.encode()).hexdigest(), now, actor],
        )
        return version

    def playbook_versions(self) -> list[tuple[Any, ...]]:
        """Every version ever active: (version, name, sha256, activated_at, activated_by)."""
        cur = self.execute(
            "SELECT version, name, sha256, activated_at, activated_by FROM playbooks "
            "ORDER BY version"
        )
        return [tuple(r) for r in cur.fetchall()]
