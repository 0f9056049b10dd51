"""Record ids from the CRM a lead was imported from, per source system, so a later import
of the same export updates its leads (even when an email changed there) and never
duplicates them.

Revision ID: 0012_import
Revises: 0011_identity
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_import"
down_revision = "0011_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lead_external_ids",
        # hubspot, salesforce, pipedrive, zoho, or csv when the header names none.
        sa.Column("system", sa.String(50), primary_key=True),
        sa.Column("external_id", sa.String(200), primary_key=True),
        sa.Column("lead_id", sa.Integer, sa.ForeignKey("leads.id"), nullable=False),
        sa.Column("bound_at", sa.Float, nullable=False),
    )
    op.create_index("ix_lead_external_ids_lead", "lead_external_ids", ["lead_id"])


def downgrade() -> None:
    op.drop_index("ix_lead_external_ids_lead", "lead_external_ids")
    op.drop_table("lead_external_ids")
