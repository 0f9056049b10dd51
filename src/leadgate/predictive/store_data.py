"""Training rows from the store: one lead, its features as of a cut-off, its outcome after.

The cut-off (the moment a prediction would have been made):

- ``mql`` (default): the lead's first move to MQL (``transitions``). A lead that never
  became MQL is observed for the same time a typical MQL took to get there: its cut-off
  is ``created_at + window``, where ``window`` is the median created→MQL time of the
  training leads (7 days when there is no MQL at all), fixed at training and saved with
  the model;
- ``created``: ``created_at + window`` for every lead (``window_days`` must be given).

Features, computed only from what happened at or before the cut-off:

- the lead's attributes (the ``leads.attributes`` document, plus ``email_domain``); the
  store keeps no history of attribute edits, so these are the current values: the leak
  check of :mod:`~leadgate.predictive.leakage` (near-perfect single-column AUC, names
  such as "status" or "quality") is what guards against fields a rep fills in later, and
  the ``predicted`` attribute that ``leadgate predict`` writes is never a feature;
- engagement: events with ``occurred_at <= cut-off`` (not notes and opportunity edits,
  :data:`NOT_ENGAGEMENT_EVENTS`: what sales did, not the lead): the count per event type (the
  ``max_event_types`` most frequent types at training), all events, events in the 7 and
  30 days before the cut-off, distinct types, days since the first and the last event;
- ``age_days``: the lead's age at the cut-off.

Outcome: ``1`` when the lead moved to ``customer`` after the cut-off and within
``horizon_days`` of it, else ``0``. Only leads whose horizon has fully passed by ``now``
are training rows, plus the ones already decided (customer, or disqualified and still
disqualified): a lead still open inside its horizon has no known outcome. A lead that was
a customer at its cut-off is left out (nothing to predict).

Scoring (:func:`scoring_frame`) builds the same features with the cut-off at ``now``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd

from leadgate.leads.processor import PREDICTED
from leadgate.predictive.dataset import Dataset, DatasetError, load_frame
from leadgate.scoring.fit import email_domain
from leadgate.store.database import Database
from leadgate.store.repository import Repository
from leadgate.store.schema import EFFECTIVE_TRANSITIONS

DAY = 86400.0
#: The lead attribute `leadgate predict` writes (the MQL rule's `{score: predicted}`).
PREDICTED_ATTRIBUTE = PREDICTED
TARGET = "converted"
#: Attributes that are never features: identity (unique per person) and our own output.
NOT_FEATURES = frozenset(
    {PREDICTED_ATTRIBUTE, "email", "first_name", "last_name", "name", "full_name", "phone"}
)
#: Event types that record what sales or data upkeep did, not what the lead did: a rep's
#: note (``leadgate.sales.activity.NOTE_EVENT``), an opportunity edit (kept as an event by
#: the sales workflow), points added by hand (``manual_adjustment``: a person's judgement,
#: often made after talking to the lead, so counting it leaks the outcome) and a cleared
#: field (``field_cleared``, an audit record). Counting them would score a lead on the
#: attention it got; they are never read as engagement, neither for training nor for
#: scoring.
NOT_ENGAGEMENT_EVENTS = ("note", "opportunity_updated", "manual_adjustment", "field_cleared")
EVENT_PREFIX = "events: "
ENGAGEMENT_COLUMNS = (
    "events_total",
    "events_7d",
    "events_30d",
    "event_types",
    "days_since_first_event",
    "days_since_last_event",
    "age_days",
)


@dataclass
class StoreSpec:
    """How store rows become features: fixed at training, reused at scoring."""

    cutoff: str = "mql"
    window_days: float | None = None
    horizon_days: float = 90.0
    max_event_types: int = 40
    event_types: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (saved in the model card)."""
        return asdict(self)


@dataclass
class StoreTables:
    """What the builder reads from the store, as frames."""

    leads: pd.DataFrame  # id, email, attributes (dict), created_at, stage
    events: pd.DataFrame  # lead_id, type, occurred_at
    transitions: pd.DataFrame  # lead_id, to_stage, at


def read_tables(db: Database, lead_ids: Sequence[int] | None = None) -> StoreTables:
    """Read leads, events and stage transitions (all leads, or the given ids)."""
    with db.read() as conn:
        return read_tables_in(Repository(db, conn), lead_ids)


def read_tables_in(repo: Repository, lead_ids: Sequence[int] | None = None) -> StoreTables:
    """:func:`read_tables` through an open connection (inside the caller's transaction)."""
    where, params = "", []
    if lead_ids is not None:
        ids = [int(i) for i in lead_ids] or [-1]
        where = f" WHERE {{col}} IN ({','.join('?' * len(ids))})"
        params = ids
    lrows = repo.execute(
        "SELECT id, email, attributes, created_at, stage FROM leads" + where.format(col="id"),
        params,
    ).fetchall()
    skip = ",".join("?" * len(NOT_ENGAGEMENT_EVENTS))
    ewhere = (
        where.format(col="lead_id") + " AND" if where else " WHERE"
    ) + f" type NOT IN ({skip})"
    erows = repo.execute(
        "SELECT lead_id, type, occurred_at FROM events" + ewhere,
        [*params, *NOT_ENGAGEMENT_EVENTS],
    ).fetchall()
    trows = repo.execute(
        f"SELECT lead_id, to_stage, at FROM {EFFECTIVE_TRANSITIONS}" + where.format(col="lead_id"),
        params,
    ).fetchall()
    leads = pd.DataFrame.from_records(
        lrows, columns=["id", "email", "attributes", "created_at", "stage"]
    )
    leads["attributes"] = [orjson.loads(a) if a else {} for a in leads["attributes"]]
    events = pd.DataFrame.from_records(erows, columns=["lead_id", "type", "occurred_at"])
    transitions = pd.DataFrame.from_records(trows, columns=["lead_id", "to_stage", "at"])
    return StoreTables(leads, events, transitions)


def _first(transitions: pd.DataFrame, stage: str) -> pd.Series:
    t = transitions[transitions["to_stage"] == stage]
    return t.groupby("lead_id")["at"].min()


def cutoffs(tables: StoreTables, spec: StoreSpec) -> pd.Series:
    """Cut-off moment (epoch seconds) per lead id; fills ``spec.window_days`` if unset."""
    leads = tables.leads.set_index("id")
    created = leads["created_at"].astype(float)
    if spec.cutoff not in ("mql", "created"):
        raise DatasetError(f"--cutoff must be mql or created, not {spec.cutoff!r}")
    mql = _first(tables.transitions, "mql").reindex(created.index)
    if spec.window_days is None:
        if spec.cutoff == "created":
            raise DatasetError("--cutoff created needs --window-days N")
        lag = (mql - created).dropna()
        spec.window_days = round(float(lag.median()) / DAY, 3) if len(lag) else 7.0
    window = created + float(spec.window_days) * DAY
    if spec.cutoff == "created":
        return window
    return mql.fillna(window)


def engagement_features(
    events: pd.DataFrame, cut: pd.Series, created: pd.Series, spec: StoreSpec
) -> pd.DataFrame:
    """Engagement columns per lead id (index of ``cut``), from events at or before the
    cut-off only."""
    index = cut.index
    ev = events[events["lead_id"].isin(index)]
    at_cut = cut.reindex(ev["lead_id"].to_numpy()).to_numpy()
    occurred = ev["occurred_at"].to_numpy(dtype=float)
    keep = occurred <= at_cut
    ev = ev.loc[keep]
    before = (at_cut[keep] - occurred[keep]) / DAY
    lead = ev["lead_id"].to_numpy()
    out = pd.DataFrame(index=index)
    g = pd.Series(before, index=lead).groupby(level=0)
    out["events_total"] = g.size().reindex(index).fillna(0)
    out["events_7d"] = (
        pd.Series(before <= 7, index=lead).groupby(level=0).sum().reindex(index).fillna(0)
    )
    out["events_30d"] = (
        pd.Series(before <= 30, index=lead).groupby(level=0).sum().reindex(index).fillna(0)
    )
    out["event_types"] = (
        pd.Series(ev["type"].to_numpy(), index=lead).groupby(level=0).nunique().reindex(index)
    ).fillna(0)
    out["days_since_first_event"] = g.max().reindex(index)
    out["days_since_last_event"] = g.min().reindex(index)
    out["age_days"] = (cut - created.reindex(index)) / DAY
    if len(ev):
        counts = (
            pd.DataFrame({"lead_id": lead, "type": ev["type"].to_numpy()})
            .groupby(["lead_id", "type"])
            .size()
            .unstack(fill_value=0)
        )
    else:
        counts = pd.DataFrame(index=index)
    for t in spec.event_types:
        col = counts[t] if t in counts.columns else pd.Series(0, index=counts.index)
        out[EVENT_PREFIX + t] = col.reindex(index).fillna(0).to_numpy()
    return out


def attribute_features(leads: pd.DataFrame) -> pd.DataFrame:
    """Attribute columns per lead id (identity fields and ``predicted`` left out)."""
    rows = []
    for email, attrs in zip(leads["email"], leads["attributes"], strict=True):
        row = {k: v for k, v in attrs.items() if k not in NOT_FEATURES and _scalar(v)}
        row["email_domain"] = attrs.get("email_domain") or email_domain(email)
        rows.append(row)
    return pd.DataFrame(rows, index=leads["id"].to_numpy())


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool)


def feature_frame(tables: StoreTables, cut: pd.Series, spec: StoreSpec) -> pd.DataFrame:
    """Attributes and engagement as of ``cut`` (epoch seconds per lead id), one row per
    lead in ``cut``'s order, indexed by lead id."""
    leads = tables.leads.set_index("id", drop=False).loc[cut.index]
    created = leads["created_at"].astype(float)
    attrs = attribute_features(leads.reset_index(drop=True))
    eng = engagement_features(tables.events, cut, created, spec)
    clash = [c for c in attrs.columns if c in eng.columns]
    attrs = attrs.rename(columns={c: f"attribute: {c}" for c in clash})
    return pd.concat([attrs, eng], axis=1)


@dataclass
class StoreTraining:
    """The training data set built from the store, with what built it."""

    dataset: Dataset
    spec: StoreSpec
    lead_ids: np.ndarray
    cutoffs: np.ndarray
    open_leads: int
    skipped_converted: int


def outcomes(tables: StoreTables, cut: pd.Series, spec: StoreSpec, now: float) -> pd.Series:
    """1 converted within the horizon, 0 not (horizon passed, or disqualified for good),
    NaN still open; -1 already a customer at the cut-off."""
    customer = _first(tables.transitions, "customer").reindex(cut.index)
    t = tables.transitions
    disq = t[(t["to_stage"] == "disqualified")].merge(
        cut.rename("cut"), left_on="lead_id", right_index=True
    )
    disq = disq[disq["at"] > disq["cut"]].groupby("lead_id")["at"].min().reindex(cut.index)
    stage = tables.leads.set_index("id")["stage"].reindex(cut.index)
    horizon = spec.horizon_days * DAY
    y = pd.Series(np.nan, index=cut.index)
    won = customer.notna() & (customer > cut) & (customer <= cut + horizon)
    matured = (cut + horizon) <= now
    lost_for_good = disq.notna() & (stage == "disqualified")
    y[(matured | lost_for_good) & ~won] = 0.0
    y[won] = 1.0
    y[customer.notna() & (customer <= cut)] = -1.0
    return y


def training_data(
    db: Database,
    now: float,
    *,
    cutoff: str = "mql",
    window_days: float | None = None,
    horizon_days: float = 90.0,
    max_event_types: int = 40,
    tables: StoreTables | None = None,
) -> StoreTraining:
    """One row per lead with a known outcome: features as of its cut-off, outcome after.

    Rows are in cut-off order and the data set's time is the cut-off, so validation
    trains on the earlier leads and tests on the later ones.
    """
    if horizon_days <= 0:
        raise DatasetError("--horizon-days must be positive")
    tables = tables or read_tables(db)
    if tables.leads.empty:
        raise DatasetError("the store has no leads to learn from")
    spec = StoreSpec(cutoff, window_days, float(horizon_days), max_event_types)
    cut = cutoffs(tables, spec)
    y = outcomes(tables, cut, spec, now)
    known = y.isin([0.0, 1.0])
    cut_known = cut[known].sort_values(kind="stable")
    ev = tables.events
    ev = ev[ev["lead_id"].isin(cut_known.index)]
    before = (
        ev["occurred_at"].to_numpy(dtype=float)
        <= cut_known.reindex(ev["lead_id"].to_numpy()).to_numpy()
    )
    # Event types are chosen from what was seen before the cut-offs, most frequent first
    # (ties by name, so the list does not depend on row order).
    freq = ev.loc[before, "type"].value_counts()
    ranked = sorted(freq.items(), key=lambda kv: (-kv[1], str(kv[0])))
    spec.event_types = [str(t) for t, _ in ranked[:max_event_types]]
    X = feature_frame(tables, cut_known, spec)
    frame = X.reset_index(drop=True)
    frame[TARGET] = y.reindex(cut_known.index).astype(int).to_numpy()
    frame["__lead_id"] = cut_known.index.to_numpy()
    frame["__cutoff"] = pd.to_datetime(cut_known.to_numpy(), unit="s", utc=True)
    ds = load_frame(frame, TARGET, id_column="__lead_id", time_column="__cutoff", positive="1")
    return StoreTraining(
        dataset=ds,
        spec=spec,
        lead_ids=cut_known.index.to_numpy(),
        cutoffs=cut_known.to_numpy(dtype=float),
        open_leads=int(y.isna().sum()),
        skipped_converted=int((y == -1).sum()),
    )


def scoring_frame(tables: StoreTables, spec: StoreSpec, now: float) -> pd.DataFrame:
    """Features of every lead in ``tables`` as of ``now`` (same columns as training)."""
    ids = tables.leads["id"].to_numpy()
    cut = pd.Series(float(now), index=ids)
    return feature_frame(tables, cut, spec)
