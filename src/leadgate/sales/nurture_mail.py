"""Nurture's mail delivery loop: claim due messages from `sales_mail_outbox` (a lease per
worker), send them, record each result on the lead's nurture timeline with retries and
backoff; replay dead mail.

    deliver_mail(db, settings, worker="scheduler", now=now)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from leadgate.ingest.validate import InputError, iso
from leadgate.sales.mail import MailSettings, Outgoing, send_all
from leadgate.sales.nurture import _log, _stopped
from leadgate.store.repository import Repository

if TYPE_CHECKING:
    from leadgate.store.database import Database


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
    cancelled instead, and that is written on their timeline.

    Nothing due (most ticks) is found in a read transaction, as the webhooks' `claim`
    does: a write transaction would still commit and drop the engine's lead cache."""
    sql = (
        "SELECT id, lead_id, enrolment_id, track, step, subject FROM sales_mail_outbox "
        "WHERE status = 'pending' AND next_attempt_at <= ? "
        "AND (claimed_until IS NULL OR claimed_until < ?) ORDER BY next_attempt_at LIMIT ?"
    )
    with db.read() as conn:
        if Repository(db, conn).execute(sql, [now, now, 1]).fetchone() is None:
            return []
    with db.write() as conn:
        repo = Repository(db, conn)
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
