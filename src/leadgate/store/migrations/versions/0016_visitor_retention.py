"""Indexes for privacy housekeeping: anonymous browser events by the time they were
received (the retention purge deletes those older than `retention.anonymous_events_days`,
leadgate.privacy.visitors) and suppression rows by the erasure that made them (a consent
lifts every spelling one erasure suppressed, leadgate.privacy.suppression).

Revision ID: 0016_visitor_retention
Revises: 0015_lead_filters
"""

from alembic import op

revision = "0016_visitor_retention"
down_revision = "0015_lead_filters"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_visitor_events_received", "visitor_events", ["received_at"])
    op.create_index("ix_privacy_suppressions_audit", "privacy_suppressions", ["audit_id"])


def downgrade() -> None:
    op.drop_index("ix_privacy_suppressions_audit", "privacy_suppressions")
    op.drop_index("ix_visitor_events_received", "visitor_events")
