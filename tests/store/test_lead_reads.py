"""`LeadRows.leads_by_email` reads each lead as `_row_to_lead` reads its plain row.

On SQLite it packs a row's text and integer columns into one JSON array and passes the
addresses as one JSON parameter (statements fewer and cheaper for the writer); these
tests hold every field of what it returns equal to the plain row's reading, for leads
whose columns take every kind of value (NULLs, timers, an owner, unusual text, a
settled lead, no playbook version), and for more addresses than an IN list may bind.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from leadgate.leads.record import LeadState
from leadgate.scoring.engagement import EngagementState, Tally
from leadgate.scoring.scorecard import ScoreCard
from leadgate.store.database import Database
from leadgate.store.lead_rows import _LEAD_COLS, StoredLead, _row_to_lead
from leadgate.store.repository import Repository

NOW = 1_780_000_000.0
ODD = ['quote"back\\slash', "line\nbreak", "tab\t", "é and ☃ and 𝄞", "\x01ctl", "'single'"]


def _lead(i: int) -> LeadState:
    odd = ODD[i % len(ODD)]
    return LeadState(
        email=f"p{i}+{'é' if i % 5 == 0 else 'x'}@acme{i % 7}.com",
        attributes={}
        if i % 8 == 0
        else {"first_name": odd, "n": i, "f": i / 3, "big": 2**53 + i, "list": [odd]},
        created_at=NOW - i * 1.1,
    )


def _store(url: str, n: int) -> list[str]:
    """`n` leads written, their columns varied as the engine leaves them."""
    db = Database(url)
    leads = [_lead(i) for i in range(n)]
    with db.write() as conn:
        repo = Repository(db, conn)
        repo.insert_leads(leads, NOW)
        stored = []
        for i, lead in enumerate(leads):
            lead.stage = ("lead", "mql", "nurture", "sql")[i % 4]
            lead.stage_at = NOW + i / 7
            lead.stage_reason = None if i % 3 == 0 else f"rule: {ODD[i % len(ODD)]}"
            lead.exit_armed = i % 2 == 0
            lead.next_due_at = None if i % 4 else NOW + 86400.123456789 * i
            lead.timer_spent_at = None if i % 5 else NOW - 0.1 * i
            lead.playbook_version = None if i % 6 == 0 else 1 + i % 3
            lead.settled_at = NOW - i if i % 2 else lead.settled_at
            lead.engagement_state = EngagementState(
                NOW - i / 3,
                f"ev-{i}-{ODD[i % len(ODD)]}",
                {
                    k: Tally(k + 1, 10.0 / (k + i + 1), NOW - k, [NOW - k, NOW])
                    for k in range(i % 4)
                },
                {"manual": [2.5, NOW, 1.0]} if i % 3 == 1 else {},
                {"fit": 1.0 / (i + 1)} if i % 3 == 2 else {},
            )
            lead.card = ScoreCard(i / 3, -i / 7, "ABCD"[i % 4], "1234"[i % 4], (), NOW, 1)
            stored.append(StoredLead(lead, None, NOW))
        repo.save_leads(stored, NOW + 1)
        repo.executemany(
            "UPDATE leads SET owner = ? WHERE email = ?",
            [("rep ☃", lead.email) for lead in leads[1::3]],
        )
    db.dispose()
    return [lead.email for lead in leads]


def _as_dict(s: StoredLead) -> dict[str, Any]:
    state = {f.name: getattr(s.state, f.name) for f in fields(LeadState)}
    other = {f.name: getattr(s, f.name) for f in fields(StoredLead) if f.name != "state"}
    return {**state, **other}


def _plain(url: str) -> dict[str, dict[str, Any]]:
    db = Database(url)
    with db.read() as conn:
        rows = Repository(db, conn).execute(f"SELECT {_LEAD_COLS} FROM leads").fetchall()
    db.dispose()
    return {row[1]: _as_dict(_row_to_lead(row)) for row in rows}


def _read(url: str, emails: list[str]) -> dict[str, dict[str, Any]]:
    db = Database(url)
    with db.write() as conn:
        got = Repository(db, conn).leads_by_email(emails, lock=True)
    db.dispose()
    return {e: _as_dict(s) for e, s in got.items()}


def test_leads_by_email_reads_each_field_as_the_plain_row(db_url: str) -> None:
    emails = _store(db_url, 60)
    plain = _plain(db_url)
    got = _read(db_url, [*emails, "nobody@acme.com", emails[3]])
    assert got == plain
    for e, lead in got.items():  # types too: a float stays a float, a bool a bool
        assert {k: type(v) for k, v in lead.items()} == {k: type(v) for k, v in plain[e].items()}


def test_leads_by_email_takes_more_addresses_than_an_in_list_binds(sqlite_url: str) -> None:
    emails = _store(sqlite_url, 1_100)
    assert _read(sqlite_url, emails) == _plain(sqlite_url)
    assert _read(sqlite_url, []) == {}
