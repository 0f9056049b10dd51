"""Sales workflow: reps, teams, assignments, qualification answers, opportunities,
SLA jobs for the scheduler, notices for the webhooks.

Revision ID: 0003_sales
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_sales"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sales_teams",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "sales_reps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("team", sa.String(200)),
        sa.Column("email", sa.String(320)),
        sa.Column("timezone", sa.String(100)),
        sa.Column("hours", sa.String(20)),
        sa.Column("days", sa.String(100)),
        sa.Column("capacity", sa.Integer),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("away_until", sa.Float),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    # Every owner change, never updated: the audit of who had the lead and why.
    op.create_table(
        "sales_assignments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("lead_id", sa.Integer, sa.ForeignKey("leads.id"), nullable=False),
        sa.Column("rep", sa.String(200)),
        sa.Column("previous", sa.String(200)),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("pool", sa.String(200)),
        sa.Column("strategy", sa.String(40)),
        sa.Column("explanation", sa.Text, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("notes", sa.Text),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_sales_assignments_lead", "sales_assignments", ["lead_id", "at"])
    op.create_table(
        "sales_pool_state",
        sa.Column("pool", sa.String(200), primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "sales_accounts",
        sa.Column("domain", sa.String(255), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("lead_id", sa.Integer),
        sa.Column("at", sa.Float, nullable=False),
    )
    # Answers are appended, one version per save: the current answer is the latest.
    op.create_table(
        "sales_qualification",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("lead_id", sa.Integer, sa.ForeignKey("leads.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("framework", sa.String(100), nullable=False),
        sa.Column("criterion", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_sales_qualification_lead", "sales_qualification", ["lead_id", "version"])
    op.create_table(
        "sales_opportunities",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("lead_id", sa.Integer, sa.ForeignKey("leads.id"), nullable=False),
        sa.Column("amount", sa.Float, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("expected_close", sa.String(10), nullable=False),
        sa.Column("ae", sa.String(200)),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("outcome", sa.String(20)),
        sa.Column("outcome_reason", sa.Text),
        sa.Column("closed_at", sa.Float),
    )
    op.create_index("ix_sales_opportunities_lead", "sales_opportunities", ["lead_id", "id"])
    # Timed work for the scheduler (SLA deadlines). The partial index holds only what
    # has not fired, so a tick reads what is due and nothing else.
    op.create_table(
        "sales_jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("lead_id", sa.Integer, sa.ForeignKey("leads.id"), nullable=False),
        sa.Column("rep", sa.String(200)),
        sa.Column("due_at", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("fired_at", sa.Float),
        sa.Column("outcome", sa.String(40)),
        sa.Column("fired_by", sa.String(200)),
    )
    op.create_index(
        "ix_sales_jobs_due",
        "sales_jobs",
        ["due_at"],
        sqlite_where=sa.text("fired_at IS NULL"),
        postgresql_where=sa.text("fired_at IS NULL"),
    )
    op.create_index("ix_sales_jobs_lead", "sales_jobs", ["lead_id", "kind"])
    op.create_table(
        "sales_notices",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("lead_id", sa.Integer, sa.ForeignKey("leads.id"), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("delivered_at", sa.Float),
    )
    op.create_index("ix_sales_notices_pending", "sales_notices", ["delivered_at", "id"])
    # Load (open leads per rep) is read on every routing decision.
    op.create_index("ix_leads_owner_stage", "leads", ["owner", "stage"])


def downgrade() -> None:
    op.drop_index("ix_leads_owner_stage", table_name="leads")
    for t in (
        "sales_notices",
        "sales_jobs",
        "sales_opportunities",
        "sales_qualification",
        "sales_accounts",
        "sales_pool_state",
        "sales_assignments",
        "sales_reps",
        "sales_teams",
    ):
        op.drop_table(t)
