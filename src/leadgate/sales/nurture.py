"""Nurture tracks over the store: enrolment, and what the steps and the outbox share.

The timed steps are `nurture_steps.py`, the mail delivery loop `nurture_mail.py`.

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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from leadgate.ingest.validate import InputError
from leadgate.playbook.base import Condition
from leadgate.playbook.conditions import Predicate, compile_condition
from leadgate.playbook.segments import compile_segments, lead_view
from leadgate.sales.mail import MailSettings, settings_from
from leadgate.sales.playbook_sections import (
    NurtureSection,
    NurtureTrack,
)
from leadgate.store.repository import Repository, loads

if TYPE_CHECKING:
    from leadgate.engine.engine import LeadChange

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
