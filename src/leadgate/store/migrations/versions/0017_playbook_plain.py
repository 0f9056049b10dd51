"""The validated form of each playbook version, next to its YAML (`playbooks.plain`).

Reading a version back then rebuilds the validated objects without parsing the YAML or
building pydantic's validators (leadgate.playbook.plain; issue 17: `lead show`'s start-up).
NULL means "validate the YAML", as before: a version whose form cannot be written, or one
made by other code (the form carries a fingerprint of the schema it was made under).
Existing versions are filled here when they still validate.

Revision ID: 0017_playbook_plain
Revises: 0016_visitor_retention
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_playbook_plain"
down_revision = "0016_visitor_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("playbooks", sa.Column("plain", sa.Text(), nullable=True))
    from leadgate.playbook import plain
    from leadgate.playbook.loader import PlaybookError, load_playbook
    from leadgate.store.playbook_rows import schema_fingerprint

    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT version, yaml FROM playbooks")).fetchall()
    for version, text in rows:
        try:
            form = plain.dumps(
                load_playbook(text, f"playbook v{version}"), text, schema_fingerprint()
            )
        except (PlaybookError, plain.Unplain):
            continue  # read by validating its YAML, as before
        conn.execute(
            sa.text("UPDATE playbooks SET plain = :p WHERE version = :v"),
            {"p": form, "v": version},
        )


def downgrade() -> None:
    with op.batch_alter_table("playbooks") as batch:
        batch.drop_column("plain")
