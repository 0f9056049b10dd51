"""The order promise over HTTP: the same events posted in any order, in any batches, give
the same stage history (from, to, at, actor).

Over HTTP "now" is the server's clock, ahead of the events it is sent: a batch can fire
a timer (the MQL decay exit, the end of a cooldown) dated before an event that arrives
in a later batch. That event is late even though it is newer than every event the lead
has seen, and must be placed before the timer's move, as if it had arrived first.
"""

from __future__ import annotations

from typing import Any

from leadgate.ingest.validate import iso

from .conftest import Api

V1 = "/api/v1"
DAY = 86400.0
# The bundled playbook: contact_sales raises a hand (30 points), a webinar is 20; half
# life 30 days, exit below 10, cooldown 30 days, MQL at fit >= 30 and engagement >= 30.
FIT = {"job_title": "VP Sales", "company_size": 200}


def _post(api: Api, email: str, batches: list[list[tuple[str, float, str]]]) -> None:
    for batch in batches:
        events = [
            {"id": f"{email}-{eid}", "email": email, "type": t, "occurred_at": iso(at)}
            for eid, at, t in batch
        ]
        r = api.post(f"{V1}/events", json={"events": events})
        assert r.status_code == 200 and r.json()["rejected"] == 0, r.text


def _history(api: Api, email: str) -> list[tuple[Any, ...]]:
    (item,) = api.get(f"{V1}/leads", params={"email": email}).json()["items"]
    lead = api.get(f"{V1}/leads/{item['id']}").json()
    return [(h["from"], h["to"], h["at"], h["actor"]) for h in lead["history"]]


def test_an_event_dated_before_a_decay_exit_already_made_undoes_the_exit(api: Api) -> None:
    now = api.engine.clock()
    hand = ("1", now - 60 * DAY, "contact_sales")
    webinar = ("2", now - 30 * DAY, "webinar_attended")
    # One lead gets the webinar first, the other gets it after the hand-raiser's MQL has
    # decayed out (at now - 12.5 days, 30 points below 10): the webinar 30 days ago kept
    # it above the line, so neither lead ever exits.
    _post(api, "first@acme.com", [[webinar], [hand]])
    _post(api, "after@acme.com", [[hand], [webinar]])
    expected = [("lead", "mql", iso(now - 60 * DAY), "rule:hand_raiser")]
    assert _history(api, "first@acme.com") == expected
    assert _history(api, "after@acme.com") == expected


def test_an_event_dated_before_a_spent_cooldown_makes_the_re_mql_it_would_have(
    api: Api,
) -> None:
    now = api.engine.clock()
    hand = ("1", now - 100 * DAY, "contact_sales")
    # Two webinars a day before the cooldown ends: the MQL rule holds at its end.
    webinars = [(f"w{i}", now - 23.5 * DAY, "webinar_attended") for i in (1, 2)]
    for email in ("together@acme.com", "later@acme.com"):
        assert api.post(f"{V1}/leads", json={"email": email, **FIT}).status_code == 201
    _post(api, "together@acme.com", [[hand, *webinars]])
    # The other lead's cooldown ended (rule unmet) before the webinars were posted.
    _post(api, "later@acme.com", [[hand], webinars])
    together = _history(api, "together@acme.com")
    assert [h[:2] for h in together] == [("lead", "mql"), ("mql", "nurture"), ("nurture", "mql")]
    assert _history(api, "later@acme.com") == together
