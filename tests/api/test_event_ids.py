"""An event's `id` is text (a number is read as its decimal text): an object, an array or
a boolean is rejected by item, naming `id`, and its neighbours land. Such ids used to be
stored as Python's rendering of the value ("{'a': 1}", "True")."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Api

V1 = "/api/v1"


@pytest.mark.parametrize("bad", [{"a": 1}, [1], True, False])
def test_an_id_that_is_not_text_or_a_number_is_rejected_by_item(api: Api, bad: Any) -> None:
    events = [
        {"id": "ok-1", "email": "ann@acme.com", "type": "page_view"},
        {"id": bad, "email": "ann@acme.com", "type": "webinar_attended"},
        {"id": 12, "email": "ann@acme.com", "type": "page_view"},
    ]
    out = api.post(f"{V1}/events", json={"events": events}).json()
    assert [x["status"] for x in out["items"]] == ["accepted", "rejected", "accepted"]
    assert out["items"][1]["pointer"] == "#/events/1/id"
    assert out["items"][2]["id"] == "12"
    (lead,) = api.get(f"{V1}/leads").json()["items"]
    shown = api.get(f"{V1}/leads/{lead['id']}").json()
    assert sorted(e["id"] for e in shown["recent_events"]) == ["12", "ok-1"]
