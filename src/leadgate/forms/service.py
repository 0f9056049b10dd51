"""The forms' use cases over one engine: serve a step, take a submission, count rejections.

A submission goes: ticket checked (the form it was served for, its age: the minimum
fill time) → spam rules (honeypot, fill time, rate per address) → answers checked by
the pure flow against what is known of the lead → rate per email, disposable domain →
the lead upserted and the `form_submitted` event (plus the form's hand-raiser event)
ingested **through the engine** → the qualification answers recorded through the sales
workflow → consent and submission rows. The ticket's nonce is the event id: a double
click is one submission (the second answers as the first did).

    forms = Forms(engine)
    ticket = forms.ticket("demo")
    forms.submit("demo", ticket, {"email": "ann@acme.com", ...}, Visit(ip="203.0.113.9"))

Visitors' addresses and emails are stored as keyed hashes only (`_hash`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from leadgate.engine.engine import Engine, NoPlaybook
from leadgate.forms import consents as lead_consents
from leadgate.forms.answers import FormError
from leadgate.forms.flow import (
    Known,
    StepView,
    next_step,
    parse_answers,
    submission,
    walk,
)
from leadgate.forms.spam import DETAILS, Facts, verdict
from leadgate.forms.submissions import Ticket, Visit, answer, record
from leadgate.ingest.validate import iso
from leadgate.playbook.forms_section import Form
from leadgate.playbook.model import Playbook
from leadgate.store.repository import Repository

if TYPE_CHECKING:
    from itsdangerous import URLSafeSerializer

# itsdangerous and the users' module (Argon2) are imported where tickets are signed:
# `lead show` installs the forms' hook and signs nothing (start-up time, issue 17).

# A ticket older than this is refused (the visitor reloads the form).
TICKET_MAX_AGE = 24 * 3600.0


class FormNotFound(LookupError):
    """No form of that name in the active playbook."""


class FormRefused(Exception):
    """A submission refused by a spam rule (`reason`, one of spam.REASONS), or an origin."""

    def __init__(self, reason: str, detail: str, field: str | None = None):
        self.reason = reason
        self.detail = detail
        self.field = field
        super().__init__(detail)


@cache
def disposable_domains() -> frozenset[str]:
    """The maintained list of disposable-mail domains (package disposable-email-domains),
    in both spellings of an international domain: the list writes them `xn--`, while a
    submitted address's domain is spelled in Unicode (`check_email`)."""
    from disposable_email_domains import blocklist

    from leadgate.playbook.domains import domain_set

    return domain_set(list(blocklist))


def deliverable(email: str) -> str | None:
    """Why mail cannot reach `email` (its domain has no MX or A record), or None.

    A DNS lookup: used only by forms with `spam.check_deliverability: true`.
    """
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(email, check_deliverability=True)
    except EmailNotValidError as exc:
        return str(exc)
    return None


class Forms:
    """The forms of the active playbook over `engine`."""

    def __init__(self, engine: Engine, check_mail: Callable[[str], str | None] = deliverable):
        self.engine = engine
        self.check_mail = check_mail
        self._playbooks: dict[int, Playbook] = {}
        self._secret: str | None = None

    # -- the playbook's forms --------------------------------------------------------

    def _playbook_in(self, repo: Repository) -> Playbook:
        row = repo.execute("SELECT MAX(version) FROM playbooks").fetchone()
        if row is None or row[0] is None:
            raise NoPlaybook("no active playbook: run `leadgate init`")
        version = int(row[0])
        pb = self._playbooks.get(version)
        if pb is None:
            pb = self.engine.stored_playbook(repo, version)
            if pb is None:
                raise NoPlaybook("no active playbook: run `leadgate init`")
            self._playbooks = {version: pb}
        return pb

    def _form_in(self, repo: Repository, name: str) -> Form:
        form = self._playbook_in(repo).forms.get(name)
        if form is None:
            raise FormNotFound(f"no form named '{name}' in the active playbook")
        return form

    def playbook(self) -> Playbook:
        """The active playbook (parsed once per version)."""
        with self.engine.db.read() as conn:
            return self._playbook_in(Repository(self.engine.db, conn))

    def form(self, name: str) -> Form:
        """Form `name` of the active playbook, or FormNotFound."""
        with self.engine.db.read() as conn:
            return self._form_in(Repository(self.engine.db, conn), name)

    # -- secrets: tickets and hashes --------------------------------------------------

    def _key(self) -> str:
        if self._secret is None:
            from leadgate.users import Users

            self._secret = Users(self.engine.db, clock=self.engine.clock).secret("forms")
        return self._secret

    def _hash(self, kind: str, value: str) -> str:
        return hmac.new(
            self._key().encode(), f"{kind}\x1f{value}".encode(), hashlib.sha256
        ).hexdigest()

    def signer(self, salt: str) -> URLSafeSerializer:
        from itsdangerous import URLSafeSerializer

        return URLSafeSerializer(self._key(), salt=salt)

    def ticket(self, name: str) -> str:
        """A signed ticket for one filling of form `name`: when it was served, a nonce."""
        self.form(name)
        return str(
            self.signer("form-ticket").dumps([name, self.engine.clock(), secrets.token_hex(16)])
        )

    def open_ticket(self, name: str, token: Any) -> Ticket:
        """The ticket, if it is this form's, signed by us and fresh; FormError otherwise."""
        from itsdangerous import BadSignature

        try:
            raw = self.signer("form-ticket").loads(token) if isinstance(token, str) else None
        except BadSignature:
            raw = None
        if not (isinstance(raw, list) and len(raw) == 3 and raw[0] == name):
            raise FormError("lg_ticket", "missing or not this form's: reload the form")
        ticket = Ticket(str(raw[0]), float(raw[1]), str(raw[2]))
        if self.engine.clock() - ticket.issued_at > TICKET_MAX_AGE:
            raise FormError("lg_ticket", "the form has expired: reload it")
        return ticket

    # -- who the visitor is ----------------------------------------------------------

    def known(self, visit: Visit, email: str | None) -> Known:
        """What the store knows of the visitor: by the email typed, else the signed
        cookie's lead, else the lead an earlier submission with this visitor id made."""
        with self.engine.db.read() as conn:
            return self._known_in(Repository(self.engine.db, conn), visit, email)

    def _known_in(self, repo: Repository, visit: Visit, email: str | None) -> Known:
        stored = repo.lead_by_email(email) if email else None
        if stored is None and not email:
            lead_id = visit.lead_id
            if lead_id is None and visit.visitor_id:
                row = repo.execute(
                    "SELECT lead_id FROM form_submissions WHERE visitor_id = ? "
                    "ORDER BY at DESC LIMIT 1",
                    [visit.visitor_id],
                ).fetchone()
                lead_id = int(row[0]) if row else None
            if lead_id is not None:
                stored = repo.lead_by_id(lead_id)
        if stored is None or stored.state.id is None:
            return Known()
        lead = stored.state
        card = lead.card
        scores = {} if card is None else {"fit": card.fit, "engagement": card.engagement}
        framework = self._playbook_in(repo).stages.sql.framework
        # The latest answer per criterion of the framework in force (the sales workflow's
        # records, read in this transaction rather than through another one).
        latest: dict[str, str] = {}
        for crit, status in repo.execute(
            "SELECT criterion, status FROM sales_qualification WHERE lead_id = ? AND "
            "framework = ? ORDER BY version, id",
            [stored.state.id, framework],
        ).fetchall():
            latest[crit] = status
        criteria = frozenset(k for k, v in latest.items() if v != "unknown")
        return Known(dict(lead.attributes), criteria, scores, stored.state.id, lead.stage)

    # -- steps -----------------------------------------------------------------------

    def step(
        self, name: str, raw: dict[str, Any], current: int, visit: Visit
    ) -> tuple[StepView | None, Known]:
        """Check the step at index `current` and give the next (None: ready to submit)."""
        with self.engine.db.read() as conn:
            repo = Repository(self.engine.db, conn)
            form = self._form_in(repo, name)
            known = self._known_in(repo, visit, _email_of(form, raw))
        return next_step(form, known, raw, current), known

    def view_at(self, name: str, raw: dict[str, Any], current: int, visit: Visit) -> StepView:
        """The step at index `current` as this visitor sees it, with the answers that
        parse (to show it again with its error)."""
        with self.engine.db.read() as conn:
            repo = Repository(self.engine.db, conn)
            form = self._form_in(repo, name)
            known = self._known_in(repo, visit, _email_of(form, raw))
        steps = walk(form, known, parse_answers(form, raw, lenient=True))
        return next((v for v in steps if v.index == current), steps[0])

    # -- submissions -----------------------------------------------------------------

    def _count(self, repo: Repository, column: str, value: str, since: float) -> int:
        n = 0
        for table in ("form_submissions", "form_rejections"):
            row = repo.execute(
                f"SELECT COUNT(*) FROM {table} WHERE {column} = ? AND at > ?",
                [value, since],
            ).fetchone()
            n += int(row[0])
        return n

    def _refuse(
        self, name: str, reason: str, ip_hash: str, email_hash: str | None, detail: str
    ) -> FormRefused:
        with self.engine.db.write() as conn:
            Repository(self.engine.db, conn).execute(
                "INSERT INTO form_rejections (form, reason, ip_hash, email_hash, at) "
                "VALUES (?,?,?,?,?)",
                [name, reason, ip_hash, email_hash, self.engine.clock()],
            )
        field = "email" if reason in ("disposable", "rate_email") else None
        return FormRefused(reason, DETAILS.get(reason, detail), field)

    def refuse_origin(self, name: str, origin: str, ip: str) -> FormRefused:
        """Count a call from an origin the form does not allow; the error to answer."""
        return self._refuse(
            name,
            "origin",
            self._hash("ip", ip),
            None,
            f"origin {origin} may not use form '{name}': add it to the form's allowed_origins",
        )

    def submit(self, name: str, token: Any, raw: dict[str, Any], visit: Visit) -> dict[str, Any]:
        """Take one submission. Returns {status: accepted|duplicate, thank_you, booking_url?}.

        Raises FormError (a bad answer, naming it) or FormRefused (spam; counted).
        """
        ticket = self.open_ticket(name, token)
        now = self.engine.clock()
        raw = dict(raw)
        ip_hash = self._hash("ip", visit.ip)
        # Everything the decision reads, in one read transaction.
        with self.engine.db.read() as conn:
            repo = Repository(self.engine.db, conn)
            form = self._form_in(repo, name)
            rules = form.spam
            trap = raw.pop(rules.honeypot, "")
            done = repo.execute(
                "SELECT became_mql FROM form_submissions WHERE token = ?", [ticket.nonce]
            ).fetchone()
            if done is not None:
                return answer(form, "duplicate", bool(done[0]))
            from_ip = (
                self._count(repo, "ip_hash", ip_hash, now - rules.per_ip.minutes * 60)
                if rules.per_ip
                else 0
            )
            email = _email_of(form, raw)
            known = self._known_in(repo, visit, email)
            email_hash = self._hash("email", email or "")
            for_email = (
                self._count(repo, "email_hash", email_hash, now - rules.per_email.minutes * 60)
                if rules.per_email and email
                else 0
            )
        facts = Facts(
            # Anything but text (or nothing) in the trap is a robot's doing too.
            honeypot="" if trap is None else trap if isinstance(trap, str) else "x",
            filled_seconds=now - ticket.issued_at,
            from_ip=from_ip,
        )
        reason = verdict(rules, facts, ())
        if reason is not None:
            raise self._refuse(name, reason, ip_hash, None, reason)
        sub = submission(form, known, raw)
        facts = Facts(for_email=for_email, domain=sub.email.rpartition("@")[2])
        reason = verdict(rules, facts, disposable_domains())
        if reason is not None:
            raise self._refuse(name, reason, ip_hash, email_hash, reason)
        if rules.check_deliverability:
            why = self.check_mail(sub.email)
            if why is not None:
                raise FormError("email", f"mail cannot reach this address: {why}")
        return record(self.engine, name, form, ticket, sub, known, visit, ip_hash, email_hash, now)

    # -- for admins ------------------------------------------------------------------

    def rejections(self, since: float | None = None) -> dict[str, Any]:
        """Rejected submissions counted by form and reason (since `since`, else ever)."""
        with self.engine.db.read() as conn:
            rows = (
                Repository(self.engine.db, conn)
                .execute(
                    "SELECT form, reason, COUNT(*), MAX(at) FROM form_rejections WHERE at >= ? "
                    "GROUP BY form, reason ORDER BY form, reason",
                    [since if since is not None else float("-inf")],
                )
                .fetchall()
            )
        counts = [
            {"form": f, "reason": r, "count": int(n), "last_at": iso(last)}
            for f, r, n, last in rows
        ]
        return {"total": sum(c["count"] for c in counts), "rejections": counts}

    def consents(self, lead_id: int) -> list[dict[str, Any]]:
        """The consents a lead gave on forms (form, field, text version, time)."""
        with self.engine.db.read() as conn:
            return lead_consents.consents(Repository(self.engine.db, conn), lead_id)


def _email_of(form: Form, raw: dict[str, Any]) -> str | None:
    from leadgate.ingest.validate import InputError, check_email

    name = next(f.name for f in form.fields if f.type == "email")
    value = raw.get(name)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return check_email(value)
    except InputError:
        return None


_ATTR = "_leadgate_forms"


def install(engine: Engine) -> Forms:
    """The forms of `engine` (made once): `lead show` / GET /leads/{id} gain `consents`."""
    existing: Forms | None = getattr(engine, _ATTR, None)
    if existing is not None:
        return existing
    forms = Forms(engine)
    lead_consents.install(engine)
    setattr(engine, _ATTR, forms)
    return forms
