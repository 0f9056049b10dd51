"""Batch rescoring: the compiled playbook in DuckDB vs a hand-written pandas implementation.

    .venv/bin/python bench/rescore_sql.py [--leads 1000000] [--events 20000000] [--peer 5000000]
    .venv/bin/python bench/rescore_sql.py --full-runs 0   # only the 5M-event peer comparison

Synthesizes leads/events/transitions as Parquet with numpy/pyarrow (cached under bench/out/),
rescores every lead with the bundled playbook (fit, capped, rolling-capped and decayed
engagement, grades) in DuckDB, then runs DuckDB and pandas on the first `--peer` events and
the leads they belong to (fit, engagement, total, grade in both) and prints both times and
the ratio (checking both give the same scores).

Each figure is wall time and this process's CPU time (user + system): on a shared machine
the wall time depends on what else runs, so the load average is printed with it.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from _common import OUT, load_average, machine
from leadgate.analytics.batch import connect, run_arrow
from leadgate.analytics.sqlcompile import compile_scoring
from leadgate.playbook.loader import bundled_playbook

T_END = 1_780_000_000.0
YEAR = 365 * 86400.0
TYPES = np.array(
    [
        "page_view",
        "email_open",
        "email_click",
        "newsletter_signup",
        "whitepaper_download",
        "webinar_registered",
        "webinar_attended",
        "trial_signup",
        "demo_request",
        "contact_sales",
        "unsubscribe",
    ]
)
TYPE_P = np.array([0.42, 0.2, 0.15, 0.03, 0.06, 0.03, 0.04, 0.02, 0.008, 0.004, 0.038])
TITLES = [
    "VP Sales",
    "Head of IT",
    "Marketing Manager",
    "Engineer",
    "Student",
    "Director",
    "CEO",
    "",
]
COUNTRIES = ["US", "GB", "DE", "FR", "BR", "IN", "DK", "IT"]
SOURCES = ["webinar", "ads", "organic", "referral", "event"]


def synthesize(n_leads: int, n_events: int, seed: int = 7) -> Path:
    """leads/events/transitions Parquet files for n leads and events (cached)."""
    d = OUT / f"analytics-{n_leads}-{n_events}"
    if (d / "done").exists():
        return d
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n_leads + 1, dtype=np.int64)
    created = T_END - YEAR * rng.random(n_leads)
    ti = rng.integers(0, len(TITLES), n_leads)
    size = rng.choice([5, 20, 80, 300, 900, 5000], n_leads)
    ci = rng.integers(0, len(COUNTRIES), n_leads)
    si = rng.integers(0, len(SOURCES), n_leads)
    camp = rng.integers(0, 12, n_leads)
    free = rng.random(n_leads) < 0.3
    attrs = [
        f'{{"job_title":"{TITLES[a]}","company_size":{b},"country":"{COUNTRIES[c]}",'
        f'"source":"{SOURCES[s]}","campaign":"c{k}"}}'
        for a, b, c, s, k in zip(
            ti.tolist(), size.tolist(), ci.tolist(), si.tolist(), camp.tolist(), strict=True
        )
    ]
    emails = pc.binary_join_element_wise(
        pa.array(np.char.add("u", ids.astype(str))),
        pa.array(np.where(free, "gmail.com", "acme.io")),
        "@",
    )
    # A funnel: some leads reach MQL, then SAL, SQL, SQO, customer; a few go to nurture.
    depth = rng.choice(6, n_leads, p=[0.55, 0.12, 0.1, 0.12, 0.06, 0.05])
    names = ["lead", "mql", "sal", "sql", "sqo", "customer"]
    t_lid, t_from, t_to, t_at, t_actor = [], [], [], [], []
    at = created + rng.exponential(5 * 86400, n_leads)
    for k in range(1, 6):
        sel = depth >= k
        gap = rng.exponential(3600 if k == 2 else 6 * 86400, n_leads)
        at = at + gap
        t_lid.append(ids[sel])
        t_from.append(np.full(sel.sum(), names[k - 1]))
        t_to.append(np.full(sel.sum(), names[k]))
        t_at.append(np.minimum(at[sel], T_END))
        t_actor.append(np.full(sel.sum(), "rule:mql" if k == 1 else "user:rep"))
    stage = np.array(names)[depth]
    fit = rng.normal(25, 20, n_leads).round(2)
    eng = np.abs(rng.normal(20, 25, n_leads)).round(2)
    owners = np.where(
        depth >= 2, np.char.add("rep", rng.integers(1, 40, n_leads).astype(str)), None
    )
    leads = pa.table(
        {
            "id": ids,
            "email": emails,
            "attributes": pa.array(attrs),
            "created_at": created,
            "stage": stage,
            "owner": pa.array(owners.tolist(), pa.string()),
            "fit": fit,
            "engagement": eng,
            "score": (fit + eng).round(2),
        }
    )
    pq.write_table(leads, d / "leads.parquet")
    pq.write_table(
        pa.table(
            {
                "lead_id": np.concatenate(t_lid),
                "from_stage": np.concatenate(t_from),
                "to_stage": np.concatenate(t_to),
                "at": np.concatenate(t_at),
                "actor": np.concatenate(t_actor),
            }
        ),
        d / "transitions.parquet",
    )
    # Events: skewed activity per lead, sorted by lead so files compress and slices are leads.
    w = rng.pareto(1.5, n_leads) + 1
    lid = np.sort(rng.choice(ids, n_events, p=w / w.sum()))
    chunk = 5_000_000
    with pq.ParquetWriter(d / "events.parquet", _event_schema()) as wr:
        for a in range(0, n_events, chunk):
            part = lid[a : a + chunk]
            n = len(part)
            start = created[part - 1]
            t = np.minimum(start + rng.exponential(40 * 86400, n), T_END).round(0)
            typ = rng.choice(len(TYPES), n, p=TYPE_P)
            props_idx = np.where(typ == 0, rng.integers(1, 3, n), 0)
            props = pa.array(["{}", '{"url":"/pricing"}', '{"url":"/blog/post"}']).take(
                pa.array(props_idx)
            )
            eid = pc.cast(pa.array(np.arange(a, a + n, dtype=np.int64)), pa.string())
            wr.write_table(
                pa.table(
                    {
                        "id": eid,
                        "lead_id": part,
                        "type": pa.array(TYPES).take(pa.array(typ)),
                        "occurred_at": t,
                        "properties": props,
                    },
                    schema=_event_schema(),
                )
            )
    (d / "done").write_text("ok")
    return d


def _event_schema() -> pa.Schema:
    return pa.schema(
        [
            ("id", pa.string()),
            ("lead_id", pa.int64()),
            ("type", pa.string()),
            ("occurred_at", pa.float64()),
            ("properties", pa.string()),
        ]
    )


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def pandas_scores(leads_path: Path, events_path: Path, n_events: int, as_of: float) -> object:
    """The same scoring written by hand in pandas: fit, engagement, total and grade.

    Written for the bundled playbook's rules (rolling caps: greedy over dense runs only).
    """
    import pandas as pd

    pb, _ = bundled_playbook()
    ev = pd.read_parquet(events_path).iloc[:n_events]
    ev = ev[ev.occurred_at <= as_of]
    rules = pb.engagement.rules
    parts = []
    for r in rules:
        sel = ev[ev.type == r.event]
        if r.if_ is not None:  # the bundled playbook: page_view url contains /pricing
            sel = sel[sel.properties.str.lower().str.contains("/pricing", regex=False)]
        sel = sel.sort_values(["lead_id", "occurred_at", "id"])[["lead_id", "occurred_at"]]
        if r.max_per_days is not None:
            width, k = r.max_per_days.days * 86400.0, r.max_per_days.count
            t = sel.occurred_at.to_numpy()
            lid = sel.lead_id.to_numpy()
            keep = np.ones(len(sel), bool)
            prev_t = np.r_[np.nan, t[:-1]]
            new = np.r_[True, lid[1:] != lid[:-1]] | (prev_t <= t - width)
            seg = np.cumsum(new)
            sizes = np.bincount(seg)
            dense = np.flatnonzero(sizes[seg] > k)
            win: list[float] = []
            cur = -1
            for j in dense:  # greedy, in order, only where a run is longer than the cap
                if seg[j] != cur:
                    cur, win = seg[j], []
                while win and win[0] <= t[j] - width:
                    win.pop(0)
                if len(win) >= k:
                    keep[j] = False
                else:
                    win.append(t[j])
            sel = sel[keep]
        if r.max_per_lead is not None:
            sel = sel[sel.groupby("lead_id").cumcount() < r.max_per_lead]
        hl = pb.engagement.half_life_days * 86400.0  # type: ignore[operator]
        dec = np.power(2.0, -(as_of - sel.occurred_at.to_numpy()) / hl)
        s = pd.Series(dec * r.points, index=sel.lead_id.to_numpy()).groupby(level=0).sum()
        parts.append(s.round(2))
    eng = pd.concat(parts, axis=1).fillna(0).sum(axis=1).round(2)
    # Fit, for the bundled playbook's rules (the leads of the slice).
    leads = pd.read_parquet(leads_path, columns=["id", "email", "attributes"])
    attrs = pd.json_normalize(leads.attributes.map(json.loads).tolist())
    title = attrs.job_title.fillna("").str.strip()
    size = pd.to_numeric(attrs.company_size, errors="coerce")
    country = attrs.country.fillna("").str.strip().str.casefold()
    domain = leads.email.str.rsplit("@", n=1).str[-1].str.strip().str.casefold()
    fit = (
        20 * title.str.contains(r"(?i)\b(?:vp|vice president|chief|c[eot]o|head|director)\b")
        + 10 * title.str.contains(r"(?i)\bmanager\b")
        + 15 * size.between(50, 1000)
        + 10 * (size > 1000)
        + 10 * country.isin(["us", "gb", "de", "fr", "it", "dk", "nl", "se", "es"])
        - 10 * domain.isin(["gmail.com", "yahoo.com", "hotmail.com", "outlook.com"])
        - 30 * title.str.contains(r"(?i)\b(?:student|intern)\b")
    ).astype(float)
    out = pd.DataFrame({"fit": fit.to_numpy()}, index=leads.id.to_numpy())
    out["engagement"] = eng.reindex(out.index).fillna(0.0)
    out["total"] = (out.fit + out.engagement).round(2)
    fg, eg = pb.fit.grades, pb.engagement.grades
    fgr = np.select([out.fit >= fg["A"], out.fit >= fg["B"], out.fit >= fg["C"]], list("ABC"), "D")
    egr = np.select(
        [out.engagement >= eg["1"], out.engagement >= eg["2"], out.engagement >= eg["3"]],
        list("123"),
        "4",
    )
    out["grade"] = np.char.add(fgr.astype(str), egr.astype(str))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--leads", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=20_000_000)
    ap.add_argument("--peer", type=int, default=5_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--full-runs",
        type=int,
        default=None,
        help="runs of the rescore over all the data (default: --runs; 0 skips it and "
        "measures only the peer comparison on the first --peer events)",
    )
    a = ap.parse_args()
    full_runs = a.runs if a.full_runs is None else a.full_runs
    t = time.perf_counter()
    d = synthesize(a.leads, a.events)
    print(f"machine: {machine()}")
    print(f"data: {a.leads:,} leads, {a.events:,} events in {d} ({time.perf_counter() - t:.1f} s)")
    pb, _ = bundled_playbook()
    con = connect(d / "leads.parquet", d / "events.parquet")
    sql = compile_scoring(pb, T_END, "duckdb")
    times, cpus = [], []
    print(load_average())
    for _ in range(full_runs):
        t, c = time.perf_counter(), _cpu()
        tbl = run_arrow(con, sql)
        times.append(time.perf_counter() - t)
        cpus.append(_cpu() - c)
    if full_runs:
        print(
            f"duckdb rescore {tbl.num_rows:,} leads / {a.events:,} events: "
            f"median {statistics.median(times):.2f} s wall, {statistics.median(cpus):.2f} s CPU "
            f"(runs {', '.join(f'{x:.2f}' for x in times)}); {load_average()}"
        )
    # The peer comparison on the first --peer events (whole leads: events are sorted by
    # lead) and on the leads they belong to.
    slice_path = OUT / f"events-slice-{a.events}-{a.peer}.parquet"
    leads_slice = OUT / f"leads-slice-{a.events}-{a.peer}.parquet"
    if not leads_slice.exists():
        ev = f"read_parquet('{d / 'events.parquet'}')"
        con.execute(f"COPY (SELECT * FROM {ev} LIMIT {a.peer}) TO '{slice_path}' (FORMAT parquet)")
        con.execute(
            f"COPY (SELECT * FROM read_parquet('{d / 'leads.parquet'}') WHERE id IN "
            f"(SELECT lead_id FROM read_parquet('{slice_path}'))) TO '{leads_slice}' "
            "(FORMAT parquet)"
        )
    c2 = connect(leads_slice, slice_path)
    # Both sides run --runs times, alternating, and each keeps its median: one cold run
    # of either would measure the file cache as much as the engine.
    duck_t, duck_c, pd_t, pd_c = [], [], [], []
    for _ in range(a.runs):
        t, c = time.perf_counter(), _cpu()
        ours = run_arrow(c2, sql)
        duck_t.append(time.perf_counter() - t)
        duck_c.append(_cpu() - c)
        t, c = time.perf_counter(), _cpu()
        peer = pandas_scores(leads_slice, slice_path, a.peer, T_END)
        pd_t.append(time.perf_counter() - t)
        pd_c.append(_cpu() - c)
    t_duck, c_duck = statistics.median(duck_t), statistics.median(duck_c)
    t_pd, c_pd = statistics.median(pd_t), statistics.median(pd_c)
    got = {
        r["lead_id"]: (r["fit"], r["engagement"], r["total"], r["grade"]) for r in ours.to_pylist()
    }
    diff = 0
    for lid, row in peer.iterrows():  # type: ignore[attr-defined]
        mine = got.get(lid)
        if (
            mine is None
            or abs(mine[0] - row.fit) > 0.0051
            or abs(mine[1] - row.engagement) > 0.0051
            or mine[3] != row.grade
        ):
            diff += 1
    print(
        f"{a.peer:,} events, {ours.num_rows:,} leads, medians of {a.runs}: duckdb "
        f"{t_duck:.2f} s wall ({c_duck:.2f} s CPU; runs {', '.join(f'{x:.2f}' for x in duck_t)}), "
        f"pandas {t_pd:.2f} s wall ({c_pd:.2f} s CPU; runs {', '.join(f'{x:.2f}' for x in pd_t)}); ratio "
        f"{t_pd / t_duck:.1f}x wall, {c_pd / c_duck:.1f}x CPU; leads whose scores or grade "
        f"differ: {diff}; {load_average()}"
    )
    # The query's fixed cost (parsing, planning, empty pipelines), part of every figure
    # above and most visible on the small slice: the same query over empty tables.
    import duckdb

    empty = duckdb.connect()
    empty.execute("CREATE TABLE leads(id BIGINT, email VARCHAR, attributes VARCHAR)")
    empty.execute(
        "CREATE TABLE events(id VARCHAR, lead_id BIGINT, type VARCHAR, occurred_at DOUBLE, "
        "properties VARCHAR)"
    )
    fixed, direct = [], []
    for _ in range(a.runs):
        t = time.perf_counter()
        empty.sql(sql).to_arrow_table()
        fixed.append(time.perf_counter() - t)
        # The same query through the DB-API cursor: `con.sql` binds the query once to
        # describe the relation and again to run it, so half of the fixed cost above
        # is the relation API's, not the query's (the rescores above go through
        # `run_arrow`, the DB-API path, as `leadgate.analytics.batch.rescore` does).
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Arrow output on a DB-API result makes a copy"
            empty.execute(sql).to_arrow_table()
        direct.append(time.perf_counter() - t)
    print(
        f"fixed cost of the query (empty tables): median {statistics.median(fixed):.3f} s wall "
        f"(con.sql), {statistics.median(direct):.3f} s through con.execute"
    )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
