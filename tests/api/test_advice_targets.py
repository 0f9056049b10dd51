"""GET /reports/advice?mqls_per_month=inf answered 200 with the target shown as null (a
target no threshold meets), and `nan` was refused as "should be greater than 0": both are
a 422 problem naming the parameter and saying it must be finite."""

from __future__ import annotations

import pytest

from .conftest import Api


@pytest.mark.parametrize("field", ["mqls_per_month", "min_sql_rate"])
@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "Infinity", "1e999"])
def test_a_non_finite_target_is_a_422_naming_it(api: Api, field: str, value: str) -> None:
    r = api.get("/api/v1/reports/advice", params={field: value})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["errors"][0]["parameter"] == field
    assert "finite" in problem["detail"], problem


def test_a_finite_target_is_answered(api: Api) -> None:
    r = api.get("/api/v1/reports/advice", params={"mqls_per_month": "120"})
    assert r.status_code == 200, r.text
    assert r.json()["advice"]["target"] == {"mqls_per_month": 120.0}
