"""Loaders for the public lead-conversion data sets used by tests, benchmarks and demos.

The files are never shipped with leadgate: they are read from ``$LEADGATE_DATASETS`` or
``../shared/datasets`` (see each folder's SOURCE.md for origin, licence and quirks). Each
loader returns a :class:`PublicSet`: the :class:`~leadgate.predictive.dataset.Dataset`
restricted to what is known when the lead arrives, and whether its rows are in time order.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from leadgate.predictive.dataset import Dataset, load_frame, read_csv

#: x_education columns the data dictionary says are filled in during or after contact and
#: whose names the leak detector cannot recognise (``Tags``, ``Lead Quality``,
#: ``Last Activity`` and ``Last Notable Activity`` it flags by name).
X_EDUCATION_POST_CONTACT = (
    "Lead Profile",
    "Asymmetrique Activity Index",
    "Asymmetrique Profile Index",
    "Asymmetrique Activity Score",
    "Asymmetrique Profile Score",
)


@dataclass
class PublicSet:
    """One loaded data set."""

    name: str
    dataset: Dataset
    time_ordered_rows: bool = False
    note: str = ""


def datasets_root(path: str | Path | None = None) -> Path | None:
    """The data sets folder (``path``, ``$LEADGATE_DATASETS``, or ``../shared/datasets``
    from the working directory or the repository); None when absent."""
    candidates = [path, os.environ.get("LEADGATE_DATASETS")]
    here = Path(__file__).resolve()
    candidates += [Path.cwd().parent / "shared" / "datasets"]
    candidates += [p.parent / "shared" / "datasets" for p in here.parents[:5]]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c)
    return None


def olist(root: Path) -> PublicSet:
    """Olist MQLs; converted = the MQL appears in the closed deals. Only origin and landing
    page are known at MQL time; ``first_contact_date`` orders the rows."""
    d = root / "olist_marketing_funnel"
    mql = read_csv(d / "olist_marketing_qualified_leads_dataset.csv")
    won = set(read_csv(d / "olist_closed_deals_dataset.csv")["mql_id"].dropna())
    frame = mql[["mql_id", "first_contact_date", "landing_page_id", "origin"]].copy()
    frame["converted"] = frame["mql_id"].isin(won).astype(int)
    ds = load_frame(frame, "converted", id_column="mql_id", time_column="first_contact_date")
    return PublicSet("olist_marketing_funnel", ds, note="MQL -> closed deal")


def x_education(root: Path, post_contact: bool = False) -> PublicSet:
    """X Education leads; target ``Converted``. Unless ``post_contact``, the dictionary's
    post-contact columns are excluded up front (the detector catches the others)."""
    frame = read_csv(root / "x_education_leads" / "Leads.csv")
    exclude = () if post_contact else X_EDUCATION_POST_CONTACT
    ds = load_frame(frame, "Converted", id_column="Prospect ID", exclude=exclude)
    return PublicSet("x_education_leads", ds, note="lead -> paying customer")


def uci_bank(root: Path) -> PublicSet:
    """UCI bank marketing calls; target ``y``; ``duration`` excluded (known after the call);
    rows are in time order."""
    frame = read_csv(root / "uci_bank_marketing" / "bank-additional-full.csv.gz")
    ds = load_frame(frame, "y", exclude=("duration",))
    return PublicSet("uci_bank_marketing", ds, time_ordered_rows=True, note="call -> deposit")


def coil2000(root: Path) -> PublicSet:
    """CoIL 2000 caravan insurance; target ``Purchase``."""
    frame = read_csv(root / "coil2000_caravan" / "Caravan.csv")
    return PublicSet("coil2000_caravan", load_frame(frame, "Purchase"), note="mailing -> policy")


def crm_opportunities(root: Path) -> PublicSet:
    """Maven CRM opportunities, closed ones only (Won vs Lost), joined with accounts,
    products and sales teams; ``engage_date`` orders the rows. Synthetic: a no-signal
    control. ``close_date``/``close_value`` are left in for the leak detector to catch."""
    d = root / "crm_sales_opportunities"
    pipe = read_csv(d / "sales_pipeline.csv")
    pipe = pipe[pipe["deal_stage"].isin(["Won", "Lost"])].copy()
    pipe["product"] = pipe["product"].replace({"GTXPro": "GTX Pro"})
    accounts = read_csv(d / "accounts.csv")
    products = read_csv(d / "products.csv")
    teams = read_csv(d / "sales_teams.csv")
    frame = (
        pipe.merge(accounts, on="account", how="left")
        .merge(products, on="product", how="left")
        .merge(teams, on="sales_agent", how="left")
    )
    ds = load_frame(
        frame,
        "deal_stage",
        id_column="opportunity_id",
        time_column="engage_date",
        positive="Won",
    )
    return PublicSet("crm_sales_opportunities", ds, note="opportunity -> won (synthetic)")


LOADERS: dict[str, Callable[[Path], PublicSet]] = {
    "olist_marketing_funnel": olist,
    "x_education_leads": x_education,
    "uci_bank_marketing": uci_bank,
    "coil2000_caravan": coil2000,
    "crm_sales_opportunities": crm_opportunities,
}


def load_all(root: Path) -> dict[str, PublicSet]:
    """Every data set present under ``root``."""
    return {name: fn(root) for name, fn in LOADERS.items() if (root / name).is_dir()}


def describe(ps: PublicSet) -> dict[str, object]:
    """Rows, positive rate and feature counts, for reports."""
    ds = ps.dataset
    kinds = pd.Series(ds.kinds).value_counts().to_dict()
    return {
        "name": ps.name,
        "rows": ds.n_rows,
        "positive_rate": round(ds.positive_rate, 4),
        "numeric": int(kinds.get("numeric", 0)),
        "categorical": int(kinds.get("categorical", 0)),
        "time": ds.time_column or ("row order" if ps.time_ordered_rows else None),
    }
