"""Bar charts drawn on the server as inline SVG: no chart library, no script, no style
attribute (the CSP allows none; colours come from classes in app.css).

`bars` lays out a horizontal bar chart, one group of bars per label and one bar per
series; the template `_chart.html` draws it (autoescaped, so labels from lead data stay
text). Every chart on a page sits beside a table with its numbers: the SVG is a
picture of the table, labelled as such for screen readers.

    chart = bars("stages-chart", "Leads that reached each stage",
                 ["lead", "mql"], [("reached", [120, 30])])
    # {% include "_chart.html" %} with `chart` in the context
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 640
LABEL_W = 170
VALUE_W = 70
BAR_H = 16
GAP = 10
TOP = 8


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: where it is, its series' class, and its value as text."""

    x: float
    y: float
    w: float
    h: float
    cls: str
    text: str
    text_x: float
    text_y: float


@dataclass(frozen=True, slots=True)
class Label:
    """A group's label at the left."""

    text: str
    y: float


@dataclass(slots=True)
class Chart:
    """What `_chart.html` draws."""

    id: str
    title: str
    width: int
    height: int
    bars: list[Bar] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)  # (class, series name)
    label_x: int = LABEL_W - 6  # labels end here, right-aligned


def _text(value: float, fmt: str) -> str:
    return fmt.format(value)


def bars(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    fmt: str = "{:g}",
    top: float | None = None,
) -> Chart:
    """A horizontal bar chart: for each label, one bar per series (name, values; a None
    value draws no bar). Bars scale to `top` (default: the largest value)."""
    values = [v for _, vs in series for v in vs if v is not None]
    scale_top = top if top is not None else max(values, default=0.0)
    area = WIDTH - LABEL_W - VALUE_W
    group_h = BAR_H * len(series) + GAP
    chart = Chart(chart_id, title, WIDTH, int(TOP * 2 + group_h * len(labels)))
    if len(series) > 1:
        chart.legend = [(f"s{i}", name) for i, (name, _) in enumerate(series)]
    for row, label in enumerate(labels):
        y0 = TOP + row * group_h
        chart.labels.append(Label(str(label), y0 + BAR_H * len(series) / 2 + 4))
        for i, (_, vs) in enumerate(series):
            v = vs[row] if row < len(vs) else None
            if v is None:
                continue
            w = 0.0 if scale_top <= 0 else max(0.0, min(1.0, float(v) / scale_top)) * area
            y = y0 + i * BAR_H
            chart.bars.append(
                Bar(
                    LABEL_W,
                    y + 1,
                    round(w, 1),
                    BAR_H - 2,
                    f"s{i}",
                    _text(float(v), fmt),
                    round(LABEL_W + w + 4, 1),
                    y + BAR_H - 4,
                )
            )
    return chart
