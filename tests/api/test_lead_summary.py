"""One lead summary row (leadgate.engine.summary) for the API's `GET /v1/leads` items and
the web app's Leads list: the API's keys stay exactly its contract, and both lists show
the same values for the same lead, on SQLite and PostgreSQL."""

from __future__ import annotations

from leadgate.engine.listing import LeadQuery, iter_pages

from .conftest import Api

V1 = "/api/v1"
# The public contract of a `GET /v1/leads` item (docs/api.md): extend, never rename or drop.
API_ITEM_KEYS = [
    "id", "email", "stage", "fit", "engagement", "score", "fit_grade", "engagement_grade",
    "grade", "owner", "stage_since", "created_at", "updated_at",
]  # fmt: skip
WEB_EXTRA_KEYS = ["first_name", "last_name", "company", "source", "predicted", "attributes"]


def test_api_items_and_web_rows_are_one_summary(api: Api) -> None:
    for i in range(4):
        attrs = {"first_name": f"Ann{i}", "company": "Acme", "source": "web", "predicted": 0.3}
        assert api.post(f"{V1}/leads", json={"email": f"s{i}@acme.io", **attrs}).status_code == 201
    api.post(f"{V1}/events", json={"events": [{"email": "s1@acme.io", "type": "demo_request"}]})
    items = api.get(f"{V1}/leads", params={"limit": 500}).json()["items"]
    assert len(items) == 4
    for item in items:
        assert list(item) == API_ITEM_KEYS
        assert item["stage_since"].endswith("Z") and item["created_at"].endswith("Z")
    rows = [r for page in iter_pages(api.engine, LeadQuery()) for r in page]
    assert [list(r) for r in rows] == [API_ITEM_KEYS + WEB_EXTRA_KEYS] * 4
    assert [{k: r[k] for k in API_ITEM_KEYS} for r in rows] == items
    assert {r["first_name"] for r in rows} == {f"Ann{i}" for i in range(4)}
    assert {(r["source"], r["predicted"], r["company"]) for r in rows} == {("web", 0.3, "Acme")}
