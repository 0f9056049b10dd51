"""Lead rows: reading leads (by address, by id, in id order) and writing them back with
their scores, grades, stage and engagement state.

Example:
    with db.write() as conn:
        repo = Repository(db, conn)
        stored = repo.leads_by_email(["ann@acme.com"], lock=True)
        repo.save_leads(stored.values(), now)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from operator import itemgetter
from typing import Any

import orjson

from leadgate.leads.record import LeadState
from leadgate.lifecycle.stages import Transition
from leadgate.scoring.cents import round2
from leadgate.store.codec import dump_state, dumps, load_lead_state, loads
from leadgate.store.statements import _SMALL_BATCH, Statements, pieces

_LEAD_COLS = (
    "id, email, attributes, created_at, stage, stage_at, stage_reason, exit_armed, "
    "score_state, playbook_version, timer_spent_at, next_due_at, owner, updated_at, "
    "score, grade, fit"
)
_N_LEAD_COLS = _LEAD_COLS.count(",") + 1
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
# The indexed score columns (stage and score, priority, score seek): on SQLite a lead
# whose score and grades are as its row holds them gets a statement without them, as
# each indexed column in an UPDATE's SET costs an index rewrite, changed or not.
_RANK_COLS = ("score", "fit_grade", "engagement_grade", "grade")
_KEEP_COLS = tuple(c for c in _SCORE_COLS if c not in _RANK_COLS)
# What a lead row holds right after `insert_leads`: (score, grade), and its stage columns
# but stage_at (the lead's own).
_INSERTED_SCORES = (0.0, "D4")
# SQLite: a lead row with its text and integer columns packed into one JSON array (exact
# for those: SQLite's JSON keeps only 15 digits of a float, so the floats come apart).
# Python's sqlite3 module hands over the GIL for every column it reads: one column
# instead of ten saves nine of those round trips a lead (~4,000 instructions).
_PACKED_COLS = (
    "json_array(id, email, attributes, stage, stage_reason, exit_armed, score_state, "
    "playbook_version, owner, grade), created_at, stage_at, timer_spent_at, next_due_at, "
    "updated_at, score, fit"
)
# The leads whose emails are in a JSON array (one parameter).
_BY_EMAILS = f"SELECT {_PACKED_COLS} FROM leads WHERE email IN (SELECT value FROM json_each(?))"
# Up to this many lead updates, joined to the leads by primary key (see _update_leads).
_PROBE_BATCH = 5_000
# PostgreSQL temporary tables the hot paths COPY into.
_LEADS_IN = (
    "id int4, attributes text, updated_at float8, fit float8, engagement float8, "
    "score float8, fit_grade text, engagement_grade text, grade text, scored_at float8, "
    "playbook_version int4, score_state text, exit_armed bool, timer_spent_at float8, "
    "stage text, stage_at float8, stage_reason text, next_due_at float8"
)
# What a stored lead row holds of a LeadState (all of it: the caches are recomputed).
_STATE_FIELDS = tuple(f.name for f in fields(LeadState))


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
    # (score, grade) as the row holds them now (kept up to date by `save_leads`, unlike
    # `score_before`); None: unknown, so written.
    row_scores: tuple[float, str] | None = None


def _lead(
    lid: int,
    email: str,
    attributes: str,
    created_at: float,
    stage: str,
    stage_at: float,
    reason: str | None,
    armed: Any,
    score_state: str | None,
    version: int | None,
    spent: float | None,
    due: float | None,
    owner: str | None,
    updated_at: float,
    score: float,
    grade: str,
    fit: float | None,
) -> StoredLead:
    """A stored lead from its row's values (in `_LEAD_COLS` order). LeadState's fields are
    passed in their order, unnamed (cheaper: this runs for every lead read)."""
    engagement, settled = load_lead_state(score_state)
    state = LeadState(
        email,
        {} if attributes == "{}" else loads(attributes),  # most leads: no attributes
        created_at,
        lid,
        stage,
        stage_at,
        reason,
        bool(armed),
        engagement,
        None,
        due,
        spent,
        settled,
        version,
        # Fit depends on attributes and the playbook only: reuse the stored value.
        fit if version is not None else None,
    )
    scores = (score, grade)
    return StoredLead(
        state, owner, updated_at, score, grade, (stage, stage_at, reason, due), [], scores
    )


def _row_to_lead(row: Sequence[Any]) -> StoredLead:
    """A lead from a row that starts with `_LEAD_COLS` (the rescore reads more after them)."""
    return _lead(*row[:_N_LEAD_COLS])


def _packed_to_lead(row: Sequence[Any]) -> StoredLead:
    """A lead from a row of `_PACKED_COLS` (its text and integer columns in one JSON
    array); tests/store/test_lead_reads.py holds it equal to `_row_to_lead`."""
    lid, email, attributes, stage, reason, armed, score_state, version, owner, grade = orjson.loads(
        row[0]
    )
    created_at, stage_at, spent, due, updated_at, score, fit = row[1:]
    return _lead(
        lid, email, attributes, created_at, stage, stage_at, reason, armed, score_state,
        version, spent, due, owner, updated_at, score, grade, fit,
    )  # fmt: skip


# A row's last item (its lead id), as a C-level sort key: no Python call a row.
_last = itemgetter(-1)


class LeadRows(Statements):
    """The leads table."""

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
        # The addresses as one JSON array parameter: one statement text whatever their
        # number, and one bind instead of one per address (a padded IN list bound ~1,000
        # strings for a batch's ~600 uncached leads).
        cur = self._cur()
        cur.execute(_BY_EMAILS, (orjson.dumps(list(emails)).decode(),))
        for row in cur.fetchall():
            lead = _packed_to_lead(row)
            out[lead.state.email] = lead
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

    def insert_leads(self, leads: Sequence[LeadState], now: float) -> set[str]:
        """Create leads (ids filled in). An email taken meanwhile is skipped, then read back.

        Returns the emails of the rows this made (their columns are then known: see
        `inserted`), not those taken meanwhile."""
        made: set[str] = set()
        if not leads:
            return made
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
            made.update(ids)
            return made
        # In power-of-two pieces (each statement's text then one the cache keeps), in
        # order: ids follow the leads' order as with one statement.
        for chunk in pieces(list(leads), 512):
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
                    0,  # exit_armed: an int, as SQLite stores a bool (see `save_leads`)
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
            made.update(ids)
            missing = [lead.email for lead in chunk if lead.email not in ids]
            if missing:
                for email, stored in self.leads_by_email(missing).items():
                    ids[email] = stored.state.id
            for lead in chunk:
                lead.id = ids[lead.email]
        return made

    @staticmethod
    def inserted(lead: LeadState, now: float) -> StoredLead:
        """A lead `insert_leads` made (its email in the returned set), with what its row
        holds: saving it then writes only what scoring changed."""
        stage = ("lead", lead.stage_at, None, None)
        return StoredLead(lead, None, now, stage_before=stage, row_scores=_INSERTED_SCORES)

    def save_leads(self, leads: Iterable[StoredLead], now: float, attributes: bool = True) -> None:
        """Write back each lead's state, scores, grades and stage.

        `attributes=False` leaves the attributes column alone (the caller changed none).
        The owner is never written here: the engine does not change it, routing does.
        A lead whose stage and timer are as stored gets a statement without them: each
        indexed column in an UPDATE's SET costs an index rewrite, changed or not.
        SQLite gets `exit_armed` as the integer it stores a bool as: Python's sqlite3
        binds a bool only after failing to find an adapter for it (two AttributeErrors,
        each with a formatted message: ~1-2 µs a row, ~2.5% of ingest's instructions).
        """
        self.wait()
        moved: list[tuple[Any, ...]] = []
        still: list[tuple[Any, ...]] = []
        # SQLite: leads whose stage and scores stay as their row holds them.
        sqlite = self.db.is_sqlite
        kept: list[tuple[Any, ...]] | None = [] if sqlite else None
        for s in leads:
            lead = s.state
            armed = (1 if lead.exit_armed else 0) if sqlite else lead.exit_armed
            card = lead.card
            if card is None:
                raise ValueError(f"lead {lead.email} was not scored before saving")
            fit = card.fit
            eng = card.engagement
            score = round2(fit + eng)
            grade = card.fit_grade + card.engagement_grade
            state = dump_state(lead.engagement_state, lead.settled_at)
            stage = (lead.stage, lead.stage_at, lead.stage_reason, lead.next_due_at)
            if kept is not None and stage == s.stage_before and s.row_scores == (score, grade):
                row: tuple[Any, ...] = (
                    now,
                    fit,
                    eng,
                    card.as_of,
                    lead.playbook_version,
                    state,
                    armed,
                    lead.timer_spent_at,
                    lead.id,
                )
                kept.append((dumps(lead.attributes), *row) if attributes else row)
                continue
            scores: tuple[Any, ...] = (
                now,
                fit,
                eng,
                score,
                card.fit_grade,
                card.engagement_grade,
                grade,
                card.as_of,
                lead.playbook_version,
                state,
                armed,
                lead.timer_spent_at,
            )
            if attributes:
                scores = (dumps(lead.attributes), *scores)
            s.row_scores = (score, grade)
            if stage == s.stage_before:
                still.append((*scores, lead.id))
            else:
                moved.append((*scores, *stage, lead.id))
                s.stage_before = stage
        head = ("attributes",) if attributes else ()
        if kept:
            self._update_leads(head + _KEEP_COLS, kept)
        self._update_leads(head + _SCORE_COLS, still)
        self._update_leads(head + _SCORE_COLS + _STAGE_COLS, moved)

    def _update_leads(self, cols: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.db.is_sqlite:
            # In id order: the rows' table pages are then visited in order (~5% less).
            rows.sort(key=_last)
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
