"""`leadgate advise-threshold --mqls-per-month inf` (or nan, or 1e999) was taken as a
target: "inf" passed "above 0" and NaN passed every check (a comparison with NaN is
false), and the advice answered for a target no threshold can meet. Refused now, exit 2,
naming the option's field."""

from __future__ import annotations

import pytest

from .test_hardening import run


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "Infinity", "1e999"])
def test_a_non_finite_mqls_per_month_is_refused(db: list[str], value: str) -> None:
    code, out, err = run("advise-threshold", "--mqls-per-month", value, *db)
    assert code == 2, (out, err)
    assert "mqls_per_month" in err and "finite" in err, err


def test_a_finite_target_still_advises(db: list[str]) -> None:
    code, out, err = run("advise-threshold", "--mqls-per-month", "120", "--json", *db)
    assert code == 0, err
    assert '"mqls_per_month": 120' in out.replace(".0", ""), out
