"""Stage corrections: a late event can re-derive a lead's automatic moves. The history
stays append-only: a correction row names the row it voids (`voids`), and readers take
the rows that are neither corrections nor voided (`EFFECTIVE_TRANSITIONS`).

Revision ID: 0007_stage_corrections
Revises: 0006_store_revision
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_stage_corrections"
down_revision = "0006_store_revision"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transitions") as batch:
        batch.add_column(sa.Column("voids", sa.Integer, nullable=True))
    op.create_index("ix_transitions_voids", "transitions", ["voids"])


def downgrade() -> None:
    op.drop_index("ix_transitions_voids", "transitions")
    with op.batch_alter_table("transitions") as batch:
        batch.drop_column("voids")
