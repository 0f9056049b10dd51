"""Identity on the way in: anonymous visitors and their events, the other addresses a
lead is known by (aliases and normalised keys), merges, and the origins a browser key
may be used from.

Revision ID: 0011_identity
Revises: 0010_forms
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_identity"
down_revision = "0010_forms"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Events of a visitor nobody has identified yet (a browser key's page views and
    # clicks). An identified event carrying the visitor's id moves them into `events`
    # under the lead (stitching) and deletes them here, so they are stitched once.
    op.create_table(
        "visitor_events",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("visitor_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("occurred_at", sa.Float, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("properties", sa.Text, nullable=False),
    )
    op.create_index("ix_visitor_events_visitor", "visitor_events", ["visitor_id", "occurred_at"])
    # Which lead a visitor turned out to be: later browser events go to it directly.
    op.create_table(
        "visitors",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("lead_id", sa.Integer, sa.ForeignKey("leads.id"), nullable=False),
        sa.Column("identified_at", sa.Float, nullable=False),
        sa.Column("stitched", sa.Integer, nullable=False),
    )
    op.create_index("ix_visitors_lead", "visitors", ["lead_id"])
    # Other spellings that resolve to a lead: an address merged into it (`alias`) and a
    # lead's address under the playbook's identity rules when it differs (`canonical`).
    op.create_table(
        "lead_identities",
        sa.Column("address", sa.String(320), primary_key=True),
        sa.Column("lead_id", sa.Integer, sa.ForeignKey("leads.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_lead_identities_lead", "lead_identities", ["lead_id"])
    # The audit of merges: who merged which lead into which, and the merged lead as it
    # was (its row and history), since its row is gone afterwards.
    op.create_table(
        "lead_merges",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kept_id", sa.Integer, nullable=False),
        sa.Column("merged_id", sa.Integer, nullable=False, unique=True),
        sa.Column("merged_email", sa.String(320), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("snapshot", sa.Text, nullable=False),
    )
    op.create_index("ix_lead_merges_kept", "lead_merges", ["kept_id"])
    # A browser key's allowed origins (space-separated `scheme://host[:port]`).
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("origins", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("origins")
    op.drop_index("ix_lead_merges_kept", "lead_merges")
    op.drop_table("lead_merges")
    op.drop_index("ix_lead_identities_lead", "lead_identities")
    op.drop_table("lead_identities")
    op.drop_index("ix_visitors_lead", "visitors")
    op.drop_table("visitors")
    op.drop_index("ix_visitor_events_visitor", "visitor_events")
    op.drop_table("visitor_events")
