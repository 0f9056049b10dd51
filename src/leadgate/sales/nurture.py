"""Nurture tracks over the store: enrolment, timed steps, and the mail outbox.

- A lead entering nurture is enrolled (inside the transaction that moved it) in the
  first track whose `if` matches; leaving nurture ends the enrolment and cancels its
  unsent e-mail.
- Each enrolment stores the index of its next step and the moment it falls due
  (`next_due_at`, in a partial index of active enrolments), so a tick reads only what
  is due. Waits are counted from the moment the previous step was due, not from when
  a tick happened to run it, so a late scheduler does not stretch a track.
- A `send` step writes its rendered message to `sales_mail_outbox` (or the webhook
  outbox) in the same transaction that advances the step: the step and its message
  commit together, or neither does. The delivery loop sends what the outbox holds with
  retries and backoff, and each send (or failure) is written to the lead's nurture
  timeline (`sales_nurture_log`).
- Several schedulers on PostgreSQL claim enrolments and leads with SKIP LOCKED, so a
  step runs once; a message row is unique per (enrolment, step run) as well.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from leadgate.ingest.validate import InputError, iso
from leadgate.playbook.base import Condition
from leadgate.playbook.conditions import Predicate, compile_condition
from leadgate.playbook.segments import compile_segments, lead_view
from leadgate.sales.mail import MailSettings, Outgoing, header_text, send_all, settings_from
from leadgate.sales.playbook_sections import (
    MessageTemplate,
    NurtureSection,
    NurtureTrack,
    SendStep,
)
from leadgate.sales.templates import TemplateProblem, render
from leadgate.store.repository import Repository, loads
from leadgate.webhooks import enqueue as enqueue_webhook

if TYPE_CHECKING:
    from leadgate.engine.engine import LeadChange
    from leadgate.store.database import Database

DAY = 86400.0
WEBHOOK_EVENT = "lead.nurture_message"
_LEAD_COLS = "id, email, attributes, fit, engagement, score, grade, stage, stage_reason, owner"
_ENR_COLS = "id, lead_id, track, step, seq, step_since, next_due_at, reason, entered_at"


@dataclass(frozen=True, slots=True)
class _Lead:
    id: int
    email: str
    attributes: dict[str, Any]
    scores: dict[str, float | None]
    grade: str | None
    stage: str
    stage_reason: str | None
    owner: str | None

    def fields(self, reason: str | None) -> dict[str, Any]:
        f = dict(self.attributes)
        f.setdefault("email", self.email)
        f.setdefault("email_domain", self.email.rsplit("@", 1)[-1])
        f["nurture_reason"] = reason
        return f

    def segment_view(self) -> tuple[dict[str, Any], Mapping[str, float | None]]:
        """The lead as segments see it (`leadgate.playbook.segments.lead_view`)."""
        return lead_view(
            self.email,
            self.attributes,
            stage=self.stage,
            grade=self.grade,
            owner=self.owner,
            fit=self.scores.get("fit"),
            engagement=self.scores.get("engagement"),
            total=self.scores.get("total"),
        )


Entry = Callable[["_Lead", Mapping[str, Any]], bool]


def _entry(track: NurtureTrack, segments: Mapping[str, Predicate]) -> Entry | None:
    """A track's entry test over (lead, its fields with `nurture_reason`): its `if` and
    its `segment`, which sees the lead's state (`playbook.segments.lead_view`). None: any
    lead enters."""
    cond = compile_condition(track.if_) if track.if_ is not None else None
    seg = None
    if track.segment is not None:
        seg = segments.get(track.segment)
        if seg is None:  # the playbook checks this; sections handed to install() may not
            names = ", ".join(segments) or "none defined"
            raise ValueError(
                f"nurture track '{track.name}': unknown segment '{track.segment}' "
                f"(segments: {names})"
            )
    if cond is None and seg is None:
        return None

    def entry(lead: _Lead, fields: Mapping[str, Any]) -> bool:
        if cond is not None and not cond(fields, lead.scores):
            return False
        return seg is None or seg(*lead.segment_view())

    return entry


def _chunks(ids: Sequence[int], n: int = 2000) -> list[list[int]]:
    # Bound the bind parameters of one statement (SQLite allows 32,766).
    return [list(ids[i : i + n]) for i in range(0, len(ids), n)]


def _leads(repo: Repository, ids: Sequence[int], skip_locked: bool) -> dict[int, _Lead]:
    if not ids:
        return {}
    if repo.db.is_sqlite:
        found = []
        for part in _chunks(ids):
            marks = ",".join("?" * len(part))
            found += repo.execute(
                f"SELECT {_LEAD_COLS} FROM leads WHERE id IN ({marks})", part
            ).fetchall()
    else:
        lock = " ORDER BY id FOR UPDATE SKIP LOCKED" if skip_locked else ""
        found = repo.execute(
            f"SELECT {_LEAD_COLS} FROM leads WHERE id = ANY(?::int[]){lock}", [list(ids)]
        ).fetchall()
    out = {}
    for r in found:
        out[r[0]] = _Lead(
            r[0],
            r[1],
            loads(r[2]),
            {"fit": r[3], "engagement": r[4], "total": r[5]},
            r[6],
            r[7],
            r[8],
            r[9],
        )
    return out


class Tracks:
    """The nurture section of one playbook version, with its conditions compiled."""

    def __init__(self, section: NurtureSection, segments: Mapping[str, Condition] | None = None):
        self.section = section
        self.by_name = {t.name: t for t in section.tracks}
        segs = compile_segments(segments or {})
        self._preds = [(t, _entry(t, segs)) for t in section.tracks]
        # Whether any branch waits for an event (then new events may wake an enrolment).
        self.windowed = any(
            st.branch is not None and st.branch.within_days is not None
            for t in section.tracks
            for st in t.steps
        )

    def match(self, lead: _Lead, reason: str | None) -> NurtureTrack | None:
        """The first track whose condition the lead meets."""
        fields = lead.fields(reason)
        for t, pred in self._preds:
            if pred is None or pred(lead, fields):
                return t
        return None

    def predicate(self, name: str) -> Any:
        """The entry test of one track, over (lead, fields) (None: every lead matches)."""
        return next(p for t, p in self._preds if t.name == name)

    def mail_settings(self) -> MailSettings:
        """SMTP settings: the playbook's, overridden by the environment (read at each
        delivery pass)."""
        return settings_from(self.section.smtp)


def _log(
    repo: Repository, rows: Iterable[tuple[int, int, str, int | None, str, str, float]]
) -> None:
    repo.executemany(
        "INSERT INTO sales_nurture_log (lead_id, enrolment_id, track, step, kind, detail, at) "
        "VALUES (?,?,?,?,?,?,?)",
        list(rows),
    )


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


# -- enrolment (engine listener) ---------------------------------------------------------


def on_changes(
    repo: Repository, tracks: Tracks, version: int | None, changes: list[LeadChange], now: float
) -> None:
    """End the enrolments of leads that left nurture; enrol leads that entered it."""
    leaving: list[tuple[int, str]] = []
    entering: list[tuple[int, str | None, float]] = []
    for c in changes:
        ts = c.transitions
        if not ts:
            continue
        left = next((t for t in reversed(ts) if t.from_stage == "nurture"), None)
        if left is not None:
            leaving.append((c.lead_id, f"left nurture: {left.to_stage}"))
        if ts[-1].to_stage == "nurture":
            t = ts[-1]
            if left is None:
                leaving.append((c.lead_id, "entered nurture again"))
            entering.append((c.lead_id, t.reason, t.at))
    if leaving:
        end_enrolments(repo, leaving, now)
    if not entering or not tracks.section.tracks:
        return
    leads = _leads(repo, [e[0] for e in entering], skip_locked=False)
    logs = []
    for lid, reason, at in entering:
        lead = leads.get(lid)
        if lead is None:
            continue
        track = tracks.match(lead, reason)
        if track is None:
            continue
        row = repo.execute(
            "INSERT INTO sales_nurture_enrolments (lead_id, track, playbook_version, reason, "
            "entered_at, status, step, seq, step_since, next_due_at, created_at, updated_at) "
            "VALUES (?,?,?,?,?,'active',0,0,?,?,?,?) RETURNING id",
            [lid, track.name, version, reason, at, at, now, now, now],
        ).fetchone()
        why = f" ({reason})" if reason else ""
        logs.append(
            (
                lid,
                int(row[0]),
                track.name,
                None,
                "enrolled",
                f"entered nurture{why} on {_day(at)}: track '{track.name}'",
                now,
            )
        )
    _log(repo, logs)


def enrol_existing(
    repo: Repository,
    tracks: Tracks,
    version: int | None,
    track_name: str,
    segment: Mapping[str, str],
    now: float,
    why: str,
    dry_run: bool = False,
) -> int:
    """Enrol the leads already in nurture, in no track since they entered it, that match
    the track's `if` and every `segment` field=value (any case): `nurture enrol` and a
    `retroactive` track on activation. Their first step falls due now; the rest follow
    from there. Returns how many were (or, with `dry_run`, would be) enrolled."""
    track = tracks.by_name.get(track_name)
    if track is None:
        names = ", ".join(tracks.by_name) or "none in the active playbook"
        raise InputError("track", f"no nurture track '{track_name}' (tracks: {names})")
    pred = tracks.predicate(track.name)
    # Field names as imports store them ('Country' is country), values in any case.
    # (The import's column module loads pycountry and dateutil: imported here, when a
    # track is enrolled, not by every command that opens the sales workflow.)
    from leadgate.ingest.columns import canonical

    want = {canonical(k): str(v).strip().casefold() for k, v in segment.items()}
    entered = {
        int(r[0]): float(r[1])
        for r in repo.execute(
            "SELECT l.id, l.stage_at FROM leads l WHERE l.stage = 'nurture' AND NOT EXISTS "
            "(SELECT 1 FROM sales_nurture_enrolments e WHERE e.lead_id = l.id AND "
            "(e.status = 'active' OR e.created_at >= l.stage_at)) ORDER BY l.id"
        ).fetchall()
    }
    ids = list(entered)
    n = 0
    logs = []
    for part in _chunks(ids):
        for lead in _leads(repo, part, skip_locked=False).values():
            fields = lead.fields(lead.stage_reason)
            if any(str(fields.get(k, "")).strip().casefold() != v for k, v in want.items()):
                continue
            if pred is not None and not pred(lead, fields):
                continue
            n += 1
            if dry_run:
                continue
            row = repo.execute(
                "INSERT INTO sales_nurture_enrolments (lead_id, track, playbook_version, "
                "reason, entered_at, status, step, seq, step_since, next_due_at, created_at, "
                "updated_at) VALUES (?,?,?,?,?,'active',0,0,?,?,?,?) RETURNING id",
                [
                    lead.id,
                    track.name,
                    version,
                    lead.stage_reason,
                    entered[lead.id],
                    now,
                    now,
                    now,
                    now,
                ],
            ).fetchone()
            logs.append(
                (
                    lead.id,
                    int(row[0]),
                    track.name,
                    None,
                    "enrolled",
                    f"{why}: track '{track.name}'",
                    now,
                )
            )
    _log(repo, logs)
    return n


def wake_branches(repo: Repository, tracks: Tracks, lead_ids: Sequence[int], now: float) -> int:
    """Leads that just had events: an enrolment waiting in a branch for one of them falls
    due now instead of at the end of its window. One indexed query per batch, and none
    when no track has a branch with a window."""
    if not tracks.windowed or not lead_ids:
        return 0
    rows = []
    for part in _chunks(lead_ids):
        marks = ",".join("?" * len(part))
        rows += repo.execute(
            f"SELECT id, lead_id, track, step, step_since FROM sales_nurture_enrolments "
            f"WHERE status = 'active' AND lead_id IN ({marks}) AND next_due_at > ?",
            [*part, now],
        ).fetchall()
    wake = []
    for eid, lid, track_name, step, since in rows:
        track = tracks.by_name.get(track_name)
        if track is None or step >= len(track.steps):
            continue
        b = track.steps[step].branch
        if b is None or b.within_days is None:
            continue
        if repo.execute(
            "SELECT 1 FROM events WHERE lead_id = ? AND type = ? AND occurred_at >= ? LIMIT 1",
            [lid, b.on_event, since],
        ).fetchone():
            wake.append((now, now, eid))
    repo.executemany(
        "UPDATE sales_nurture_enrolments SET next_due_at = ?, updated_at = ? WHERE id = ?", wake
    )
    return len(wake)


def end_enrolments(repo: Repository, items: list[tuple[int, str]], now: float) -> None:
    """End active enrolments (by lead) and cancel their unsent e-mail."""
    rows = []
    for part in _chunks([lid for lid, _ in items]):
        marks = ",".join("?" * len(part))
        rows += repo.execute(
            f"SELECT id, lead_id, track, step FROM sales_nurture_enrolments "
            f"WHERE status = 'active' AND lead_id IN ({marks})",
            part,
        ).fetchall()
    if not rows:
        return
    why = dict(items)
    repo.executemany(
        "UPDATE sales_nurture_enrolments SET status = 'ended', next_due_at = NULL, "
        "ended_at = ?, end_reason = ?, updated_at = ? WHERE id = ?",
        [(now, why[r[1]], now, r[0]) for r in rows],
    )
    _cancel_mail(repo, [(why[r[1]], r[0]) for r in rows])
    _log(repo, [(r[1], r[0], r[2], r[3], "ended", why[r[1]], now) for r in rows])


# -- steps (scheduler) -------------------------------------------------------------------


@dataclass
class StepCounts:
    """What one pass over due enrolments did."""

    steps: int = 0
    queued: int = 0
    completed: int = 0
    fired: int = 0
    # Rows for the mail outbox, written in one statement with the steps that made them.
    mail: list[tuple[Any, ...]] = field(default_factory=list)
    hooks: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)


def fire_due(repo: Repository, tracks: Tracks, now: float, limit: int) -> tuple[StepCounts, bool]:
    """Run the steps of up to `limit` due enrolments; (counts, whether the batch was full)."""
    skip = "" if repo.db.is_sqlite else " FOR UPDATE SKIP LOCKED"
    # `status = 'active'` is written literally so the partial index applies.
    due = repo.execute(
        f"SELECT {_ENR_COLS} FROM sales_nurture_enrolments WHERE status = 'active' "
        f"AND next_due_at <= ? ORDER BY next_due_at LIMIT ?{skip}",
        [now, limit],
    ).fetchall()
    counts = StepCounts()
    if not due:
        return counts, False
    # A lead someone else is moving waits for the next tick (never block on it).
    leads = _leads(repo, sorted({r[1] for r in due}), skip_locked=True)
    stop_events = tracks.section.stop_on_events
    stopped = _stopped(repo, list(leads), stop_events)
    logs: list[tuple[int, int, str, int | None, str, str, float]] = []
    updates: list[tuple[Any, ...]] = []
    ends: list[tuple[Any, ...]] = []
    for eid, lid, track_name, step, seq, since, _due_at, reason, _entered in due:
        lead = leads.get(lid)
        if lead is None:
            continue
        counts.fired += 1
        track = tracks.by_name.get(track_name)
        if lead.stage != "nurture":
            ends.append(("ended", f"left nurture: {lead.stage}", now, now, eid))
            logs.append((lid, eid, track_name, step, "ended", f"left nurture: {lead.stage}", now))
            continue
        if track is None:
            why = f"track '{track_name}' is no longer in the playbook"
            ends.append(("ended", why, now, now, eid))
            logs.append((lid, eid, track_name, step, "ended", why, now))
            continue
        if lid in stopped:
            why = "stopped: the lead unsubscribed (" + ", ".join(stop_events) + ")"
            ends.append(("ended", why, now, now, eid))
            logs.append((lid, eid, track_name, step, "ended", why, now))
            continue
        r = _run(
            repo,
            tracks.section.templates,
            track,
            eid,
            lead,
            reason,
            step,
            seq,
            since,
            now,
            logs,
            counts,
        )
        if r is None:
            counts.completed += 1
            ends.append(("completed", "track finished", now, now, eid))
            logs.append((lid, eid, track_name, None, "completed", "track finished", now))
        else:
            updates.append((*r, now, eid))
    repo.executemany(
        "INSERT INTO sales_mail_outbox (id, lead_id, enrolment_id, seq, track, step, to_addr, "
        "subject, body, status, attempts, next_attempt_at, created_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,'pending',0,?,?)",
        counts.mail,
    )
    enqueue_webhook(repo, counts.hooks, now)
    repo.executemany(
        "UPDATE sales_nurture_enrolments SET step = ?, seq = ?, step_since = ?, "
        "next_due_at = ?, updated_at = ? WHERE id = ?",
        updates,
    )
    repo.executemany(
        "UPDATE sales_nurture_enrolments SET status = ?, end_reason = ?, next_due_at = NULL, "
        "ended_at = ?, updated_at = ? WHERE id = ?",
        ends,
    )
    _cancel_mail(repo, [(e[1], e[4]) for e in ends if e[0] == "ended"])
    _log(repo, logs)
    return counts, len(due) == limit


def _cancel_mail(repo: Repository, items: list[tuple[str, int]]) -> None:
    """(why, enrolment id): unclaimed messages are cancelled; one being sent still goes."""
    repo.executemany(
        "UPDATE sales_mail_outbox SET status = 'cancelled', last_error = ? "
        "WHERE enrolment_id = ? AND status = 'pending' AND claimed_by IS NULL",
        items,
    )


def _stopped(repo: Repository, lead_ids: Sequence[int], stop_events: Sequence[str]) -> set[int]:
    """The leads among `lead_ids` that have one of `stop_events` (ever)."""
    if not stop_events or not lead_ids:
        return set()
    lmarks = ",".join("?" * len(lead_ids))
    emarks = ",".join("?" * len(stop_events))
    cur = repo.execute(
        f"SELECT DISTINCT lead_id FROM events WHERE lead_id IN ({lmarks}) AND type IN ({emarks})",
        [*lead_ids, *stop_events],
    )
    return {r[0] for r in cur.fetchall()}


def _run(
    repo: Repository,
    templates: Mapping[str, MessageTemplate],
    track: NurtureTrack,
    eid: int,
    lead: _Lead,
    reason: str | None,
    i: int,
    seq: int,
    t: float,
    now: float,
    logs: list[tuple[int, int, str, int | None, str, str, float]],
    counts: StepCounts,
) -> tuple[int, int, float, float] | None:
    """Run steps from `i` (reached at moment `t`) until one has to wait.

    Returns (step, seq, step_since, next_due_at) to store, or None when the track is done.
    """
    steps = track.steps
    # Loops are only allowed through a waiting step (checked at load), so this bound is a
    # safety net, not a limit a valid track can reach in one pass.
    for _ in range(4 * len(steps) + 4):
        if i >= len(steps):
            return None
        st = steps[i]
        if st.wait_days is not None:
            end = t + st.wait_days * DAY
            if now < end:
                return i, seq, t, end
            counts.steps += 1
            i, t = i + 1, end
        elif st.send is not None:
            counts.steps += 1
            seq += 1
            _send(repo, templates, track, st.send, eid, seq, i, lead, reason, now, logs, counts)
            i += 1
        else:
            b = st.branch
            assert b is not None
            seen = repo.execute(
                "SELECT 1 FROM events WHERE lead_id = ? AND type = ? AND occurred_at >= ? LIMIT 1",
                [lead.id, b.on_event, t],
            ).fetchone()
            if seen is None and b.within_days is not None and now < t + b.within_days * DAY:
                return i, seq, t, t + b.within_days * DAY
            counts.steps += 1
            target = b.goto if seen is not None else b.else_
            if seen is not None:
                detail = f"{b.on_event} seen"
            elif b.within_days is not None:
                detail = f"no {b.on_event} within {b.within_days:g} days"
                t = t + b.within_days * DAY
            else:
                detail = f"no {b.on_event}"
            nxt = i + 1 if target is None else (len(steps) if target == "end" else int(target))
            logs.append(
                (
                    lead.id,
                    eid,
                    track.name,
                    i,
                    "branch",
                    f"{detail}: " + ("end" if nxt >= len(steps) else f"step {nxt}"),
                    now,
                )
            )
            i = nxt
    return i, seq, t, now + DAY


def _context(lead: _Lead, track: NurtureTrack, reason: str | None) -> dict[str, Any]:
    ctx = lead.fields(reason)
    ctx["lead"] = {
        "id": lead.id,
        "email": lead.email,
        "stage": lead.stage,
        "stage_reason": lead.stage_reason,
        "owner": lead.owner,
        "grade": lead.grade,
        **{k: v for k, v in lead.scores.items()},
    }
    ctx["track"] = track.name
    return ctx


def _send(
    repo: Repository,
    templates: Mapping[str, MessageTemplate],
    track: NurtureTrack,
    send: SendStep,
    eid: int,
    seq: int,
    i: int,
    lead: _Lead,
    reason: str | None,
    now: float,
    logs: list[tuple[int, int, str, int | None, str, str, float]],
    counts: StepCounts,
) -> None:
    subject_t, body_t = send.subject, send.body
    if send.template is not None:
        tpl = templates[send.template]
        subject_t = subject_t if subject_t is not None else tpl.subject
        body_t = body_t if body_t is not None else tpl.body
    ctx = _context(lead, track, reason)
    try:
        # One header line: a CR or any other line break from a lead's attribute would
        # make the message unbuildable (or, unstripped, a header of its own).
        subject = header_text(render(subject_t or "", ctx))
        body = render(body_t or "", ctx)
    except TemplateProblem as exc:
        # One bad template must not stop the tick for everyone: the step is skipped, loudly.
        logs.append((lead.id, eid, track.name, i, "failed", f"not sent: {exc}", now))
        return
    if send.channel == "smtp":
        mid = uuid.uuid4().hex
        counts.mail.append(
            (mid, lead.id, eid, seq, track.name, i, lead.email, subject, body, now, now)
        )
        detail = f"e-mail '{subject}' to {lead.email} queued ({mid})"
    else:
        counts.hooks.append(
            (
                WEBHOOK_EVENT,
                lead.id,
                {
                    "lead_id": lead.id,
                    "email": lead.email,
                    "track": track.name,
                    "step": i,
                    "subject": subject,
                    "body": body,
                    "nurture_reason": reason,
                    "owner": lead.owner,
                },
            )
        )
        detail = f"webhook {WEBHOOK_EVENT} '{subject}' queued"
    counts.queued += 1
    logs.append((lead.id, eid, track.name, i, "queued", detail, now))


# -- the mail delivery loop --------------------------------------------------------------


@dataclass
class MailCounts:
    """What one delivery pass did."""

    sent: int = 0
    failed: int = 0
    dead: int = 0


def claim_mail(
    db: Database,
    worker: str,
    now: float,
    limit: int,
    lease: float,
    stop_events: Sequence[str] = (),
) -> list[Outgoing]:
    """Take up to `limit` due messages for `worker` (no other worker gets them until the
    lease runs out, which only matters when this one died mid-send). Messages to leads
    with a `stop_events` event (an unsubscribe after the message was queued) are
    cancelled instead, and that is written on their timeline."""
    with db.write() as conn:
        repo = Repository(db, conn)
        sql = (
            "SELECT id, lead_id, enrolment_id, track, step, subject FROM sales_mail_outbox "
            "WHERE status = 'pending' AND next_attempt_at <= ? "
            "AND (claimed_until IS NULL OR claimed_until < ?) ORDER BY next_attempt_at LIMIT ?"
        )
        if not db.is_sqlite:
            sql += " FOR UPDATE SKIP LOCKED"
        due = repo.execute(sql, [now, now, limit]).fetchall()
        if not due:
            return []
        stopped = _stopped(repo, sorted({r[1] for r in due}), stop_events)
        if stopped:
            why = "not sent: the lead unsubscribed (" + ", ".join(stop_events) + ")"
            gone = [r for r in due if r[1] in stopped]
            repo.executemany(
                "UPDATE sales_mail_outbox SET status = 'cancelled', last_error = ? WHERE id = ?",
                [(why, r[0]) for r in gone],
            )
            _log(
                repo,
                [
                    (r[1], r[2], r[3], r[4], "cancelled", f"e-mail '{r[5]}' {why}", now)
                    for r in gone
                ],
            )
        ids = [r[0] for r in due if r[1] not in stopped]
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        repo.execute(
            f"UPDATE sales_mail_outbox SET claimed_by = ?, claimed_until = ? WHERE id IN ({marks})",
            [worker, now + lease, *ids],
        )
        rows = repo.execute(
            f"SELECT id, to_addr, subject, body, lead_id FROM sales_mail_outbox "
            f"WHERE id IN ({marks}) ORDER BY next_attempt_at, created_at",
            ids,
        ).fetchall()
    return [Outgoing(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]


def record_mail(
    db: Database,
    worker: str,
    results: Sequence[Any],
    settings: MailSettings,
    now: float,
) -> MailCounts:
    """Store what each send gave, and write it on the lead's nurture timeline."""
    counts = MailCounts()
    if not results:
        return counts
    with db.write() as conn:
        repo = Repository(db, conn)
        ids = [r.id for r in results]
        marks = ",".join("?" * len(ids))
        info = {
            r[0]: r[1:]
            for r in repo.execute(
                "SELECT id, lead_id, enrolment_id, track, step, attempts, subject, to_addr "
                f"FROM sales_mail_outbox WHERE id IN ({marks}) AND claimed_by = ?",
                [*ids, worker],
            ).fetchall()
        }
        sent, failed, logs = [], [], []
        for r in results:
            row = info.get(r.id)
            if row is None:
                continue  # our lease ran out and someone else took it over
            lid, eid, track, step, attempts, subject, to = row
            n = int(attempts) + 1
            if r.ok:
                counts.sent += 1
                sent.append((now, n, r.id))
                logs.append(
                    (lid, eid, track, step, "sent", f"e-mail '{subject}' sent to {to}", now)
                )
                continue
            dead = r.permanent or n >= settings.max_attempts
            retry_at = now + settings.backoff(n)
            if dead:
                counts.dead += 1
                detail = f"e-mail '{subject}' to {to} failed for good (attempt {n}): {r.error}"
            else:
                counts.failed += 1
                detail = (
                    f"e-mail '{subject}' to {to} not sent (attempt {n}): {r.error}; "
                    f"retry at {iso(retry_at)}"
                )
            failed.append(("dead" if dead else "pending", n, retry_at, r.error, r.id))
            logs.append((lid, eid, track, step, "failed" if dead else "retry", detail, now))
        repo.executemany(
            "UPDATE sales_mail_outbox SET status = 'sent', sent_at = ?, attempts = ?, "
            "last_error = NULL, claimed_by = NULL, claimed_until = NULL WHERE id = ?",
            sent,
        )
        repo.executemany(
            "UPDATE sales_mail_outbox SET status = ?, attempts = ?, next_attempt_at = ?, "
            "last_error = ?, claimed_by = NULL, claimed_until = NULL WHERE id = ?",
            failed,
        )
        _log(repo, logs)
    return counts


def deliver_mail(
    db: Database,
    settings: MailSettings,
    worker: str,
    now: float,
    batch: int = 50,
    stop_events: Sequence[str] = (),
) -> MailCounts:
    """Send due outbox messages until none is due (or a batch fails). Without SMTP settings
    nothing is claimed: the messages wait, none is lost."""
    total = MailCounts()
    if not settings.configured:
        return total
    while True:
        claimed = claim_mail(db, worker, now, batch, settings.lease, stop_events)
        if not claimed:
            return total
        results = send_all(settings, claimed)
        c = record_mail(db, worker, results, settings, now)
        total.sent += c.sent
        total.failed += c.failed
        total.dead += c.dead
        if c.sent == 0 or len(claimed) < batch:
            return total


def replay_dead_mail(
    repo: Repository, now: float, actor: str, message_id: str | None = None
) -> int:
    """Queue dead e-mail again (every one, or one by id): its attempts start over and the
    next delivery pass sends it, with the same Message-ID. Mail of a lead that has left
    nurture (its enrolment ended) stays dead, as unsent mail is cancelled then. Returns
    how many were queued; an id that names no such message is an InputError."""
    sql = (
        "SELECT m.id, m.lead_id, m.enrolment_id, m.track, m.step FROM sales_mail_outbox m "
        "JOIN sales_nurture_enrolments e ON e.id = m.enrolment_id "
        "WHERE m.status = 'dead' AND e.status <> 'ended'"
    )
    args: list[Any] = []
    if message_id is not None:
        sql += " AND m.id = ?"
        args.append(message_id)
    rows = repo.execute(sql, args).fetchall()
    if message_id is not None and not rows:
        raise InputError(
            "id", f"no dead message {message_id!r} (or its lead has left nurture since)"
        )
    repo.executemany(
        "UPDATE sales_mail_outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, "
        "claimed_by = NULL, claimed_until = NULL WHERE id = ?",
        [(now, r[0]) for r in rows],
    )
    _log(
        repo, [(r[1], r[2], r[3], r[4], "replayed", f"queued again by {actor}", now) for r in rows]
    )
    return len(rows)


def pending_mail(repo: Repository) -> int:
    """Messages waiting to be sent."""
    row = repo.execute("SELECT COUNT(*) FROM sales_mail_outbox WHERE status = 'pending'").fetchone()
    return int(row[0])


def show(repo: Repository, lead_id: int) -> dict[str, Any] | None:
    """The lead's latest enrolment and its nurture timeline (for `lead show`)."""
    row = repo.execute(
        "SELECT id, track, status, step, next_due_at, reason, entered_at, end_reason "
        "FROM sales_nurture_enrolments WHERE lead_id = ? ORDER BY id DESC LIMIT 1",
        [lead_id],
    ).fetchone()
    if row is None:
        return None
    timeline = repo.execute(
        "SELECT at, track, step, kind, detail FROM sales_nurture_log WHERE lead_id = ? "
        "ORDER BY id DESC LIMIT 100",
        [lead_id],
    ).fetchall()
    return {
        "track": row[1],
        "status": row[2],
        "step": row[3],
        "next_step_at": iso(row[4]),
        "reason": row[5],
        "entered_at": iso(row[6]),
        "end_reason": row[7],
        "timeline": [
            {"at": iso(t[0]), "track": t[1], "step": t[2], "kind": t[3], "detail": t[4]}
            for t in reversed(timeline)
        ],
    }
