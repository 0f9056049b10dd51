"""Reps' addresses and accounts' domains in the spelling every way in now gives (as 0018
did for leads): `check_email`'s, NFC with the domain in Unicode.

A rep added before 0018 as `jose\\u0301@ourco.com` (NFD) or `anna@xn--bcher-kva.de` is
stored `josé@ourco.com` / `anna@bücher.de`, so an import naming the owner in any spelling
finds them. An account (`sales_accounts`, by domain) claimed as `xn--bcher-kva.de` is
respelled `bücher.de`, the domain routing now reads off a lead's stored address, so the
account's next lead goes to its owner again. An address no check takes any more is kept
in one case and NFC (`normalize_email`), as 0018 keeps it.

Nothing is merged or deleted: a domain whose Unicode spelling another account holds
already (both spellings claimed, by two reps maybe) keeps its old spelling, which routing
no longer reads; the Unicode one stays its owner's.

Downgrade leaves the spellings as they are: they are valid to the previous version too.

Revision ID: 0019_rep_email_nfc
Revises: 0018_email_nfc
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_rep_email_nfc"
down_revision = "0018_email_nfc"
branch_labels = None
depends_on = None


def _address(address: str) -> str:
    from leadgate.ingest.validate import InputError, check_email
    from leadgate.leads.record import normalize_email

    try:
        return check_email(address)
    except InputError:
        return normalize_email(address)


def _domain(domain: str) -> str:
    from leadgate.ingest.validate import InputError, check_email

    try:
        return check_email(f"x@{domain}").rpartition("@")[2]
    except InputError:
        return domain


def upgrade() -> None:
    conn = op.get_bind()
    # A team's reps: a few rows, read at once.
    for rep_id, email in conn.execute(
        sa.text("SELECT id, email FROM sales_reps WHERE email IS NOT NULL ORDER BY id")
    ).fetchall():
        spelled = _address(email)
        if spelled != email:
            conn.execute(
                sa.text("UPDATE sales_reps SET email = :e WHERE id = :i"),
                {"e": spelled, "i": rep_id},
            )
    # One row per company domain: the non-ASCII ones and the xn-- ones may change.
    domains = [
        str(r[0]) for r in conn.execute(sa.text("SELECT domain FROM sales_accounts")).fetchall()
    ]
    taken = set(domains)
    for domain in sorted(domains):
        if domain.isascii() and "xn--" not in domain and domain == domain.lower():
            continue
        spelled = _domain(domain)
        if spelled != domain and spelled not in taken:
            taken.add(spelled)
            conn.execute(
                sa.text("UPDATE sales_accounts SET domain = :s WHERE domain = :d"),
                {"s": spelled, "d": domain},
            )


def downgrade() -> None:
    pass
