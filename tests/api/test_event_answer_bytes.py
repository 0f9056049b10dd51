"""POST /events answers, byte for byte: the per-item answer is built for speed (issue 17),
so its exact JSON (key order, nulls, absent keys, pointers) is pinned here for a batch
holding every kind of item, and for single events."""

from __future__ import annotations

from typing import Any

from leadgate.privacy.erase import erase_person

from .conftest import Api

MIXED: list[Any] = [
    # 0: seen before: a duplicate, with its lead
    {"id": "a-1", "email": "ann@acme.com", "type": "page_view"},
    # 1: new, with an offset time and properties (sorted for the stored JSON)
    {
        "id": "n-2",
        "email": "Cat@ACME.com",
        "type": " email_click ",
        "occurred_at": "2026-05-27T10:00:00+02:00",
        "properties": {"b": 1, "a": [1, 2]},
    },
    # 2: a bad address
    {"id": "bad-3", "email": "not-an-email", "type": "page_view"},
    # 3: by lead id, no id given (derived from the content and the receipt time)
    {"lead_id": 1, "type": "page_view"},
    # 4: an erased person's address: valid, refused by the engine
    {"id": "e-5", "email": "bob@acme.com", "type": "page_view"},
    # 5: not an object
    "not an event",
    # 6: an unknown field; its id is not text, so the answer's id is null
    {"id": 7, "email": "ann@acme.com", "type": "page_view", "extra": 1},
    # 7: a lead id no lead has
    {"id": "l-8", "lead_id": 999, "type": "page_view"},
    # 8: in the future
    {"id": "f-9", "email": "dan@acme.com", "type": "page_view", "occurred_at": "2999-01-01"},
    # 9: a numeric id, kept as text
    {"id": 12.5, "email": "dan@acme.com", "type": "webinar_attended"},
    # 10: an unknown address without an id: a new lead
    {"email": "eve@acme.com", "type": "page_view", "occurred_at": 1779990000},
]

MIXED_ANSWER = (
    b'{"accepted":4,"duplicate":1,"rejected":6,"items":['
    b'{"index":0,"id":"a-1","status":"duplicate","lead_id":1},'
    b'{"index":1,"id":"n-2","status":"accepted","lead_id":2},'
    b'{"index":2,"id":"bad-3","status":"rejected","error":"email: \'not-an-email\' is not a '
    b'valid address (An email address must have an @-sign.)","pointer":"#/events/2/email"},'
    b'{"index":3,"id":"h-7ae2e4f7af29a1c799a1fae2b3f75417","status":"accepted","lead_id":1},'
    b'{"index":4,"id":"e-5","status":"rejected","error":"email: suppressed: this person asked '
    b"to be erased; record their consent (`leadgate person consent EMAIL`) before adding them "
    b'again"},'
    b'{"index":5,"id":null,"status":"rejected","error":"event: must be a JSON object",'
    b'"pointer":"#/events/5/event"},'
    b'{"index":6,"id":null,"status":"rejected","error":"extra: unknown field (expected id, '
    b'email, type, occurred_at, properties)","pointer":"#/events/6/extra"},'
    b'{"index":7,"id":"l-8","status":"rejected","error":"lead_id: no lead 999",'
    b'"pointer":"#/events/7/lead_id"},'
    b'{"index":8,"id":"f-9","status":"rejected","error":"occurred_at: 2999-01-01T00:00:00Z is '
    b'in the future (now is 2026-05-28T20:26:40Z); check the clock or time zone",'
    b'"pointer":"#/events/8/occurred_at"},'
    b'{"index":9,"id":"12.5","status":"accepted","lead_id":3},'
    b'{"index":10,"id":"h-546ee20807f361e9993339f238c72456","status":"accepted","lead_id":4}'
    b"]}"
)


def _prepare(api: Api) -> None:
    first = api.post("/api/v1/events", json={"id": "a-1", "email": "ann@acme.com", "type": "x"})
    assert first.json()["items"][0]["lead_id"] == 1
    erase_person(api.engine, "bob@acme.com", "ticket 7", "test")


def test_a_mixed_batch_is_answered_with_these_exact_bytes(api: Api) -> None:
    _prepare(api)
    r = api.post("/api/v1/events", json={"events": MIXED})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.content == MIXED_ANSWER


def test_a_long_mixed_batch_is_answered_like_a_short_one(api: Api) -> None:
    # Over 20 items the batch is validated in a worker thread: the same answer.
    _prepare(api)
    pad = [{"id": f"p-{i}", "email": "ann@acme.com", "type": "page_view"} for i in range(20)]
    r = api.post("/api/v1/events", json={"events": MIXED + pad})
    assert r.status_code == 200
    tail = b"".join(
        b',{"index":%d,"id":"p-%d","status":"accepted","lead_id":1}' % (len(MIXED) + i, i)
        for i in range(20)
    )
    head = MIXED_ANSWER.replace(b'"accepted":4,', b'"accepted":24,')
    assert r.content == head[: -len(b"]}")] + tail + b"]}"


def test_single_events_are_answered_with_these_exact_bytes(api: Api) -> None:
    _prepare(api)
    ok = api.post("/api/v1/events", json={"id": "s-1", "email": "ann@acme.com", "type": "x"})
    assert ok.content == (
        b'{"accepted":1,"duplicate":0,"rejected":0,"items":'
        b'[{"index":0,"id":"s-1","status":"accepted","lead_id":1}]}'
    )
    bad = api.post("/api/v1/events", json={"id": "s-2", "email": "ann@", "type": "x"})
    assert bad.status_code == 200
    assert bad.content == (
        b'{"accepted":0,"duplicate":0,"rejected":1,"items":[{"index":0,"id":"s-2",'
        b'"status":"rejected","error":"email: \'ann@\' is not a valid address (There must be '
        b'something after the @-sign.)","pointer":"#/email"}]}'
    )
    erased = api.post("/api/v1/events", json={"id": "s-3", "email": "bob@acme.com", "type": "x"})
    assert erased.content == (
        b'{"accepted":0,"duplicate":0,"rejected":1,"items":[{"index":0,"id":"s-3",'
        b'"status":"rejected","error":"email: suppressed: this person asked to be erased; '
        b'record their consent (`leadgate person consent EMAIL`) before adding them again"}]}'
    )
    dup = api.post("/api/v1/events", json={"id": "s-1", "lead_id": 1, "type": "x"})
    assert dup.content == (
        b'{"accepted":0,"duplicate":1,"rejected":0,"items":'
        b'[{"index":0,"id":"s-1","status":"duplicate","lead_id":1}]}'
    )


def test_a_lead_id_key_written_with_escapes_is_still_a_lead_id(api: Api) -> None:
    # The key's letters as JSON escapes: the body holds no `lead_id` as written.
    _prepare(api)
    body = (
        b'{"events":[{"id":"esc-1","\\u006cead_id":1,"type":"page_view"},'
        b'{"id":"esc-2","\\u006cead_id":1,"email":"cat@acme.com","type":"page_view"},'
        b'{"id":"esc-3","email":"ann@acme.com","type":"x","properties":{"note":"lead id"}}]}'
    )
    assert b"lead_id" not in body
    r = api.post("/api/v1/events", content=body, headers={"Content-Type": "application/json"})
    assert r.content == (
        b'{"accepted":2,"duplicate":0,"rejected":1,"items":['
        b'{"index":0,"id":"esc-1","status":"accepted","lead_id":1},'
        b'{"index":1,"id":"esc-2","status":"rejected","error":"lead_id: lead 1 does not have '
        b'this email","pointer":"#/events/1/lead_id"},'
        b'{"index":2,"id":"esc-3","status":"accepted","lead_id":1}]}'
    )


def test_a_lead_id_in_a_property_value_changes_nothing(api: Api) -> None:
    _prepare(api)
    events = [{"id": "v-1", "email": "cat@acme.com", "type": "x", "properties": {"lead_id": 1}}]
    r = api.post("/api/v1/events", json={"events": events})
    assert r.content == (
        b'{"accepted":1,"duplicate":0,"rejected":0,"items":'
        b'[{"index":0,"id":"v-1","status":"accepted","lead_id":2}]}'
    )
