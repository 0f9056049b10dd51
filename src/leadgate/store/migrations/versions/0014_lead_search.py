"""Indexes that serve the Leads list's seek pagination (leadgate.engine.listing): one per
sort order, in the direction the list reads it, so `(key..., id) > (?, ..., ?)` starts
where the last page ended instead of counting rows from the top.

Revision ID: 0014_lead_search
Revises: 0009_users
"""

from alembic import op

revision = "0014_lead_search"
down_revision = "0009_users"
branch_labels = None
depends_on = None

# Expressions, not columns: `-score` makes "best first" an ascending key.
_INDEXES = {
    "ix_leads_priority": "fit_grade, engagement_grade, (-score), created_at, id",
    "ix_leads_score_seek": "(-score), id",
    "ix_leads_recent": "updated_at, id",
}


def upgrade() -> None:
    for name, cols in _INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON leads ({cols})")


def downgrade() -> None:
    for name in _INDEXES:
        op.execute(f"DROP INDEX {name}")
