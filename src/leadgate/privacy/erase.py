"""Erasure (GDPR art. 17) and the subject access export (art. 15) of one person.

    from leadgate.privacy.erase import erase_person, export_person
    export_person(engine, "ana@acme.com")            # everything held, as JSON
    erase_person(engine, "ana@acme.com", reason="art. 17 request #42", actor="admin")

Erasure runs in one write transaction: every source of the registry (`registry.SOURCES`)
removes what it holds; the lead row stays under a pseudonymous id
(`erased-<random>@erased.invalid`) with the fields that are not personal, so funnel
counts, conversion rates and backtests stay what they were. The address goes on the
suppression list (a keyed hash), the erasure is audited (who, when, why) and announced
as a `person.erased` webhook (lead id and pseudonym, never the address). On SQLite the
transaction runs with `secure_delete` and the WAL is checkpointed afterwards, so the old
values are neither in free pages nor in the log.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from leadgate.engine.arrivals import person_of
from leadgate.engine.engine import Engine
from leadgate.engine.errors import NoPlaybook, NotFound
from leadgate.ingest.validate import InputError, check_email, iso
from leadgate.leads.identity import canonical_email
from leadgate.playbook.identity_sections import IdentitySection
from leadgate.playbook.loader import PlaybookError, load_playbook
from leadgate.privacy import registry, suppression
from leadgate.privacy.registry import IDENTIFIERS, REPORTED, Person
from leadgate.scoring.engagement import ADJUSTMENT
from leadgate.scoring.fit import email_domain
from leadgate.store.repository import Repository, StoredLead, dumps, loads
from leadgate.webhooks import enqueue as enqueue_webhook

PSEUDONYM_DOMAIN = "erased.invalid"


def is_pseudonym(email: str) -> bool:
    """Whether a lead's address is an erased person's pseudonym."""
    return email.endswith("@" + PSEUDONYM_DOMAIN)


def _walk_fields(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        f = node.get("field")
        if isinstance(f, str):
            out.add(f)
        for v in node.values():
            _walk_fields(v, out)
    elif isinstance(node, list):
        for v in node:
            _walk_fields(v, out)


def read_fields(repo: Repository) -> set[str]:
    """Every attribute or event property a stored playbook version reads (a condition's
    `field`): what a replay of the history needs."""
    out: set[str] = set()
    for sha, text in repo.execute("SELECT sha256, yaml FROM playbooks").fetchall():
        fields = _FIELDS.get(sha)
        if fields is None:
            # Versions never change: each text is read once per process (retention
            # erases many leads in a row).
            found: set[str] = set()
            with contextlib.suppress(PlaybookError):
                _walk_fields(load_playbook(text, "stored playbook").model_dump(mode="json"), found)
            fields = _FIELDS[sha] = frozenset(found)
        out |= fields
    return out


_FIELDS: dict[str, frozenset[str]] = {}


def kept_fields(repo: Repository) -> frozenset[str]:
    """Fields erasure keeps: read by a playbook or reported on, and not an identifier."""
    return frozenset((read_fields(repo) | REPORTED) - IDENTIFIERS)


def _person(repo: Repository, email: str, lock: bool) -> tuple[Person, Any]:
    s = repo.lead_by_email(email, lock=lock)
    if s is None or s.state.id is None:
        raise NotFound(f"no lead with email {email}")
    return Person(s.state.id, email, dict(s.state.attributes)), s


# -- export ---------------------------------------------------------------------------


def export_person(engine: Engine, email: str, actor: str = "cli") -> dict[str, Any]:
    """Everything the store holds about a person, one key per registry source, plus
    whether the address is suppressed. The export itself is audited."""
    email = check_email(email)
    now = engine.clock()
    rules = identity_rules(engine)
    with engine.db.write() as conn:
        repo = Repository(engine.db, conn)
        # The person the address is, as erasure finds them: an alias or an identity
        # spelling exports the lead it resolves to.
        s, resolved_by = person_of(repo, email, rules)
        if s is not None and is_pseudonym(s.state.email):
            s, resolved_by = None, None
        out: dict[str, Any] = {
            "email": email,
            "exported_at": iso(now),
            "suppressed": bool(suppression.refused(repo, [email])),
        }
        if s is None or s.state.id is None:
            if not out["suppressed"]:
                raise NotFound(f"no lead with email {email}")
            # An erased person: all we hold is the keyed hash of their address.
            out["held"] = "only a keyed hash of this address (on the suppression list)"
            return out
        spellings = spellings_of(repo, email, s)
        out["resolved_by"] = resolved_by
        out["spellings"] = spellings
        p = Person(s.state.id, s.state.email, dict(s.state.attributes))
        p.spellings = [a for a in spellings if a != p.email]
        for src in registry.present(repo):
            out[src.name] = src.export(repo, p)
        repo.execute(
            "INSERT INTO privacy_audit (action, lead_id, pseudonym, actor, reason, at, summary) "
            "VALUES (?,?,?,?,?,?,?)",
            ["export", p.lead_id, None, actor, "subject access export", now, "{}"],
        )
    return orjson.loads(orjson.dumps(out, default=str))  # type: ignore[no-any-return]


# -- erase ----------------------------------------------------------------------------


def _tokens(p: Person, events: Iterable[dict[str, Any]]) -> None:
    """The strings erasure cuts out of free text: the address (as typed and URL-encoded),
    its local part, every value it removes."""
    for address in [p.email, *p.spellings]:
        p.add_tokens([address, quote(address, safe=""), address.split("@", 1)[0]])
    # Names and other identifiers, word by word: "met Al at the fair" loses "Al".
    p.add_words(v for k, v in p.attributes.items() if k in IDENTIFIERS and k != "email")
    removed = [v for k, v in p.attributes.items() if k not in p.kept]
    for props in events:
        removed.extend(v for k, v in props.items() if k not in p.kept)
    kept_text = " ".join(
        str(v) for k, v in p.attributes.items() if k in p.kept and isinstance(v, str)
    ).lower()
    for props in events:
        kept_text += (
            " "
            + " ".join(
                str(v) for k, v in props.items() if k in p.kept and isinstance(v, str)
            ).lower()
        )
    # A removed value that also appears in a kept one (a page both in `url` and
    # `referrer`) is not cut: the kept field must read as before.
    p.add_tokens(v for v in _strings(removed) if v.strip().lower() not in kept_text or v == p.email)


def _strings(values: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for v in values:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            out.extend(_strings(v.values()))
        elif isinstance(v, list):
            out.extend(_strings(v))
    return out


def identity_rules(engine: Engine) -> IdentitySection:
    """The active playbook's `identity:` rules (none without a playbook)."""
    try:
        return engine.processor().playbook.identity
    except NoPlaybook:
        return IdentitySection()


def other_forms(engine: Engine, email: str) -> list[str]:
    """The address's canonical key under the active playbook's `identity:` rules, when it
    differs: what the suppression list holds with the address, so no other spelling of
    the person (`never+x@gmail.com` for `ne.ver@gmail.com`) brings them back."""
    key = canonical_email(email, identity_rules(engine))
    return [key] if key != email else []


def spellings_of(repo: Repository, email: str, lead: StoredLead | None) -> list[str]:
    """Every address recorded for the person: the one asked about, the lead's own, the
    aliases and identity keys pointing at the lead, and the addresses merged into it."""
    out = [email]
    if lead is not None and lead.state.id is not None:
        out.append(lead.state.email)
        for sql in (
            "SELECT address FROM lead_identities WHERE lead_id = ? ORDER BY address",
            "SELECT merged_email FROM lead_merges WHERE kept_id = ? ORDER BY id",
        ):
            out.extend(str(r[0]) for r in repo.execute(sql, [lead.state.id]).fetchall())
        # A key recorded before another lead took that address as its own (rules added
        # later) is that other person's address: not theirs to erase or suppress.
        others = {
            e
            for e, other in repo.leads_by_email(out[1:]).items()
            if other.state.id != lead.state.id
        }
        out = [a for a in out if a not in others]
    return [a for a in dict.fromkeys(out) if a and not is_pseudonym(a)]


def erase_person(
    engine: Engine,
    email: str,
    reason: str,
    actor: str,
    *,
    action: str = "erase",
    models_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Erase one person everywhere (see the module docstring). Returns the audit record:
    pseudonym, rows changed per source, models removed. An address with no lead is still
    put on the suppression list (the person asked not to be brought back)."""
    email = check_email(email)
    if not reason or not reason.strip():
        raise InputError("reason", "an erasure needs a reason (the request it answers)")
    now = engine.clock()
    db = engine.db
    summary: dict[str, int] = {}
    rules = identity_rules(engine)
    with db.write() as conn:
        repo = Repository(db, conn)
        if db.is_sqlite:
            # Deleted and overwritten cells are zeroed, not left in free space.
            conn.exec_driver_sql("PRAGMA secure_delete = ON")
        # The person is whom the engine files this address's events under: its own lead,
        # or the lead it is an alias or identity spelling of (the one step every way in
        # takes), never a lead the rules would not file it on.
        s, resolved_by = person_of(repo, email, rules)
        if s is not None and is_pseudonym(s.state.email):
            s, resolved_by = None, None  # an erased person: nothing left but the list
        spellings = spellings_of(repo, email, s)
        # Each spelling and its key under the rules: no way back under any of them.
        forms = [f for a in spellings for f in (a, canonical_email(a, rules)) if f != email]
        # Never another lead's own address (a key shared with someone the rules came to
        # fold only after both leads existed): that person is not erased.
        mine = None if s is None else s.state.id
        theirs = {e for e, o in repo.leads_by_email(forms).items() if o.state.id != mine}
        forms = [f for f in dict.fromkeys(forms) if f not in theirs]
        p: Person | None = None
        if s is not None and s.state.id is not None:
            p = Person(s.state.id, s.state.email, dict(s.state.attributes))
            p.spellings = [a for a in spellings if a != p.email]
            p.kept = kept_fields(repo)
            if "email_domain" in p.kept and "email_domain" not in p.attributes:
                # Conditions read the domain from the address, which goes: keep it as a field.
                p.attributes["email_domain"] = email_domain(p.email)
            key = suppression.secret(repo, now)
            p.pseudonym = f"erased-{secrets.token_hex(8)}@{PSEUDONYM_DOMAIN}"
            p.rename = lambda eid: (
                "erased-" + hmac.new(key.encode(), eid.encode(), hashlib.sha256).hexdigest()[:32]
            )
            props = [
                loads(r[0])
                for r in repo.execute(
                    # Adjustments keep their reason, cut word by word (registry.py).
                    "SELECT properties FROM events WHERE lead_id = ? AND type <> ?",
                    [p.lead_id, ADJUSTMENT],
                ).fetchall()
            ]
            _tokens(p, props)
            sources = registry.present(repo)
            # Events first: the lead's engagement state follows their new ids.
            sources.sort(key=lambda src: src.name != "events")
            for src in sources:
                summary[src.name] = src.erase(repo, p, now)
        clean_reason = reason.strip()
        for a in spellings:
            clean_reason = clean_reason.replace(a, registry.ERASED)
        if p is not None:
            clean_reason = p.scrub(clean_reason) or clean_reason
        row = repo.execute(
            "INSERT INTO privacy_audit (action, lead_id, pseudonym, actor, reason, at, summary) "
            "VALUES (?,?,?,?,?,?,?) RETURNING id",
            [
                action,
                p.lead_id if p else None,
                p.pseudonym if p else None,
                actor,
                clean_reason,
                now,
                dumps(summary),
            ],
        ).fetchone()
        audit_id = int(row[0])
        suppression.suppress(repo, email, audit_id, now, also=forms)
        data = {
            "lead_id": p.lead_id if p else None,
            "pseudonym": p.pseudonym if p else None,
            "erased_at": iso(now),
            "actor": actor,
            "audit_id": audit_id,
        }
        enqueue_webhook(repo, [("person.erased", p.lead_id if p else 0, data)], now)
        if db.is_sqlite:
            conn.exec_driver_sql("PRAGMA secure_delete = OFF")
    if db.is_sqlite:
        checkpoint(engine)
    removed = _drop_models(engine, p, models_dir) if p is not None else []
    return {
        **data,
        "reason": clean_reason,
        "rows": summary,
        "models_removed": removed,
        # For whoever asked (never in the audit or the webhook): which lead, found how,
        # and the addresses now erased and suppressed with it.
        "resolved_by": resolved_by,
        "spellings": spellings,
    }


def checkpoint(engine: Engine) -> None:
    """SQLite: copy the WAL into the file and empty it, so the values an erasure overwrote
    are in neither."""
    with engine.db.read() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _drop_models(engine: Engine, p: Person, models_dir: str | Path | None) -> list[str]:
    """Trained models whose inputs held the person's strings (a category vocabulary that
    kept their company, say) are removed, from the store and the models directory: a
    model cannot forget one row, so it is trained again without it."""
    import io
    import pickle

    import joblib

    from leadgate.predictive.persist import models_dir as default_models_dir

    needles = [t.lower().encode() for t in p.tokens]

    def mentions(blob: bytes) -> bool:
        try:
            text = pickle.dumps(joblib.load(io.BytesIO(blob))).lower()
        except Exception:
            text = blob.lower()
        return any(n in text for n in needles)

    removed: list[str] = []
    with engine.db.write() as conn:
        repo = Repository(engine.db, conn)
        for mid, card, artifact in repo.execute(
            "SELECT id, card, artifact FROM predictive_models"
        ).fetchall():
            if any(n in str(card).lower().encode() for n in needles) or mentions(bytes(artifact)):
                repo.execute("DELETE FROM predictive_models WHERE id = ?", [mid])
                removed.append(mid)
    root = default_models_dir(models_dir)
    if root.is_dir():
        import shutil

        for d in sorted(root.iterdir()):
            f = d / "model.joblib"
            if f.is_file() and mentions(f.read_bytes()):
                shutil.rmtree(d)
                removed.append(d.name)
    return removed


def consent(engine: Engine, email: str, reason: str, actor: str) -> bool:
    """The person gave consent again: their address comes off the suppression list
    (audited). Returns whether it was on it."""
    email = check_email(email)
    if not reason or not reason.strip():
        raise InputError("reason", "say where the consent was given")
    now = engine.clock()
    forms = other_forms(engine, email)
    with engine.db.write() as conn:
        repo = Repository(engine.db, conn)
        lifted = suppression.lift(repo, email, also=forms)
        if lifted:
            repo.execute(
                "INSERT INTO privacy_audit (action, lead_id, pseudonym, actor, reason, at, "
                "summary) VALUES (?,?,?,?,?,?,?)",
                [
                    "consent",
                    None,
                    None,
                    actor,
                    reason.strip().replace(email, "[address]"),
                    now,
                    "{}",
                ],
            )
    return lifted
