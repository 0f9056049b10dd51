"""The SVG bar chart layout (web/charts.py): bars scale to the largest value or a given
top, a missing value draws no bar, and every bar carries its number as text."""

from __future__ import annotations

from leadgate.web.base import templates
from leadgate.web.charts import LABEL_W, VALUE_W, WIDTH, bars


def test_bars_scale_to_the_largest_value() -> None:
    c = bars("c", "t", ["a", "b"], [("n", [10, 5])])
    area = WIDTH - LABEL_W - VALUE_W
    assert [b.w for b in c.bars] == [area, area / 2]
    assert [b.text for b in c.bars] == ["10", "5"] and c.legend == []
    assert all(b.x == LABEL_W for b in c.bars)


def test_rates_scale_to_one_and_none_draws_nothing() -> None:
    c = bars("c", "t", ["a", "b", "c"], [("rate", [0.5, None, 1.5])], "{:.1%}", top=1.0)
    area = WIDTH - LABEL_W - VALUE_W
    assert [b.text for b in c.bars] == ["50.0%", "150.0%"]
    assert [b.w for b in c.bars] == [area / 2, area]  # clipped at the top
    assert len(c.labels) == 3


def test_two_series_get_a_legend_and_stack_inside_each_group() -> None:
    c = bars("c", "t", ["a"], [("leads", [4]), ("MQLs", [1])])
    assert c.legend == [("s0", "leads"), ("s1", "MQLs")]
    assert [b.cls for b in c.bars] == ["s0", "s1"] and c.bars[1].y > c.bars[0].y


def test_all_zero_draws_empty_bars_not_a_division_error() -> None:
    c = bars("c", "t", ["a"], [("n", [0])])
    assert [b.w for b in c.bars] == [0.0]


def test_the_template_escapes_labels_and_has_no_style_attribute() -> None:
    c = bars("c", "<b>t</b>", ["<script>x</script>"], [("n", [1])])
    html = templates.get_template("_chart.html").render(chart=c)
    assert "<script>x" not in html and "&lt;script&gt;x" in html
    assert "&lt;b&gt;t&lt;/b&gt;" in html and "style=" not in html
    assert 'role="img"' in html and 'aria-labelledby="c-title"' in html
