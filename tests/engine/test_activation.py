"""Activating a playbook is all or nothing: a version whose rescore fails is not active,
and the leads keep the scores of the playbook that was active before (issue 13)."""

from __future__ import annotations

from typing import Any

import pytest

from leadgate.engine.engine import Engine
from leadgate.ingest.validate import parse_event
from leadgate.leads.processor import LeadProcessor
from leadgate.playbook.loader import bundled_playbook
from leadgate.store.repository import Repository

BROKEN = "broken-on-purpose"


def _leads(engine: Engine, n: int) -> list[str]:
    emails = [f"p{i}@acme{i}.com" for i in range(n)]
    engine.upsert_leads(
        [
            (e, {"job_title": "VP Sales", "company_size": 200 + i}, None)
            for i, e in enumerate(emails)
        ]
    )
    now = engine.clock()
    engine.ingest(
        [
            parse_event({"id": f"e{i}", "email": e, "type": "webinar_attended"}, now)
            for i, e in enumerate(emails)
        ],
        now,
    )
    return emails


def _state(engine: Engine, emails: list[str]) -> list[tuple[Any, ...]]:
    out = []
    for e in emails:
        lead = engine.show(e)
        out.append((lead["stage"], lead["fit"], lead["engagement"], lead["score"], lead["grade"]))
    return out


def _versions(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.db.read() as conn:
        return Repository(engine.db, conn).playbook_versions()


def _break_rescore(monkeypatch: pytest.MonkeyPatch, after: int) -> None:
    """Rescoring under the playbook named BROKEN fails once `after` leads were rescored
    (leads, not calls: the set-based rescore scores its verified leads twice)."""
    real = LeadProcessor.rescore
    seen: set[str] = set()

    def rescore(self: LeadProcessor, lead: Any, as_of: float) -> None:
        if self.playbook.name == BROKEN:
            seen.add(lead.email)
            if len(seen) > after:
                raise RuntimeError("rescore failed on purpose")
        real(self, lead, as_of)

    monkeypatch.setattr(LeadProcessor, "rescore", rescore)


def _broken_text() -> str:
    _, text = bundled_playbook()
    return text.replace("name: leadgate-default", f"name: {BROKEN}").replace(
        "points: 20\n", "points: 25\n", 1
    )


def test_a_rescore_failing_at_once_leaves_the_old_version_active(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    emails = _leads(engine, 3)
    before, versions = _state(engine, emails), _versions(engine)
    _break_rescore(monkeypatch, after=0)
    with pytest.raises(RuntimeError, match="on purpose"):
        engine.activate_playbook(_broken_text(), "broken.yaml")
    assert _versions(engine) == versions  # the failed version left no row behind
    assert engine.processor().playbook.name == "leadgate-default"
    assert _state(engine, emails) == before
    # The store still works: a new event scores under the old playbook.
    now = engine.clock()
    engine.ingest([parse_event({"id": "x", "email": emails[0], "type": "demo_request"}, now)], now)
    assert engine.show(emails[0])["engagement"] > before[0][2]


def test_a_rescore_failing_half_way_rolls_back_to_the_old_playbook(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    emails = _leads(engine, 5)
    before, versions = _state(engine, emails), _versions(engine)
    # Batches of 2 leads: the first batch commits under the broken version, the second fails.
    monkeypatch.setattr(Engine.rescore_all, "__defaults__", (None, 2))
    _break_rescore(monkeypatch, after=2)
    with pytest.raises(RuntimeError, match="on purpose"):
        engine.activate_playbook(_broken_text(), "broken.yaml")
    after = _versions(engine)
    # Versions are history: the broken one stays listed, and a copy of the old one
    # (same YAML, so the same sha256) is activated after it.
    assert after[: len(versions)] == versions
    assert after[-1][2] == versions[-1][2] and after[-1][0] > versions[-1][0]
    assert engine.processor().playbook.name == "leadgate-default"
    assert _state(engine, emails) == before
    with engine.db.read() as conn:
        stale = Repository(engine.db, conn).execute(
            "SELECT COUNT(*) FROM leads WHERE playbook_version <> ?", [after[-1][0]]
        )
        assert stale.fetchone()[0] == 0


def test_a_store_holding_a_version_that_no_longer_loads_can_activate_a_good_one(
    engine: Engine,
) -> None:
    """Before the NaN checks, `points: .nan` could be stored; re-activating then failed too."""
    emails = _leads(engine, 3)
    before = _state(engine, emails)
    _, good = bundled_playbook()
    poisoned = good.replace("points: 20\n", "points: .nan\n", 1)
    with engine.db.write() as conn:
        repo = Repository(engine.db, conn)
        bad = repo.add_playbook("poisoned", poisoned, "old-leadgate", engine.clock())
        repo.execute("UPDATE leads SET playbook_version = ?", [bad])
    engine._processors.clear()
    engine._active_version = None
    version, _, n = engine.activate_playbook(good, "good.yaml")
    assert n == 3 and version == bad + 1
    assert _state(engine, emails) == before


@pytest.mark.parametrize("method", ["set", "per-lead"])
def test_what_comes_in_after_an_activation_counts_under_the_new_version(
    engine: Engine, method: str
) -> None:
    """The engine that activated (the server's, behind `PUT /playbook` and the web
    editor) scored the next events under the version before: its rescore's transactions
    chain on the lead cache, so the active version it had in memory was trusted."""
    engine.rescore_method = method
    emails = _leads(engine, 2)
    _, text = bundled_playbook()
    richer = text.replace("points: 20\n", "points: 25\n", 1)
    assert richer != text
    version, _, _ = engine.activate_playbook(richer, "richer.yaml")
    now = engine.clock()
    engine.ingest(
        [
            parse_event({"id": "after-1", "email": emails[0], "type": "page_view"}, now),
            parse_event({"id": "after-2", "email": "new@acme.com", "type": "page_view"}, now),
        ],
        now,
    )
    with engine.db.read() as conn:
        rows = Repository(engine.db, conn).execute(
            "SELECT email, playbook_version FROM leads WHERE email IN (?, ?) ORDER BY email",
            [emails[0], "new@acme.com"],
        )
        assert rows.fetchall() == [("new@acme.com", version), (emails[0], version)]
    assert engine.processor().version == version
