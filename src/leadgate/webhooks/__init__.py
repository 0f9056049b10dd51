"""Signed webhooks: subscriptions, an outbox written inside the change's own transaction,
and the signature receivers verify.

Why an outbox: a delivery row commits or rolls back together with the stage change that
caused it, so a change the API acknowledged is never lost and a rolled-back change is
never announced. The delivery loop (`leadgate.webhooks.delivery`) sends what the outbox
holds, at least once; each row has one delivery id for its whole life, so receivers
de-duplicate on `X-Leadgate-Delivery`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from leadgate.ingest.validate import InputError, iso
from leadgate.store.database import Database
from leadgate.store.repository import Repository

if TYPE_CHECKING:
    from leadgate.engine.engine import LeadChange

EVENT_TYPES = (
    "lead.created",
    "lead.stage_changed",
    # A late event (or a late person's move) re-derived stage changes already announced.
    "lead.stage_corrected",
    "lead.score_changed",
    # Written by the sales workflow through `enqueue` (not by OutboxWriter).
    "lead.sla_breached",
    "lead.nurture_message",
    # Written by `leadgate.identity.merge` through `enqueue`: two leads became one.
    "lead.merged",
    # Written by the sales workflow whenever a lead's owner changes (routing, handoff,
    # reassignment, escalation), in the transaction of the change.
    "lead.assigned",
    # Written by `leadgate.privacy.erase`: a person's data was erased (no address in it).
    "person.erased",
)
SIGNATURE_HEADER = "X-Leadgate-Signature"
DELIVERY_HEADER = "X-Leadgate-Delivery"
EVENT_HEADER = "X-Leadgate-Event"


class SubscriptionNotFound(LookupError):
    """No such webhook subscription."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """A webhook subscription (the secret is only shown when it is created)."""

    id: int
    url: str
    events: tuple[str, ...]
    active: bool
    created_at: float
    created_by: str

    def as_dict(self) -> dict[str, Any]:
        """JSON shape for the CLI and the API."""
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "active": self.active,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
        }


# -- signing ---------------------------------------------------------------------------


def sign(secret: str, body: bytes, t: int) -> str:
    """The signature header value: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    mac = hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256)
    return f"t={t},v1={mac.hexdigest()}"


def verify(
    secret: str, body: bytes, header: str, tolerance: float = 300.0, now: float | None = None
) -> bool:
    """What a receiver does: check the HMAC in constant time and refuse stale timestamps."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        k, _, v = item.strip().partition("=")
        parts.setdefault(k, []).append(v)
    try:
        t = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - t) > tolerance:
        return False
    expected = sign(secret, body, t).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, v) for v in parts.get("v1", []))


# -- subscriptions ---------------------------------------------------------------------


def check_events(events: Sequence[str] | str) -> tuple[str, ...]:
    """Event names as given (list or comma-separated), each known; InputError otherwise."""
    items = events.split(",") if isinstance(events, str) else list(events)
    out: list[str] = []
    for raw in items:
        if not isinstance(raw, str):
            raise InputError("events", f"{raw!r} is not an event name")
        e = raw.strip()
        if e not in EVENT_TYPES:
            raise InputError("events", f"unknown event '{e}' (one of {', '.join(EVENT_TYPES)})")
        if e not in out:
            out.append(e)
    if not out:
        raise InputError("events", f"give at least one of {', '.join(EVENT_TYPES)}")
    return tuple(out)


def check_url(url: str) -> str:
    """An absolute http(s) URL."""
    u = url.strip()
    parts = urlsplit(u)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError("url", f"'{url}' is not an http:// or https:// URL")
    if len(u) > 2000:
        raise InputError("url", "longer than 2000 characters")
    return u


def add_subscription(
    db: Database,
    url: str,
    events: Sequence[str] | str,
    secret: str | None,
    actor: str,
    *,
    allow_private: bool | None = None,
) -> tuple[Subscription, str]:
    """Store a subscription; returns it and its secret (generated when not given).

    The URL must reach public addresses only (`webhooks.targets`) unless `allow_private`
    (default: $LEADGATE_ALLOW_PRIVATE_WEBHOOKS=1)."""
    # Imported here: every command that opens the store loads this module (its outbox
    # writer), only a subscription checks a target (issue 17: `lead show`'s start-up).
    from leadgate.webhooks.targets import check_target

    url = check_target(check_url(url), allow_private)
    evs = check_events(events)
    if secret is not None:
        secret = secret.strip()
        if len(secret) < 16 or len(secret) > 200:
            raise InputError("secret", "must be 16 to 200 characters")
    else:
        secret = "whsec_" + secrets.token_urlsafe(32)
    now = time.time()
    with db.write() as conn:
        row = (
            Repository(db, conn)
            .execute(
                "INSERT INTO webhook_subscriptions (url, events, secret, active, created_at, "
                "created_by) VALUES (?,?,?,?,?,?) RETURNING id",
                [url, ",".join(evs), secret, True, now, actor],
            )
            .fetchone()
        )
    return Subscription(int(row[0]), url, evs, True, now, actor), secret


def list_subscriptions(db: Database) -> list[Subscription]:
    """Every subscription, oldest first."""
    with db.read() as conn:
        rows = (
            Repository(db, conn)
            .execute(
                "SELECT id, url, events, active, created_at, created_by FROM "
                "webhook_subscriptions ORDER BY id"
            )
            .fetchall()
        )
    return [
        Subscription(int(r[0]), r[1], tuple(r[2].split(",")), bool(r[3]), r[4], r[5]) for r in rows
    ]


def deactivate_subscription(db: Database, sub_id: int) -> None:
    """Stop a subscription; its history stays, its pending deliveries are not sent."""
    with db.write() as conn:
        cur = Repository(db, conn).execute(
            "UPDATE webhook_subscriptions SET active = ? WHERE id = ?", [False, sub_id]
        )
        if cur.rowcount == 0:
            raise SubscriptionNotFound(f"no webhook subscription {sub_id}")


# -- the outbox ------------------------------------------------------------------------


def _payload(delivery_id: str, typ: str, now: float, data: dict[str, Any]) -> str:
    return orjson.dumps(
        {"id": delivery_id, "type": typ, "created_at": iso(now), "data": data}
    ).decode()


class OutboxWriter:
    """An `engine.listeners` hook: one outbox row per (subscription, event), in the
    transaction that made the change. `on_written` is told when rows were added (the
    delivery loop in the same process wakes up instead of waiting for its next poll)."""

    # Run after the engine's other listeners: routing sets the owner it announces.
    late = True

    def __init__(self, on_written: Callable[[], None] | None = None):
        self.on_written = on_written

    def __call__(self, repo: Repository, changes: list[LeadChange], now: float) -> None:
        if not changes:
            return
        subs = repo.execute(
            "SELECT id, events FROM webhook_subscriptions WHERE active = ?", [True]
        ).fetchall()
        if not subs:
            return
        wanted: dict[str, list[int]] = {e: [] for e in EVENT_TYPES}
        for sid, events in subs:
            for e in events.split(","):
                if e in wanted:
                    wanted[e].append(int(sid))
        rows: list[tuple[Any, ...]] = []

        def emit(typ: str, lead_id: int, data: dict[str, Any]) -> None:
            for sid in wanted[typ]:
                did = uuid.uuid4().hex
                rows.append(
                    (did, sid, typ, lead_id, _payload(did, typ, now, data), "pending", 0, now, now)
                )

        for c in changes:
            base = {"lead_id": c.lead_id, "email": c.email}
            if c.created and wanted["lead.created"]:
                emit(
                    "lead.created",
                    c.lead_id,
                    {**base, "score": c.score_after, "grade": c.grade_after, "owner": c.owner},
                )
            if c.voided and wanted["lead.stage_corrected"]:

                def row(t: Any) -> dict[str, Any]:
                    return {
                        "from": t.from_stage,
                        "to": t.to_stage,
                        "at": iso(t.at),
                        "actor": t.actor,
                        "reason": t.reason,
                    }

                emit(
                    "lead.stage_corrected",
                    c.lead_id,
                    {
                        **base,
                        "voided": [row(t) for t in c.voided],
                        "replaced_by": [row(t) for t in c.transitions],
                        "score": c.score_after,
                        "grade": c.grade_after,
                        "owner": c.owner,
                    },
                )
            if wanted["lead.stage_changed"]:
                for t in c.transitions:
                    emit(
                        "lead.stage_changed",
                        c.lead_id,
                        {
                            **base,
                            "from": t.from_stage,
                            "to": t.to_stage,
                            "at": iso(t.at),
                            "actor": t.actor,
                            "reason": t.reason,
                            "score": c.score_after,
                            "grade": c.grade_after,
                            "owner": c.owner,
                        },
                    )
            if (
                wanted["lead.score_changed"]
                and not c.created
                and (c.score_before is None or abs(c.score_after - c.score_before) > 1e-9)
            ):
                emit(
                    "lead.score_changed",
                    c.lead_id,
                    {
                        **base,
                        "score_before": c.score_before,
                        "score": c.score_after,
                        "grade_before": c.grade_before,
                        "grade": c.grade_after,
                    },
                )
        if rows:
            repo.executemany(
                "INSERT INTO webhook_outbox (id, subscription_id, event_type, lead_id, payload, "
                "status, attempts, next_attempt_at, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                rows,
            )
            if self.on_written is not None:
                self.on_written()


def enqueue(repo: Repository, events: Sequence[tuple[str, int, dict[str, Any]]], now: float) -> int:
    """Queue events (type, lead id, data) for every active subscription that wants them,
    in the caller's transaction (so they commit or roll back with the change that caused
    them). Returns how many deliveries were queued."""
    if not events:
        return 0
    for typ, _, _ in events:
        if typ not in EVENT_TYPES:
            raise ValueError(f"unknown webhook event '{typ}'")
    subs = repo.execute(
        "SELECT id, events FROM webhook_subscriptions WHERE active = ?", [True]
    ).fetchall()
    rows: list[tuple[Any, ...]] = []
    for typ, lead_id, data in events:
        for sid, wanted in subs:
            if typ in wanted.split(","):
                did = uuid.uuid4().hex
                payload = _payload(did, typ, now, data)
                rows.append((did, int(sid), typ, lead_id, payload, "pending", 0, now, now))
    repo.executemany(
        "INSERT INTO webhook_outbox (id, subscription_id, event_type, lead_id, payload, "
        "status, attempts, next_attempt_at, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
        rows,
    )
    return len(rows)


def replay(db: Database, delivery_id: str | None = None, dead: bool = False) -> int:
    """Queue deliveries again: one by id (even if delivered: same id, receivers de-duplicate),
    or every dead-lettered one. Returns how many were queued."""
    if (delivery_id is None) == (not dead):
        raise InputError("replay", "give a delivery id or --dead (one of them)")
    now = time.time()
    sql = (
        "UPDATE webhook_outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, "
        "claimed_by = NULL, claimed_until = NULL, last_error = NULL WHERE "
    )
    with db.write() as conn:
        repo = Repository(db, conn)
        if delivery_id is not None:
            cur = repo.execute(sql + "id = ?", [now, delivery_id])
            if cur.rowcount == 0:
                raise SubscriptionNotFound(f"no webhook delivery '{delivery_id}'")
        else:
            cur = repo.execute(sql + "status = 'dead'", [now])
        return int(cur.rowcount)


def outbox_counts(db: Database) -> dict[str, int]:
    """Deliveries per status."""
    with db.read() as conn:
        rows = (
            Repository(db, conn)
            .execute("SELECT status, COUNT(*) FROM webhook_outbox GROUP BY status")
            .fetchall()
        )
    out = {"pending": 0, "delivered": 0, "dead": 0}
    out.update({r[0]: int(r[1]) for r in rows})
    return out


def list_deliveries(
    db: Database, status: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The latest deliveries (newest first), optionally of one status."""
    sql = (
        "SELECT id, subscription_id, event_type, lead_id, status, attempts, next_attempt_at, "
        "created_at, delivered_at, last_status, last_error FROM webhook_outbox"
    )
    params: list[Any] = []
    if status:
        sql += " WHERE status = ?"
        params.append(status)
    sql += " ORDER BY created_at DESC, id LIMIT ?"
    params.append(limit)
    with db.read() as conn:
        rows = Repository(db, conn).execute(sql, params).fetchall()
    return [
        {
            "id": r[0],
            "subscription_id": r[1],
            "event": r[2],
            "lead_id": r[3],
            "status": r[4],
            "attempts": r[5],
            "next_attempt_at": iso(r[6]) if r[4] == "pending" else None,
            "created_at": iso(r[7]),
            "delivered_at": iso(r[8]),
            "last_status": r[9],
            "last_error": r[10],
        }
        for r in rows
    ]
