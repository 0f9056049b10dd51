"""Core tables: playbooks, leads, events, transitions.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "playbooks",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("yaml", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("activated_at", sa.Float, nullable=False),
        sa.Column("activated_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "leads",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("attributes", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("stage_at", sa.Float, nullable=False),
        sa.Column("stage_reason", sa.Text),
        sa.Column("owner", sa.String(200)),
        sa.Column("fit", sa.Float, nullable=False),
        sa.Column("engagement", sa.Float, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("fit_grade", sa.String(1), nullable=False),
        sa.Column("engagement_grade", sa.String(1), nullable=False),
        sa.Column("grade", sa.String(2), nullable=False),
        sa.Column("scored_at", sa.Float, nullable=False),
        sa.Column("playbook_version", sa.Integer),
        sa.Column("score_state", sa.Text, nullable=False),
        sa.Column("exit_armed", sa.Boolean, nullable=False),
        sa.Column("timer_spent_at", sa.Float),
        sa.Column("next_due_at", sa.Float),
    )
    op.create_index("ix_leads_stage_score", "leads", ["stage", "score"])
    op.create_index("ix_leads_next_due_at", "leads", ["next_due_at"])
    op.create_table(
        "events",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("lead_id", sa.Integer, sa.ForeignKey("leads.id"), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("occurred_at", sa.Float, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("properties", sa.Text, nullable=False),
    )
    op.create_index("ix_events_lead_time", "events", ["lead_id", "occurred_at"])
    op.create_table(
        "transitions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("lead_id", sa.Integer, sa.ForeignKey("leads.id"), nullable=False),
        sa.Column("from_stage", sa.String(20), nullable=False),
        sa.Column("to_stage", sa.String(20), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("playbook_version", sa.Integer),
    )
    op.create_index("ix_transitions_lead", "transitions", ["lead_id", "at"])
    op.create_index("ix_transitions_to_at", "transitions", ["to_stage", "at"])


def downgrade() -> None:
    op.drop_table("transitions")
    op.drop_table("events")
    op.drop_table("leads")
    op.drop_table("playbooks")
