"""The Leads list at scale (leadgate.engine.listing): an index per sort order for seek
pagination, and a trigram index for search by email, name or company.

Sorts: each index is in the direction the list reads it, so a page starts where the last
one ended instead of counting rows from the top; `-score` makes "best first" ascending.

Search: the searched text of each lead (email, first and last name, name, company) is
kept in a table of its own, `lead_search`, by triggers that fire only when the email or
the attributes change: a lead row is rewritten on every event, and an index on the text
inside `leads` would be rewritten with it. SQLite: an FTS5 table with the trigram
tokenizer (rowid = lead id). PostgreSQL: (id, body) with a pg_trgm GIN index on body,
when the extension can be created (it is "trusted": a database owner may); without it,
search still works, by reading that table.

Revision ID: 0014_lead_search
Revises: 0013_privacy
"""

from alembic import op

revision = "0014_lead_search"
down_revision = "0013_privacy"
branch_labels = None
depends_on = None

_INDEXES = {
    "ix_leads_priority": "fit_grade, engagement_grade, (-score), created_at, id",
    "ix_leads_score_seek": "(-score), id",
    "ix_leads_recent": "updated_at, id",
}
# What search reads (the fields of leadgate.engine.listing.SEARCH_FIELDS; a test checks).
_FIELDS = ("first_name", "last_name", "name", "company")
SQLITE_TEXT = " || ' ' || ".join(
    ["{t}.email"] + [f"COALESCE(json_extract({{t}}.attributes, '$.{f}'), '')" for f in _FIELDS]
)
PG_TEXT = " || ' ' || ".join(
    ["email"] + [f"COALESCE(CAST(attributes AS JSONB) ->> '{f}', '')" for f in _FIELDS]
)


def upgrade() -> None:
    for name, cols in _INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON leads ({cols})")
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _sqlite_search()
    else:
        _pg_search(bind)


def _sqlite_search() -> None:
    op.execute("CREATE VIRTUAL TABLE lead_search USING fts5(body, tokenize='trigram')")
    new = SQLITE_TEXT.format(t="new")
    op.execute(
        "CREATE TRIGGER lead_search_insert AFTER INSERT ON leads BEGIN "
        f"INSERT INTO lead_search (rowid, body) VALUES (new.id, {new}); END"
    )
    # Only when the searched text can have changed: a lead row is written on every event.
    op.execute(
        "CREATE TRIGGER lead_search_update AFTER UPDATE OF email, attributes ON leads "
        "WHEN old.email IS NOT new.email OR old.attributes IS NOT new.attributes BEGIN "
        "DELETE FROM lead_search WHERE rowid = old.id; "
        f"INSERT INTO lead_search (rowid, body) VALUES (new.id, {new}); END"
    )
    op.execute(
        "CREATE TRIGGER lead_search_delete AFTER DELETE ON leads BEGIN "
        "DELETE FROM lead_search WHERE rowid = old.id; END"
    )
    op.execute(
        f"INSERT INTO lead_search (rowid, body) SELECT l.id, {SQLITE_TEXT.format(t='l')} "
        "FROM leads l"
    )


def _pg_search(bind: object) -> None:
    from sqlalchemy import text

    op.execute("CREATE TABLE lead_search (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    new = PG_TEXT.replace("email", "NEW.email").replace("attributes", "NEW.attributes")
    op.execute(
        "CREATE FUNCTION lead_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF TG_OP = 'DELETE' THEN DELETE FROM lead_search WHERE id = OLD.id; RETURN NULL; "
        "END IF; "
        f"INSERT INTO lead_search (id, body) VALUES (NEW.id, {new}) "
        "ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body; RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER lead_search_insert AFTER INSERT ON leads FOR EACH ROW "
        "EXECUTE FUNCTION lead_search_sync()"
    )
    # The WHEN is tested without calling the function: the rewrite of a lead on every
    # event costs nothing here.
    op.execute(
        "CREATE TRIGGER lead_search_update AFTER UPDATE OF email, attributes ON leads "
        "FOR EACH ROW WHEN (OLD.email IS DISTINCT FROM NEW.email OR "
        "OLD.attributes IS DISTINCT FROM NEW.attributes) EXECUTE FUNCTION lead_search_sync()"
    )
    op.execute(
        "CREATE TRIGGER lead_search_delete AFTER DELETE ON leads FOR EACH ROW "
        "EXECUTE FUNCTION lead_search_sync()"
    )
    op.execute(f"INSERT INTO lead_search (id, body) SELECT id, {PG_TEXT} FROM leads")
    can = bind.execute(  # type: ignore[attr-defined]
        text(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') OR EXISTS "
            "(SELECT 1 FROM pg_available_extension_versions WHERE name = 'pg_trgm' "
            "AND (trusted OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)))"
        )
    ).scalar()
    if can:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_lead_search_body ON lead_search USING gin (body gin_trgm_ops)")


def downgrade() -> None:
    for name in _INDEXES:
        op.execute(f"DROP INDEX {name}")
    if op.get_bind().dialect.name == "sqlite":
        for t in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS lead_search_{t}")
        op.execute("DROP TABLE IF EXISTS lead_search")
    else:
        for t in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS lead_search_{t} ON leads")
        op.execute("DROP FUNCTION IF EXISTS lead_search_sync()")
        op.execute("DROP TABLE IF EXISTS lead_search")
