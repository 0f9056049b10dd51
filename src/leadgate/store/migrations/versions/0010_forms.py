"""Lead-capture forms: submissions (one per idempotency token), consents, rejections.

Addresses and emails of visitors are kept only as keyed hashes (HMAC-SHA-256 with a
secret of the store): enough to count submissions for a rate limit, not to recover
the address.

Revision ID: 0010_forms
Revises: 0009_users
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_forms"
down_revision = "0009_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "form_submissions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("form", sa.String(64), nullable=False),
        # The nonce of the form's ticket: a double click sends the same one.
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("lead_id", sa.Integer, sa.ForeignKey("leads.id"), nullable=False),
        # The tracker's anonymous visitor id (cookie lg_vid), when the page had one.
        sa.Column("visitor_id", sa.String(100)),
        sa.Column("ip_hash", sa.String(64), nullable=False),
        sa.Column("email_hash", sa.String(64), nullable=False),
        # The lead became an MQL with this submission (the thank-you shows the booking link).
        sa.Column("became_mql", sa.Boolean, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_form_submissions_ip", "form_submissions", ["ip_hash", "at"])
    op.create_index("ix_form_submissions_email", "form_submissions", ["email_hash", "at"])
    op.create_index("ix_form_submissions_visitor", "form_submissions", ["visitor_id", "at"])
    op.create_table(
        "form_consents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("lead_id", sa.Integer, sa.ForeignKey("leads.id"), nullable=False),
        sa.Column("form", sa.String(64), nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("text_version", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("ip_hash", sa.String(64), nullable=False),
        sa.Column("submission_id", sa.Integer, sa.ForeignKey("form_submissions.id")),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_form_consents_lead", "form_consents", ["lead_id", "at"])
    op.create_table(
        "form_rejections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("form", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("ip_hash", sa.String(64), nullable=False),
        sa.Column("email_hash", sa.String(64)),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_form_rejections_ip", "form_rejections", ["ip_hash", "at"])
    op.create_index("ix_form_rejections_at", "form_rejections", ["at"])


def downgrade() -> None:
    op.drop_index("ix_form_rejections_at", "form_rejections")
    op.drop_index("ix_form_rejections_ip", "form_rejections")
    op.drop_table("form_rejections")
    op.drop_index("ix_form_consents_lead", "form_consents")
    op.drop_table("form_consents")
    op.drop_index("ix_form_submissions_visitor", "form_submissions")
    op.drop_index("ix_form_submissions_email", "form_submissions")
    op.drop_index("ix_form_submissions_ip", "form_submissions")
    op.drop_table("form_submissions")
