"""Validation of one event or one lead, shared by the CLI, the file importers and HTTP.

Every error names the field, so a rejected line can say exactly what to fix.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from leadgate.leads.record import normalize_email
from leadgate.scoring.engagement import ADJUSTMENT

MAX_PROPERTIES_BYTES = 64 * 1024
MAX_VALUE_CHARS = 10_000
MAX_ID_CHARS = 200
MAX_TYPE_CHARS = 100
# The allowed clock skew. Clocks disagree a little; a time that says something already
# happened (an event's occurred_at, a lead's created_at) further ahead of the server's
# clock than this is a bad timestamp. One constant for every entry point (CLI, HTTP,
# file imports); docs/api.md ("Times") quotes it.
FUTURE_SKEW_SECONDS = 300.0
# PostgreSQL keeps no NUL character in text, nor a \u0000 in JSONB (which the SQL scorer
# casts properties to): one would fail the whole batch's INSERT (SQLite would keep it).
NUL = "contains a NUL character"
# A \u0000 escape in JSON text, not a written-out backslash followed by "u0000".
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
# The earliest time accepted: 1970-01-01T00:00:00Z (epoch 0).
MIN_TIME = 0.0
# The latest time any reader can print (9999-12-31T23:59:59Z, Python's datetime limit;
# DuckDB's is later). A stored time beyond it is a damaged row, shown as null.
MAX_READABLE_TIME = 253_402_300_799.0


class InputError(ValueError):
    """Bad input, naming the field."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(slots=True)
class EventIn:
    """A validated incoming event."""

    id: str
    email: str
    type: str
    at: float
    properties: dict[str, Any] = field(default_factory=dict)
    properties_json: str = "{}"


# The plain dot-atom local parts nearly every address has; anything else goes to the library.
_SIMPLE_LOCAL = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


# A plain ASCII host name: lower-case letters, digits and inner hyphens, labels of 1-63
# characters, at least two labels, the last ending in a letter, at most 252 characters
# ("x@" + it fits email-validator's 254), no "--" anywhere (that takes out the "xn--"
# Punycode and the reserved "ab--" labels).
_PLAIN_DOMAIN = re.compile(
    r"(?!.*--)(?=.{1,252}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z0-9][a-z0-9-]{0,61})?[a-z]"
)


def _plain_domain(domain: str) -> bool:
    """Whether email-validator is sure to accept `x@domain`, decided without it: a plain
    ASCII host name (above) that is not a special-use name (its own list: "test",
    "localhost", "arpa"...). Anything else goes to the library. The check costs ~0.3 ms a
    domain and a batch from new companies brings a new domain per lead (issue 17);
    tests/ingest/test_email_domains.py holds this to the library's verdict."""
    if _PLAIN_DOMAIN.fullmatch(domain) is None:
        return False
    from email_validator import SPECIAL_USE_DOMAIN_NAMES

    return not any(domain == d or domain.endswith("." + d) for d in SPECIAL_USE_DOMAIN_NAMES)


@lru_cache(maxsize=65_536)
def _domain_of(domain: str) -> str | None:
    """The domain as email-validator normalises it (UTS-46: `xn--bcher-kva.de` and
    `BÜCHER.de` are `bücher.de`), or None when it refuses it."""
    # email-validator is imported on the first address checked: its tables cost tens of
    # milliseconds, and `lead show` of a stored address checks none (issue 17).
    if _plain_domain(domain):
        return domain
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(f"x@{domain}", check_deliverability=False).domain
    except EmailNotValidError:
        return None


def text_ok(value: str, field: str) -> str:
    """Refuse text no store can hold (NUL: PostgreSQL's text refuses it; lone surrogates:
    not UTF-8)."""
    if "\x00" in value:
        raise InputError(field, "contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(field, "is not valid Unicode text") from None
    return value


@lru_cache(maxsize=262_144)
def check_email(raw: str) -> str:
    """A syntactically valid email, normalised: the one spelling of its address every way
    in stores and looks up (trimmed, lower-cased, NFC: `normalize_email`; the domain as
    email-validator normalises it). Raises InputError.

    email-validator decides; its verdict on a domain is cached, since a domain repeats
    across thousands of leads and the full check costs ~70 µs. An address the fast path
    does not take is spelled as the library normalises it: its domain by UTS-46 (so
    `x@xn--bcher-kva.de` and `x@BÜCHER.de` are `x@bücher.de`), its local part in NFC.
    """
    email = normalize_email(raw)
    if not email:
        raise InputError("email", "missing")
    local, at, domain = email.rpartition("@")
    if at and len(local) <= 64 and _SIMPLE_LOCAL.fullmatch(local):
        spelled = _domain_of(domain)
        if spelled is not None:
            return email if spelled == domain else f"{local}@{spelled}"
    from email_validator import EmailNotValidError, validate_email

    try:
        checked = validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InputError("email", f"'{raw.strip()}' is not a valid address ({exc})") from None
    return normalize_email(checked.normalized)


def parse_time(value: Any, field: str, now: float) -> float:
    """ISO 8601 (or an epoch number) to epoch seconds; naive times are UTC; not in the future."""
    if value.__class__ is str:
        # The common case, an ISO 8601 string with a zone: no stripping, no fallbacks.
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            tz = dt.tzinfo
            if tz is not None:
                # `_minutes_over`, its common `+HH:MM` case inline (this runs per event);
                # not asked of UTC ("Z", "+00:00": Python's one UTC object), whose offset
                # has no minutes.
                if tz is not UTC and (
                    (value[-3] == ":" and value[-6] in "+-" and value[-2] >= "6")
                    or (value[-5] in "+-" and _minutes_over(value))
                ):
                    raise InputError(field, _offset_out_of_range(value))
                ts = dt.timestamp()
                if not MIN_TIME <= ts <= now + FUTURE_SKEW_SECONDS:
                    check_time(ts, field, now)
                return ts
    if isinstance(value, bool):
        raise InputError(field, f"{value!r} is not a date")
    if isinstance(value, int | float):
        try:
            ts = float(value)
        except OverflowError:
            raise InputError(field, f"{value!r} is not a time this store can hold") from None
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            # dateutil only for what fromisoformat cannot read: every command imports
            # this module, few read a loose date (start-up time, issue 17).
            from dateutil import parser as dateparser

            try:
                dt = dateparser.isoparse(text)
            except (ValueError, OverflowError) as exc:
                # dateutil's own words for "+25:00" ("Invalid hours in time zone
                # offset"): the loose parser below would read it as +25 hours and
                # fail later with no reason given.
                if "time zone offset" in str(exc):
                    raise InputError(field, _offset_out_of_range(text)) from None
                dt = _loose_date(text, field)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        elif _minutes_over(text):
            raise InputError(field, _offset_out_of_range(text))
        check_offset(dt, field, text)
        try:
            ts = dt.timestamp()
        except (OverflowError, ValueError, OSError):
            raise InputError(field, f"'{text}' is not a time this store can hold") from None
    else:
        raise InputError(field, f"{value!r} is not a date (use ISO 8601)")
    return check_time(ts, field, now)


def _minutes_over(text: str) -> bool:
    """Whether `text` ends in a UTC offset with 60 minutes or more (`+05:60`, `-0575`):
    Python and dateutil carry them into the hours (`+05:60` is read as `+06:00`), a
    guess no clock's offset needs. Asked only of a time that has an offset."""
    if len(text) >= 6 and text[-6] in "+-" and text[-3] == ":":
        return text[-2] >= "6"
    if len(text) >= 5 and text[-5] in "+-" and text[-4:].isdigit():
        return text[-2] >= "6"
    return False


def _offset_out_of_range(text: str) -> str:
    return f"'{text}' has a UTC offset out of range (from -23:59 to +23:59, e.g. +02:00)"


def check_offset(dt: datetime, field: str, text: str) -> None:
    """InputError naming `field` when `dt`'s UTC offset is one no clock has (a loose
    parser reads "+2500" as 25 hours; only then would `timestamp()` fail, unexplained)."""
    try:
        dt.utcoffset()
    except ValueError:
        raise InputError(field, _offset_out_of_range(text)) from None


def _loose_date(text: str, field: str) -> datetime:
    """A date dateutil reads ('Dec 5, 2026 3:45 PM'), only when it names the year, the
    month and the day: dateutil fills what is missing from today, so '5' was the 5th of
    this month and '-1' the 1st, a different time on every day it was read."""
    from dateutil import parser as dateparser

    try:
        # Parsed against two defaults that differ in year, month and day: a part taken
        # from the default is one the text did not give.
        a = dateparser.parse(text, dayfirst=False, default=datetime(2000, 1, 1))
        b = dateparser.parse(text, dayfirst=False, default=datetime(2001, 2, 2))
    except (ValueError, OverflowError):
        raise InputError(field, f"'{text}' is not a date (use ISO 8601)") from None
    if (a.year, a.month, a.day) != (b.year, b.month, b.day):
        raise InputError(
            field, f"'{text}' is not a whole date: give the year, month and day (ISO 8601)"
        )
    return a


def check_time(ts: float, field: str, now: float) -> float:
    """`ts` if it lies in [1970-01-01, now + FUTURE_SKEW_SECONDS], else InputError.

    Every time that records something that happened goes through here (created_at,
    occurred_at, --at): one absurd value (say 1e17) stored once would otherwise break
    every reader that prints it.
    """
    if not math.isfinite(ts):
        raise InputError(field, f"{ts!r} is not a time")
    if ts < MIN_TIME:
        raise InputError(field, f"{_show(ts)} is before 1970-01-01")
    if ts > now + FUTURE_SKEW_SECONDS:
        raise InputError(
            field,
            f"{_show(ts)} is in the future (now is {iso(now)}); check the clock or time zone",
        )
    return ts


def _show(ts: float) -> str:
    # A time for an error message: ISO 8601 when printable, else the number itself.
    return iso(ts) or repr(ts)


def iso(ts: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC (None stays None).

    A time no calendar can print (a damaged row: NaN, 1e17, before year 1) is None too,
    so one bad row never breaks a listing: `iso(1e17) is None`.
    """
    if ts is None:
        return None
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, ValueError, OSError):
        return None


def derive_event_id(email: str, type_: str, when: Any, props_json: str) -> str:
    """An id from the content, so the same event sent twice is recognised.

    `when` is the time as given, so an event re-sent with the same explicit
    occurred_at is recognised; without one it is the receipt time, which is then the
    event's time: the same webinar reported three times, minutes apart, is three
    attendances (send an id to make retries of time-less events safe).
    """
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{email}\x1f{type_}\x1f{when}\x1f".encode())
    h.update(props_json.encode())
    return "h-" + h.hexdigest()


_EVENT_KEYS = frozenset({"id", "email", "type", "occurred_at", "properties", "lead_id"})
# What an event's id may be given as (a constant: `str | int | float` written in the
# check built a new union on every event, ~0.2 µs).
_ID_TYPES = (str, int, float)
_new_object = object.__new__


def lead_id_of(data: dict[str, Any]) -> int | None:
    """The lead id an event names (`lead_id`), when it is one a lead could have."""
    lid = data.get("lead_id")
    if isinstance(lid, int) and not isinstance(lid, bool) and 0 < lid < 2**31:
        return lid
    return None


def by_lead_id(data: dict[str, Any], emails: Mapping[int, str]) -> dict[str, Any]:
    """An event that names its lead by `lead_id` as an event of that lead's address, for
    `parse_event`: the email is filled in, or checked to be the lead's. `emails` holds
    the addresses of the leads that exist, by id. Every way in that reads `lead_id` (POST
    /events, `leadgate event ingest`) decides here.

    Example: with lead 42 at ann@acme.com, `{"lead_id": 42, "type": "page_view"}` is
    `{"email": "ann@acme.com", "type": "page_view"}`; with `"email": "bob@acme.com"` it
    is refused (InputError on `lead_id`), and so is a lead id no lead has.
    """
    lid = lead_id_of(data)
    if lid is None:
        raise InputError("lead_id", "must be a lead id (a positive integer)")
    it = dict(data)
    del it["lead_id"]
    if lid not in emails:
        raise InputError("lead_id", f"no lead {lid}")
    given = it.get("email")
    if given in (None, ""):
        it["email"] = emails[lid]
    elif not isinstance(given, str) or check_email(given) != emails[lid]:
        raise InputError("lead_id", f"lead {lid} does not have this email")
    return it


def parse_event(data: Any, now: float, allow_reserved: bool = False) -> EventIn:
    """Validate one event in the API shape {id?, email, type, occurred_at?, properties?}."""
    if not isinstance(data, dict):
        raise InputError("event", "must be a JSON object")
    raw_email = data.get("email")
    type_ = data.get("type")
    given_props = data.get("properties")
    when = data.get("occurred_at")
    ev_id = data.get("id")
    # Five keys, all five known ones given (not null): nothing unknown, decided without
    # the set `issuperset` builds from the keys (~1,000 instructions an event, issue 17).
    if (
        len(data) != 5
        or raw_email is None
        or type_ is None
        or given_props is None
        or when is None
        or ev_id is None
    ) and not _EVENT_KEYS.issuperset(data):
        unknown = set(data) - _EVENT_KEYS
        raise InputError(
            sorted(unknown)[0], "unknown field (expected id, email, type, occurred_at, properties)"
        )
    if not isinstance(raw_email, str):
        raise InputError("email", "missing")
    email = check_email(raw_email)  # a blank address: "missing" too
    if not isinstance(type_, str) or not (type_ := type_.strip()):
        raise InputError("type", "missing")
    if len(type_) > MAX_TYPE_CHARS:
        raise InputError("type", f"longer than {MAX_TYPE_CHARS} characters")
    if "\x00" in type_:
        raise InputError("type", NUL)
    if type_ == ADJUSTMENT and not allow_reserved:
        raise InputError("type", f"'{ADJUSTMENT}' is reserved: use `leadgate lead adjust`")
    props = given_props or {}
    if not isinstance(props, dict):
        raise InputError("properties", "must be a JSON object")
    try:
        props_json = orjson.dumps(props, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError as exc:
        if "Recursion limit" in str(exc):
            raise InputError("properties", "nested more than 254 levels deep") from None
        raise InputError("properties", f"not JSON: {exc}") from None
    if "\\u0000" in props_json and _NUL_ESCAPE.search(props_json):
        raise InputError("properties", NUL)
    if len(props_json) > MAX_PROPERTIES_BYTES:
        raise InputError(
            "properties",
            f"{len(props_json) / 1e6:.1f} MB is over the {MAX_PROPERTIES_BYTES // 1024} KB limit",
        )
    timeless = when is None or when == ""
    at = now if timeless else parse_time(when, "occurred_at", now)
    if ev_id.__class__ is not str or not ev_id:  # the common case, some text, skips this
        if ev_id is None or ev_id == "":
            # 34 characters, no NUL: the checks below pass.
            ev_id = derive_event_id(email, type_, at if timeless else when, props_json)
        elif isinstance(ev_id, bool) or not isinstance(ev_id, _ID_TYPES):
            raise InputError("id", "must be text (or a number)")
        else:
            ev_id = str(ev_id)
    if len(ev_id) > MAX_ID_CHARS:
        raise InputError("id", f"longer than {MAX_ID_CHARS} characters")
    if "\x00" in ev_id:
        raise InputError("id", NUL)
    # Each slot set here: `EventIn(...)` (type.__call__, then the dataclass's __init__)
    # costs ~1.7x as much, once for every event of every batch (issue 17). Every field
    # is set; tests/ingest/test_parse_event_rules.py holds it equal to `EventIn(...)`.
    ev: EventIn = _new_object(EventIn)
    ev.id = ev_id
    ev.email = email
    ev.type = type_
    ev.at = at
    ev.properties = props
    ev.properties_json = props_json
    return ev
