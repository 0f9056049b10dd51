"""The Leads list's attribute filters as indexed columns of `leads` (issue 14).

The list filters by `source` (the playbook's `eq`: any case, blanks around ignored) and
by the predicted-conversion band, and sorts by the predicted probability. Computed from
the attributes' JSON, none of these could start a plan: a rare source walked the whole
priority index testing each lead's JSON. Three columns now hold them, kept by triggers
that fire only when the attributes change (a lead row is rewritten on every event):

- `source_key`: the source's text stripped and case-folded (SQLite: `lg_lower`, i.e.
  str.casefold; PostgreSQL: LOWER, what the filter compared before), its first
  SOURCE_KEY_CHARS characters (a btree entry has a size limit), NULL when the source is
  missing, blank or not text.
- `predicted`: the `predicted` attribute when it is a JSON number, else NULL.
- `predicted_band`: high (>= 0.5), medium (>= 0.2), low, or none (no prediction), the
  bands of leadgate.engine.listing.BANDS (a test checks they agree).

Indexes: one on each filter column, and `(COALESCE(-predicted, 1e+300), id)` for the
`predicted` sort (the literal is written as listing writes it: SQLite matches an index
expression by its text). On SQLite the filter indexes hold the column alone: an index
on no column an UPDATE sets costs that write nothing, and every event rewrites a lead's
score (the priority key after the filter column made a lead's write-back 1.5-2x slower).
On PostgreSQL every index gets an entry at each write of a lead anyway (the score is
indexed, so no update is HOT), so they hold the priority sort's key after the column:
a filter seeks its first page in the default order whatever the data's correlations.

SQLite calls `lg_lower`/`lg_strip` here, which every leadgate connection registers
(leadgate.store.sqlfunctions); a tool writing the attributes of leads without them gets
"no such function".

Revision ID: 0015_lead_filters
Revises: 0014_lead_search
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_lead_filters"
down_revision = "0014_lead_search"
branch_labels = None
depends_on = None

SOURCE_KEY_CHARS = 200
# (band, lower bound) from the top; below the last bound: low. A test checks listing.BANDS.
BAND_BOUNDS = (("high", 0.5), ("medium", 0.2))
# What str.strip() strips (Python's whitespace below U+10000), for PostgreSQL's BTRIM:
# the set leadgate.analytics.sqldialect uses for LG_TRIM.
_WS = (9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, *range(8192, 8203))
_WS += (8232, 8233, 8239, 8287, 12288)
_INDEXES = {
    "ix_leads_source_key": "source_key",
    "ix_leads_predicted_band": "predicted_band",
    "ix_leads_predicted_seek": "(COALESCE(-predicted, 1e+300)), id",
}
_PG_AFTER = {  # PostgreSQL: the priority sort's key after the filter column
    "ix_leads_source_key": ", fit_grade, engagement_grade, (-score), created_at, id",
    "ix_leads_predicted_band": ", fit_grade, engagement_grade, (-score), created_at, id",
}


def _band(p: str) -> str:
    whens = " ".join(f"WHEN {p} >= {bound!r} THEN '{name}'" for name, bound in BAND_BOUNDS)
    return f"(CASE WHEN {p} IS NULL THEN 'none' {whens} ELSE 'low' END)"


def sqlite_exprs(t: str) -> tuple[str, str]:
    """(source_key, predicted) of the row `t` (new, or leads) on SQLite."""
    src = f"json_extract({t}.attributes, '$.\"source\"')"
    source = (
        f"(CASE WHEN json_type({t}.attributes, '$.\"source\"') = 'text' THEN "
        f"NULLIF(substr(lg_lower(lg_strip({src})), 1, {SOURCE_KEY_CHARS}), '') END)"
    )
    predicted = (
        f"(CASE WHEN json_type({t}.attributes, '$.\"predicted\"') IN ('integer', 'real') "
        f"THEN CAST(json_extract({t}.attributes, '$.\"predicted\"') AS REAL) END)"
    )
    return source, predicted


def upgrade() -> None:
    op.add_column("leads", sa.Column("source_key", sa.Text))
    op.add_column("leads", sa.Column("predicted", sa.Float))
    op.add_column(
        "leads", sa.Column("predicted_band", sa.String(6), nullable=False, server_default="none")
    )
    pg = op.get_bind().dialect.name != "sqlite"
    if pg:
        _postgres()
    else:
        _sqlite()
    for name, cols in _INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON leads ({cols}{_PG_AFTER.get(name, '') if pg else ''})")


def _sqlite() -> None:
    source, predicted = sqlite_exprs("new")
    sets = f"source_key = {source}, predicted = {predicted}, predicted_band = {_band(predicted)}"
    # A second write of the new row, only when it has a source or a prediction.
    op.execute(
        "CREATE TRIGGER lead_filters_insert AFTER INSERT ON leads "
        f"WHEN {source} IS NOT NULL OR {predicted} IS NOT NULL BEGIN "
        f"UPDATE leads SET {sets} WHERE id = new.id; END"
    )
    # Only when the attributes changed, and then only when what they give changed: the
    # columns are in no other UPDATE, so an event's rewrite of the row leaves their
    # indexes alone.
    op.execute(
        "CREATE TRIGGER lead_filters_update AFTER UPDATE OF attributes ON leads "
        "WHEN old.attributes IS NOT new.attributes AND "
        f"(new.source_key IS NOT {source} OR new.predicted IS NOT {predicted}) BEGIN "
        f"UPDATE leads SET {sets} WHERE id = new.id; END"
    )
    source, predicted = sqlite_exprs("leads")
    op.execute(f"UPDATE leads SET source_key = {source}, predicted = {predicted}")
    op.execute(
        f"UPDATE leads SET predicted_band = {_band('predicted')} WHERE predicted IS NOT NULL"
    )


def _postgres() -> None:
    ws = "'" + "".join(chr(c) for c in _WS) + "'"
    # A BEFORE trigger sets the row's own columns: no second write.
    op.execute(
        "CREATE FUNCTION lead_filters_sync() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "DECLARE a JSONB := CAST(NEW.attributes AS JSONB); BEGIN "
        "NEW.source_key := CASE WHEN jsonb_typeof(a -> 'source') = 'string' THEN "
        f"NULLIF(LEFT(LOWER(BTRIM(a ->> 'source', {ws})), {SOURCE_KEY_CHARS}), '') END; "
        "NEW.predicted := CASE WHEN jsonb_typeof(a -> 'predicted') = 'number' THEN "
        "CAST(a ->> 'predicted' AS DOUBLE PRECISION) END; "
        f"NEW.predicted_band := {_band('NEW.predicted')}; RETURN NEW; END $$"
    )
    op.execute(
        "CREATE TRIGGER lead_filters_insert BEFORE INSERT ON leads FOR EACH ROW "
        "EXECUTE FUNCTION lead_filters_sync()"
    )
    op.execute(
        "CREATE TRIGGER lead_filters_update BEFORE UPDATE OF attributes ON leads FOR EACH ROW "
        "WHEN (OLD.attributes IS DISTINCT FROM NEW.attributes) "
        "EXECUTE FUNCTION lead_filters_sync()"
    )
    # The backfill (the JSON parsed once a row).
    op.execute(
        "UPDATE leads l SET source_key = CASE WHEN jsonb_typeof(a -> 'source') = 'string' "
        f"THEN NULLIF(LEFT(LOWER(BTRIM(a ->> 'source', {ws})), {SOURCE_KEY_CHARS}), '') END, "
        "predicted = CASE WHEN jsonb_typeof(a -> 'predicted') = 'number' THEN "
        "CAST(a ->> 'predicted' AS DOUBLE PRECISION) END "
        "FROM (SELECT id, CAST(attributes AS JSONB) AS a FROM leads) AS j WHERE l.id = j.id"
    )
    op.execute(
        f"UPDATE leads SET predicted_band = {_band('predicted')} WHERE predicted IS NOT NULL"
    )


def downgrade() -> None:
    for name in _INDEXES:
        op.execute(f"DROP INDEX {name}")
    if op.get_bind().dialect.name == "sqlite":
        for t in ("insert", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS lead_filters_{t}")
    else:
        for t in ("insert", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS lead_filters_{t} ON leads")
        op.execute("DROP FUNCTION IF EXISTS lead_filters_sync()")
    # Not a batch (SQLite would copy the table and lose 0014's triggers on it).
    for col in ("predicted_band", "predicted", "source_key"):
        op.execute(f"ALTER TABLE leads DROP COLUMN {col}")
