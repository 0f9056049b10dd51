"""Nurture tracks: enrolments (each lead's place in its track, with the indexed time its
next step falls due), the mail outbox, and the nurture timeline.

Also joins the two heads before it (0002_api, 0003_sales) into one.

Revision ID: 0004_nurture
Revises: 0002_api, 0003_sales
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_nurture"
down_revision = ("0002_api", "0003_sales")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sales_nurture_enrolments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("lead_id", sa.Integer, sa.ForeignKey("leads.id"), nullable=False),
        sa.Column("track", sa.String(200), nullable=False),
        sa.Column("playbook_version", sa.Integer),
        sa.Column("reason", sa.Text),  # why the lead is in nurture
        sa.Column("entered_at", sa.Float, nullable=False),  # when it entered nurture
        sa.Column("status", sa.String(20), nullable=False),  # active | completed | ended
        sa.Column("step", sa.Integer, nullable=False),  # index of the next step to run
        sa.Column("seq", sa.Integer, nullable=False),  # steps run so far (message identity)
        sa.Column("step_since", sa.Float),  # when the current wait/branch began
        sa.Column("next_due_at", sa.Float),
        sa.Column("ended_at", sa.Float),
        sa.Column("end_reason", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    # Only active enrolments are in the index: a tick reads what is due, nothing else.
    op.create_index(
        "ix_sales_nurture_due",
        "sales_nurture_enrolments",
        ["next_due_at"],
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index("ix_sales_nurture_lead", "sales_nurture_enrolments", ["lead_id", "status"])
    op.create_table(
        "sales_mail_outbox",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("lead_id", sa.Integer, sa.ForeignKey("leads.id"), nullable=False),
        sa.Column("enrolment_id", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("track", sa.String(200), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("to_addr", sa.String(320), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),  # pending | sent | dead | cancelled
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("claimed_by", sa.String(200)),
        sa.Column("claimed_until", sa.Float),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("sent_at", sa.Float),
        # One message per step run, whatever happens to the worker that ran it.
        sa.UniqueConstraint("enrolment_id", "seq", name="uq_sales_mail_step"),
    )
    op.create_index(
        "ix_sales_mail_pending",
        "sales_mail_outbox",
        ["next_attempt_at"],
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_sales_mail_enrolment", "sales_mail_outbox", ["enrolment_id", "status"])
    op.create_table(
        "sales_nurture_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("lead_id", sa.Integer, sa.ForeignKey("leads.id"), nullable=False),
        sa.Column("enrolment_id", sa.Integer, nullable=False),
        sa.Column("track", sa.String(200), nullable=False),
        sa.Column("step", sa.Integer),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_sales_nurture_log_lead", "sales_nurture_log", ["lead_id", "id"])


def downgrade() -> None:
    for t in ("sales_nurture_log", "sales_mail_outbox", "sales_nurture_enrolments"):
        op.drop_table(t)
