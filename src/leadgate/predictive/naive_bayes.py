"""The Odoo-style naive Bayes baseline (``crm.lead.scoring.frequency``), re-implemented.

What Odoo does (see /work/shared/BASELINE-ODOO-NB.md, and ``_pls_get_naive_bayes_probabilities``
in Odoo's ``addons/crm``):

- a frequency table with one row per (team, field, value as text) holding a won count and a
  lost count, each starting at 0.1 (so a row's count is ``n + 0.1``);
- the first-stage row holds all closed leads of the team and gives the prior
  ``p_won = won / (won + lost)`` (no probability when either count is 0); the data sets here
  have no stage field, so the prior row is the team's closed leads with the same 0.1 start;
- ``S_won = p_won · Π won(value) / Σ won(field)`` and likewise for lost, over the lead's
  (field, value) pairs that have a row; values never seen contribute nothing;
- probability ``= 100 · S_won / (S_won + S_lost)``, rounded to 2 decimals and kept within
  [0.01, 99.99] (as Odoo does);
- empty values are skipped (``empty="skip"``, Odoo's behaviour) — or, as a variant, counted
  as a value of their own (``empty="value"``);
- tag-like multi-valued fields give one row per tag and a tag row with fewer than 50 closed
  leads is ignored;
- a lead whose team has no rows is scored with all teams pooled.

Numbers are categories in Odoo; here a numeric column with at most ``max_distinct`` distinct
values keeps each value as a category and any other numeric column is cut into ``bins``
training quantiles. The product is computed as a sum of logarithms (same result, no
underflow with many fields). Live increments and decrements (counts reset to 0.1 when they
would drop to 0) do not apply to a batch rebuild and are not modelled.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from leadgate.predictive.dataset import ColumnKind, coerce_features

EMPTY = "(empty)"
POOLED = "(all teams)"
START = 0.1

Counts = dict[str, list[float]]  # value -> [won, lost]


@dataclass
class OdooNaiveBayes:
    """Odoo's predictive lead scoring as a model with ``fit``/``predict_proba``."""

    kinds: dict[str, ColumnKind]
    empty: Literal["skip", "value"] = "skip"
    bins: int = 5
    max_distinct: int = 10
    team_column: str | None = None
    tag_columns: tuple[str, ...] = ()
    tag_separator: str = ";"
    min_tag_leads: int = 50
    kind: str = "naive_bayes"
    edges: dict[str, np.ndarray | None] = field(default_factory=dict)
    #: team -> field -> value -> [won, lost]; POOLED holds every team summed.
    table: dict[str, dict[str, Counts]] = field(default_factory=dict)
    #: team -> [won, lost] of the prior ("first stage") row.
    priors: dict[str, list[float]] = field(default_factory=dict)

    @property
    def variant(self) -> str:
        """A one-line description of the variant, for reports."""
        empty = "empty skipped (Odoo)" if self.empty == "skip" else "empty as a value"
        return (
            f"Odoo naive Bayes, {empty}, numeric: {self.bins} quantile bins "
            f"(<= {self.max_distinct} distinct values kept as categories)"
        )

    @property
    def fields(self) -> list[str]:
        """The fields (columns) used, the team column excluded."""
        return [c for c in self.kinds if c != self.team_column]

    # -- values as text --------------------------------------------------------------------

    def _fit_edges(self, X: pd.DataFrame) -> None:
        for col in self.fields:
            if self.kinds[col] != "numeric":
                continue
            v = X[col].to_numpy(dtype=float)
            v = v[~np.isnan(v)]
            if v.size == 0 or np.unique(v).size <= self.max_distinct:
                self.edges[col] = None
            else:
                qs = np.quantile(v, np.linspace(0, 1, self.bins + 1)[1:-1])
                self.edges[col] = np.unique(qs)

    def _texts(self, col: str, s: pd.Series) -> pd.Series:
        """Each row's value for one single-valued field as text; None when empty and
        skipped (``EMPTY`` when empty counts as a value)."""
        fill = EMPTY if self.empty == "value" else None
        if self.kinds[col] == "numeric":
            v = s.to_numpy(dtype=float)
            miss = np.isnan(v)
            edges = self.edges.get(col)
            if edges is None:
                uniq = np.unique(v[~miss])
                names = {x: f"{x:g}" for x in uniq.tolist()}
                out = pd.Series(v).map(names)
            else:
                idx = np.searchsorted(edges, v, side="right") + 1
                out = pd.Series("q" + pd.Series(idx).astype(str).to_numpy(dtype=object))
            out = out.astype(object)
            out[miss] = fill
            return out
        t = pd.Series(s.to_numpy(dtype=object)).astype(object)
        empty = t.isna() | (t.astype(str) == "")
        t = t.astype(str).astype(object)
        t[empty.to_numpy()] = fill
        return t

    def _values(self, col: str, s: pd.Series) -> list[list[str]]:
        """Each row's values for one field as lists (several for a tag field)."""
        if col not in self.tag_columns:
            return [[] if v is None else [v] for v in self._texts(col, s)]
        out: list[list[str]] = []
        for x in s.to_numpy(dtype=object):
            if x is None or (isinstance(x, float) and math.isnan(x)) or str(x) == "":
                out.append([EMPTY] if self.empty == "value" else [])
            else:
                out.append(sorted({t.strip() for t in str(x).split(self.tag_separator)} - {""}))
        return out

    def _teams(self, X: pd.DataFrame) -> list[str]:
        if self.team_column is None:
            return [""] * len(X)
        return ["" if t is None else str(t) for t in X[self.team_column].to_numpy(dtype=object)]

    # -- fit / predict ---------------------------------------------------------------------

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> OdooNaiveBayes:
        """Rebuild the frequency table from closed leads (``y``: 1 won, 0 lost)."""
        X = coerce_features(X, self.kinds)
        y = np.asarray(y, dtype=int)
        self._fit_edges(X)
        teams = self._teams(X)
        raw: dict[str, dict[str, dict[str, list[int]]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(lambda: [0, 0]))
        )
        prior_raw: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for t, won in zip(teams, y, strict=True):
            prior_raw[t][0 if won else 1] += 1
        for col in self.fields:
            if col in self.tag_columns:
                for t, vals, won in zip(teams, self._values(col, X[col]), y, strict=True):
                    for v in vals:
                        raw[t][col][v][0 if won else 1] += 1
                continue
            frame = pd.DataFrame({"t": teams, "v": self._texts(col, X[col]), "y": y})
            grouped = frame.dropna(subset=["v"]).groupby(["t", "v"], sort=True)["y"]
            for (t, v), (won_n, n_rows) in grouped.agg(["sum", "count"]).iterrows():
                raw[t][col][v] = [int(won_n), int(n_rows - won_n)]
        # Odoo: every row starts at 0.1; the pooled table sums the teams' rows.
        table: dict[str, dict[str, Counts]] = {}
        pooled: dict[str, Counts] = defaultdict(dict)
        for t, fields in raw.items():
            table[t] = {}
            for col, values in fields.items():
                rows = {v: [w + START, lo + START] for v, (w, lo) in values.items()}
                if col in self.tag_columns:
                    rows = {v: c for v, c in rows.items() if c[0] + c[1] >= self.min_tag_leads}
                table[t][col] = rows
                for v, (w, lo) in rows.items():
                    acc = pooled[col].setdefault(v, [0.0, 0.0])
                    acc[0] += w
                    acc[1] += lo
        self.priors = {t: [w + START, lo + START] for t, (w, lo) in prior_raw.items()}
        self.priors[POOLED] = [
            sum(p[0] for p in self.priors.values()),
            sum(p[1] for p in self.priors.values()),
        ]
        table[POOLED] = dict(pooled)
        self.table = table
        return self

    def predict_percent(self, X: pd.DataFrame) -> np.ndarray:
        """Odoo's probability in percent (2 decimals, within [0.01, 99.99]); NaN where Odoo
        gives none (the team's won or lost count is 0)."""
        X = coerce_features(X, self.kinds)
        n = len(X)
        teams = [t if t in self.table and t != POOLED else POOLED for t in self._teams(X)]
        if self.team_column is None:
            teams = ["" if "" in self.table else POOLED] * n
        log_won = np.zeros(n)
        log_lost = np.zeros(n)
        valid = np.ones(n, dtype=bool)
        team_arr = np.array(teams, dtype=object)
        for t in set(teams):
            rows = np.flatnonzero(team_arr == t)
            won, lost = self.priors.get(t, [0.0, 0.0])
            if won <= 0 or lost <= 0:
                valid[rows] = False
                continue
            log_won[rows] += math.log(won / (won + lost))
            log_lost[rows] += math.log(lost / (won + lost))
            tab = self.table[t]
            for col in self.fields:
                freq = tab.get(col)
                if not freq:
                    continue
                total_won = sum(c[0] for c in freq.values())
                total_lost = sum(c[1] for c in freq.values())
                if total_won <= 0 or total_lost <= 0:
                    continue
                lw = {v: math.log(c[0] / total_won) for v, c in freq.items()}
                ll = {v: math.log(c[1] / total_lost) for v, c in freq.items()}
                part = X[col].iloc[rows]
                if col in self.tag_columns:
                    values = self._values(col, part)
                    log_won[rows] += [sum(lw.get(v, 0.0) for v in vs) for vs in values]
                    log_lost[rows] += [sum(ll.get(v, 0.0) for v in vs) for vs in values]
                else:
                    texts = self._texts(col, part)
                    log_won[rows] += texts.map(lw).fillna(0.0).to_numpy(dtype=float)
                    log_lost[rows] += texts.map(ll).fillna(0.0).to_numpy(dtype=float)
        diff = np.clip(log_lost - log_won, -700, 700)
        p = 1.0 / (1.0 + np.exp(diff))
        pct = np.clip(np.round(100 * p, 2), 0.01, 99.99)
        pct[~valid] = np.nan
        return np.asarray(pct)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Odoo's probability as a 0-1 number (0.5 where Odoo gives none)."""
        pct = self.predict_percent(X)
        return np.asarray(np.where(np.isnan(pct), 50.0, pct) / 100.0)

    def describe(self) -> dict[str, Any]:
        """Variant and table size, for model cards and reports."""
        return {
            "variant": self.variant,
            "fields": self.fields,
            "rows": sum(len(v) for t, f in self.table.items() if t != POOLED for v in f.values()),
        }
