"""Random sequences of sales actions never produce an illegal history or lose a lead."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadgate.engine.engine import Engine, NotFound
from leadgate.ingest.validate import InputError, parse_event
from leadgate.lifecycle.stages import IllegalTransition, allowed_targets
from leadgate.qualification import QualificationError
from leadgate.sales import install
from leadgate.store.database import Database
from leadgate.store.repository import Repository
from tests.conftest import FakeClock
from tests.sales.conftest import ALWAYS, HOT

EMAILS = [f"p{i}@firm{i % 3}.com" for i in range(4)]
AUTOMATIC = {("lead", "mql"), ("mql", "nurture"), ("nurture", "mql")}
BANT = {"budget": "met", "authority": "met", "need": "met", "timeline": "met"}
# Every nurtured lead is enrolled: mail, wait a day, then back to the mail on a page view
# within two days, else the track is done.
NURTURE = {
    "nurture": {
        "tracks": [
            {
                "name": "all",
                "steps": [
                    {"send": {"channel": "smtp", "subject": "hi {{ email }}", "body": "b"}},
                    {"wait_days": 1},
                    {"branch": {"on_event": "page_view", "within_days": 2, "goto": 0}},
                ],
            }
        ]
    }
}

action = st.one_of(
    st.tuples(
        st.just("event"),
        st.integers(0, 3),
        st.sampled_from(["demo_request", "webinar_attended", "page_view", "unsubscribe"]),
    ),
    st.tuples(
        st.just("stage"),
        st.integers(0, 3),
        st.sampled_from(
            [
                ("sal", None),
                ("nurture", "not now"),
                ("disqualified", "spam"),
                ("sal", "back to BDR"),
                ("customer", None),
                ("nurture", "lost: price"),
                ("lead", "reopened"),
                ("mql", None),
            ]
        ),
    ),
    st.tuples(st.just("qualify"), st.integers(0, 3), st.booleans()),
    st.tuples(st.just("sql"), st.integers(0, 3), st.none()),
    st.tuples(st.just("opportunity"), st.integers(0, 3), st.none()),
    st.tuples(st.just("assign"), st.integers(0, 3), st.sampled_from(["anna", "bo", "eve"])),
    st.tuples(st.just("time"), st.integers(0, 3), st.sampled_from([600, 4000, 86400, 40 * 86400])),
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "t.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    db.dispose()  # the last connection closing folds the WAL into the file we copy
    return path


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(actions=st.lists(action, min_size=1, max_size=25))
def test_random_actions_keep_history_legal(template: Path, actions: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        db_path = Path(d) / "p.db"
        shutil.copy(template, db_path)
        clock = FakeClock()
        engine = Engine(Database(f"sqlite:///{db_path}"), clock=clock)
        engine.ensure_playbook()
        sales = install(engine, sections=NURTURE)
        for n in ("anna", "bo"):
            sales.add_rep(n, "bdr", **ALWAYS)
        sales.add_rep("eve", "ae", **ALWAYS)
        engine.upsert_leads([(e, HOT, None) for e in EMAILS])
        for n, (kind, i, arg) in enumerate(actions):
            email = EMAILS[i]
            try:
                if kind == "event":
                    engine.ingest(
                        [
                            parse_event(
                                {
                                    "email": email,
                                    "type": arg,
                                    "id": f"e{n}",
                                    "properties": {"url": "/pricing"},
                                },
                                clock(),
                            )
                        ]
                    )
                elif kind == "stage":
                    engine.set_stage(email, arg[0], arg[1], "user:x")
                elif kind == "qualify":
                    sales.qualify(email, BANT if arg else {"budget": "not_met"}, None, "user:x")
                elif kind == "sql":
                    sales.promote_sql(email, "user:x")
                elif kind == "opportunity":
                    sales.opportunity(email, 100, "EUR", "2026-12-31", "user:eve")
                elif kind == "assign":
                    sales.assign(email, arg, "cover", "user:boss")
                else:
                    clock.advance(arg)
                    sales.tick()
            except (IllegalTransition, InputError, NotFound, QualificationError):
                pass
        sales.tick()
        check(engine)
        engine.db.dispose()


def check(engine: Engine) -> None:
    pb = engine.processor().playbook
    with engine.db.read() as conn:
        repo = Repository(engine.db, conn)
        leads = repo.execute("SELECT id, email, stage, owner FROM leads").fetchall()
        assert sorted(r[1] for r in leads) == sorted(EMAILS)  # nobody lost, nobody doubled
        for lid, email, stage, owner in leads:
            hist = repo.history(lid)
            prev = "lead"
            for frm, to, _at, actor, _reason, _v in hist:
                assert frm == prev, (email, hist)
                if actor.startswith("rule:"):
                    assert (frm, to) in AUTOMATIC, (email, hist)
                else:
                    assert to in allowed_targets(frm, pb), (email, hist)
                prev = to
            assert prev == stage
            open_sla = repo.execute(
                "SELECT COUNT(*) FROM sales_jobs WHERE lead_id = ? AND fired_at IS NULL",
                [lid],
            ).fetchone()[0]
            if stage == "mql":
                # An MQL's clock is running, or it ran out with nobody left to escalate
                # to: then it stays with its owner, flagged overdue.
                last = repo.execute(
                    "SELECT fired_at, outcome FROM sales_jobs WHERE lead_id = ? "
                    "ORDER BY id DESC LIMIT 1",
                    [lid],
                ).fetchone()
                assert last is not None, (email, stage)
                assert open_sla == (1 if last[0] is None else 0), (email, stage, open_sla)
                assert last[0] is None or last[1] == "breached", (email, last)
            else:
                assert open_sla == 0, (email, stage, open_sla)
            if stage in ("mql", "sal", "sql", "sqo"):
                assert owner is not None, (email, stage)
            if stage == "sqo":
                row = repo.execute(
                    "SELECT outcome FROM sales_opportunities WHERE lead_id = ? "
                    "ORDER BY id DESC LIMIT 1",
                    [lid],
                ).fetchone()
                assert row is not None and row[0] is None
            enrolments = repo.execute(
                "SELECT id, status, created_at FROM sales_nurture_enrolments WHERE lead_id = ? "
                "ORDER BY id",
                [lid],
            ).fetchall()
            active = [e for e in enrolments if e[1] == "active"]
            assert len(active) <= 1, (email, enrolments)
            if stage == "nurture":
                # Enrolled when it last entered nurture; ended early only by an unsubscribe.
                entered = max(h[2] for h in hist if h[1] == "nurture")
                assert enrolments and enrolments[-1][2] >= entered, (email, enrolments, hist)
                last = repo.execute(
                    "SELECT status, end_reason FROM sales_nurture_enrolments WHERE id = ?",
                    [enrolments[-1][0]],
                ).fetchone()
                assert last[0] in ("active", "completed") or "unsubscribed" in last[1], (
                    email,
                    last,
                )
            else:
                assert not active, (email, stage, enrolments)
            # Ending an enrolment cancels its unsent mail; one message per step run.
            pending = repo.execute(
                "SELECT m.enrolment_id, e.status FROM sales_mail_outbox m JOIN "
                "sales_nurture_enrolments e ON e.id = m.enrolment_id "
                "WHERE m.lead_id = ? AND m.status = 'pending'",
                [lid],
            ).fetchall()
            assert all(p[1] != "ended" for p in pending), (email, pending)
            queued = repo.execute(
                "SELECT COUNT(*) FROM sales_nurture_log WHERE lead_id = ? AND kind = 'queued'",
                [lid],
            ).fetchone()[0]
            mails = repo.execute(
                "SELECT COUNT(*) FROM sales_mail_outbox WHERE lead_id = ?", [lid]
            ).fetchone()[0]
            assert queued == mails, (email, queued, mails)
            if stage == "customer":
                row = repo.execute(
                    "SELECT outcome FROM sales_opportunities WHERE lead_id = ? "
                    "ORDER BY id DESC LIMIT 1",
                    [lid],
                ).fetchone()
                assert row is not None and row[0] == "won"
