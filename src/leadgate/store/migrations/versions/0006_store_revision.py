"""Store revision: one counter every write transaction bumps, so a process can tell
whether anyone wrote since its own last transaction (and keep lead states in memory).

Revision ID: 0006_store_revision
Revises: 0005_predictive
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_store_revision"
down_revision = "0005_predictive"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "store_revision",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("rev", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO store_revision (id, rev) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("store_revision")
