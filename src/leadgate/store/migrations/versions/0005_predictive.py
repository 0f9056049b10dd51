"""Predictive scoring: trained conversion models, versioned, with their model cards.

Revision ID: 0005_predictive
Revises: 0004_nurture
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_predictive"
down_revision = "0004_nurture"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per trained model, never updated except `scored_at`: the card is readable
    # JSON (data range, features, metrics, calibration), the artifact a joblib pickle.
    op.create_table(
        "predictive_models",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False, unique=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("card", sa.Text, nullable=False),
        sa.Column("artifact", sa.LargeBinary, nullable=False),
        # When `leadgate predict` last stored this model's scores on the leads: the model
        # whose factors `lead show` explains.
        sa.Column("scored_at", sa.Float),
    )
    op.create_index("ix_predictive_models_scored", "predictive_models", ["scored_at"])


def downgrade() -> None:
    op.drop_index("ix_predictive_models_scored", "predictive_models")
    op.drop_table("predictive_models")
