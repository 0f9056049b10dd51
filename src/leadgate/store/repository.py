"""Reading and writing leads, events, stage history and playbooks: `Repository` is one
connection's statements over all of them, each table's in its own module
(`lead_rows`, `event_rows`, `history_rows`, `playbook_rows`, on `statements`).

Example:
    with db.write() as conn:
        repo = Repository(db, conn)
        lead = repo.lead_by_email("ann@acme.com", lock=True)
"""

from __future__ import annotations

from leadgate.store.codec import dump_state, dumps, load_lead_state, load_state, loads
from leadgate.store.event_rows import ConcurrentEvents, EventRows
from leadgate.store.history_rows import HistoryRows
from leadgate.store.lead_rows import (
    _LEAD_COLS,
    _SCORE_COLS,
    LeadRows,
    StoredLead,
    _row_to_lead,
)
from leadgate.store.playbook_rows import PlaybookRows
from leadgate.store.statements import _CHUNK, _chunks

# Callers import these from here (the names before the split by table).
__all__ = [
    "_CHUNK",
    "_LEAD_COLS",
    "_SCORE_COLS",
    "ConcurrentEvents",
    "Repository",
    "StoredLead",
    "_chunks",
    "_row_to_lead",
    "dump_state",
    "dumps",
    "load_lead_state",
    "load_state",
    "loads",
]


class Repository(LeadRows, EventRows, HistoryRows, PlaybookRows):
    """Statements over one connection (inside a transaction the caller owns)."""
