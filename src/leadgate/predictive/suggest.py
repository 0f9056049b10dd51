"""``leadgate suggest-points``: integer playbook points learnt from outcomes.

The rows are the store's training rows (:mod:`~leadgate.predictive.store_data`: one lead
with a known outcome, as of its cut-off). Each becomes a row of columns that map one to
one onto playbook rules:

- every rule of the active playbook: a fit rule's condition (0/1), an engagement rule's
  matching events before the cut-off, each counted as the playbook would score it then
  (decayed by its age with the playbook's half-life, the first ``max_per_lead`` only), so
  the model can re-weight (or drop) the rules a human wrote;
- every other event type the same way, capped at the 95th percentile of the leads that
  have it (at most 10): a rule of ``points`` per event with ``max_per_lead`` = the cap;
- a categorical attribute value seen in at least ``min_share`` of the rows (and 20 rows):
  ``{field: F, op: eq, value: V}``; a numeric attribute cut at its quartiles
  (``F < q1``, ``q1 <= F < q2``, ...). Bins come from counts and quantiles, never from
  outcomes, so they are learnt once on every row.

An L1 (sparse) logistic regression fits those columns; its strength is picked by ROC AUC
on the last third of the training rows (time order), preferring the sparser model within
0.005. Coefficients become points on a "20 points double the odds" scale, rounded to
integers; zeros are dropped. The proposal is the current playbook with its fit and
engagement rules replaced (grades re-cut at the top 10/30/60% of leads); the stages, MQL
rule and decay are kept, to be reviewed by a human.

The AUCs printed are out of sample: the procedure is fitted on the earliest 75% of the
rows and the integer points score the latest 25%, next to the current playbook's score at
the same leads' cut-offs. The written proposal is then refitted on every row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from leadgate.playbook.safe_yaml import parse as parse_yaml
from leadgate.predictive import metrics as mx
from leadgate.predictive.dataset import DatasetError
from leadgate.predictive.store_data import (
    ENGAGEMENT_COLUMNS,
    EVENT_PREFIX,
    read_tables,
    training_data,
)
from leadgate.predictive.store_score import playbook_scores

DAY = 86400.0
RESERVED = ("manual_adjustment",)
POINTS_PER_DOUBLING = 20.0
CS = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
MAX_CAP = 10


@dataclass
class Column:
    """One design column and the playbook rule it stands for."""

    name: str
    kind: str  # "fit" or "event"
    condition: dict[str, Any] | None = None
    event: str | None = None
    cap: int | None = None
    #: A rule of the current playbook (its YAML mapping, points left out) and its values.
    rule: dict[str, Any] | None = None
    values: np.ndarray | None = None


@dataclass
class Suggestion:
    """The proposed playbook and how it compares with the current one."""

    yaml: str
    fit_rules: list[dict[str, Any]]
    engagement_rules: list[dict[str, Any]]
    proposed: dict[str, float]
    current: dict[str, float]
    validation: str
    C: float
    rows: int
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (`suggest-points --json`)."""
        return {
            "validation": self.validation,
            "rows": self.rows,
            "C": self.C,
            "proposed": self.proposed,
            "current_playbook": self.current,
            "fit_rules": self.fit_rules,
            "engagement_rules": self.engagement_rules,
        }


def _number(v: float) -> float | int:
    r = round(float(v), 2)
    return int(r) if r == int(r) else r


def design_columns(X: pd.DataFrame, kinds: dict[str, str], min_share: float = 0.01) -> list[Column]:
    """The binned attribute columns (see the module docstring) of the rows ``X``."""
    cols: list[Column] = []
    floor = max(20, int(min_share * len(X)))
    for name, kind in kinds.items():
        if name in ENGAGEMENT_COLUMNS:
            continue
        if name.startswith(EVENT_PREFIX):
            continue  # event columns come from the events themselves (playbook_columns)
        s = X[name]
        if kind == "categorical":
            counts = s.dropna().astype(str).value_counts()
            top = sorted(
                ((v, c) for v, c in counts.items() if c >= floor), key=lambda kv: (-kv[1], kv[0])
            )
            for v, _ in top[:30]:
                cols.append(
                    Column(f"{name} is {v}", "fit", {"field": name, "op": "eq", "value": v})
                )
        else:
            v = s.to_numpy(dtype=float)
            v = v[~np.isnan(v)]
            if len(v) < floor:
                continue
            edges = sorted({_number(q) for q in np.percentile(v, [25, 50, 75])})
            bounds = [None, *edges, None]
            for lo, hi in zip(bounds, bounds[1:], strict=False):
                parts = []
                if lo is not None:
                    parts.append({"field": name, "op": "gte", "value": lo})
                if hi is not None:
                    parts.append({"field": name, "op": "lt", "value": hi})
                if not parts:
                    continue
                label = (
                    f"{name} under {hi}"
                    if lo is None
                    else f"{name} {lo} or more"
                    if hi is None
                    else f"{name} {lo} to under {hi}"
                )
                cond = parts[0] if len(parts) == 1 else {"all": parts}
                cols.append(Column(label, "fit", cond))
    return cols


def _matches(col: Column, X: pd.DataFrame) -> np.ndarray:
    """The column's values; conditions follow the playbook's semantics (text compared
    trimmed and case-folded, numbers as numbers, missing never matches)."""
    cond = col.condition or {}
    parts = cond.get("all", [cond])
    out = np.ones(len(X), dtype=bool)
    for part in parts:
        s = X[part["field"]]
        if part["op"] == "eq":
            text = s.astype(object).where(s.notna(), None)
            norm = text.map(lambda v: None if v is None else str(v).strip().casefold())
            out &= (norm == str(part["value"]).strip().casefold()).to_numpy()
        else:
            num = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
            with np.errstate(invalid="ignore"):
                hit = num >= part["value"] if part["op"] == "gte" else num < part["value"]
            out &= hit & ~np.isnan(num)
    return out.astype(float)


def design(cols: list[Column], X: pd.DataFrame) -> np.ndarray:
    """The matrix of ``cols`` over ``X`` (playbook-rule columns carry their own values,
    computed for the same rows)."""
    if not cols:
        return np.zeros((len(X), 0))
    return np.column_stack([c.values if c.values is not None else _matches(c, X) for c in cols])


def playbook_columns(
    engine: Any, doc: dict[str, Any], tables: Any, lead_ids: np.ndarray, cut: np.ndarray
) -> list[Column]:
    """The active playbook's own rules as columns, so the model can re-weight them: each
    fit rule's condition (0/1) and each engagement rule's matching events before the
    cut-off (capped at its ``max_per_lead``, else like an event type)."""
    from leadgate.playbook.conditions import compile_condition
    from leadgate.predictive.store_data import PREDICTED_ATTRIBUTE
    from leadgate.predictive.store_score import events_by_lead
    from leadgate.scoring.fit import email_domain

    pb = engine.processor().playbook
    leads = tables.leads.set_index("id")
    fields = []
    for lid in lead_ids:
        row = leads.loc[int(lid)]
        f = {k: v for k, v in row["attributes"].items() if k != PREDICTED_ATTRIBUTE}
        f.setdefault("email", row["email"])
        f.setdefault("email_domain", email_domain(row["email"]))
        fields.append(f)
    cols: list[Column] = []
    for rule, raw in zip(pb.fit.rules, doc["fit"]["rules"], strict=True):
        test = compile_condition(rule.if_)
        v = np.array([1.0 if test(f, {}) else 0.0 for f in fields])
        if 0 < v.sum() < len(v):
            keep = {k: val for k, val in raw.items() if k != "points"}
            if isinstance(keep.get("if"), dict):
                keep["if"] = _Flow(keep["if"])
            cols.append(Column(rule.name, "fit", rule=keep, values=v))
    events = events_by_lead(engine, [int(i) for i in lead_ids])
    half_life = pb.engagement.half_life_days
    rules: list[tuple[str, Any, dict[str, Any] | None, int | None]] = [
        (rule.event, rule.if_, raw, rule.max_per_lead)
        for rule, raw in zip(pb.engagement.rules, doc["engagement"]["rules"], strict=True)
    ]
    covered = {r.event for r in pb.engagement.rules if r.if_ is None}
    types = sorted({e.type for evs in events.values() for e in evs} - covered - set(RESERVED))
    rules += [(t, None, None, None) for t in types]
    for event, cond, raw, max_per_lead in rules:
        match = compile_condition(cond) if cond is not None else None
        # Each event counts as the playbook would score it at the cut-off: decayed by its
        # age when the playbook decays, the first `max_per_lead` only.
        hits = [
            [
                e.at
                for e in events[int(lid)]
                if e.at <= c and e.type == event and (match is None or match(e.properties, {}))
            ]
            for lid, c in zip(lead_ids, cut, strict=True)
        ]
        n_hits = np.array([len(h) for h in hits], dtype=float)
        has = n_hits[n_hits > 0]
        if len(has) < 10:
            continue
        cap = max_per_lead or int(min(MAX_CAP, max(1, math.ceil(np.percentile(has, 95)))))
        values = np.array(
            [
                sum(0.5 ** ((c - at) / (half_life * DAY)) if half_life else 1.0 for at in h[:cap])
                for h, c in zip(hits, cut, strict=True)
            ]
        )
        if raw is None:
            rule_doc: dict[str, Any] = {"event": event, "max_per_lead": cap}
            label = f"{event} (per event, up to {cap})"
        else:
            rule_doc = {k: val for k, val in raw.items() if k != "points"}
            if isinstance(rule_doc.get("if"), dict):
                rule_doc["if"] = _Flow(rule_doc["if"])
            if max_per_lead is None and "max_per_days" not in rule_doc:
                rule_doc["max_per_lead"] = cap
            label = str(raw.get("name") or event)
        cols.append(Column(label, "event", event=event, cap=cap, rule=rule_doc, values=values))
    return cols


def _fit(D: np.ndarray, y: np.ndarray, C: float, seed: int) -> LogisticRegression:
    return LogisticRegression(
        l1_ratio=1.0, C=C, solver="saga", max_iter=5000, random_state=seed, tol=1e-5
    ).fit(D, y)


def _points(model: LogisticRegression) -> np.ndarray:
    return np.asarray(np.round(model.coef_[0] * POINTS_PER_DOUBLING / math.log(2)), dtype=int)


def suggest_points(
    engine: Any,
    *,
    cutoff: str = "mql",
    window_days: float | None = None,
    horizon_days: float = 90.0,
    seed: int = 0,
) -> Suggestion:
    """Fit, validate and write out the proposal (see the module docstring)."""
    from leadgate.playbook.loader import load_playbook

    now = float(engine.clock())
    tables = read_tables(engine.db)
    data = training_data(
        engine.db, now, cutoff=cutoff, window_days=window_days, horizon_days=horizon_days,
        tables=tables,
    )  # fmt: skip
    ds = data.dataset
    n = ds.n_rows
    y = ds.y
    cut = int(n * 0.75)
    tr, te = np.arange(cut), np.arange(cut, n)  # rows are in cut-off order
    if y[tr].min() == y[tr].max() or y[te].min() == y[te].max():
        raise DatasetError("both outcomes are needed in the earlier and the later rows")
    kinds = {str(k): str(v) for k, v in ds.kinds.items()}
    # Read as the loader reads it (YAML 1.2 core schema): `in: [SE, NO]` keeps its `NO`.
    doc = parse_yaml(_active_yaml(engine))[1]
    # The current rules first (the model re-weights them), then the binned attributes and
    # event types they do not cover. Bins come from value counts and quantiles only, never
    # from outcomes, so they are learnt once on every row.
    own = playbook_columns(engine, doc, tables, data.lead_ids, data.cutoffs)
    covered = {c.event for c in own if c.kind == "event" and not (c.rule or {}).get("if")}
    cols = own + [
        c for c in design_columns(ds.X, kinds) if c.event not in covered or c.kind == "fit"
    ]
    if not cols:
        raise DatasetError("no attribute value or event type is frequent enough to score")
    D = design(cols, ds.X)
    Dtr, Dte = D[tr], D[te]
    # C picked on the last third of the training rows (time order), then refitted.
    inner = int(len(tr) * 2 / 3)
    best: tuple[float, float, int] | None = None
    results = []
    for C in CS:
        if y[:inner].min() == y[:inner].max() or y[inner:cut].min() == y[inner:cut].max():
            break
        m = _fit(Dtr[:inner], y[:inner], C, seed)
        pts = _points(m)
        auc = float(roc_auc_score(y[inner:cut], Dtr[inner:cut] @ pts)) if pts.any() else 0.5
        results.append((C, auc, int((pts != 0).sum())))
    if results:
        top = max(a for _, a, _ in results)
        best = min((r for r in results if r[1] >= top - 0.005), key=lambda r: (r[2], r[0]))
    C = best[0] if best else 0.1
    pts_tr = _points(_fit(Dtr, y[tr], C, seed))
    proposed = mx.evaluate(y[te], Dte @ pts_tr)
    proposed["brier"] = float("nan")
    current_scores = playbook_scores(engine, tables, data.lead_ids[te], data.cutoffs[te])
    current = mx.evaluate(y[te], current_scores)
    current["brier"] = float("nan")
    # The proposal: same procedure on every row.
    cols_all, D_all = cols, D
    pts = _points(_fit(D_all, y, C, seed))
    if not pts.any():
        # A playbook without a single rule is not a proposal: say why instead.
        raise DatasetError(
            f"the outcomes support no points: {int(y.sum()):,} of {n:,} leads converted "
            f"within {data.spec.horizon_days:g} days of the {data.spec.cutoff} cut-off, and "
            "no model with points beat the sparsest one on the later training rows; wait "
            "for more outcomes or widen --window-days"
        )
    fit_rules: list[dict[str, Any]] = []
    eng_rules: list[dict[str, Any]] = []
    for col, p in zip(cols_all, pts, strict=True):
        if p == 0:
            continue
        if col.rule is not None:
            target = fit_rules if col.kind == "fit" else eng_rules
            rule = {**col.rule, "points": int(p)}
            target.append(rule if col.kind == "fit" else _Flow(rule))
        elif col.kind == "fit":
            fit_rules.append({"name": col.name, "if": _Flow(col.condition or {}), "points": int(p)})
        else:
            rule = {"event": col.event, "points": int(p)}
            if col.cap:
                rule["max_per_lead"] = col.cap
            eng_rules.append(_Flow(rule))
    fit_score = (
        D_all[:, [c.kind == "fit" for c in cols_all]] @ pts[[c.kind == "fit" for c in cols_all]]
    )
    eng_score = (
        D_all[:, [c.kind == "event" for c in cols_all]] @ pts[[c.kind == "event" for c in cols_all]]
    )
    pb = engine.processor().playbook
    doc["name"] = f"{pb.name}-suggested"
    doc["description"] = (
        f"Points proposed by `leadgate suggest-points` from {n:,} leads with a known outcome "
        f"(out-of-sample ROC AUC {proposed['roc_auc']:.3f} vs {current['roc_auc']:.3f} for "
        f"{pb.name}). Review the MQL rule's thresholds before activating."
    )
    doc.setdefault("fit", {})["rules"] = fit_rules
    doc["fit"]["grades"] = _grades(fit_score, pb.fit.grades, ("A", "B", "C"))
    doc.setdefault("engagement", {})["rules"] = eng_rules
    doc["engagement"]["grades"] = _grades(eng_score, pb.engagement.grades, ("1", "2", "3"))
    known = set(doc["engagement"].get("known_events") or []) | {str(r["event"]) for r in eng_rules}
    if doc["engagement"].get("known_events") is not None or eng_rules:
        doc["engagement"]["known_events"] = sorted(known)
    header = (
        "# Proposed by `leadgate suggest-points` (sparse logistic model, 20 points double the\n"
        f"# odds of converting within {data.spec.horizon_days:g} days of the "
        f"{data.spec.cutoff} cut-off).\n"
        f"# Out-of-sample ROC AUC: proposed {proposed['roc_auc']:.3f}, current "
        f"{current['roc_auc']:.3f} ({len(te):,} latest leads).\n"
    )
    text = header + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    load_playbook(text, "suggested playbook")  # never hand out a playbook that does not load
    return Suggestion(
        yaml=text,
        fit_rules=fit_rules,
        engagement_rules=eng_rules,
        proposed=proposed,
        current=current,
        validation=(
            f"time-ordered: points fitted on the earliest {len(tr):,} leads, "
            f"scored on the latest {len(te):,}"
        ),
        C=C,
        rows=n,
    )


class _Flow(dict[str, Any]):
    """A mapping written on one line (conditions and engagement rules read better so)."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Flow, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True)
)


def _active_yaml(engine: Any) -> str:
    from leadgate.store.repository import Repository

    with engine.db.read() as conn:
        active = Repository(engine.db, conn).active_playbook()
    if active is None:
        raise DatasetError("no active playbook: run `leadgate init`")
    return str(active[1])


def _grades(score: np.ndarray, current: dict[str, float], names: tuple[str, ...]) -> dict[str, int]:
    """Thresholds cutting ``score`` at the shares of leads at or above the current
    thresholds' defaults (10%, 30%, 60% when degenerate), strictly descending."""
    shares = (0.10, 0.30, 0.60)
    qs = [float(np.quantile(score, 1 - s)) if len(score) else 0.0 for s in shares]
    out: dict[str, int] = {}
    prev: int | None = None
    for name, q in zip(names, qs, strict=True):
        v = math.ceil(q)
        if prev is not None and v >= prev:
            v = prev - 1
        out[name] = v
        prev = v
    return out
