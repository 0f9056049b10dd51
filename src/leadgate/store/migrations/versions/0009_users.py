"""People who sign in to the web app: users, their sessions, failed sign-ins, the key
that signs session cookies.

Revision ID: 0009_users
Revises: 0008_time_bounds
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_users"
down_revision = "0008_time_bounds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        # Lower case, so `anna` and `Anna` are one person.
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        # The sales rep whose queue this person works (sales_reps.name), if any.
        sa.Column("rep", sa.String(200)),
        # Argon2id, in the PHC string format (parameters and salt inside).
        sa.Column("password_hash", sa.String(300), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("password_set_at", sa.Float, nullable=False),
        sa.Column("disabled_at", sa.Float),
    )
    # A session is a row: signing out everywhere (or disabling the user) ends them at once.
    op.create_table(
        "user_sessions",
        # SHA-256 of the random token in the cookie; the token itself is never stored.
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float),
    )
    op.create_index("ix_user_sessions_user", "user_sessions", ["user_id"])
    # Failed sign-ins, per name and per client address, for the rate limit (shared by
    # every server process).
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("client", sa.String(100), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_login_failures_name", "login_failures", ["name", "at"])
    op.create_index("ix_login_failures_client", "login_failures", ["client", "at"])
    # Server-side secrets made once per store (the cookie signing key), so every process
    # and every restart signs alike without a setting to lose.
    op.create_table(
        "app_secrets",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("app_secrets")
    op.drop_index("ix_login_failures_client", "login_failures")
    op.drop_index("ix_login_failures_name", "login_failures")
    op.drop_table("login_failures")
    op.drop_index("ix_user_sessions_user", "user_sessions")
    op.drop_table("user_sessions")
    op.drop_table("users")
