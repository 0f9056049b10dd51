"""`leadgate event ingest` (JSONL) reads an event's `lead_id` as POST /events does: the
lead's address is filled in, or checked. The key was silently dropped: a line naming
its lead by id only was rejected as "email: missing", and a line whose email was another
person's landed on that person without a word."""

from __future__ import annotations

from pathlib import Path

import orjson

from leadgate.engine.engine import Engine
from leadgate.ingest.files import ingest_events


def _events_of(engine: Engine) -> dict[str, str]:
    with engine.db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT e.id, l.email FROM events e JOIN leads l ON l.id = e.lead_id"
        ).all()
    return {str(i): str(e) for i, e in rows}


def test_a_lead_id_on_a_jsonl_line_is_honoured_or_refused_by_line(
    engine: Engine, tmp_path: Path
) -> None:
    engine.upsert_leads([("ann@acme.com", {}, None), ("bob@acme.com", {}, None)])
    ann = engine.show("ann@acme.com")["id"]
    lines = [
        {"id": "e1", "lead_id": ann, "type": "webinar_attended"},
        {"id": "e2", "lead_id": ann, "email": "ANN@acme.com", "type": "page_view"},
        {"id": "e3", "lead_id": ann, "email": "bob@acme.com", "type": "page_view"},
        {"id": "e4", "lead_id": 999_999, "type": "page_view"},
        {"id": "e5", "lead_id": "seven", "email": "bob@acme.com", "type": "page_view"},
        {"id": "e6", "email": "bob@acme.com", "type": "page_view"},
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    report = ingest_events(engine, path)
    assert _events_of(engine) == {"e1": "ann@acme.com", "e2": "ann@acme.com", "e6": "bob@acme.com"}
    assert (report.accepted, report.rejected) == (3, 3)
    assert report.errors == [
        f"line 3: lead_id: lead {ann} does not have this email",
        "line 4: lead_id: no lead 999999",
        "line 5: lead_id: must be a lead id (a positive integer)",
    ]
