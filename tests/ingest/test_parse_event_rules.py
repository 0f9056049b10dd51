"""parse_event's rules, each pinned (error field and words, the value kept): the function
runs for every event of every batch and is tuned for it (issue 17), so a short path
taken for the common case must decide exactly as the long one."""

from __future__ import annotations

from typing import Any

import pytest

from leadgate.ingest.validate import EventIn, InputError, derive_event_id, parse_event

NOW = 1_780_000_000.0
BASE = {"email": "ann@acme.com", "type": "page_view"}
FULL = {**BASE, "id": "e-1", "occurred_at": "2026-05-01T08:00:00Z", "properties": {"a": 1}}
UNKNOWN = "unknown field (expected id, email, type, occurred_at, properties)"


def _error(data: Any) -> tuple[str, str]:
    with pytest.raises(InputError) as exc:
        parse_event(data, NOW)
    return exc.value.field, exc.value.message


@pytest.mark.parametrize(
    ("event", "field", "message"),
    [
        ("x", "event", "must be a JSON object"),
        ({**BASE, "zz": 1, "aa": 2}, "aa", "unknown field (expected id, email, type, "
         "occurred_at, properties)"),
        # Five keys, one unknown in place of a known one; six, one unknown.
        ({**FULL, "id": None, "extra": 1}, "extra", UNKNOWN),
        ({k: v for k, v in FULL.items() if k != "id"} | {"extra": 1}, "extra", UNKNOWN),
        ({**FULL, "extra": 1}, "extra", UNKNOWN),
        ({**FULL, "Email": "x"}, "Email", UNKNOWN),
        ({"type": "x"}, "email", "missing"),
        ({"email": None, "type": "x"}, "email", "missing"),
        ({"email": 7, "type": "x"}, "email", "missing"),
        ({"email": "", "type": "x"}, "email", "missing"),
        ({"email": " \t\u00a0", "type": "x"}, "email", "missing"),
        ({"email": "ann@"}, "email", "'ann@' is not a valid address (There must be "
         "something after the @-sign.)"),
        ({"email": "ann@acme.com"}, "type", "missing"),
        ({"email": "ann@acme.com", "type": 5}, "type", "missing"),
        ({"email": "ann@acme.com", "type": " \n "}, "type", "missing"),
        ({"email": "ann@acme.com", "type": "x" * 101}, "type", "longer than 100 characters"),
        ({"email": "ann@acme.com", "type": "a\x00"}, "type", "contains a NUL character"),
        ({"email": "ann@acme.com", "type": " manual_adjustment "}, "type",
         "'manual_adjustment' is reserved: use `leadgate lead adjust`"),
        ({**BASE, "properties": [1]}, "properties", "must be a JSON object"),
        ({**BASE, "properties": {"a": "\x00"}}, "properties", "contains a NUL character"),
        ({**BASE, "id": True}, "id", "must be text (or a number)"),
        ({**BASE, "id": False}, "id", "must be text (or a number)"),
        ({**BASE, "id": [1]}, "id", "must be text (or a number)"),
        ({**BASE, "id": {"a": 1}}, "id", "must be text (or a number)"),
        ({**BASE, "id": "x" * 201}, "id", "longer than 200 characters"),
        ({**BASE, "id": 10**201}, "id", "longer than 200 characters"),
        ({**BASE, "id": "a\x00"}, "id", "contains a NUL character"),
        ({**BASE, "occurred_at": "1969-12-31T23:59:59Z"}, "occurred_at",
         "1969-12-31T23:59:59Z is before 1970-01-01"),
        ({**BASE, "occurred_at": -1}, "occurred_at", "1969-12-31T23:59:59Z is before 1970-01-01"),
        ({**BASE, "occurred_at": "2026-05-01T10:00:00+05:60"}, "occurred_at",
         "'2026-05-01T10:00:00+05:60' has a UTC offset out of range (from -23:59 to +23:59, "
         "e.g. +02:00)"),
        ({**BASE, "occurred_at": "2026-05-01T10:00:00+00:60"}, "occurred_at",
         "'2026-05-01T10:00:00+00:60' has a UTC offset out of range (from -23:59 to +23:59, "
         "e.g. +02:00)"),
        ({**BASE, "occurred_at": "2026-05-01T10:00:00-0075"}, "occurred_at",
         "'2026-05-01T10:00:00-0075' has a UTC offset out of range (from -23:59 to +23:59, "
         "e.g. +02:00)"),
        ({**BASE, "id": "ok", "occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at",
         "2999-01-01T00:00:00Z is in the future (now is 2026-05-28T20:26:40Z); check the "
         "clock or time zone"),
    ],
)  # fmt: skip
def test_each_rule_names_its_field_in_these_words(event: Any, field: str, message: str) -> None:
    assert _error(event) == (field, message)


class Text(str):
    """A str subclass, as a caller other than orjson may hand over."""


@pytest.mark.parametrize(
    ("given", "kept"),
    [("ev-1", "ev-1"), (12, "12"), (12.5, "12.5"), (-3, "-3"), (Text("t-1"), "t-1"),
     ("x" * 200, "x" * 200)],
)  # fmt: skip
def test_an_id_is_kept_as_its_text(given: Any, kept: str) -> None:
    ev = parse_event({**BASE, "id": given}, NOW)
    assert ev.id == kept and ev.id.__class__ is str


@pytest.mark.parametrize("blank", [None, "", Text("")])
def test_a_missing_or_empty_id_is_derived_from_the_content(blank: Any) -> None:
    props = {"b": 1, "a": [1, 2]}
    data = {**BASE, "properties": props}
    if blank is not None:
        data["id"] = blank
    ev = parse_event(data, NOW)
    assert ev.id == derive_event_id("ann@acme.com", "page_view", NOW, '{"a":[1,2],"b":1}')
    timed = parse_event({**data, "occurred_at": "2026-05-01T10:00:00+02:00"}, NOW)
    assert timed.id == derive_event_id(
        "ann@acme.com", "page_view", "2026-05-01T10:00:00+02:00", '{"a":[1,2],"b":1}'
    )
    assert timed.at == 1_777_622_400.0


@pytest.mark.parametrize(
    "given",
    ["2026-05-01T08:00:00Z", "2026-05-01T08:00:00+00:00", "2026-05-01T08:00:00-00:00",
     "2026-05-01T08:00:00+0000", "2026-05-01T10:00:00+02:00", "2026-05-01T03:00:00-05:00",
     "2026-05-01T10:00:00+0200", "2026-05-01T08:00:00"],
)  # fmt: skip
def test_a_time_with_its_offset_is_that_instant(given: str) -> None:
    assert parse_event({**BASE, "occurred_at": given}, NOW).at == 1_777_622_400.0


@pytest.mark.parametrize(
    "event",
    [FULL, {**FULL, "lead_id": 1}, {**FULL, "id": None}, {**FULL, "properties": None},
     {**FULL, "occurred_at": None}, BASE],
)  # fmt: skip
def test_only_known_keys_pass_whatever_their_number(event: dict[str, Any]) -> None:
    assert parse_event(event, NOW).email == "ann@acme.com"


def test_an_empty_occurred_at_is_the_receipt_time() -> None:
    assert parse_event({**BASE, "occurred_at": ""}, NOW).at == NOW
    assert parse_event({**BASE, "occurred_at": None}, NOW).at == NOW


def test_the_event_holds_exactly_what_was_validated() -> None:
    got = parse_event(
        {
            "id": "e-1",
            "email": " Ann@ACME.com ",
            "type": " page_view ",
            "occurred_at": "2026-05-28T10:00:00Z",
            "properties": {"z": 1, "a": None},
        },
        NOW,
    )
    want = EventIn(
        "e-1", "ann@acme.com", "page_view", 1_779_962_400.0, {"z": 1, "a": None}, '{"a":null,"z":1}'
    )
    assert got == want
    assert [getattr(got, f) for f in got.__slots__] == [getattr(want, f) for f in want.__slots__]
