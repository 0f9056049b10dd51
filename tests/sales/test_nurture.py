"""Nurture tracks: enrolment, timed steps, branches, and e-mail through a real SMTP server.

The SMTP server is aiosmtpd on 127.0.0.1 on a free port, started and stopped by the
test; "down" is that port with nothing listening.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from pydantic import ValidationError

from leadgate.engine.engine import Engine
from leadgate.ingest.validate import InputError, parse_event
from leadgate.sales import Sales, install
from leadgate.sales.playbook_sections import NurtureSection
from leadgate.sales.templates import TemplateProblem, render
from leadgate.store.database import Database
from leadgate.store.repository import Repository
from leadgate.webhooks import add_subscription
from tests.sales.conftest import ALWAYS, HOT, race_ticks

DAY = 86400.0
Hand = Callable[..., dict[str, Any]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sink:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


class SmtpServer:
    """A real SMTP server on 127.0.0.1:port that a test starts and stops."""

    def __init__(self, port: int):
        self.port = port
        self.sink = Sink()
        self._ctl: Controller | None = None

    def start(self, **smtpd: Any) -> None:
        self._ctl = Controller(self.sink, hostname="127.0.0.1", port=self.port, **smtpd)
        self._ctl.start()

    def stop(self) -> None:
        if self._ctl is not None:
            self._ctl.stop()
            self._ctl = None

    @property
    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.sink.messages]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    yield server
    server.stop()


def sections(port: int, tracks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "nurture": {
            "smtp": {"host": "127.0.0.1", "port": port, "from": "Acme <hello@acme.example>"},
            "templates": {
                "case_study": {
                    "subject": "A case study for {{ company | default('your team') }}",
                    "body": "Hi {{ first_name | default('there') }},\nhow {{ company }} ...\n",
                }
            },
            "tracks": tracks if tracks is not None else TRACKS,
        }
    }


TRACKS: list[dict[str, Any]] = [
    {
        "name": "not-now",
        "if": {"field": "nurture_reason", "op": "eq", "value": "not now"},
        "steps": [
            {
                "send": {
                    "channel": "smtp",
                    "subject": "Hi {{ first_name }}",
                    "body": "Still thinking about it, {{ first_name }}? ({{ lead.grade }})",
                }
            },
            {"wait_days": 3},
            {"branch": {"on_event": "email_click", "within_days": 7, "goto": 4}},
            {"send": {"channel": "webhook", "subject": "nudge {{ email }}", "body": "call?"}},
            {"send": {"channel": "smtp", "template": "case_study"}},
        ],
    },
    {
        "name": "big-accounts",
        "if": {"field": "company_size", "op": "gte", "value": 1000},
        "steps": [{"wait_days": 10}, {"send": {"channel": "smtp", "template": "case_study"}}],
    },
]


def setup(engine: Engine, port: int, tracks: list[dict[str, Any]] | None = None) -> Sales:
    s = install(engine, sections=sections(port, tracks))
    for name in ("anna", "bo"):
        s.add_rep(name, "bdr", **ALWAYS)
    return s


def to_nurture(engine: Engine, raise_hand: Hand, email: str, reason: str, **attrs: Any) -> None:
    raise_hand(email, {**HOT, "first_name": "Ann", "company": "Acme", **attrs})
    engine.set_stage(email, "nurture", reason, "user:anna")


def kinds(lead: dict[str, Any]) -> list[str]:
    return [t["kind"] for t in lead["nurture"]["timeline"]]


def outbox(engine: Engine, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with engine.db.read() as conn:
        return [tuple(r) for r in Repository(engine.db, conn).execute(sql, params or []).fetchall()]


def test_track_runs_its_steps_on_time(
    engine: Engine, raise_hand: Hand, clock: Any, smtp: SmtpServer
) -> None:
    smtp.start()
    s = setup(engine, smtp.port)
    add_subscription(
        engine.db,
        "http://127.0.0.1:9/hook",
        "lead.nurture_message",
        None,
        "t",
        allow_private=True,
    )
    to_nurture(engine, raise_hand, "ann@acme.com", "not now")
    lead = engine.show("ann@acme.com")
    assert lead["nurture"]["track"] == "not-now"
    assert lead["nurture"]["status"] == "active"
    assert lead["nurture"]["reason"] == "not now"
    assert kinds(lead) == ["enrolled"]
    assert "entered nurture (not now)" in lead["nurture"]["timeline"][0]["detail"]

    out = s.tick()
    assert out["messages_queued"] == 1 and out["messages_sent"] == 1
    assert smtp.subjects == ["Hi Ann"]
    msg = smtp.sink.messages[0]
    assert msg["To"] == "ann@acme.com"
    assert msg["From"] == "Acme <hello@acme.example>"
    assert "Still thinking about it, Ann?" in msg.get_payload()
    assert kinds(engine.show("ann@acme.com")) == ["enrolled", "queued", "sent"]

    clock.advance(2 * DAY)
    assert s.tick()["nurture_steps"] == 0  # still waiting (3 days)
    clock.advance(1 * DAY + 60)
    out = s.tick()
    assert out["nurture_steps"] == 1 and out["messages_queued"] == 0  # now in the branch
    lead = engine.show("ann@acme.com")
    assert lead["nurture"]["step"] == 2

    clock.advance(7 * DAY)  # no click within the window: the webhook nudge, then the case study
    out = s.tick()
    assert out["messages_queued"] == 2 and out["messages_sent"] == 1
    assert smtp.subjects == ["Hi Ann", "A case study for Acme"]
    hooks = outbox(engine, "SELECT event_type, payload FROM webhook_outbox")
    assert [h[0] for h in hooks] == ["lead.nurture_message"]
    assert '"subject":"nudge ann@acme.com"' in hooks[0][1]
    lead = engine.show("ann@acme.com")
    assert lead["nurture"]["status"] == "completed"
    assert kinds(lead) == [
        "enrolled",
        "queued",
        "sent",
        "branch",
        "queued",
        "queued",
        "completed",  # the last step ran; its e-mail went out just after
        "sent",
    ]
    assert "no email_click within 7 days: step 3" in lead["nurture"]["timeline"][3]["detail"]
    assert lead["stage"] == "nurture"  # the track ends; the recycling rule still applies
    assert s.tick()["messages_sent"] == 0
    assert len(smtp.sink.messages) == 2


def test_an_event_in_the_window_takes_the_branch_at_once(
    engine: Engine, raise_hand: Hand, clock: Any, smtp: SmtpServer
) -> None:
    smtp.start()
    s = setup(engine, smtp.port)
    to_nurture(engine, raise_hand, "bea@acme.com", "not now")
    s.tick()
    clock.advance(3 * DAY + 60)
    s.tick()  # in the branch, waiting up to 7 days
    clock.advance(DAY)
    # The click comes in through another process (a fresh engine, nothing compiled yet).
    other = Engine(Database(engine.db.url), clock=clock)
    install(other, sections=sections(smtp.port))
    other.ingest(
        [parse_event({"email": "bea@acme.com", "type": "email_click", "id": "c1"}, clock())]
    )
    other.db.dispose()
    out = s.tick()  # not 6 days later: the click woke it
    assert out["messages_sent"] == 1
    assert smtp.subjects == ["Hi Ann", "A case study for Acme"]
    lead = engine.show("bea@acme.com")
    assert "email_click seen: step 4" in [t["detail"] for t in lead["nurture"]["timeline"]]
    assert lead["nurture"]["status"] == "completed"
    assert outbox(engine, "SELECT COUNT(*) FROM webhook_outbox") == [(0,)]


def test_segments_pick_the_first_matching_track(
    engine: Engine, raise_hand: Hand, smtp: SmtpServer
) -> None:
    s = setup(engine, smtp.port)
    to_nurture(engine, raise_hand, "a@big.com", "no budget yet", company_size=5000)
    to_nurture(engine, raise_hand, "b@small.com", "no budget yet", company_size=20)
    to_nurture(engine, raise_hand, "c@both.com", "not now", company_size=5000)
    assert engine.show("a@big.com")["nurture"]["track"] == "big-accounts"
    assert engine.show("b@small.com")["nurture"] is None  # no track for it
    assert engine.show("c@both.com")["nurture"]["track"] == "not-now"  # first match wins
    assert s.tick(deliver=False)["messages_queued"] == 1


def test_smtp_down_then_up_the_message_arrives_once(
    engine: Engine, raise_hand: Hand, clock: Any, smtp: SmtpServer
) -> None:
    s = setup(engine, smtp.port)  # nothing listens on the port yet
    to_nurture(engine, raise_hand, "dan@acme.com", "not now")
    out = s.tick()
    assert out["messages_queued"] == 1 and out["messages_sent"] == 0
    assert out["messages_failed"] == 1
    row = outbox(engine, "SELECT status, attempts, next_attempt_at FROM sales_mail_outbox")[0]
    assert row[0] == "pending" and row[1] == 1 and row[2] > clock()
    lead = engine.show("dan@acme.com")
    assert kinds(lead)[-1] == "retry"
    assert "cannot connect to 127.0.0.1" in lead["nurture"]["timeline"][-1]["detail"]

    assert s.tick()["messages_failed"] == 0  # backing off: not tried again yet
    clock.advance(29)
    assert s.tick()["messages_failed"] == 0
    clock.advance(2)
    assert s.tick()["messages_failed"] == 1  # second attempt, still down; waits 60 s now
    smtp.start()
    assert s.tick()["messages_sent"] == 0
    clock.advance(61)
    out = s.tick()
    assert out["messages_sent"] == 1
    clock.advance(3600)
    assert s.tick()["messages_sent"] == 0
    assert smtp.subjects == ["Hi Ann"]  # once
    row = outbox(engine, "SELECT status, attempts FROM sales_mail_outbox")[0]
    assert row == ("sent", 3)
    assert kinds(engine.show("dan@acme.com")) == ["enrolled", "queued", "retry", "retry", "sent"]


def test_a_refused_recipient_fails_for_good_and_the_others_go(
    engine: Engine, raise_hand: Hand, clock: Any, smtp: SmtpServer
) -> None:
    smtp.start()
    s = setup(engine, smtp.port)
    to_nurture(engine, raise_hand, "nobody@acme.com", "not now")
    to_nurture(engine, raise_hand, "jo@acme.com", "not now")
    out = s.tick()
    assert out["messages_sent"] == 1 and out["messages_failed"] == 1
    assert [str(m["To"]) for m in smtp.sink.messages] == ["jo@acme.com"]
    rows = outbox(
        engine, "SELECT to_addr, status, last_error FROM sales_mail_outbox ORDER BY to_addr"
    )
    assert rows[1][:2] == ("nobody@acme.com", "dead") and "550" in rows[1][2]
    assert kinds(engine.show("nobody@acme.com"))[-1] == "failed"
    clock.advance(DAY)
    assert s.tick()["messages_failed"] == 0  # dead: not retried


def test_a_line_break_in_an_attribute_cannot_stop_the_mail(
    engine: Engine, raise_hand: Hand, clock: Any, smtp: SmtpServer
) -> None:
    # A CR (or any line break) in a value used in the subject made EmailMessage raise:
    # the whole batch aborted, the good message with it, again at every tick.
    smtp.start()
    s = setup(engine, smtp.port)
    to_nurture(engine, raise_hand, "ann@acme.com", "not now", first_name="Ann\rBcc: x@evil.example")
    to_nurture(engine, raise_hand, "jo@acme.com", "not now", first_name="Jo\u2028\r\nBo")
    to_nurture(engine, raise_hand, "al@acme.com", "not now", first_name="Al")
    out = s.tick()
    assert out["messages_sent"] == 3 and out["messages_failed"] == 0
    assert sorted(smtp.subjects) == ["Hi Al", "Hi Ann Bcc: x@evil.example", "Hi Jo Bo"]
    for m in smtp.sink.messages:
        assert m["Bcc"] is None
    subjects = [r[0] for r in outbox(engine, "SELECT subject FROM sales_mail_outbox")]
    assert not any(c in x for x in subjects for c in "\r\n\u2028")


def test_a_message_that_cannot_be_built_fails_alone(
    engine: Engine, raise_hand: Hand, clock: Any, smtp: SmtpServer
) -> None:
    smtp.start()
    s = setup(engine, smtp.port)
    to_nurture(engine, raise_hand, "ann@acme.com", "not now")
    to_nurture(engine, raise_hand, "jo@acme.com", "not now")
    to_nurture(engine, raise_hand, "al@acme.com", "not now")
    assert s.tick(deliver=False)["messages_queued"] == 3
    # Rows queued before line breaks were stripped: the sender strips them too.
    with engine.db.write() as conn:
        repo = Repository(engine.db, conn)
        repo.execute(
            "UPDATE sales_mail_outbox SET subject = ? WHERE to_addr = ?",
            ["Hi\rBcc: x@evil.example", "al@acme.com"],
        )
        # A message no header policy accepts: an address that is not one.
        repo.execute(
            "UPDATE sales_mail_outbox SET to_addr = ? WHERE to_addr = ?",
            ["ann@acme.com, <", "ann@acme.com"],
        )
    out = s.tick()
    assert out["messages_sent"] == 2 and out["messages_failed"] == 1
    assert sorted(str(m["To"]) for m in smtp.sink.messages) == ["al@acme.com", "jo@acme.com"]
    rows = outbox(engine, "SELECT to_addr, status, last_error FROM sales_mail_outbox")
    (bad,) = [r for r in rows if r[0].startswith("ann@")]
    assert bad[1] == "dead" and "cannot build the message" in bad[2]
    assert (
        "cannot build the message"
        in engine.show("ann@acme.com")["nurture"]["timeline"][-1]["detail"]
    )
    clock.advance(DAY)
    assert s.tick()["messages_failed"] == 0  # not tried again at every tick
    assert len(smtp.sink.messages) == 2


def test_leaving_nurture_ends_the_enrolment_and_cancels_unsent_mail(
    engine: Engine, raise_hand: Hand, clock: Any, smtp: SmtpServer
) -> None:
    s = setup(engine, smtp.port)  # SMTP down: the first message waits in the outbox
    to_nurture(engine, raise_hand, "eve@acme.com", "not now")
    s.tick()
    engine.set_stage("eve@acme.com", "disqualified", "not a fit", "user:anna")
    lead = engine.show("eve@acme.com")
    assert lead["nurture"]["status"] == "ended"
    assert lead["nurture"]["end_reason"] == "left nurture: disqualified"
    assert kinds(lead)[-1] == "ended"
    assert outbox(engine, "SELECT status FROM sales_mail_outbox") == [("cancelled",)]
    smtp.start()
    clock.advance(40 * DAY)
    out = s.tick()
    assert out["messages_sent"] == 0 and out["nurture_steps"] == 0
    assert smtp.sink.messages == []


def test_back_to_mql_ends_it_and_a_new_cycle_enrols_again(
    engine: Engine, raise_hand: Hand, clock: Any, smtp: SmtpServer
) -> None:
    smtp.start()
    s = setup(engine, smtp.port)
    to_nurture(engine, raise_hand, "fay@acme.com", "not now")
    s.tick()
    clock.advance(31 * DAY)  # after the cooldown a hand-raise makes it an MQL again
    engine.ingest(
        [parse_event({"email": "fay@acme.com", "type": "demo_request", "id": "d2"}, clock())]
    )
    lead = engine.show("fay@acme.com")
    assert lead["stage"] == "mql"
    assert lead["nurture"]["status"] == "ended"
    assert lead["nurture"]["end_reason"] == "left nurture: mql"
    clock.advance(10 * DAY)
    assert s.tick()["nurture_steps"] == 0
    engine.set_stage("fay@acme.com", "nurture", "not now", "user:bo")
    lead = engine.show("fay@acme.com")
    assert lead["nurture"]["status"] == "active"
    assert kinds(lead).count("enrolled") == 2
    s.tick()
    assert smtp.subjects == ["Hi Ann", "Hi Ann"]  # one per cycle


def test_unsubscribe_stops_the_track(
    engine: Engine, raise_hand: Hand, clock: Any, smtp: SmtpServer
) -> None:
    smtp.start()
    s = setup(engine, smtp.port)
    to_nurture(engine, raise_hand, "gus@acme.com", "not now")
    s.tick()
    engine.ingest(
        [parse_event({"email": "gus@acme.com", "type": "unsubscribe", "id": "u1"}, clock())]
    )
    clock.advance(11 * DAY)
    s.tick()
    lead = engine.show("gus@acme.com")
    assert lead["nurture"]["status"] == "ended"
    assert "unsubscribed" in lead["nurture"]["end_reason"]
    assert smtp.subjects == ["Hi Ann"]


def test_an_unsubscribe_cancels_mail_already_queued(
    engine: Engine, raise_hand: Hand, clock: Any, smtp: SmtpServer
) -> None:
    s = setup(engine, smtp.port)  # SMTP down: the first e-mail waits in the outbox
    to_nurture(engine, raise_hand, "kim@acme.com", "not now")
    assert s.tick()["messages_failed"] == 1
    engine.ingest(
        [parse_event({"email": "kim@acme.com", "type": "unsubscribe", "id": "u2"}, clock())]
    )
    smtp.start()
    clock.advance(3600)
    assert s.tick()["messages_sent"] == 0
    assert smtp.sink.messages == []
    assert outbox(engine, "SELECT status FROM sales_mail_outbox") == [("cancelled",)]
    clock.advance(3 * DAY)
    s.tick()
    lead = engine.show("kim@acme.com")
    assert kinds(lead)[-2:] == ["cancelled", "ended"]
    assert lead["nurture"]["status"] == "ended"


def test_a_bad_template_skips_the_step_loudly(
    engine: Engine, raise_hand: Hand, smtp: SmtpServer
) -> None:
    smtp.start()
    tracks = [
        {
            "name": "t",
            "steps": [
                {"send": {"channel": "smtp", "subject": "x", "body": "{{ ''.__class__.__mro__ }}"}},
                {"send": {"channel": "smtp", "subject": "ok", "body": "fine"}},
            ],
        }
    ]
    s = setup(engine, smtp.port, tracks)
    to_nurture(engine, raise_hand, "hal@acme.com", "not now")
    s.tick()
    lead = engine.show("hal@acme.com")
    assert kinds(lead) == ["enrolled", "failed", "queued", "completed", "sent"]
    assert "template error" in lead["nurture"]["timeline"][1]["detail"]
    assert smtp.subjects == ["ok"]


def test_no_smtp_settings_keeps_messages_waiting(
    engine: Engine, raise_hand: Hand, clock: Any, smtp: SmtpServer, monkeypatch: Any
) -> None:
    tracks = [{"name": "t", "steps": [{"send": {"channel": "smtp", "subject": "s", "body": "b"}}]}]
    s = install(engine, sections={"nurture": {"tracks": tracks}})
    s.add_rep("anna", "bdr", **ALWAYS)
    to_nurture(engine, raise_hand, "ida@acme.com", "not now")
    assert s.tick()["messages_queued"] == 1
    assert outbox(engine, "SELECT status, attempts FROM sales_mail_outbox") == [("pending", 0)]
    smtp.start()
    monkeypatch.setenv("LEADGATE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("LEADGATE_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("LEADGATE_SMTP_FROM", "ops@acme.example")
    assert s.tick()["messages_sent"] == 1
    assert smtp.sink.messages[0]["From"] == "ops@acme.example"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")
def test_login_comes_from_the_environment(
    engine: Engine, raise_hand: Hand, smtp: SmtpServer, monkeypatch: Any
) -> None:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    logins: list[tuple[str, str]] = []

    def text(v: str | bytes) -> str:
        return v.decode() if isinstance(v, bytes) else v

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        if isinstance(data, LoginPassword):
            logins.append((text(data.login), text(data.password)))
            return AuthResult(success=text(data.password) == "s3cret", handled=False)
        return AuthResult(success=False, handled=False)

    # Plain-text AUTH without TLS is fine on loopback in a test; PLAIN only keeps the
    # failed attempt to one exchange.
    smtp.start(
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,
        auth_exclude_mechanism=["LOGIN"],
    )
    s = setup(engine, smtp.port)
    to_nurture(engine, raise_hand, "lou@acme.com", "not now")
    monkeypatch.setenv("LEADGATE_SMTP_USER", "mailer")
    monkeypatch.setenv("LEADGATE_SMTP_PASSWORD", "wrong")
    out = s.tick()
    assert out["messages_failed"] == 1 and smtp.sink.messages == []
    assert "Authentication" in outbox(engine, "SELECT last_error FROM sales_mail_outbox")[0][0]
    monkeypatch.setenv("LEADGATE_SMTP_PASSWORD", "s3cret")
    engine.clock.advance(31)  # type: ignore[attr-defined]
    assert s.tick()["messages_sent"] == 1
    assert logins[-1] == ("mailer", "s3cret")
    assert smtp.subjects == ["Hi Ann"]


def test_templates_are_sandboxed() -> None:
    assert render("Hi {{ first_name | default('there') }}", {}) == "Hi there"
    assert render("{{ a }}-{{ missing }}", {"a": 1}) == "1-"
    with pytest.raises(TemplateProblem):
        render("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})


@pytest.mark.parametrize(
    ("track", "message"),
    [
        (
            {"name": "t", "steps": [{"wait_days": 1, "branch": {"on_event": "e", "goto": "end"}}]},
            "exactly one of",
        ),
        (
            {"name": "t", "steps": [{"send": {"channel": "fax", "subject": "s", "body": "b"}}]},
            "send.channel must be smtp or webhook",
        ),
        (
            {"name": "t", "steps": [{"send": {"channel": "smtp", "subject": "s"}}]},
            "a template, or both subject and body",
        ),
        (
            {"name": "t", "steps": [{"send": {"channel": "smtp", "template": "nope"}}]},
            "unknown template 'nope'",
        ),
        (
            {"name": "t", "steps": [{"send": {"channel": "smtp", "subject": "{{ x", "body": "b"}}]},
            "template error",
        ),
        ({"name": "t", "steps": [{"branch": {"on_event": "e", "goto": 5}}]}, "no step 5"),
        (
            {
                "name": "t",
                "steps": [
                    {"send": {"channel": "webhook", "subject": "s", "body": "b"}},
                    {"branch": {"on_event": "e", "goto": 0}},
                ],
            },
            "loops without a wait",
        ),
        ({"name": "t", "steps": []}, "at least 1"),
    ],
)
def test_bad_tracks_are_refused_with_the_field(track: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        NurtureSection.model_validate({"tracks": [track]})


def test_a_loop_through_a_wait_is_allowed() -> None:
    NurtureSection.model_validate(
        {
            "tracks": [
                {
                    "name": "drip",
                    "steps": [
                        {"send": {"channel": "webhook", "subject": "s", "body": "b"}},
                        {"wait_days": 7},
                        {"branch": {"on_event": "page_view", "goto": "end", "else": 0}},
                    ],
                }
            ]
        }
    )


def test_sla_breach_is_announced_by_webhook(engine: Engine, raise_hand: Hand, clock: Any) -> None:
    s = install(engine)
    s.add_rep("anna", "bdr", **ALWAYS)
    add_subscription(
        engine.db, "http://127.0.0.1:9/hook", "lead.sla_breached", None, "t", allow_private=True
    )
    raise_hand("sla@acme.com", HOT)
    clock.advance(2 * 3600)
    assert s.tick()["sla_breached"] == 1
    rows = outbox(engine, "SELECT event_type, lead_id, payload FROM webhook_outbox")
    assert [r[0] for r in rows] == ["lead.sla_breached"]
    assert '"owner":"anna"' in rows[0][2]


def test_two_workers_never_send_a_step_twice(
    postgres_url: str, clock: Any, smtp: SmtpServer
) -> None:
    smtp.start()
    setup_engine = Engine(Database(postgres_url), clock=clock)
    setup_engine.ensure_playbook()
    setup(setup_engine, smtp.port)
    n = 60
    now = clock()
    setup_engine.upsert_leads(
        [(f"n{i}@co{i}.com", {"first_name": f"N{i}"}, None) for i in range(n)]
    )
    setup_engine.ingest(
        [
            parse_event({"email": f"n{i}@co{i}.com", "type": "demo_request", "id": f"d{i}"}, now)
            for i in range(n)
        ]
    )
    for i in range(n):
        setup_engine.set_stage(f"n{i}@co{i}.com", "nurture", "not now", "user:anna")
    results: list[dict[str, int]] = []
    for _round in range(2):
        results += race_ticks(postgres_url, clock, limit=5, sections=sections(smtp.port))
        clock.advance(11 * DAY)  # past the wait and the branch window: the last two steps
    # Round one: the first e-mail; round two: the webhook nudge and the second e-mail.
    assert sum(r["messages_queued"] for r in results) == 3 * n
    assert sum(r["messages_sent"] for r in results) == 2 * n
    assert len(smtp.sink.messages) == 2 * n
    per_lead: dict[str, int] = {}
    for m in smtp.sink.messages:
        per_lead[str(m["To"])] = per_lead.get(str(m["To"]), 0) + 1
    assert set(per_lead.values()) == {2}
    assert len({m["Message-ID"] for m in smtp.sink.messages}) == 2 * n
    rows = outbox(setup_engine, "SELECT status, COUNT(*) FROM sales_mail_outbox GROUP BY status")
    assert rows == [("sent", 2 * n)]
    sent_logs = outbox(setup_engine, "SELECT COUNT(*) FROM sales_nurture_log WHERE kind = 'sent'")
    assert sent_logs == [(2 * n,)]
    setup_engine.db.dispose()


def test_a_batch_of_thousands_enters_and_wakes_in_one_transaction(
    engine: Engine, clock: Any, smtp: SmtpServer
) -> None:
    s = setup(engine, smtp.port)
    n = 2500  # more than one chunk (2,000) of bind parameters
    emails = [f"m{i}@co{i}.com" for i in range(n)]
    engine.upsert_leads([(e, {}, None) for e in emails])
    # Thousands of leads entering nurture in one transaction (what a decay exit or a
    # playbook change does), handed to the listener as the engine hands them.
    from leadgate.engine.engine import LeadChange
    from leadgate.lifecycle.stages import Transition
    from leadgate.sales import nurture

    with engine.db.write() as conn:
        repo = Repository(engine.db, conn)
        ids = dict(repo.execute("SELECT email, id FROM leads").fetchall())
        repo.execute("UPDATE leads SET stage = 'nurture'")
        changes = [
            LeadChange(
                ids[e],
                e,
                False,
                [Transition("lead", "nurture", clock(), "user:x", "not now")],
                0.0,
                0.0,
                None,
                "D4",
                None,
            )
            for e in emails
        ]
        s.on_changes(repo, changes, clock())
    assert outbox(engine, "SELECT COUNT(*) FROM sales_nurture_enrolments")[0][0] == n
    assert s.tick(deliver=False, limit=5000)["messages_queued"] == n
    clock.advance(3 * DAY + 60)
    s.tick(deliver=False, limit=5000)  # all in the branch now
    engine.ingest(
        [parse_event({"email": e, "type": "email_click", "id": f"c{e}"}, clock()) for e in emails]
    )
    woken = outbox(
        engine,
        "SELECT COUNT(*) FROM sales_nurture_enrolments WHERE next_due_at <= ?",
        [clock()],
    )[0][0]
    assert woken == n
    with engine.db.write() as conn:
        repo = Repository(engine.db, conn)
        nurture.end_enrolments(repo, [(ids[e], "test") for e in emails], clock())
    assert (
        outbox(engine, "SELECT COUNT(*) FROM sales_nurture_enrolments WHERE status = 'ended'")[0][0]
        == n
    )


def test_dead_mail_is_replayed_once_the_server_is_back(
    engine: Engine,
    raise_hand: Hand,
    clock: Any,
    smtp: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEADGATE_SMTP_MAX_ATTEMPTS", "1")  # one failure and it is dead
    s = setup(engine, smtp.port)  # nothing listens on the port yet
    to_nurture(engine, raise_hand, "dan@acme.com", "not now")
    to_nurture(engine, raise_hand, "eli@acme.com", "not now")
    assert s.tick()["messages_failed"] == 2
    assert s.mail_outbox()["dead"] == 2
    # Eli leaves nurture: his dead mail was meant for a lead in nurture, so it stays dead.
    engine.set_stage("eli@acme.com", "disqualified", "spam", "user:anna")
    with pytest.raises(InputError, match="no dead message 'nope'"):
        s.replay_mail("nope", "user:ops")
    smtp.start()
    assert s.replay_mail(None, "user:ops") == 1
    assert s.tick()["messages_sent"] == 1
    assert [str(m["To"]) for m in smtp.sink.messages] == ["dan@acme.com"]
    assert kinds(engine.show("dan@acme.com"))[-3:] == ["failed", "replayed", "sent"]
    assert s.replay_mail(None, "user:ops") == 0  # nothing dead left that may go
    assert s.mail_outbox() == {"pending": 0, "sent": 1, "dead": 1, "cancelled": 0}


def test_a_track_enrols_only_the_leads_of_its_segment(
    engine: Engine, raise_hand: Hand, smtp: SmtpServer
) -> None:
    """`segment: NAME` in a track: the playbook's segment is part of its entry condition."""
    from leadgate.playbook.loader import bundled_playbook

    text = bundled_playbook()[1].replace(
        "\nsegments:\n",
        "\nsegments:\n  big_owned:\n    all:\n"
        "      - {field: company_size, op: gte, value: 1000}\n"
        "      - {field: owner, op: exists}\n"
        "      - {score: fit, op: gte, value: 10}\n",
        1,
    )
    engine.activate_playbook(text, "test")
    track = {"name": "big", "segment": "big_owned", "steps": [{"wait_days": 10}]}
    setup(engine, smtp.port, [track])
    to_nurture(engine, raise_hand, "a@big.com", "no budget yet", company_size=5000)
    to_nurture(engine, raise_hand, "b@small.com", "no budget yet", company_size=20)
    assert engine.show("a@big.com")["nurture"]["track"] == "big"
    assert engine.show("b@small.com")["nurture"] is None


def test_a_track_naming_an_unknown_segment_is_refused(engine: Engine) -> None:
    """Sections handed to install() skip the playbook's check: the config build refuses."""
    track = {"name": "big", "segment": "nope", "steps": [{"wait_days": 10}]}
    s = install(engine, sections=sections(1, [track]))
    with pytest.raises(ValueError, match="unknown segment 'nope'"):
        s.config()
