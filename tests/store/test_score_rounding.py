"""`round2` is `round(x, 2)` for every float: the score column the writer saves is the
same whichever path computed it."""

from __future__ import annotations

import math

from hypothesis import example, given
from hypothesis import strategies as st

from leadgate.scoring.cents import round2


def _same(x: float) -> None:
    got, want = round2(x), round(x, 2)
    assert got == want or (math.isnan(got) and math.isnan(want)), x
    assert math.copysign(1.0, got) == math.copysign(1.0, want), x  # -0.0 stays -0.0


@given(st.floats(allow_nan=True, allow_infinity=True))
@example(-0.0)
@example(0.0)
@example(-0.004)
@example(0.005)
@example(2.675)  # 2.67499999... as a double: rounds down
@example(1e9)
@example(-1e9)
@example(999_999_999.995)
@example(0.1 + 0.2)
def test_any_float(x: float) -> None:
    _same(x)


@given(st.integers(-(10**9), 10**9), st.integers(-(10**6), 10**6))
def test_sums_of_cents(a: int, b: int) -> None:
    # A score is fit + engagement, each mostly a number of cents already.
    _same(a / 100 + b / 100)
    _same(a / 100 + b / 1000)


@given(st.integers(-(10**11), 10**11))
def test_cents_and_their_neighbours(k: int) -> None:
    x = k / 100
    _same(x)
    _same(math.nextafter(x, math.inf))
    _same(math.nextafter(x, -math.inf))
    _same(k / 1000 + 0.0005)
