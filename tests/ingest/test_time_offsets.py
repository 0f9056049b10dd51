"""A time whose UTC offset no clock has (`2026-01-01T10:00:00+25:00`) was refused as
"is not a time this store can hold", which sends a user looking at the date and the
year; the error now names the field and says the offset is out of range. The same for
the loose forms a CRM export writes (`+2500`) and a day-first CSV column."""

from __future__ import annotations

import pytest

from leadgate.ingest.formats import ColumnFormat, parse_date
from leadgate.ingest.validate import InputError, parse_event, parse_time

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-01T10:00:00+25:00",
        "2026-01-01T10:00:00-25:00",
        "2026-01-01T10:00:00+24:00",
        "2026-01-01T10:00:00+99:99",
        "2026-01-01 10:00:00 +2500",
        "Jan 1 2026 10:00 +2500",
        # Minutes past 59: Python would read +05:60 as +06:00, a guess.
        "2026-01-01T10:00:00+05:60",
        "2026-01-01T10:00:00-00:75",
        "2026-01-01 10:00:00 +0560",
        "2026-01-01T10:00:00+0560",
        "Jan 1 2026 10:00 -0099",
    ],
)
def test_an_offset_out_of_range_is_named(text: str) -> None:
    with pytest.raises(InputError) as err:
        parse_time(text, "occurred_at", NOW)
    assert err.value.field == "occurred_at"
    assert "offset out of range" in err.value.message, err.value.message
    with pytest.raises(InputError) as err:
        parse_event({"email": "a@acme.com", "type": "x", "occurred_at": text}, NOW)
    assert err.value.field == "occurred_at" and "offset" in err.value.message


def test_a_day_first_csv_date_with_an_impossible_offset_is_named() -> None:
    fmt = ColumnFormat("Created", "created_at", "date", date_order="dmy", why="test")
    with pytest.raises(InputError) as err:
        parse_date("03/04/2026 10:00 +2500", fmt, NOW)
    assert err.value.field == "created_at" and "offset out of range" in err.value.message


@pytest.mark.parametrize(
    ("text", "ts"),
    [
        ("2026-01-01T10:00:00+23:59", 1_767_175_260.0),
        ("2026-01-01T10:00:00-23:59", 1_767_347_940.0),
        ("2026-01-01 10:00:00 +0530", 1_767_241_800.0),
        ("2026-01-01T10:00:00+05:59", 1_767_240_060.0),
        ("2026-01-01T10:00:00Z", 1_767_261_600.0),
        ("2026-01-01T10:00:00+05:30:00", 1_767_241_800.0),
    ],
)
def test_the_widest_real_offsets_still_read(text: str, ts: float) -> None:
    assert parse_time(text, "occurred_at", NOW) == ts
