"""Charts as PNG or SVG files, drawn by matplotlib's Agg backend (no browser, no display)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

if TYPE_CHECKING:
    from leadgate.analytics.reports import Report

FORMATS = (".png", ".svg")


def save_chart(report: Report, path: str | Path) -> Path:
    """Draw a report (its chart_x against its chart_y columns) into a .png or .svg file."""
    out = Path(path)
    if out.suffix.lower() not in FORMATS:
        raise ValueError(f"chart file must end in .png or .svg, got '{out.name}'")
    recs = report.records()
    labels = [str(r[report.chart_x]) for r in recs]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(labels) + 2), 4.0), dpi=110)
    try:
        ys = report.chart_y or [c for c in report.columns if c != report.chart_x][:1]
        x = list(range(len(labels)))
        width = 0.8 / max(1, len(ys))
        for i, col in enumerate(ys):
            vals = [float(r[col]) if r[col] is not None else 0.0 for r in recs]
            if report.chart_kind == "line":
                ax.plot(x, vals, marker="o", label=col)
            else:
                ax.bar([v + (i - (len(ys) - 1) / 2) * width for v in x], vals, width, label=col)
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=45 if len(labels) > 6 else 0, ha="right")
        ax.set_title(report.title)
        ax.grid(axis="y", alpha=0.3)
        if len(ys) > 1 or report.chart_kind == "line":
            ax.legend()
        fig.tight_layout()
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format=out.suffix[1:].lower())
    finally:
        plt.close(fig)
    return out
