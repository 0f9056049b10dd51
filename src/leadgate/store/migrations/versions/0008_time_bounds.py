"""Time bounds: repair stored times outside [1970-01-01, now + the allowed clock skew].

Before issue 13, `POST /leads` took any `created_at` (1e17 was stored, and from then on
every listing answered 500). Input is bounded now (`ingest.validate.check_time`); this
migration repairs what got in before. Each repaired value is logged first in
`time_repairs` (table, row, column, old value, new value, when), so nothing is lost:
the downgrade puts the old values back.

Repairs, by the best sane neighbour:
- events.occurred_at → the event's received_at (else the migration time);
- leads.created_at → the lead's earliest sane event, else its updated_at, else now;
- transitions.at → the lead's (repaired) created_at;
- leads.stage_at → the lead's latest sane transition, else its created_at;
- leads.updated_at, leads.scored_at → the migration time.
Engagement computed from a repaired event is refreshed by `leadgate rescore`.

Revision ID: 0008_time_bounds
Revises: 0007_stage_corrections
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "0008_time_bounds"
down_revision = "0007_stage_corrections"
branch_labels = None
depends_on = None

# ingest.validate.FUTURE_SKEW_SECONDS, copied: a migration must not change meaning when
# the code around it does.
SKEW = 300.0


def _bad(col: str) -> str:
    # On PostgreSQL NaN sorts above every number, so `> :hi` catches it too.
    return f"({col} < 0 OR {col} > :hi)"


def _ok(col: str) -> str:
    return f"({col} >= 0 AND {col} <= :hi)"


# (table, id column, time column, the repaired value as SQL), in dependency order.
REPAIRS = [
    (
        "events",
        "id",
        "occurred_at",
        f"CASE WHEN {_ok('received_at')} THEN received_at ELSE :now END",
    ),
    (
        "leads",
        "id",
        "created_at",
        "COALESCE((SELECT MIN(e.occurred_at) FROM events e WHERE e.lead_id = leads.id AND "
        f"{_ok('e.occurred_at')}), CASE WHEN {_ok('updated_at')} THEN updated_at END, :now)",
    ),
    (
        "transitions",
        "id",
        "at",
        "COALESCE((SELECT l.created_at FROM leads l WHERE l.id = transitions.lead_id), :now)",
    ),
    (
        "leads",
        "id",
        "stage_at",
        "COALESCE((SELECT MAX(t.at) FROM transitions t WHERE t.lead_id = leads.id AND "
        f"{_ok('t.at')}), created_at)",
    ),
    ("leads", "id", "updated_at", ":now"),
    ("leads", "id", "scored_at", ":now"),
]


def _run(sql: str, params: dict[str, float]) -> None:
    # text() wants exactly the parameters the statement names.
    op.execute(sa.text(sql).bindparams(**{k: v for k, v in params.items() if f":{k}" in sql}))


def upgrade() -> None:
    op.create_table(
        "time_repairs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("table_name", sa.String(40), nullable=False),
        sa.Column("row_id", sa.String(200), nullable=False),
        sa.Column("column_name", sa.String(40), nullable=False),
        sa.Column("old_value", sa.Float),
        sa.Column("new_value", sa.Float, nullable=False),
        sa.Column("repaired_at", sa.Float, nullable=False),
    )
    now = time.time()
    params = {"now": now, "hi": now + SKEW}
    for table, key, col, value in REPAIRS:
        # Logged before the update, from the same expression, so the log says exactly
        # what the update wrote.
        _run(
            "INSERT INTO time_repairs (table_name, row_id, column_name, old_value, "
            f"new_value, repaired_at) SELECT '{table}', CAST({key} AS TEXT), '{col}', "
            f"{col}, {value}, :now FROM {table} WHERE {_bad(col)}",
            params,
        )
        _run(f"UPDATE {table} SET {col} = {value} WHERE {_bad(col)}", params)


def downgrade() -> None:
    # Back to the values as they were (damaged or not): a downgrade loses nothing either.
    for table, key, col, _ in reversed(REPAIRS):
        match = (
            f"r.table_name = '{table}' AND r.column_name = '{col}' AND "
            f"r.row_id = CAST({table}.{key} AS TEXT)"
        )
        op.execute(
            f"UPDATE {table} SET {col} = (SELECT r.old_value FROM time_repairs r WHERE {match}) "
            f"WHERE EXISTS (SELECT 1 FROM time_repairs r WHERE {match})"
        )
    op.drop_table("time_repairs")
