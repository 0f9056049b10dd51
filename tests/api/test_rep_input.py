"""A rep's schedule over POST /api/v1/reps: a time zone that is not one (a region folder
such as `Europe`, a name too long for a file name) and a capacity no store column holds
are 422 naming the field, not a 500."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Api

V1 = "/api/v1"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"timezone": "Europe"}, "timezone"),
        ({"timezone": "A" * 300}, "timezone"),
        ({"capacity": 2**31}, "capacity"),
        ({"capacity": 2**63}, "capacity"),
    ],
)
def test_a_bad_schedule_is_refused_by_name(api: Api, extra: dict[str, Any], field: str) -> None:
    r = api.post(f"{V1}/reps", json={"name": "pat", "role": "bdr", **extra})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"].startswith(field), r.text
    assert api.get(f"{V1}/reps").json() == []


def test_a_rep_with_the_largest_capacity_is_added(api: Api) -> None:
    r = api.post(f"{V1}/reps", json={"name": "pat", "role": "bdr", "capacity": 2**31 - 1})
    assert r.status_code == 201, r.text
