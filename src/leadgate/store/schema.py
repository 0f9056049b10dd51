"""Tables. Times are epoch seconds (UTC) as double precision: identical on SQLite and
PostgreSQL, cheap to compare, and what the scoring core computes with.
JSON documents are stored as text (written with orjson) for the same reason."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

playbooks = Table(
    "playbooks",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("yaml", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("activated_at", Float, nullable=False),
    Column("activated_by", String(200), nullable=False),
    # The validated playbook as plain JSON (leadgate.playbook.plain): read back without
    # parsing or validating the YAML again; NULL: validate the YAML (migration 0017).
    Column("plain", Text, nullable=True),
)

leads = Table(
    "leads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("attributes", Text, nullable=False, default="{}"),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("stage", String(20), nullable=False, default="lead"),
    Column("stage_at", Float, nullable=False),
    Column("stage_reason", Text),
    Column("owner", String(200)),
    Column("fit", Float, nullable=False, default=0.0),
    Column("engagement", Float, nullable=False, default=0.0),
    Column("score", Float, nullable=False, default=0.0),
    Column("fit_grade", String(1), nullable=False, default="D"),
    Column("engagement_grade", String(1), nullable=False, default="4"),
    Column("grade", String(2), nullable=False, default="D4"),
    Column("scored_at", Float, nullable=False),
    Column("playbook_version", Integer),
    Column("score_state", Text, nullable=False, default="{}"),
    Column("exit_armed", Boolean, nullable=False, default=False),
    Column("timer_spent_at", Float),
    Column("next_due_at", Float),
    # Kept by triggers from `attributes` (migration 0015_lead_filters): what the Leads
    # list filters and sorts by, indexed. Never written by leadgate's own statements.
    Column("source_key", Text),
    Column("predicted", Float),
    Column("predicted_band", String(6), nullable=False, server_default="none"),
    Index("ix_leads_stage_score", "stage", "score"),
    Index("ix_leads_next_due_at", "next_due_at"),
)

# What exports show of a lead (`lead export` / GET /leads/export, and `person export`):
# these columns of `leads`, in this order (the file order), besides its attributes. One
# list, so a column added to the table is decided on once; every other column is in
# LEAD_COLUMNS_NOT_EXPORTED with the reason, and tests/privacy/test_lead_columns.py fails
# when a column of `leads` is in neither or an export leaves one out.
LEAD_EXPORTED_COLUMNS = (
    "id",
    "email",
    "created_at",
    "updated_at",
    "stage",
    "stage_at",
    "stage_reason",
    "owner",
    "fit",
    "engagement",
    "score",
    "fit_grade",
    "engagement_grade",
    "grade",
    "playbook_version",
)
LEAD_COLUMNS_NOT_EXPORTED: dict[str, str] = {
    "attributes": "exported as the attributes themselves (a CSV column each, an object in "
    "JSON Lines, Parquet and `person export`), not as the stored JSON text",
    "scored_at": "the engine's bookkeeping: when the scores were last computed",
    "score_state": "the scoring engine's replay state, rebuilt from the events exported",
    "exit_armed": "the engine's bookkeeping for the MQL exit rule",
    "timer_spent_at": "the engine's bookkeeping: the stage timer already acted on",
    "next_due_at": "the scheduler's next look at the lead",
    "source_key": "a copy of the `source` attribute (trimmed, lower-cased) kept by a trigger "
    "for the Leads list's index; the attribute itself is exported",
    "predicted": "a copy of the `predicted` attribute kept by a trigger for the Leads list's "
    "index; exported as the `predicted` column, from the attribute",
    "predicted_band": "the band (high/medium/low/none) of `predicted`, kept by a trigger for "
    "the Leads list's filter",
}

events = Table(
    "events",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("lead_id", Integer, ForeignKey("leads.id"), nullable=False),
    Column("type", String(100), nullable=False),
    Column("occurred_at", Float, nullable=False),
    Column("received_at", Float, nullable=False),
    Column("properties", Text, nullable=False, default="{}"),
    Index("ix_events_lead_time", "lead_id", "occurred_at"),
)

transitions = Table(
    "transitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("lead_id", Integer, ForeignKey("leads.id"), nullable=False),
    Column("from_stage", String(20), nullable=False),
    Column("to_stage", String(20), nullable=False),
    Column("at", Float, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", Text),
    Column("playbook_version", Integer),
    # Set on a correction row: the id of the row it voids (see EFFECTIVE_TRANSITIONS).
    Column("voids", Integer),
    Index("ix_transitions_lead", "lead_id", "at"),
    Index("ix_transitions_to_at", "to_stage", "at"),
    Index("ix_transitions_voids", "voids"),
)

# One row; every write transaction bumps `rev` first (see Database.write), so equal
# revisions mean nobody else wrote in between (the engine's in-memory lead cache).
store_revision = Table(
    "store_revision",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("rev", BigInteger, nullable=False),
)

# The stage history as it stands: every row that is not a correction and was not voided
# by one. Corrections are rare (late events that change a lead's automatic moves), so
# the subquery is small. Use as a table: f"SELECT ... FROM {EFFECTIVE_TRANSITIONS} ..."
EFFECTIVE_TRANSITIONS = (
    "(SELECT * FROM transitions WHERE voids IS NULL AND from_stage <> to_stage AND id NOT IN "
    "(SELECT voids FROM transitions WHERE voids IS NOT NULL)) AS transitions"
)
