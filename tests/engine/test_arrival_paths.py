"""Property: an address arriving as an event and as a lead record is the same person.

The two ways in (`Engine.ingest`, events; `Engine.upsert_leads`, lead records) each
decide who an incoming address is: its own lead, another spelling of one (a merged
lead's alias, in any case; a key of the playbook's `identity:` rules), an erased
person (suppressed: refused, not created again) or someone new. Two stores start
alike (merged leads, erased people, anonymous tracked visitors) and take the same
batches: one store gets each batch's lead records first, then its events; the other
the events first, then the records. After each half the two must have refused the
same addresses and made the same leads; after each whole batch the stores must hold
the same leads, events, stitched visitors and effective stage histories.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FakeClock, _postgres_url
from leadgate.engine.arrivals import arrivals
from leadgate.engine.engine import Engine
from leadgate.identity.merge import merge_leads
from leadgate.ingest.validate import EventIn, check_email
from leadgate.privacy.erase import erase_person, is_pseudonym
from leadgate.store.database import Database
from leadgate.store.repository import Repository, dumps
from leadgate.store.schema import EFFECTIVE_TRANSITIONS

DAY = 86400.0
T0 = 1_780_000_000.0
NOW = T0 + 60 * DAY
PLAYBOOK = """
name: arrivals
identity:
  ignore_dots: [gmail.com]
  strip_plus: [gmail.com]
fit:
  rules: [{name: vp, if: {field: job_title, op: contains, value: VP}, points: 30}]
  grades: {A: 50, B: 30, C: 10}
engagement:
  half_life_days: 10
  rules:
    - {event: page_view, points: 10}
    - {event: webinar_attended, points: 20}
  grades: {"1": 60, "2": 30, "3": 10}
stages:
  mql: {when: {score: total, op: gte, value: 50}}
browser_events: [page_view]
"""

# The spellings batches draw from, as people type them (the ways in normalise them).
SPELLINGS = [
    "keep@acme.com",
    "KEEP@Acme.com",
    "other@acme.com",  # merged into keep@acme.com: an alias
    "Other@ACME.com",
    "j.doe@gmail.com",
    "jdoe@gmail.com",  # the identity key of j.doe@gmail.com
    "J.Doe+News@GMAIL.com",
    "gone@acme.com",  # erased (had a lead)
    "Gone@Acme.com",
    "never@acme.com",  # erased before it had a lead
    "Ne.Ver@gmail.com",  # erased before it had a lead, under the identity rules
    "never+x@gmail.com",  # its key's other spelling (not itself suppressed)
    "new@acme.com",
    "NEW@acme.com",
    "n.ew@gmail.com",  # two new spellings of one new person
    "new+x@gmail.com",
    "fresh@acme.com",
    "jos\u00e9@acme.com",  # NFC and NFD (e + combining acute) of one new person
    "JOSE\u0301@acme.com",
]
VISITORS = [None, "v1", "v2", "v3"]


def _engine(url: str) -> Engine:
    eng = Engine(Database(url), clock=FakeClock(T0))
    eng.activate_playbook(PLAYBOOK, "test")
    return eng


def _set_up(eng: Engine) -> None:
    """Merged leads, erased people and anonymous visitors, the same in every store."""
    clock: FakeClock = eng.clock  # type: ignore[assignment]
    eng.upsert_leads(
        [
            ("keep@acme.com", {"job_title": "Manager"}, T0),
            ("other@acme.com", {"job_title": "VP Sales"}, T0),
            ("j.doe@gmail.com", {}, T0),
            ("gone@acme.com", {"job_title": "VP"}, T0),
        ]
    )
    eng.ingest([_event("s1", "other@acme.com", "webinar_attended", T0 + DAY)])
    eng.ingest([_event("s2", "gone@acme.com", "webinar_attended", T0 + DAY)])
    clock.now = T0 + 2 * DAY
    merge_leads(eng, "keep@acme.com", "other@acme.com", "test")
    erase_person(eng, "gone@acme.com", "asked", "test")
    erase_person(eng, "never@acme.com", "asked", "test")
    erase_person(eng, "ne.ver@gmail.com", "asked", "test")
    for i, (vid, day) in enumerate([("v1", 3), ("v1", 5), ("v2", 4), ("v3", 6)]):
        clock.now = T0 + day * DAY
        eng.track([(f"pv{i}", vid, "page_view", T0 + day * DAY, {"url": "/pricing"})])


def _event(eid: str, email: str, typ: str, at: float, visitor: str | None = None) -> EventIn:
    props: dict[str, Any] = {} if visitor is None else {"visitor_id": visitor}
    return EventIn(eid, email, typ, at, props, dumps(props))


Item = tuple[int, str, str | None, str]  # spelling, event type, visitor, job title
Batch = tuple[float, list[Item]]

_items = st.lists(
    st.tuples(
        st.integers(0, len(SPELLINGS) - 1),
        st.sampled_from(["page_view", "webinar_attended"]),
        st.sampled_from(VISITORS),
        st.sampled_from(["VP Marketing", "Engineer", ""]),
    ),
    min_size=1,
    max_size=6,
)
_batches = st.lists(
    st.tuples(st.floats(min_value=7 * DAY, max_value=40 * DAY, allow_nan=False), _items),
    min_size=1,
    max_size=4,
)


def _masked(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """An erased lead's pseudonym is random per store: compared as "erased"."""
    return (row[0], "erased" if is_pseudonym(row[1]) else row[1], *row[2:])


def _leads(eng: Engine) -> list[tuple[Any, ...]]:
    with eng.db.read() as conn:
        cur = Repository(eng.db, conn).execute(
            "SELECT id, email, created_at FROM leads ORDER BY id"
        )
        return [_masked(tuple(r)) for r in cur.fetchall()]


def _store(eng: Engine) -> dict[str, Any]:
    """What the two stores must agree on after a whole batch."""
    with eng.db.read() as conn:
        repo = Repository(eng.db, conn)

        def q(sql: str) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in repo.execute(sql).fetchall()]

        return {
            "leads": [
                _masked(r)
                for r in q(
                    "SELECT id, email, created_at, stage, stage_at, attributes, fit, "
                    "engagement, grade, next_due_at FROM leads ORDER BY id"
                )
            ],
            "events": q("SELECT id, lead_id, type, occurred_at FROM events ORDER BY id"),
            "history": q(
                f"SELECT lead_id, from_stage, to_stage, at FROM {EFFECTIVE_TRANSITIONS} "
                "ORDER BY lead_id, at, id"
            ),
            "visitors": q("SELECT id, lead_id, stitched FROM visitors ORDER BY id"),
            "anonymous": q("SELECT id FROM visitor_events ORDER BY id"),
            "identities": q("SELECT address, lead_id, kind FROM lead_identities ORDER BY address"),
        }


def _run(a: Engine, b: Engine, batches: list[Batch]) -> None:
    """`a` takes records then events, `b` events then records; they must agree."""
    for n, (offset, items) in enumerate(batches):
        at = T0 + offset
        for eng in (a, b):
            eng.clock.now = NOW  # type: ignore[attr-defined]
        records = [
            (check_email(SPELLINGS[i]), {"job_title": title}, at) for i, _, _, title in items
        ]
        events = [
            _event(f"b{n}-{k}", check_email(SPELLINGS[i]), typ, at, vid)
            for k, (i, typ, vid, _) in enumerate(items)
        ]

        refused_a: list[str] = []
        a.upsert_leads(records, refused=refused_a)
        # Copies: the engine rewrites an event's address to its lead's.
        sent_b = [_event(e.id, e.email, e.type, e.at, *_vid(e)) for e in events]
        out_b = b.ingest(sent_b)
        refused_b = {sent_b[r.index].email for r in out_b if r.status == "rejected"}
        # Who is refused and who is made, whichever way the addresses came in.
        assert set(refused_a) == refused_b, f"batch {n}: refused differently"
        assert _leads(a) == _leads(b), f"batch {n}: different leads made"

        sent_a = [_event(e.id, e.email, e.type, e.at, *_vid(e)) for e in events]
        out_a = a.ingest(sent_a)
        refused_b2: list[str] = []
        b.upsert_leads(records, refused=refused_b2)
        assert (
            {sent_a[r.index].email for r in out_a if r.status == "rejected"}
            == set(refused_b2)
            == set(refused_a)
        ), f"batch {n}: refused differently the second time"
        assert [r.lead_id for r in out_a] == [r.lead_id for r in out_b]
        assert _store(a) == _store(b), f"batch {n}: the stores differ"


def _vid(e: EventIn) -> tuple[str | None]:
    return (e.properties.get("visitor_id"),)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store set up once; each example copies it (a migration costs seconds)."""
    path = tmp_path_factory.mktemp("arrivals") / "template.db"
    url = f"sqlite:///{path}"
    Database(url).migrate()
    eng = _engine(url)
    _set_up(eng)
    eng.db.dispose()
    return path


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batches=_batches)
def test_events_and_lead_records_resolve_addresses_alike(
    template: Path, tmp_path_factory: pytest.TempPathFactory, batches: list[Batch]
) -> None:
    base = tmp_path_factory.mktemp("pair")
    engines = []
    for side in ("records_first", "events_first"):
        shutil.copy(template, base / f"{side}.db")
        eng = Engine(Database(f"sqlite:///{base / side}.db"), clock=FakeClock(NOW))
        engines.append(eng)
    try:
        _run(engines[0], engines[1], batches)
    finally:
        for eng in engines:
            eng.db.dispose()


# One mix with every case at once, on SQLite and PostgreSQL.
MIX: list[Batch] = [
    (
        20 * DAY,
        [
            (1, "page_view", "v1", "VP Marketing"),  # KEEP@: its own lead, stitches v1
            (3, "webinar_attended", None, ""),  # Other@: the alias goes to keep@
            (6, "page_view", "v2", "VP"),  # J.Doe+News@GMAIL: the key of j.doe@
            (8, "webinar_attended", None, "VP"),  # Gone@: erased, refused
            (9, "page_view", "v3", ""),  # never@: erased, refused, v3 stays anonymous
            (14, "page_view", None, "Engineer"),  # n.ew@gmail: new
            (15, "webinar_attended", None, "VP Sales"),  # new+x@gmail: the same new one
            (13, "page_view", None, ""),  # NEW@acme: new
        ],
    ),
    (
        10 * DAY,
        [
            (12, "webinar_attended", "v3", "VP"),  # new@acme: made in the batch before
            (5, "page_view", None, "VP"),
            (10, "page_view", None, ""),  # Ne.Ver@gmail: erased, refused...
            (11, "page_view", None, ""),  # ... and another spelling of it, with it
        ],
    ),
]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_one_mix_of_every_case_on_both_backends(backend: str, tmp_path: Path) -> None:
    engines = []
    for side in ("records_first", "events_first"):
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / side}.db"
            Database(url).migrate()
        else:
            url = _postgres_url()
        eng = _engine(url)
        _set_up(eng)
        engines.append(eng)
    try:
        _run(engines[0], engines[1], MIX)
        keep = engines[0].show("keep@acme.com")
        # The alias and the stitched visitor landed on keep@acme.com; the erased stayed out.
        assert {e["type"] for e in keep["recent_events"]} >= {"page_view", "webinar_attended"}
        made = [(email, created) for _, email, created in _leads(engines[0])]
        assert made[-2:] == [("n.ew@gmail.com", T0 + 20 * DAY), ("new@acme.com", T0 + 20 * DAY)]
        emails = [email for email, _ in made]
        assert not {
            "gone@acme.com",
            "never@acme.com",
            "ne.ver@gmail.com",
            "never+x@gmail.com",
        } & set(emails)
    finally:
        for eng in engines:
            eng.db.dispose()


def test_the_step_answers_per_address(set_up: Engine) -> None:
    """`arrivals` itself: each incoming address is its lead, another spelling of one,
    refused (erased) or new; and the visitors a batch's events name."""
    eng = set_up
    incoming = [
        check_email(a)
        for a in (
            "KEEP@acme.com",
            "Other@ACME.com",
            "J.Doe+News@GMAIL.com",
            "Gone@Acme.com",
            "n.ew@gmail.com",
            "new+x@gmail.com",
            "fresh@acme.com",
        )
    ]
    with eng._write() as txn:
        proc = eng._active(txn.repo, txn)
        who = arrivals(eng, txn, incoming, proc.playbook.identity)
        assert who.same == {
            "other@acme.com": "keep@acme.com",
            "j.doe+news@gmail.com": "j.doe@gmail.com",
            "new+x@gmail.com": "n.ew@gmail.com",
        }
        assert who.refused == {"gone@acme.com"}
        assert who.new == ["n.ew@gmail.com", "fresh@acme.com"]
        assert set(who.stored) == {"keep@acme.com", "j.doe@gmail.com"}
        events = {"keep@acme.com": [_event("x", "keep@acme.com", "page_view", T0, "v1")]}
        assert who.visitors(events) == {"v1": who.stored["keep@acme.com"].state.id}


@pytest.fixture(params=["sqlite", "postgres"])
def set_up(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The set-up store (merged, erased, visitors) on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'one.db'}"
        Database(url).migrate()
    else:
        url = _postgres_url()
    eng = _engine(url)
    _set_up(eng)
    yield eng
    eng.db.dispose()


def test_an_erased_person_does_not_come_back_under_another_spelling(set_up: Engine) -> None:
    """`ne.ver@gmail.com` was erased under rules that make `never+x@gmail.com` the same
    mailbox: neither an event nor a record of that spelling makes a lead, and once it is
    refused the erased address cannot attach to it either. A consent lifts both."""
    from leadgate.privacy.erase import consent

    eng = set_up
    out = eng.ingest([_event("o1", "never+x@gmail.com", "page_view", NOW - DAY)])
    assert out[0].status == "rejected"
    refused: list[str] = []
    eng.upsert_leads([("never+x@gmail.com", {"job_title": "VP"}, NOW - DAY)], refused=refused)
    assert refused == ["never+x@gmail.com"]
    # The other spelling first, the erased address after it, in one batch.
    out = eng.ingest(
        [
            _event("o2", "never+y@gmail.com", "page_view", NOW - DAY),
            _event("o3", "ne.ver@gmail.com", "page_view", NOW - DAY),
        ]
    )
    assert [r.status for r in out] == ["rejected", "rejected"]
    emails = {email for _, email, _ in _leads(eng)}
    assert not {"never+x@gmail.com", "never+y@gmail.com", "ne.ver@gmail.com"} & emails

    assert consent(eng, "ne.ver@gmail.com", "signed up again", "test")
    out = eng.ingest([_event("o4", "never+x@gmail.com", "page_view", NOW - DAY)])
    assert out[0].status == "accepted"
    assert "never+x@gmail.com" in {email for _, email, _ in _leads(eng)}
