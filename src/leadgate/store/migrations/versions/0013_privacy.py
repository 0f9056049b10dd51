"""People's rights: the suppression list (keyed hashes of erased addresses, never the
addresses) and the audit of every erasure, consent that lifted a suppression and
export of a person's data.

Revision ID: 0013_privacy
Revises: 0012_import
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_privacy"
down_revision = "0012_import"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_suppressions",
        # HMAC-SHA256 of the normalised address under the store's own secret
        # (app_secrets 'privacy-suppression'): equal addresses match, and the list
        # alone gives no address back.
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("audit_id", sa.Integer),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "privacy_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("action", sa.String(20), nullable=False),  # erase | export | consent
        sa.Column("lead_id", sa.Integer),
        # The erased lead's pseudonymous id (its email column after the erasure).
        sa.Column("pseudonym", sa.String(320)),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),  # JSON: rows touched per source
    )
    op.create_index("ix_privacy_audit_at", "privacy_audit", ["at"])


def downgrade() -> None:
    op.drop_index("ix_privacy_audit_at", "privacy_audit")
    op.drop_table("privacy_audit")
    op.drop_table("privacy_suppressions")
