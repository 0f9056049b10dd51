"""The queue's order: `rank(rows, now, limit)` describes only the first `limit` leads
(the whole team's queue holds thousands; a page shows 200) and must give exactly the
first `limit` of the full ranking, positions and reasons included."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from leadgate.sales.queue import rank

NOW = 1_780_000_000.0

_row = st.tuples(
    st.integers(1, 10_000),
    st.sampled_from(["a@x.io", "b@y.io"]),
    st.sampled_from(["mql", "sal", "sql", "sqo"]),
    st.sampled_from([None, "ana", "bo"]),
    st.sampled_from(["A1", "B2", "D4"]),
    st.sampled_from(["A", "B", "D"]),
    st.sampled_from(["1", "2", "4"]),
    st.floats(-50, 200, allow_nan=False),
    st.floats(NOW - 90 * 86400, NOW, allow_nan=False),
    st.one_of(st.none(), st.floats(NOW - 86400, NOW + 86400, allow_nan=False)),
)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(_row, max_size=40, unique_by=lambda r: r[0]), limit=st.integers(0, 45))
def test_the_first_page_is_the_head_of_the_whole_ranking(
    rows: list[tuple[object, ...]], limit: int
) -> None:
    assert rank(rows, NOW, limit) == rank(rows, NOW)[:limit]
