"""The rescore after a playbook change, set-based where no stage can move.

"SQL scores, Python decides" (issue 17): a lead whose stage cannot move when the new
version takes over gets its new engagement state, scores and grades written by one
statement per page (on SQLite one prepared UPDATE run over the page, on PostgreSQL a COPY
into a temporary table and one UPDATE ... FROM it), with no lifecycle, no transitions
and no history reads. Every other lead goes through the lifecycle exactly as the
per-lead path runs it (`rescore.rescore_one`).

"Cannot move" is decided conservatively from what `LeadProcessor.take_over` would do;
anything in doubt goes through the lifecycle. A lead settles here only when

- it was scored under an older version that still loads, saw no event and no person's
  move since the activation (otherwise its history is derived again), entered its stage
  before the activation and has no timer stored (`next_due_at` is NULL: the old rules'
  time has nothing to do up to the activation);
- and its stage is past the automatic ones (SAL and on, lost, disqualified: only a
  person moves them), or `mql` with no armed exit under the new rules (nothing decays
  it out), or `lead` where the new MQL rule is surely false at the activation: the
  rule's three-valued form (`LeadProcessor.mql_tri`) answers False with the lead's
  fields, new fit and its new engagement there (plus a cent, for the rounding of the
  total) as the bound. Nurture (its cooldown timer) always goes through the lifecycle.

The new engagement state comes from the core (`EngagementRules.carried`) or, when events
are replayed, from `rescore_replay.replay_page` (the core's arithmetic one rule at a time,
tested against `EngagementRules.replay` bit for bit); the scores from
`LeadProcessor.rescore`; for most leads (those that keep their stored fit) the same is
done on the row's data without a lead object (`rescore_rows.RowSettler`, the core's
arithmetic and grading). So the stored rows are those of the per-lead path bit for bit.
A random sample of the settled leads (`verify`, default 1,000) is run through the
per-lead path too (its events read in full and replayed by the core), before its page
is written; any difference raises
`RescoreMismatch`, so nothing of that page is stored and `playbook activate` withdraws
the version.

Example:
    >>> RescoreReport(leads=3, set_based=2, per_lead=1).line()
    'rescored 3 leads (2 set-based, 1 through the lifecycle); verified 0: 0 disagreements'
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from leadgate.engine.changes import LeadChange, notify
from leadgate.engine.rescore import (
    DEFAULT_VERIFY,
    Events,
    Versions,
    rescore_one,
    versions,
)
from leadgate.engine.rescore_replay import events_of, replay_page
from leadgate.engine.rescore_rows import (
    EMAIL,
    ENG_GRADE,
    FIT_GRADE,
    GRADE,
    OWNER,
    ROW_COLS,
    SCORE,
    VERSION,
    RowSettler,
)
from leadgate.engine.txn import gc_paused
from leadgate.store.repository import (
    Repository,
    StoredLead,
    _row_to_lead,
    dump_state,
)

if TYPE_CHECKING:
    from leadgate.engine.engine import Engine

# What the settled leads' statement writes: the columns a take-over changes when the
# stage stays. The score and grade columns are indexed (stage and score, priority, score
# seek), so leads whose score and grades stay as stored get a statement without them.
_KEEP_COLS = ("updated_at", "fit", "engagement", "scored_at", "playbook_version", "score_state")
_SCORE_COLS = (*_KEEP_COLS, "score", "fit_grade", "engagement_grade", "grade")


class RescoreMismatch(RuntimeError):
    """The set-based rescore and the per-lead path disagree on sampled leads."""

    def __init__(self, report: RescoreReport, ids: Sequence[int]):
        super().__init__(
            f"set-based rescore disagrees with the per-lead path on {len(ids)} of "
            f"{report.verified} verified leads (ids {', '.join(map(str, ids[:10]))}); "
            "nothing of their page was stored"
        )
        self.report = report
        self.ids = list(ids)


@dataclass
class RescoreReport:
    """What a set-based rescore did."""

    leads: int = 0
    set_based: int = 0
    per_lead: int = 0
    verified: int = 0
    disagreements: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The JSON keys `leadgate rescore --json` (and `playbook activate --json`, under
        `rescore`) add."""
        return {"method": "set", **asdict(self)}

    def line(self) -> str:
        """One line for people."""
        return (
            f"rescored {self.leads:,} leads ({self.set_based:,} set-based, {self.per_lead:,} "
            f"through the lifecycle); verified {self.verified:,}: "
            f"{self.disagreements:,} disagreements"
        )


def rescore_set(
    engine: Engine,
    progress: Callable[[int], None] | None = None,
    batch: int = 20_000,
    verify: int = DEFAULT_VERIFY,
    seed: int | None = None,
) -> RescoreReport:
    """Rescore every lead under the active playbook (module docstring)."""
    vs = versions(engine)
    now = engine.clock()
    sample = _sample(engine, verify, seed)
    with engine.db.read() as conn:
        total = Repository(engine.db, conn).execute("SELECT COUNT(*) FROM leads").fetchone()[0]
    report = RescoreReport()
    rows_settler = RowSettler(vs, now)
    last_id = 0
    while True:
        with gc_paused, engine._write() as txn:
            repo = txn.repo
            rows = repo.execute(
                f"SELECT {ROW_COLS} FROM leads WHERE id > ? "
                f"ORDER BY id LIMIT ?{'' if engine.db.is_sqlite else ' FOR UPDATE'}",
                [last_id, batch],
            ).fetchall()
            if not rows:
                break
            first_id, last_id = rows[0][0], rows[-1][0]
            vs.learn_versions(engine, {r[VERSION] for r in rows})
            replay = any(vs.replays(r[VERSION]) for r in rows)
            events: Events = (
                replay_page(
                    repo,
                    first_id,
                    last_id,
                    vs.proc.rules,
                    # SQLite reads a page of half the leads or more faster by scanning
                    # the events than by their (lead, time) index: 0.07 against 0.15
                    # CPU-s for 400k events.
                    scan=engine.db.is_sqlite and 2 * len(rows) >= total,
                )
                if replay
                else {}
            )
            # Most leads settle straight from their row (`rescore_rows`); the others
            # are read into leads and settle here or go through the lifecycle.
            by_row: list[tuple[Sequence[Any], tuple[Any, ...]]] = []
            rest: list[Sequence[Any]] = []
            settle_row = rows_settler.settle
            for r in rows:
                values = settle_row(r, events)
                if values is None:
                    rest.append(r)
                else:
                    by_row.append((r, values))
            page = [_row_to_lead(r) for r in rest]
            stored_grades = {r[0]: (r[FIT_GRADE], r[ENG_GRADE]) for r in rest}
            # The sampled leads' rows as read, for the per-lead path to start from.
            fresh = {r[0]: r for r in rows if r[0] in sample}
            emails = [r[EMAIL] for r in rows]
            del rows, rest
            settled: list[StoredLead] = []
            others: list[StoredLead] = []
            for s in page:
                (settled if settle(vs, s, events, now) else others).append(s)
            expected = {r[0]: values for r, values in by_row if r[0] in sample}
            for s in settled:
                if s.state.id in sample:
                    expected[s.state.id] = stored_values(s)
            if expected:
                differ = _verify(engine, repo, vs, expected, fresh, now, replay)
                report.verified += len(expected)
                report.disagreements += len(differ)
                if differ:
                    raise RescoreMismatch(report, differ)
            _write_settled(repo, settled, stored_grades, now)
            _write_rows(repo, by_row, now)
            items = [(s, rescore_one(engine, repo, vs, s, now, events), False) for s in others]
            engine._commit(txn, vs.proc, items, now, attributes=False)
            if engine.listeners and (settled or by_row):
                _tell(engine, repo, settled, by_row, now)
            txn.evict.extend(emails)
            txn.keep.clear()
            n_settled = len(settled) + len(by_row)
            report.set_based += n_settled
            report.per_lead += len(others)
            done = n_settled + len(others)
            del items, events, page, settled, others, by_row
        report.leads += done
        if progress:
            progress(done)
    return report


# What the take-over below changes on a lead, put back when the rule may move it (the
# lead then goes through the lifecycle from its stored state).
_TAKE_OVER_FIELDS = (
    "engagement_state",
    "settled_at",
    "fit_cache",
    "fields_cache",
    "fit_lines_cache",
    "mql_gate_cache",
    "playbook_version",
)


def settle(vs: Versions, s: StoredLead, events: Events, now: float) -> bool:
    """Take the lead over under the active version and rescore it, if its stage surely
    cannot move (module docstring); otherwise leave it as read and answer False."""
    proc, since = vs.proc, vs.since
    lead = s.state
    v = lead.playbook_version
    stage = lead.stage
    if (
        v is None
        or v == proc.version
        or lead.next_due_at is not None
        or lead.engagement_state.last_at > since
        or lead.settled_at > since
        or lead.stage_at > since
        or stage == "nurture"
        or (stage == "mql" and lead.exit_armed and proc.exit_at is not None)
    ):
        return False
    kept = [getattr(lead, name) for name in _TAKE_OVER_FIELDS]
    # What `LeadProcessor.take_over` does to a lead whose stage stays.
    lead.engagement_state = vs.state(s, events)
    if not vs.same_fit[v]:
        lead.fit_cache = lead.fields_cache = lead.fit_lines_cache = None
    lead.mql_gate_cache = None
    lead.playbook_version = proc.version
    lead.settled_at = max(lead.settled_at, since)
    if stage == "lead" and proc.mql_tri is not None:
        # The rule is checked at the activation only: a lead's stage has no timer,
        # and only an event (none comes in a rescore) raises a hand.
        fields, fit = proc.fields(lead), proc.fit(lead)
        # Fields and fit alone settle most leads (the rule's gate), as in `_evaluate`;
        # the engagement only when they do not.
        if proc.mql_tri(fields, fit, math.inf) is not False and (
            not math.isfinite(eng := proc.engagement(lead, since))
            or proc.mql_tri(fields, fit, eng + 0.01) is not False
        ):
            for name, value in zip(_TAKE_OVER_FIELDS, kept, strict=True):
                setattr(lead, name, value)
            return False
    proc.rescore(lead, now)
    return True


def stored_values(s: StoredLead) -> tuple[Any, ...]:
    """What saving the lead writes (bar `updated_at`), to compare two paths' results."""
    lead = s.state
    card = lead.card
    assert card is not None
    return (
        card.fit,
        card.engagement,
        round(card.fit + card.engagement, 2),
        card.fit_grade,
        card.engagement_grade,
        card.as_of,
        lead.playbook_version,
        dump_state(lead.engagement_state, lead.settled_at),
        lead.exit_armed,
        lead.timer_spent_at,
        lead.stage,
        lead.stage_at,
        lead.stage_reason,
        lead.next_due_at,
    )


def _verify(
    engine: Engine,
    repo: Repository,
    vs: Versions,
    expected: Mapping[int, tuple[Any, ...]],
    rows: Mapping[int, Sequence[Any]],
    now: float,
    replay: bool,
) -> list[int]:
    """The ids among `expected` (lead id -> its set-based `stored_values`) whose
    per-lead result (from the row as read and, when events are replayed, every event of
    the lead, as the per-lead path reads them) differs or moves a stage."""
    differ = []
    ids = list(expected)
    events = events_of(repo, ids, vs.proc.rules.property_types) if replay else {}
    for lid in ids:
        fresh = _row_to_lead(rows[lid])
        ts = rescore_one(engine, repo, vs, fresh, now, events)
        if ts or stored_values(fresh) != expected[lid]:
            differ.append(lid)
    return differ


def _write_settled(
    repo: Repository,
    settled: list[StoredLead],
    stored_grades: Mapping[int | None, tuple[str, str]],
    now: float,
) -> None:
    """The settled leads' rows, in one statement for those whose score and grades stay
    and one for the others."""
    keep: list[tuple[Any, ...]] = []
    moved: list[tuple[Any, ...]] = []
    for s in settled:
        lead = s.state
        card = lead.card
        assert card is not None
        fit, eng = card.fit, card.engagement
        head = (
            now,
            fit,
            eng,
            card.as_of,
            lead.playbook_version,
            dump_state(lead.engagement_state, lead.settled_at),
        )
        score = round(fit + eng, 2)
        grades = (card.fit_grade, card.engagement_grade)
        if score == s.score_before and grades == stored_grades[lead.id]:
            keep.append((*head, lead.id))
        else:
            moved.append((*head, score, *grades, card.fit_grade + card.engagement_grade, lead.id))
    repo._update_leads(_KEEP_COLS, keep)
    repo._update_leads(_SCORE_COLS, moved)


def _write_rows(
    repo: Repository, settled: list[tuple[Sequence[Any], tuple[Any, ...]]], now: float
) -> None:
    """The leads settled from their rows (`rescore_rows`), as `_write_settled` writes
    the others: (row, `stored_values`) pairs."""
    keep: list[tuple[Any, ...]] = []
    moved: list[tuple[Any, ...]] = []
    for r, v in settled:
        # (fit, engagement, score, fit grade, engagement grade, as of, version, state, ...)
        score, fg, eg = v[2], v[3], v[4]
        if score == r[SCORE] and fg == r[FIT_GRADE] and eg == r[ENG_GRADE]:
            keep.append((now, v[0], v[1], v[5], v[6], v[7], r[0]))
        else:
            moved.append((now, v[0], v[1], v[5], v[6], v[7], score, fg, eg, fg + eg, r[0]))
    repo._update_leads(_KEEP_COLS, keep)
    repo._update_leads(_SCORE_COLS, moved)


def _tell(
    engine: Engine,
    repo: Repository,
    settled: list[StoredLead],
    by_row: list[tuple[Sequence[Any], tuple[Any, ...]]],
    now: float,
) -> None:
    """The engine's listeners hear of the settled leads as of any rescored lead (in the
    order of their ids, whichever way they settled)."""
    changes = [LeadChange.of(s, [], False) for s in settled]
    changes += [
        LeadChange(r[0], r[EMAIL], False, [], r[SCORE], v[2], r[GRADE], v[3] + v[4], r[OWNER])
        for r, v in by_row
    ]
    if settled:  # the rows' changes alone are in id order already
        changes.sort(key=lambda c: c.lead_id)
    notify(engine.listeners, repo, changes, now)


def _sample(engine: Engine, n: int, seed: int | None) -> set[int]:
    """`n` lead ids drawn at random (all of them when there are fewer)."""
    if n <= 0:
        return set()
    with engine.db.read() as conn:
        ids = [r[0] for r in Repository(engine.db, conn).execute("SELECT id FROM leads")]
    if len(ids) <= n:
        return set(ids)
    return set(random.Random(seed).sample(ids, n))
