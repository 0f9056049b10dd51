"""Stored addresses in the one spelling every way in now gives (`check_email`: NFC, the
domain as email-validator normalises it), so a lead stored as `jose\\u0301@x.com` (e and
a combining acute) is found by `josé@x.com` (a precomposed é), as a new event for either
spelling is.

Where the new spelling is free, the address is rewritten (leads and `lead_identities`).
Where another lead holds it already (twins: the same person stored twice before this
fix), nothing is merged or deleted: the twin keeps its old spelling, which no input gives
any more, so every lookup and new event lands on the lead that holds the normal spelling,
the same one each time. Among twins that are both rewritable, the oldest lead (lowest id)
takes it. Twins are joined, when a person decides, by `leadgate lead merge`. The
`lead_search` triggers (0014) follow a rewritten address.

Downgrade leaves the addresses as they are: an NFC address is a valid address to the
previous version too.

Revision ID: 0018_email_nfc
Revises: 0017_playbook_plain
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_email_nfc"
down_revision = "0017_playbook_plain"
branch_labels = None
depends_on = None

_BATCH = 10_000


def _spelling(address: str) -> str:
    from leadgate.ingest.validate import InputError, check_email
    from leadgate.leads.record import normalize_email

    try:
        return check_email(address)
    except InputError:
        # Stored before a check refused it: at least one case and one Unicode form.
        return normalize_email(address)


def _respelled(conn: sa.Connection, table: str, key: str, col: str) -> list[tuple[str, str]]:
    """(key, new spelling) of the rows of `table` whose `col` is spelled otherwise, by key.

    Every row is read (in batches, by key): which addresses change is check_email's
    decision, and it is not one SQL can make on both dialects."""
    out: list[tuple[str, str]] = []
    after: object = None
    while True:
        where = "" if after is None else f"WHERE {key} > :after "
        rows = conn.execute(
            sa.text(f"SELECT {key}, {col} FROM {table} {where}ORDER BY {key} LIMIT {_BATCH}"),
            {} if after is None else {"after": after},
        ).fetchall()
        if not rows:
            return out
        after = rows[-1][0]
        for k, address in rows:
            spelled = _spelling(address)
            if spelled != address:
                out.append((k, spelled))


def _taken(conn: sa.Connection, sql: str, values: list[str]) -> set[str]:
    out: set[str] = set()
    for i in range(0, len(values), 500):
        chunk = values[i : i + 500]
        marks = ",".join(f":v{j}" for j in range(len(chunk)))
        rows = conn.execute(sa.text(sql.format(marks)), {f"v{j}": v for j, v in enumerate(chunk)})
        out.update(str(r[0]) for r in rows)
    return out


def upgrade() -> None:
    conn = op.get_bind()
    leads = _respelled(conn, "leads", "id", "email")
    if leads:
        taken = _taken(
            conn, "SELECT email FROM leads WHERE email IN ({})", sorted({s for _, s in leads})
        )
        for lead_id, spelled in leads:  # by id: the oldest twin first
            if spelled not in taken:
                taken.add(spelled)
                conn.execute(
                    sa.text("UPDATE leads SET email = :e WHERE id = :i"),
                    {"e": spelled, "i": lead_id},
                )
    others = _respelled(conn, "lead_identities", "address", "address")
    if others:
        wanted = sorted({s for _, s in others})
        # A spelling that is a lead's own address, or another identity already, stays
        # theirs: a lead's own address wins over an identity when an address is looked up.
        taken = _taken(conn, "SELECT address FROM lead_identities WHERE address IN ({})", wanted)
        taken |= _taken(conn, "SELECT email FROM leads WHERE email IN ({})", wanted)
        for address, spelled in others:
            if spelled not in taken:
                taken.add(spelled)
                conn.execute(
                    sa.text("UPDATE lead_identities SET address = :s WHERE address = :a"),
                    {"s": spelled, "a": address},
                )


def downgrade() -> None:
    pass
